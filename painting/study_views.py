"""The participant's path through a study: consent, the images in order, finish, withdraw."""

from __future__ import annotations

from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import studies
from .forms import ClosingForm
from .models import Participant, Study
from .views import exploration_url, visitor_id


def _session_key(study: Study) -> str:
    return f"participant:{study.slug}"


def _get_participant_for(request: HttpRequest, study: Study) -> Participant:
    participant_id = request.session.get(_session_key(study))
    if not participant_id:
        raise Http404
    return get_object_or_404(Participant, pk=participant_id, study=study)


def _refused(request: HttpRequest, study: Study, message: str, status: int, back_to: int = 0):
    """A study page that says why not, with the way back to the image still to do."""
    context = {"study": study, "message": message, "back_to": back_to}
    return render(request, "painting/study_refused.html", context, status=status)


def _not_yet(request: HttpRequest, participant: Participant, step: int):
    """Refused when an image before `step` still lacks the study's minimum of rounds (step
    image_count + 1 is Finish); None when the participant may go there."""
    reachable = studies.reachable_step(participant)
    if step <= reachable:
        return None
    message = studies.rounds_needed_message(participant.study, reachable)
    return _refused(request, participant.study, message, 409, back_to=reachable)


@require_GET
def consent_page(request: HttpRequest, slug: str):
    study = get_object_or_404(Study, slug=slug, is_open=True)
    if request.session.get(_session_key(study)):
        return redirect("painting:study-step", slug=slug, step=1)
    context = {"study": study, "pid": request.GET.get("pid", "")[:200]}
    return render(request, "painting/study_consent.html", context)


@require_POST
def consent(request: HttpRequest, slug: str):
    study = get_object_or_404(Study, slug=slug, is_open=True)
    if not request.POST.get("agree"):
        context = {"study": study, "pid": request.POST.get("pid", ""), "error": True}
        return render(request, "painting/study_consent.html", context, status=400)
    participant = studies.consent(
        study, external_id=request.POST.get("pid", ""), visitor=visitor_id(request, create=True)
    )
    request.session[_session_key(study)] = str(participant.pk)
    return redirect("painting:study-step", slug=slug, step=1)


@require_GET
def step(request: HttpRequest, slug: str, step: int):
    study = get_object_or_404(Study, slug=slug)
    participant = _get_participant_for(request, study)
    if not 1 <= step <= studies.image_count(study):
        raise Http404
    if over := studies.refusal(participant):
        return _refused(request, study, over, 403)
    if refused := _not_yet(request, participant, step):
        return refused
    exploration = studies.exploration_for_step(participant, visitor_id(request, create=True), step)
    return redirect(exploration_url(exploration))


@require_http_methods(["GET", "POST"])
def finish(request: HttpRequest, slug: str):
    study = get_object_or_404(Study, slug=slug)
    participant = _get_participant_for(request, study)
    finish_step = studies.image_count(study) + 1
    if not participant.finished_at and (refused := _not_yet(request, participant, finish_step)):
        return refused
    form = ClosingForm(request.POST or None)
    context = {"study": study, "participant": participant, "form": form}
    if request.method == "POST":
        if participant.finished_at:
            return _already_finished(request, context)
        if form.is_valid() and not studies.finish(participant, form.cleaned_data["answer"]):
            return _already_finished(request, context)  # a second submit raced the first
    return render(request, "painting/study_finish.html", context)


def _already_finished(request: HttpRequest, context: dict):
    """A finished participant's answers are final: a second Finish changes nothing."""
    context["error"] = "You have already finished this study; your first answers are kept."
    return render(request, "painting/study_finish.html", context, status=409)


@require_POST
def withdraw(request: HttpRequest, slug: str):
    study = get_object_or_404(Study, slug=slug)
    studies.withdraw(_get_participant_for(request, study))
    del request.session[_session_key(study)]
    return render(request, "painting/study_withdrawn.html", {"study": study})
