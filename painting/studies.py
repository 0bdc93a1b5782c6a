"""The rules of a user study: consent, the images in order, finishing and withdrawing."""

from __future__ import annotations

import secrets

from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from . import services
from .models import Exploration, Participant, Round, Study

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


def new_code() -> str:
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
        if not Participant.objects.filter(code=code).exists():
            return code


def consent(study: Study, external_id: str = "", visitor: str = "") -> Participant:
    """The participant's record starts here, with the consent version they agreed to.

    One participant per browser per study: the browser's second consent returns the first."""
    existing = Participant.objects.filter(study=study, visitor=visitor).first()
    if visitor and existing:
        return existing
    try:
        with transaction.atomic():
            return Participant.objects.create(
                study=study,
                code=new_code(),
                visitor=visitor,
                external_id=external_id[:200],
                consent_version=study.consent_version,
            )
    except IntegrityError:
        if not visitor:
            raise
        # Two consents from one browser at once (a double click): the unique constraint let
        # one in, and both get it.
        return Participant.objects.get(study=study, visitor=visitor)


def steps_of(study: Study):
    """The study's images in order; only gallery photos (an upload is private to its owner)."""
    return study.images.filter(picture__is_gallery=True).select_related("picture")


def image_count(study: Study) -> int:
    return steps_of(study).count()


def refusal(participant: Participant | None) -> str:
    """Why nothing more may be recorded for this participant, or "" while they take part.

    Every view that writes for an exploration asks this, so the rule lives here once.
    (Withdrawing deletes the participant's rows, so those requests find nothing: 404.)"""
    if participant is not None and participant.finished_at:
        return "You have finished this study: nothing more is recorded. Thank you!"
    return ""


def reachable_step(participant: Participant) -> int:
    """The furthest step the participant may open: each image needs the study's minimum of
    finished masked rounds before the next one opens. image_count + 1 means Finish is open."""
    study = participant.study
    done = dict(
        participant.explorations.values("picture_id")
        .annotate(
            n=Count("rounds", filter=Q(rounds__index__gte=1, rounds__status=Round.Status.DONE))
        )
        .values_list("picture_id", "n")
    )
    pictures = list(steps_of(study).values_list("picture_id", flat=True))
    for step, picture_id in enumerate(pictures, 1):
        if done.get(picture_id, 0) < study.min_rounds_per_image:
            return step
    return len(pictures) + 1


def rounds_needed_message(study: Study, step: int) -> str:
    need = study.min_rounds_per_image
    rounds = "round" if need == 1 else "rounds"
    return (
        f"Image {step} needs {need} {rounds} of your own (paint, then Classify) before you go on."
    )


def exploration_for_step(participant: Participant, visitor: str, step: int) -> Exploration:
    """The participant's exploration of the study's step-th image (1-based), made on first visit."""
    entry = steps_of(participant.study)[step - 1]
    # Serialised per participant (SQLite's IMMEDIATE transactions lock at the start, elsewhere
    # the row lock does): a double click on Next cannot make two explorations of one step.
    with transaction.atomic():
        Participant.objects.select_for_update().get(pk=participant.pk)
        existing = participant.explorations.filter(picture=entry.picture).first()
        if existing:
            return existing
        return services.start_exploration(visitor, entry.picture, participant=participant)


def step_of(exploration: Exploration) -> int | None:
    """1-based position of the exploration's image in its study; None once staff have taken
    the image out of the study (the participant's exploration of it stays)."""
    pictures = list(steps_of(exploration.participant.study).values_list("picture_id", flat=True))
    if exploration.picture_id not in pictures:
        return None
    return pictures.index(exploration.picture_id) + 1


def next_unexplored_step(participant: Participant) -> int | None:
    """The first step whose image the participant has not explored yet; None when none is left."""
    explored = set(participant.explorations.values_list("picture_id", flat=True))
    for number, entry in enumerate(steps_of(participant.study), start=1):
        if entry.picture_id not in explored:
            return number
    return None


def finish(participant: Participant, closing_answer: str = "") -> bool:
    """Record the end and the closing answer, once: False (and nothing changed) when the
    participant had already finished. The condition is in the UPDATE, so two submits racing
    each other cannot both write."""
    now = timezone.now()
    finished = Participant.objects.filter(pk=participant.pk, finished_at__isnull=True).update(
        closing_answer=closing_answer[:5000], finished_at=now
    )
    participant.refresh_from_db(fields=["closing_answer", "finished_at"])
    return bool(finished)


def withdraw(participant: Participant) -> None:
    """Delete everything this browser gave in the study: its participant (and any other one of
    its visitor id, or whose explorations it made) with their explorations, rounds and files."""
    visitors = {participant.visitor, *participant.explorations.values_list("visitor", flat=True)}
    visitors.discard("")
    same_browser = (
        Q(pk=participant.pk) | Q(visitor__in=visitors) | Q(explorations__visitor__in=visitors)
    )
    participants = Participant.objects.filter(
        pk__in=Participant.objects.filter(same_browser, study=participant.study_id).values("pk")
    )
    delete_participants(participants)


def delete_participants(participants: QuerySet[Participant]) -> None:
    """Delete participants with their explorations and rounds; the files go once the deletion
    commits (files.py). Rounds go first, without their brush logs: a cascade would load every
    round whole just to delete it."""
    with transaction.atomic():
        rounds = Round.objects.filter(exploration__participant__in=participants)
        rounds.only("pk", *Round.FILE_FIELDS).delete()
        participants.delete()
