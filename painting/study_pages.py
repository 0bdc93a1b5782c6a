"""The study pages' shared answers, for every view a participant meets in a study (consent and
images: study_views; onboarding_views; understanding_views): who this browser is in the
study, where they go on, and the pages that say why not."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from . import onboarding, studies
from .models import Participant, Study
from .views import participant_session_key


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
    if (url := studies.screened_out_url(study)) and not pilot:
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
    step = studies.resume_step(participant)
    if participant.finished_at or step > studies.image_count(study):
        return redirect("painting:study-finish", slug=study.slug)
    return redirect("painting:study-step", slug=study.slug, step=step)
