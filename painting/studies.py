"""The rules of a user study: consent (who is whom, by browser and by platform id), the
condition and image order each participant gets, the images in order, finishing, being screened
out and withdrawing, and where a recruiting platform wants people sent at the end."""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from PIL import Image

from . import services
from .masking import Fill
from .models import (
    AddressTally,
    CheckAnswer,
    Condition,
    Exploration,
    Participant,
    Round,
    Study,
    StudyImage,
)

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


class AlreadyTookPart(Exception):
    """The link's participant id has taken part from another browser, which the study forbids."""

    message = (
        "You have already taken part in this study (your participant id was used in another "
        "browser), and this study can be done only once, in one browser."
    )


class TooManyFromAddress(Exception):
    """The network address has started as many participants as the study takes from one."""

    message = (
        "This study takes only a few people from one internet connection, and that many have "
        "already taken part from yours. If you share your connection with others who took "
        "part, please write to the researcher through the platform you came from."
    )


def new_code() -> str:
    """Eight characters with at least one letter: a code of digits only would be read back as
    a number from the export's CSV files."""
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
        if code.isdigit():
            continue
        if not Participant.objects.filter(code=code).exists():
            return code


# --- Who is whom -------------------------------------------------------------------------


def _existing(study: Study, visitor: str, external_id: str) -> Participant | None:
    """The participant this browser already is, else the one this platform id already is."""
    if visitor and (by_browser := Participant.objects.filter(study=study, visitor=visitor).first()):
        return by_browser
    if external_id:
        return Participant.objects.filter(study=study, external_id=external_id).first()
    return None


def _may_use(study: Study, participant: Participant, visitor: str) -> Participant:
    """The participant, unless it is another browser's and the study wants one browser only."""
    if participant.visitor and participant.visitor != visitor and not study.allow_resume_elsewhere:
        raise AlreadyTookPart
    return participant


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


def participant_of_link(study: Study, external_id: str, visitor: str) -> Participant | None:
    """A returning participant, by the platform id on their link (None: a new one, who must
    consent first); raises AlreadyTookPart where the study forbids a second browser."""
    if not external_id:
        return None
    existing = Participant.objects.filter(study=study, external_id=external_id).first()
    return existing and _may_use(study, existing, visitor)


def consent(
    study: Study,
    external_id: str = "",
    visitor: str = "",
    *,
    address: str = "",
    platform_study_id: str = "",
    platform_session_id: str = "",
) -> Participant:
    """The participant's record starts here, with the consent version they agreed to, a
    condition and an image order.

    One participant per browser, and one per platform id, per study: a second consent from
    the browser returns its participant (whatever id its link carries), and the same id from
    another browser returns that id's participant (or raises AlreadyTookPart if the study
    forbids it). Two first visits with one id at once: the unique constraints let one insert
    in, and the other returns it (oTree's get_existing_or_new_participant).

    A new participant is counted against their network `address` (TooManyFromAddress past
    the study's max_consents_per_address) and numbered (assignment_index)."""
    if existing := _existing(study, visitor, external_id):
        return _may_use(study, existing, visitor)
    try:
        with transaction.atomic():
            # The condition is picked in the transaction that inserts the participant, so
            # two consents at once cannot both take the same last free slot. Conditions are
            # locked before the study row, in the order withdraw() updates them.
            condition = assign_condition(study)
            _count_address(study, address)
            return Participant.objects.create(
                study=study,
                code=new_code(),
                visitor=visitor,
                external_id=external_id,
                platform_study_id=platform_study_id,
                platform_session_id=platform_session_id,
                consent_version=study.consent_version,
                condition=condition,
                assignment_index=_next_assignment_index(study),
                order_seed=secrets.randbelow(2**31) if study.order == Study.Order.RANDOM else None,
            )
    except IntegrityError:
        existing = _existing(study, visitor, external_id)
        if existing is None:
            raise
        return _may_use(study, existing, visitor)


def _count_address(study: Study, address: str) -> None:
    """One more new participant from this address, or TooManyFromAddress (nothing written).
    The address is stored only as a hash keyed with the secret key and the study."""
    cap = study.max_consents_per_address
    if not cap or address in ("", "unknown"):  # "unknown": a proxy that names no client
        return
    key = hmac.new(
        settings.SECRET_KEY.encode(), f"{study.pk}:{address}".encode(), hashlib.sha256
    ).hexdigest()
    tally, _ = AddressTally.objects.select_for_update().get_or_create(study=study, address_key=key)
    if tally.consents >= cap:
        raise TooManyFromAddress
    AddressTally.objects.filter(pk=tally.pk).update(consents=F("consents") + 1)


def _next_assignment_index(study: Study) -> int:
    """The study's next consent number; the UPDATE holds the study's row to the commit."""
    Study.objects.filter(pk=study.pk).update(assignment_count=F("assignment_count") + 1)
    return Study.objects.values_list("assignment_count", flat=True).get(pk=study.pk)


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
            f"{need}; yours is {w} × {h}. Please make the window larger, or open the link on a "
            "computer with a larger screen."
        )
    return ""


