"""The understanding tests' pages (trials.py holds the rules): a trial, its pictures,
and a study image viewed statically (the model's answer and heatmap, no canvas). Only the
participant's own browser sees them; answers are counted against the rate limits."""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from ... import ratelimit
from ...models import Participant, Study
from ...visitors import visitor_id
from .. import pages, queries
from . import trials as understanding
from .trials import Refused, Trial

NOT_READY = "These questions are not ready yet. Please try again in a minute."
PHASE_NAMES = {"pre": "before the images", "post": "after the images"}


def _trial_url(participant: Participant, phase: str, number: int):
    return redirect("painting:study-trial", slug=participant.study.slug, phase=phase, number=number)


def test_first(participant: Participant, phase: str) -> HttpResponse | None:
    """To the phase's next unanswered trial, or None when it has none."""
    number = understanding.pending(participant, phase)
    return _trial_url(participant, phase, number) if number else None


def tests_before_finish(participant: Participant) -> HttpResponse | None:
    """The tests still to do before Finish (the images are done): pre, then post."""
    return test_first(participant, "pre") or test_first(participant, "post")


def _may_open(participant: Participant, phase: str, number: int) -> str:
    """Why the participant may not see this trial now, or ""."""
    if refused := queries.refusal(participant):
        return refused
    if phase == "post":
        if understanding.pending(participant, "pre"):
            return "Please answer the questions before the images first."
        if queries.reachable_step(participant) <= queries.image_count(participant.study):
            return "These questions come after the images: please finish the images first."
    upto = understanding.next_number(participant, phase)
    if upto is None or number != upto:
        return understanding.ANSWERED
    return ""


def _context(participant: Participant, trial: Trial, **extra) -> dict:
    study = participant.study
    return {
        "study": study,
        "participant": participant,
        "trial": trial,
        "phase_name": PHASE_NAMES[trial.phase],
        "options": [(i, understanding.LETTERS[i], o) for i, o in enumerate(trial.options)],
        "confidence": understanding.CONFIDENCE,
        **extra,
    }


@require_http_methods(["GET", "POST"])
def trial(request: HttpRequest, slug: str, phase: str, number: int):
    study = get_object_or_404(Study, slug=slug)
    participant = pages.participant_for(request, study)
    shown = understanding.trial_for(participant, phase, number)
    if shown is None:
        if phase in understanding.PHASES and 1 <= number <= len(
            understanding.trials_of(study, phase)
        ):
            return pages.refused(request, study, NOT_READY, 503)
        raise Http404
    if refused := _may_open(participant, phase, number):
        status = 403 if queries.refusal(participant) else 409
        if status == 409 and request.method == "GET":
            return pages.go_on(request, participant)  # e.g. Back to an answered one
        return pages.refused(request, study, refused, status, final=status == 403)
    if request.method == "GET":
        return render(request, "painting/trial.html", _context(participant, shown))
    if limited := ratelimit.refusal(request, "trial", visitor_id(request)):
        return HttpResponse(limited, status=429, content_type="text/plain; charset=utf-8")
    try:
        understanding.record(participant, shown, request.POST)
    except Refused as exc:
        context = _context(participant, shown, error=exc.message)
        return render(request, "painting/trial.html", context, status=exc.status)
    if next_test := test_first(participant, phase):
        return next_test
    if phase == "pre":
        return pages.go_on(request, participant)  # the first image (or Finish)
    return redirect("painting:study-finish", slug=study.slug)


def _serve(name: str) -> HttpResponse:
    try:
        file = default_storage.open(name, "rb")
    except (FileNotFoundError, OSError):
        raise Http404 from None
    response = FileResponse(file, content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@require_GET
def trial_image(request: HttpRequest, slug: str, phase: str, number: int, option: int):
    """A trial's picture: option n's heatmap (distinction), the heatmap of the model's answer
    (agreement), the masked picture (simulation)."""
    study = get_object_or_404(Study, slug=slug)
    participant = pages.participant_for(request, study)
    shown = understanding.trial_for(participant, phase, number)
    if shown is None or not 0 <= option < len(shown.options):
        raise Http404
    made = shown.material
    if shown.kind == "simulation":
        return _serve(made["image"])
    label = shown.options[option] if shown.kind == "distinction" else shown.model_answer
    return _serve(made["images"][label])


def static_step(request: HttpRequest, participant: Participant, step: int, exploration):
    """A study image viewed statically: the model's answer and its heatmap, then Next."""
    study = participant.study
    viewed = understanding.static_view_of(study, exploration.picture_id)
    if viewed is None:
        return pages.refused(
            request, study, "This image is not ready yet. Please try again in a minute.", 503
        )
    steps = queries.steps_for(participant)
    context = {
        "study": study,
        "participant": participant,
        "step": step,
        "label": queries.step_label(participant, step, steps),
        "viewed": viewed,
        "percent": round(100 * viewed["probability"]),
        "next_step": step + 1 if step < len(steps) else None,
        "picture": exploration.picture,
    }
    return render(request, "painting/static_view.html", context)


@require_GET
def static_image(request: HttpRequest, slug: str, step: int):
    study = get_object_or_404(Study, slug=slug)
    participant = pages.participant_for(request, study)
    steps = queries.steps_for(participant)
    if not understanding.views_statically(participant) or not 1 <= step <= len(steps):
        raise Http404
    viewed = understanding.static_view_of(study, steps[step - 1].picture_id)
    if viewed is None:
        raise Http404
    return _serve(viewed["image"])
