"""Attention checks: what counts as a pass, the server's own judgement of the painted mask,
the answer recorded once, and when failed checks screen a participant out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.db import IntegrityError, transaction
from PIL import Image

from ..models import (
    CheckAnswer,
    Exploration,
    Participant,
    StudyImage,
)

CHECK_UNANSWERED = "follow the instruction on the image, then press Classify, before you go on."
CHECK_ANSWERED = "Your answer to this image is recorded: please go on."


class CheckNotPainted(Exception):
    """A Classify with nothing painted on a check: no answer (nothing is recorded)."""

    message = (
        "Nothing is painted yet, so there is no answer to record. Cover the red square with "
        "paint (stay inside its red dashed frame), then press Classify."
    )


def check_rule(entry: StudyImage) -> str:
    """What counts as a pass, in the participant's words."""
    return (
        f"What counts: at least {entry.check_min_covered:.0%} of the red square covered, and no "
        "paint outside the red dashed frame around it."
    )


def failed_checks(participant: Participant) -> int:
    return participant.check_answers.filter(passed=False).count()


def screens_out(participant: Participant) -> bool:
    """Whether the participant's failed checks screen them out: the study must say so
    (screen_out_on_failed_check), and they must have failed its number of checks
    (screen_out_after_failed_checks; 0: never), as Prolific allows rejecting only then."""
    study = participant.study
    limit = study.screen_out_after_failed_checks
    return study.screen_out_on_failed_check and limit > 0 and failed_checks(participant) >= limit


class CheckAlreadyAnswered(Exception):
    message = "You have answered this image already; only your first answer counts. Please go on."


@dataclass(frozen=True)
class Judgement:
    covered: float  # share of the marked region painted
    outside: float  # share of the rest of the image painted
    passed: bool


def check_of(exploration: Exploration) -> StudyImage | None:
    """The attention-check step this exploration answers, or None (not a check, no study)."""
    if exploration.participant_id is None:
        return None
    return StudyImage.objects.filter(
        study=exploration.participant.study_id,
        picture=exploration.picture_id,
        is_attention_check=True,
    ).first()


def is_answered(exploration: Exploration) -> bool:
    """Whether the participant has answered the attention check on this exploration's image."""
    if exploration.participant_id is None:
        return False
    return CheckAnswer.objects.filter(
        participant=exploration.participant_id, picture=exploration.picture_id
    ).exists()


def judge(entry: StudyImage, mask: Image.Image) -> Judgement:
    """The mask (white = painted, at the picture's resolution) against the step's region and
    thresholds: the server's own reading of the pixels, whatever the browser claims."""
    painted = np.asarray(mask.convert("L")) >= 128
    height, width = painted.shape
    x0, y0, x1, y1 = entry.check_box(width, height)
    inside = int(painted[y0:y1, x0:x1].sum())
    region = (x1 - x0) * (y1 - y0)
    rest = width * height - region
    covered = inside / region
    outside = (int(painted.sum()) - inside) / rest if rest else 0.0
    passed = covered >= entry.check_min_covered and outside <= entry.check_max_outside
    return Judgement(round(covered, 4), round(outside, 4), passed)


def answer_check(exploration: Exploration, entry: StudyImage, mask: Image.Image) -> CheckAnswer:
    """Judge and record the participant's answer, once (CheckAlreadyAnswered after that, with
    nothing changed); a mask with nothing painted is no answer (CheckNotPainted)."""
    if not mask.convert("L").point(lambda v: 255 if v >= 128 else 0).getbbox():
        raise CheckNotPainted
    verdict = judge(entry, mask)
    participant = exploration.participant
    try:
        with transaction.atomic():
            answer = CheckAnswer.objects.create(
                participant=participant,
                picture_id=exploration.picture_id,
                passed=verdict.passed,
                covered=verdict.covered,
                outside=verdict.outside,
            )
    except IntegrityError as exc:
        raise CheckAlreadyAnswered from exc
    return answer
