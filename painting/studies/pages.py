"""The study pages' shared answers, for every view a participant meets in a study (consent and
images: views.py; onboarding_views.py; understanding/views.py; the explore page of
painting/views.py): who this browser is in the study (its session keys), where they go on,
the pages that say why not, and the study bar over the explore page (study_context)."""

from __future__ import annotations

import math

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from ..models import Exploration, Participant, Study
from ..visitors import visitor_id
from . import checks, links, onboarding, queries

PARTICIPANT_KEY = "participant:"  # + the study's slug: this browser's participant in it


def participant_session_key(slug: str) -> str:
    return PARTICIPANT_KEY + slug


PROOF_KEY = "proven:"  # + the study's slug: the participant whose code this browser gave


def has_proof(request: HttpRequest, participant: Participant) -> bool:
    """Whether this browser is the participant by more than a platform id on a link: it
    consented (its visitor id), or it gave the participant code. Only such a browser sees
    the code and may withdraw; one that merely reopened the link may go on, nothing more."""
    if participant.visitor and participant.visitor == visitor_id(request):
        return True
    return request.session.get(PROOF_KEY + participant.study.slug) == str(participant.pk)


def session_participants(request: HttpRequest) -> list[str]:
    """The ids of the study participants this browser is (consented here, or reopened the
    participant's link here)."""
    return [v for k, v in request.session.items() if k.startswith(PARTICIPANT_KEY)]


def session_participant(request: HttpRequest, study: Study) -> Participant | None:
    """The participant this browser is in the study, if any (a withdrawn one is forgotten)."""
    key = participant_session_key(study.slug)
    participant_id = request.session.get(key)
    if not participant_id:
        return None
    participant = (
        Participant.objects.select_related("study", "condition")
        .filter(pk=participant_id, study=study)
        .first()
    )
    if participant is None:
        del request.session[key]
    return participant


def participant_for(request: HttpRequest, study: Study) -> Participant:
    participant = session_participant(request, study)
    if participant is None:
        raise Http404
    return participant


def refused(
    request: HttpRequest,
    study: Study,
    message: str,
    status: int,
    back_to: int = 0,
    *,
    back_label: str = "",
    final: bool = False,
):
    """A study page that says why not, with the way back to the image still to do (or, when
    `final`, no way on at all)."""
    context = {
        "study": study,
        "message": message,
        "back_to": back_to,
        "back_label": back_label,
        "final": final,
    }
    return render(request, "painting/study_refused.html", context, status=status)


def screened_out(
    request: HttpRequest, study: Study, *, declined: bool = False, pilot: bool = False
):
    """To the study's screened-out URL with its code, or a page saying so where it has none
    (or for a pilot, who has no submission on the platform)."""
    if (url := links.screened_out_url(study)) and not pilot:
        return redirect(url)
    context = {"study": study, "declined": declined}
    return render(request, "painting/study_screened_out.html", context)


def go_on(request: HttpRequest, participant: Participant) -> HttpResponse:
    """Where the participant left off: the first image not done yet, or Finish."""
    study = participant.study
    if participant.screened_out_at:
        return screened_out(request, study, pilot=participant.pilot)
    if onboarding.pending(participant) and not participant.finished_at:
        return redirect(onboarding.first_url(study))
    step = queries.resume_step(participant)
    if participant.finished_at or step > queries.image_count(study):
        return redirect("painting:study-finish", slug=study.slug)
    return redirect("painting:study-step", slug=study.slug, step=step)


def study_context(request: HttpRequest, exploration: Exploration) -> dict | None:
    """Where a participant is in their study: step n of N, where Next leads and whether it is
    open yet (and why not), or that the study is over for them; and the participant code, to
    a browser that has proved it is the participant (has_proof)."""
    if not exploration.participant_id:
        return None
    participant = exploration.participant
    study = participant.study
    steps = queries.steps_for(participant)
    step, count = queries.step_of(exploration), len(steps)
    # An image taken out of the study after the participant explored it has no step: they go
    # on with the first image they have not explored.
    onward = step + 1 if step else queries.next_unexplored_step(exploration.participant)
    following = (
        reverse("painting:study-step", args=[study.slug, onward])
        if onward and onward <= count
        else reverse("painting:study-finish", args=[study.slug])
    )
    now = timezone.now()  # one instant for every deadline on the page
    reachable = queries.reachable_step(participant, now)
    ready = not step or reachable > step
    check = checks.check_of(exploration)
    if queries.study_time_is_up(participant, now):
        following = reverse("painting:study-finish", args=[study.slug])
    deadlines = [
        d
        for d in (
            queries.study_deadline(participant),
            queries.image_deadline(study, exploration.created_at),
        )
        if d is not None
    ]
    return {
        "study": study,
        "step": step,
        "count": count,
        "label": queries.step_label(participant, step, steps) if step else "",
        "next_url": following,
        "next_ready": ready,
        "next_hint": "" if ready else queries.rounds_needed_message(participant, reachable),
        "over": queries.refusal(participant),
        "code": participant.code if has_proof(request, participant) else "",
        # Why the image takes no more: the participant went on to a later one, or time is up.
        "time_up": queries.image_closed(exploration) or queries.time_up(exploration, now),
        "check": check,
        "check_rule": checks.check_rule(check) if check else "",
        "check_frame": " ".join(
            f"{share:.4f}"
            for share in check.check_frame(exploration.picture.width, exploration.picture.height)
        )
        if check
        else "",
        "check_answered": checks.CHECK_ANSWERED
        if check and checks.is_answered(exploration)
        else "",
        # Counted down by the browser from the page's load (its own clock may be off), and
        # rounded up: at zero it asks again, which must not be before the deadline.
        "seconds_left": max(0, math.ceil((min(deadlines) - now).total_seconds()))
        if deadlines
        else None,
        "next_label": "Continue the study"
        if not step
        else "Next image"
        if following != reverse("painting:study-finish", args=[study.slug])
        else "Finish",
    }