def decline(study: Study) -> None:
    """Someone did not agree: counted, and nothing about them stored."""
    Study.objects.filter(pk=study.pk).update(declined_count=F("declined_count") + 1)


def assign_condition(study: Study) -> Condition | None:
    """A least-filled condition, ties broken at random; None for a study without conditions.

    A condition's fill is its finished, screened-out and withdrawn participants plus those
    active (their latest round, or their consent) within XAI_STUDY_SLOT_TIMEOUT_MINUTES: a
    participant who left gives the slot back, as in psiTurk's get_random_condcount, but one
    who withdrew or failed a check keeps it, as a finished one does, so that withdrawing the
    participants of one condition cannot send the next people into it. Call it inside the
    transaction that saves the participant: the condition rows are locked (SQLite's IMMEDIATE
    transactions lock the whole database), so concurrent assignments count each other."""
    conditions = list(Condition.objects.select_for_update().filter(study=study).order_by("pk"))
    if not conditions:
        return None
    cutoff = timezone.now() - timedelta(minutes=settings.XAI_STUDY_SLOT_TIMEOUT_MINUTES)
    latest_round = Round.objects.filter(exploration__participant=OuterRef("pk")).order_by(
        "-created_at"
    )
    holding = (
        Participant.objects.filter(study=study, condition__isnull=False)
        .annotate(
            last_active=Coalesce(Subquery(latest_round.values("created_at")[:1]), "consented_at")
        )
        .filter(
            Q(finished_at__isnull=False)
            | Q(screened_out_at__isnull=False)
            | Q(last_active__gte=cutoff)
        )
    )
    counts = dict(holding.values_list("condition").annotate(n=Count("pk")).order_by())
    fill = {c.pk: counts.get(c.pk, 0) + c.withdrawn_count for c in conditions}
    fewest = min(fill.values())
    return random.SystemRandom().choice([c for c in conditions if fill[c.pk] == fewest])


def screen_out(participant: Participant) -> None:
    """A consented participant who failed a check: their explorations, rounds and files go,
    and a minimal row stays (ids, condition, consent, the time), so that they are counted,
    give their condition's slot back, and their link sends them to the screened-out URL."""
    with transaction.atomic():
        rounds = Round.objects.filter(exploration__participant=participant)
        rounds.only("pk", *Round.FILE_FIELDS).delete()
        participant.explorations.all().delete()
        participant.trial_answers.all().delete()
        Participant.objects.filter(pk=participant.pk).update(
            screened_out_at=timezone.now(), finished_at=None, closing_answer=""
        )
    participant.refresh_from_db()


# --- Where a platform wants people sent -----------------------------------------------------


def with_code(url: str, code: str) -> str:
    """The URL with the code: in place of {code}, else as ?cc=CODE (Prolific's parameter)."""
    if "{code}" in url:
        return url.replace("{code}", quote(code, safe=""))
    if not code:
        return url
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode({"cc": code})) if q)
    return urlunsplit(parts._replace(query=query))


def completion_url(study: Study) -> str:
    return with_code(study.completion_url, study.completion_code) if study.completion_url else ""


def screened_out_url(study: Study) -> str:
    if not study.screened_out_url:
        return ""
    return with_code(study.screened_out_url, study.screened_out_code)


# --- What the participant sees --------------------------------------------------------------


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


# --- The images in order --------------------------------------------------------------------


def steps_of(study: Study) -> QuerySet[StudyImage]:
    """The study's images by position; only gallery photos (an upload is private to its owner)."""
    return study.images.filter(picture__is_gallery=True).select_related("picture")


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


# --- Time limits ------------------------------------------------------------------------------

STUDY_TIME_UP = "The time for this study is up: nothing more is recorded. Please go on to Finish."
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


def study_time_is_up(participant: Participant) -> bool:
    deadline = study_deadline(participant)
    return deadline is not None and timezone.now() >= deadline


def time_up(exploration: Exploration) -> str:
    """Why this exploration takes no more because of a time limit, or ""."""
    participant = exploration.participant
    if participant is None:
        return ""
    if study_time_is_up(participant):
        return STUDY_TIME_UP
    deadline = image_deadline(participant.study, exploration.created_at)
    if deadline is not None and timezone.now() >= deadline:
        return IMAGE_TIME_UP
    return ""


def write_refusal(exploration: Exploration) -> str:
    """Why nothing more may be recorded for this exploration (the participant is done, or its
    time is up), or "": every view that writes for an exploration asks this."""
    return refusal(exploration.participant) or time_up(exploration)


