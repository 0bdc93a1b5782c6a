"""A study's onboarding, between consent and the first image: short instruction pages (text,
an optional image) and an optional comprehension quiz, taken again until every answer is
right. Each try is recorded (QuizAttempt); the participant starts the images once done."""

from __future__ import annotations

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from ..instructions import answer_index
from ..models import Participant, QuizAttempt, Study

# A quiz taken this many times without getting it right takes no more tries (each is a row).
MAX_ATTEMPTS = 50


# --- The participant's way through -----------------------------------------------------------


def has_onboarding(study: Study) -> bool:
    return bool(study.instruction_pages or study.quiz)


def first_url(study: Study) -> str:
    if study.instruction_pages:
        return reverse("painting:study-intro", args=[study.slug, 1])
    return reverse("painting:study-quiz", args=[study.slug])


def pending(participant: Participant) -> bool:
    """The participant has not finished the instructions (and quiz) yet."""
    return participant.onboarded_at is None and has_onboarding(participant.study)


def done(participant: Participant) -> None:
    """Once: a second Start (another tab) keeps the first time."""
    Participant.objects.filter(pk=participant.pk, onboarded_at=None).update(
        onboarded_at=timezone.now()
    )
    participant.refresh_from_db(fields=["onboarded_at"])


class TooManyAttempts(Exception):
    message = (
        "The quiz has been tried too many times. Please contact the researchers through the "
        "platform you came from."
    )


def wrong_questions(study: Study, chosen: list[int]) -> list[int]:
    """The 0-based numbers of the questions answered wrongly."""
    return [
        n for n, (q, c) in enumerate(zip(study.quiz, chosen, strict=True)) if answer_index(q) != c
    ]


def attempt(participant: Participant, chosen: list[int]) -> list[int]:
    """Records one try at the quiz (every question answered, `chosen` the options' indices)
    and returns the wrong questions' numbers; none wrong: onboarding is done."""
    study = participant.study
    wrong = wrong_questions(study, chosen)
    with transaction.atomic():
        Participant.objects.select_for_update().get(pk=participant.pk)
        number = participant.quiz_attempts.count() + 1
        if number > MAX_ATTEMPTS:
            raise TooManyAttempts
        QuizAttempt.objects.create(
            participant=participant,
            number=number,
            answers=[q["options"][c] for q, c in zip(study.quiz, chosen, strict=True)],
            wrong=[n + 1 for n in wrong],
            correct=not wrong,
        )
    if not wrong:
        done(participant)
    return wrong
