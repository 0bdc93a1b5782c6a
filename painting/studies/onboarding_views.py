"""A participant's onboarding pages: the study's instruction pages, then its quiz (taken again
until every answer is right), between consent and the first image (onboarding.py)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ..models import Participant, Study
from . import onboarding
from .pages import go_on, participant_for


def _participant(request: HttpRequest, slug: str) -> tuple[Study, Participant]:
    study = get_object_or_404(Study, slug=slug)
    return study, participant_for(request, study)


@require_GET
def intro(request: HttpRequest, slug: str, page: int):
    """Instruction page `page` of the study's (1-based), with Back and Next; its last leads to
    the quiz, or starts the images where there is none."""
    study, participant = _participant(request, slug)
    if participant.screened_out_at or participant.finished_at:
        return go_on(request, participant)
    pages = study.instruction_pages
    if not 1 <= page <= len(pages):
        raise Http404
    context = {
        "study": study,
        "page": pages[page - 1],
        "number": page,
        "count": len(pages),
        "back": reverse("painting:study-intro", args=[slug, page - 1]) if page > 1 else "",
        "next": reverse("painting:study-intro", args=[slug, page + 1])
        if page < len(pages)
        else reverse("painting:study-quiz", args=[slug])
        if study.quiz
        else "",
        "onboarded": participant.onboarded_at is not None,
    }
    return render(request, "painting/study_intro.html", context)


@require_POST
def intro_done(request: HttpRequest, slug: str):
    """The last instruction page's Start, in a study without a quiz."""
    study, participant = _participant(request, slug)
    if study.quiz and participant.onboarded_at is None:
        return redirect("painting:study-quiz", slug=slug)
    if not participant.screened_out_at and not participant.finished_at:
        onboarding.done(participant)
    return go_on(request, participant)


def _chosen(request: HttpRequest, study: Study) -> list[int] | None:
    """The option index chosen for every question, or None if one is missing or not an option."""
    chosen = []
    for number, question in enumerate(study.quiz, 1):
        value = request.POST.get(f"q{number}", "")
        if not value.isdigit() or int(value) >= len(question["options"]):
            return None
        chosen.append(int(value))
    return chosen


@require_http_methods(["GET", "POST"])
def quiz(request: HttpRequest, slug: str):
    study, participant = _participant(request, slug)
    if participant.screened_out_at or participant.finished_at or not study.quiz:
        return go_on(request, participant)
    context = {
        "study": study,
        "questions": [(n, q) for n, q in enumerate(study.quiz, 1)],
        "back": reverse("painting:study-intro", args=[slug, len(study.instruction_pages)])
        if study.instruction_pages
        else "",
        "onboarded": participant.onboarded_at is not None,
    }
    if request.method == "GET":
        return render(request, "painting/study_quiz.html", context)
    if participant.onboarded_at is not None:
        return go_on(request, participant)  # answered right already (another tab)
    chosen = _chosen(request, study)
    if chosen is None:
        context["error"] = "Please choose an answer to every question."
        return render(request, "painting/study_quiz.html", context, status=400)
    try:
        wrong = onboarding.attempt(participant, chosen)
    except onboarding.TooManyAttempts as exc:
        return HttpResponse(exc.message, status=429, content_type="text/plain; charset=utf-8")
    if not wrong:
        return go_on(request, participant)
    context["wrong"] = [n + 1 for n in wrong]
    return render(request, "painting/study_quiz.html", context)