def reachable_step(participant: Participant) -> int:
    """The furthest step the participant may open: each image needs the study's minimum of
    finished masked rounds before the next one opens (a practice image none), unless its time
    is up. image_count + 1 means Finish is open (also once the study's time is up)."""
    study = participant.study
    steps = steps_for(participant)
    if study_time_is_up(participant):
        return len(steps) + 1
    now = timezone.now()
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
        if entry.is_practice or entry.picture_id in timed_out:
            continue
        if static:
            if entry.picture_id not in done:
                return step
        elif entry.is_attention_check:
            if entry.picture_id not in answered:
                return step
        elif done.get(entry.picture_id, 0) < study.min_rounds_per_image:
            return step
    return len(steps) + 1


def resume_step(participant: Participant) -> int:
    """Where a returning participant goes on: the first image not explored yet or still short
    of its rounds; image_count + 1 is Finish."""
    unexplored = next_unexplored_step(participant) or image_count(participant.study) + 1
    return min(reachable_step(participant), unexplored)


def rounds_needed_message(participant: Participant, step: int) -> str:
    """Why Next waits at `step`, a step that is not a practice image (those need no rounds)."""
    steps = steps_for(participant)
    if steps[step - 1].is_attention_check:
        return f"Image {step - sum(e.is_practice for e in steps)}: {CHECK_UNANSWERED}"
    practice = sum(e.is_practice for e in steps)
    need = participant.study.min_rounds_per_image
    rounds = "round" if need == 1 else "rounds"
    return (
        f"Image {step - practice} needs {need} {rounds} of your own (paint, then Classify) "
        "before you go on."
    )


def exploration_for_step(participant: Participant, visitor: str, step: int) -> Exploration:
    """The participant's exploration of their step-th image (1-based), made on first visit."""
    entry = steps_for(participant)[step - 1]
    # Serialised per participant (SQLite's IMMEDIATE transactions lock at the start, elsewhere
    # the row lock does): a double click on Next cannot make two explorations of one step.
    with transaction.atomic():
        Participant.objects.select_for_update().get(pk=participant.pk)
        existing = participant.explorations.filter(picture=entry.picture).first()
        if existing:
            return existing
        return services.start_exploration(visitor, entry.picture, participant=participant)


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


# --- Attention checks ------------------------------------------------------------------------

CHECK_UNANSWERED = "follow the instruction on the image, then press Classify, before you go on."
CHECK_ANSWERED = "Your answer to this image is recorded: please go on."


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
    nothing changed). A failed check screens the participant out where the study says so."""
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
    if not verdict.passed and participant.study.screen_out_on_failed_check:
        screen_out(participant)
    return answer


class ScreenedOut(Exception):
    """The participant failed an attention check of a study that screens them out for it."""


def submit_round(exploration: Exploration, check: StudyImage | None, data: dict, **options):
    """A Classify in or out of a study: an attention check's answer is judged and recorded first
    (ScreenedOut where the study ends the participation for a failure), then the round is
    submitted (services.submit_round). A round refused as Busy takes its answer back with it, so
    the participant answers again."""
    answer = answer_check(exploration, check, data["mask"]) if check else None
    failed = answer is not None and not answer.passed
    if failed and exploration.participant.study.screen_out_on_failed_check:
        raise ScreenedOut
    try:
        return services.submit_round(
            exploration,
            data["mask"],
            data["fill"],
            data["strokes"],
            prediction=data["prediction"],
            live=data["live"],
            edits=data["edits"],
            **options,
        )
    except services.Busy:
        if answer is not None:
            answer.delete()
        raise


# --- The end --------------------------------------------------------------------------------


def finish(participant: Participant, closing_answer: str = "") -> bool:
    """Record the end and the closing answer, once: False (and nothing changed) when the
    participant had already finished. The condition is in the UPDATE, so two submits racing
    each other cannot both write."""
    now = timezone.now()
    finished = Participant.objects.filter(
        pk=participant.pk, finished_at__isnull=True, screened_out_at__isnull=True
    ).update(closing_answer=closing_answer[:5000], finished_at=now)
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
    withdraw_participants(
        Participant.objects.filter(
            pk__in=Participant.objects.filter(same_browser, study=participant.study_id).values("pk")
        )
    )


def withdraw_participants(participants: QuerySet[Participant]) -> None:
    """Delete the participants as withdrawn: counted per study and condition first (the
    dashboard shows who withdrew, and assignment still counts their slots)."""
    with transaction.atomic():
        rows = participants.values_list("study", "condition").annotate(n=Count("pk")).order_by()
        for study_id, condition_id, n in rows:
            if condition_id is not None:
                Condition.objects.filter(pk=condition_id).update(
                    withdrawn_count=F("withdrawn_count") + n
                )
            Study.objects.filter(pk=study_id).update(withdrawn_count=F("withdrawn_count") + n)
        delete_participants(participants)


def delete_participants(participants: QuerySet[Participant]) -> None:
    """Delete participants with their explorations and rounds; the files go once the deletion
    commits (files.py). Rounds go first, without their brush logs: a cascade would load every
    round whole just to delete it."""
    with transaction.atomic():
        rounds = Round.objects.filter(exploration__participant__in=participants)
        rounds.only("pk", *Round.FILE_FIELDS).delete()
        participants.delete()
