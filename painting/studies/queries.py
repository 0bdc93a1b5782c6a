"""The reads of a user study: the images in a participant's order, where they stand and may
go on, what their condition shows them, its time limits, why nothing more is recorded for
them, and their status as a platform names it (writes: rules.py)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..masking import Fill
from ..models import (
    Exploration,
    Participant,
    Round,
    Study,
    StudyImage,
)
from .checks import CHECK_UNANSWERED


def normal_code(text: str) -> str:
    """A participant code as typed: case, spaces and dashes do not matter."""
    return "".join(c for c in text.upper() if c not in " -\t")


def participant_of_code(study: Study, code: str, external_id: str = "") -> Participant | None:
    """The study's participant whose code this is (and, where the link carries a platform id,
    whose id it is), else None: the proof that a browser is the participant."""
    code = normal_code(code[:64])
    if not code.isascii() or not code.isalnum() or len(code) > 16:
        return None  # not a code (a NUL, say, which PostgreSQL would refuse even to look up)
    participant = Participant.objects.filter(study=study, code=code).first()
    if participant is None or (external_id and participant.external_id != external_id):
        return None
    return participant


def withdraw_refusal(participant: Participant) -> str:
    """Why the participant cannot withdraw by their link, or "": once finished (or screened
    out, with nothing but a minimal row left), only a researcher deletes their data (admin)."""
    done = "have finished" if participant.finished_at else "are no longer taking part in"
    if participant.finished_at or participant.screened_out_at:
        return (
            f"You {done} this study, so it cannot be withdrawn from here. To have your "
            "answers deleted, write to the researcher through the platform you came from."
        )
    return ""


def screen_problem(study: Study, width: str | None, height: str | None) -> str:
    """Why this browser window (its size as the consent page measured it, in CSS pixels) is too
    small for the study, or "". Nothing is stored about a window that is refused."""
    need_w, need_h = study.min_screen_width, study.min_screen_height
    if not need_w and not need_h:
        return ""
    need = f"This study needs a browser window of at least {need_w} × {need_h} pixels"
    try:
        w, h = int(width or ""), int(height or "")
    except ValueError:
        return f"{need}, and the size of yours could not be measured (is JavaScript on?)."
    if w < need_w or h < need_h:
        return (
            f"{need}; yours is {w} × {h}. Please rotate your device, make the window larger, or "
            "use a larger screen (a computer), then come back to this link. Nothing has been "
            "recorded."
        )
    return ""


def measured_too_small(study: Study, width: str | None, height: str | None) -> bool:
    """The consent page measured the window and it is too small for the study."""
    return bool(width and height and screen_problem(study, width, height))


def status_of(participant: Participant) -> str:
    """consented (no image opened yet), in progress, finished, screened out, returned (the
    platform says so) or timed out (timed_out_filter). A withdrawn participant has no row."""
    if participant.screened_out_at:
        return "screened out"
    if participant.finished_at:
        return "finished"
    if participant.returned_at:
        return "returned"
    annotated = Participant.objects.filter(pk=participant.pk).annotate(
        last_active=last_active_expression()
    )
    if annotated.filter(timed_out_filter(participant.study)).exists():
        return "timed out"
    return "in progress" if participant.explorations.exists() else "consented"


def too_fast(study: Study, seconds: float | None, unknown: int | None = None) -> int | None:
    """1 for a time on an image below the study's min_seconds_per_image (a speeder: flagged in
    the export, never refused), 0 for one not below, `unknown` for no time; None where the
    study sets no minimum."""
    if not study.min_seconds_per_image:
        return None
    if seconds is None:
        return unknown
    return int(seconds < study.min_seconds_per_image)


@dataclass(frozen=True)
class Shown:
    """The parts of the explore page a participant's condition gives them."""

    model_view: bool = True
    agreement: bool = True
    deltas: bool = True
    analysis: bool = True
    edits: bool = True  # crop, rotate and flip of the whole picture
    fills: tuple[Fill, ...] = tuple(Fill)
    explanation: str = ""  # the one explanation method shown; empty: the person chooses


EVERYTHING = Shown()


def shown_to(participant: Participant | None) -> Shown:
    """Everything outside a study and in a study without conditions."""
    condition = participant.condition if participant else None
    if condition is None:
        return EVERYTHING
    return Shown(
        model_view=condition.show_model_view,
        agreement=condition.show_agreement,
        deltas=condition.show_deltas,
        analysis=condition.show_analysis,
        edits=condition.show_edits,
        fills=tuple(condition.offered_fills) or (Fill.MEAN,),
        explanation=condition.explanation_method,
    )


def steps_of(study: Study) -> QuerySet[StudyImage]:
    """The study's images by position; only gallery photos (an upload is private to its owner)."""
    return study.steps()


