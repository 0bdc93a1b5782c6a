"""The rules of a user study: consent, the images in order, finishing and withdrawing."""

from __future__ import annotations

import secrets

from django.db import transaction
from django.utils import timezone

from . import services
from .models import Exploration, Participant, Round, Study

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


def new_code() -> str:
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
        if not Participant.objects.filter(code=code).exists():
            return code


def consent(study: Study, external_id: str = "") -> Participant:
    """The participant's record starts here, with the consent version they agreed to."""
    return Participant.objects.create(
        study=study,
        code=new_code(),
        # A NUL cannot be stored in PostgreSQL's text (SQLite's can); no recruiter id has one.
        external_id=external_id.replace("\x00", "")[:200],
        consent_version=study.consent_version,
    )


def steps_of(study: Study):
    """The study's images in order; only gallery photos (an upload is private to its owner)."""
    return study.images.filter(picture__is_gallery=True).select_related("picture")


def image_count(study: Study) -> int:
    return steps_of(study).count()


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


def step_of(exploration: Exploration) -> int:
    """1-based position of the exploration's image in its study."""
    pictures = list(steps_of(exploration.participant.study).values_list("picture_id", flat=True))
    return pictures.index(exploration.picture_id) + 1


def finish(participant: Participant, closing_answer: str = "") -> None:
    participant.closing_answer = closing_answer[:5000]
    participant.finished_at = timezone.now()
    participant.save(update_fields=["closing_answer", "finished_at"])


def withdraw(participant: Participant) -> None:
    """Delete everything the participant left: rows and the files of their rounds."""
    rounds = Round.objects.filter(exploration__participant=participant)
    files = [f for r in rounds for f in (r.mask, r.masked_image, r.thumbnail) if f]
    own_files = [f for f in files if not f.name.startswith("pictures/")]
    with transaction.atomic():
        participant.delete()
    for field in own_files:
        field.storage.delete(field.name)