def order_of(entries: list[StudyImage], seed: int | None) -> list[StudyImage]:
    """Practice images first (by position), then the others: by position (seed None), or
    sorted by a hash of the seed and the picture. A picture keeps its rank whatever else is
    added to or taken from the study, so a participant's order survives such edits."""
    practice = [e for e in entries if e.is_practice]
    rest = [e for e in entries if not e.is_practice]
    if seed is not None:
        rest.sort(key=lambda e: hashlib.sha256(f"{seed}:{e.picture_id}".encode()).digest())
    return practice + rest


def steps_for(participant: Participant) -> list[StudyImage]:
    """The participant's images in the order they see them: step n is the n-th (1-based)."""
    return order_of(list(steps_of(participant.study)), participant.order_seed)


def image_count(study: Study) -> int:
    """Steps before Finish, practice images included."""
    return steps_of(study).count()


def step_name(participant: Participant, step: int, steps: list | None = None) -> str:
    """How the participant calls a step: "image 2" (practice images not counted), or
    "practice image"."""
    steps = steps if steps is not None else steps_for(participant)
    if steps[step - 1].is_practice:
        return "practice image"
    return f"image {step - sum(e.is_practice for e in steps)}"


def step_label(participant: Participant, step: int, steps: list | None = None) -> str:
    """The study bar's "image 2 of 5" (or "practice image")."""
    steps = steps if steps is not None else steps_for(participant)
    name = step_name(participant, step, steps)
    if steps[step - 1].is_practice:
        return name
    return f"{name} of {sum(not e.is_practice for e in steps)}"


def refusal(participant: Participant | None) -> str:
    """Why nothing more may be recorded for this participant, or "" while they take part.

    Every view that writes for an exploration asks this, so the rule lives here once.
    (Withdrawing deletes the participant's rows, so those requests find nothing: 404.)"""
    if participant is not None and participant.screened_out_at:
        return "You are no longer taking part in this study: nothing more is recorded."
    if participant is not None and participant.finished_at:
        return "You have finished this study: nothing more is recorded. Thank you!"
    return ""


STUDY_TIME_UP = "The time for this study is up: nothing more is recorded. Please go on to Finish."
STUDY_TIME_UP_AT_FINISH = (
    "The time for this study is up, so it ends here: what you did until now is saved. Please "
    "finish below."
)
IMAGE_TIME_UP = (
    "The time for this image is up: nothing more is recorded for it. Please go on with Next."
)


def study_deadline(participant: Participant):
    """When the participant's time for the whole study ends (from consent), or None."""
    limit = participant.study.time_limit_s
    return participant.consented_at + timedelta(seconds=limit) if limit else None


def image_deadline(study: Study, opened_at):
    """When the time on an image first opened at `opened_at` ends, or None. The exploration is
    made at the image's first opening, so its created_at is the stored start (a reload or
    another browser does not reset it)."""
    limit = study.time_limit_per_image_s
    return opened_at + timedelta(seconds=limit) if limit else None


def study_time_is_up(participant: Participant, now=None) -> bool:
    deadline = study_deadline(participant)
    return deadline is not None and (now or timezone.now()) >= deadline


def time_up(exploration: Exploration, now=None) -> str:
    """Why this exploration takes no more because of a time limit, or "". A page that also
    asks reachable_step passes both the same `now`: a deadline passing between the two
    questions would say "time is up" and keep Next closed."""
    participant = exploration.participant
    if participant is None:
        return ""
    now = now or timezone.now()
    if study_time_is_up(participant, now):
        return STUDY_TIME_UP
    deadline = image_deadline(participant.study, exploration.created_at)
    if deadline is not None and now >= deadline:
        return IMAGE_TIME_UP
    return ""


IMAGE_CLOSED = (
    "You have gone on to a later image, so this one is closed: nothing more is recorded for "
    "it. Please go on with the study."
)


def image_closed(exploration: Exploration) -> str:
    """IMAGE_CLOSED once the participant has opened a later image of their order (Next went
    on: the browser's Back button must not add rounds to an earlier image), else ""."""
    participant = exploration.participant
    if participant is None or (step := step_of(exploration)) is None:
        return ""
    later = [e.picture_id for e in steps_for(participant)[step:]]
    return IMAGE_CLOSED if participant.explorations.filter(picture__in=later).exists() else ""


def write_refusal(exploration: Exploration) -> str:
    """Why nothing more may be recorded for this exploration (the participant is done, has
    gone on to a later image, or its time is up), or "": every view that writes for an
    exploration asks this."""
    return refusal(exploration.participant) or image_closed(exploration) or time_up(exploration)


def reachable_step(participant: Participant, now=None) -> int:
    """The furthest step the participant may open: each image needs the study's minimum of
    finished masked rounds before the next one opens (a practice image none), unless its time
    is up. image_count + 1 means Finish is open (also once the study's time is up)."""
    study = participant.study
    steps = steps_for(participant)
    now = now or timezone.now()
    if study_time_is_up(participant, now):
        return len(steps) + 1
    timed_out = {
        picture_id
        for picture_id, opened_at in participant.explorations.values_list(
            "picture_id", "created_at"
        )
        if (deadline := image_deadline(study, opened_at)) is not None and now >= deadline
    }
    done = dict(
        participant.explorations.values("picture_id")
        .annotate(
            n=Count("rounds", filter=Q(rounds__index__gte=1, rounds__status=Round.Status.DONE))
        )
        .values_list("picture_id", "n")
    )
    answered = set(participant.check_answers.values_list("picture_id", flat=True))
    # Static explanation viewing (no canvas, no rounds): an image is done once it was opened.
    static = participant.condition_id is not None and participant.condition.static_viewing
    for step, entry in enumerate(steps, 1):
        if entry.picture_id in timed_out:
            continue
        if static:
            if entry.picture_id not in done:
                return step
        elif entry.is_attention_check:
            if entry.picture_id not in answered:
                return step
        elif done.get(entry.picture_id, 0) < rounds_needed(study, entry):
            return step
    return len(steps) + 1


def rounds_needed(study: Study, entry: StudyImage) -> int:
    """Rounds of their own an image needs before Next: a practice image one (so that the
    person has tried Classify once), the others the study's minimum."""
    return 1 if entry.is_practice else study.min_rounds_per_image


def resume_step(participant: Participant) -> int:
    """Where a returning participant goes on: the first image not explored yet or still short
    of its rounds; image_count + 1 is Finish."""
    unexplored = next_unexplored_step(participant) or image_count(participant.study) + 1
    return min(reachable_step(participant), unexplored)


def rounds_needed_message(participant: Participant, step: int) -> str:
    """Why Next waits at `step`: the rounds still needed there, counting down."""
    steps = steps_for(participant)
    entry = steps[step - 1]
    name = step_name(participant, step, steps)
    if entry.is_attention_check:
        return f"{name[0].upper()}{name[1:]}: {CHECK_UNANSWERED}"
    done = Round.objects.filter(
        exploration__participant=participant,
        exploration__picture_id=entry.picture_id,
        index__gte=1,
        status=Round.Status.DONE,
    ).count()
    left = max(1, rounds_needed(participant.study, entry) - done)
    rounds = "round" if left == 1 else "rounds"
    more = "" if not done else "more "
    if entry.is_practice:
        return "Try it once on the practice image (paint, then Classify) before you go on."
    return (
        f"Image {step - sum(e.is_practice for e in steps)} needs {left} {more}{rounds} of your "
        "own (paint, then Classify) before you go on."
    )


def step_of(exploration: Exploration) -> int | None:
    """1-based position of the exploration's image in its participant's order; None once staff
    have taken the image out of the study (the participant's exploration of it stays)."""
    pictures = [e.picture_id for e in steps_for(exploration.participant)]
    if exploration.picture_id not in pictures:
        return None
    return pictures.index(exploration.picture_id) + 1


def next_unexplored_step(participant: Participant) -> int | None:
    """The first step whose image the participant has not explored yet; None when none is left."""
    explored = set(participant.explorations.values_list("picture_id", flat=True))
    for number, entry in enumerate(steps_for(participant), start=1):
        if entry.picture_id not in explored:
            return number
    return None


def last_active_expression():
    """A participant's latest activity, for annotate(): their latest round, else their latest
    opening of an image, else their consent."""
    latest_round = Round.objects.filter(exploration__participant=OuterRef("pk")).order_by(
        "-created_at"
    )
    latest_opening = Exploration.objects.filter(participant=OuterRef("pk")).order_by("-created_at")
    return Coalesce(
        Subquery(latest_round.values("created_at")[:1]),
        Subquery(latest_opening.values("created_at")[:1]),
        "consented_at",
    )


def timed_out_filter(study: Study, now=None) -> Q:
    """On participants annotated with last_active: never finished (nor screened out, nor
    returned), and the study's time limit passed since consent, or no activity for
    XAI_STUDY_SLOT_TIMEOUT_MINUTES."""
    now = now or timezone.now()
    stale = Q(last_active__lt=now - timedelta(minutes=settings.XAI_STUDY_SLOT_TIMEOUT_MINUTES))
    if study.time_limit_s:
        stale |= Q(consented_at__lte=now - timedelta(seconds=study.time_limit_s))
    ongoing = Q(finished_at__isnull=True, screened_out_at__isnull=True, returned_at__isnull=True)
    return ongoing & stale
