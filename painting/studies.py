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

from . import selectors, services
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
    WithdrawnId,
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


class StudyFull(Exception):
    """Every condition has as many participants as the study takes (participants_per_condition)."""

    message = (
        "This study is full: it has all the participants it needs. Thank you for your "
        "interest! If you came from a recruiting platform, please return the study there."
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


class NoId(Exception):
    """The link carries no participant id, or the platform's placeholder instead of one (a test
    link), and the study does not allow_missing_id: refused, nothing stored."""

    missing = (
        "This link carries no participant id (PROLIFIC_PID), so your answers could not be "
        "matched to you. Please open the study from the link on the platform you came from."
    )
    placeholder = (
        "This link carries the platform's placeholder {{%PROLIFIC_PID%}} instead of a "
        "participant id: it is a test link. Please open the study from the link on the "
        "platform you came from."
    )

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


def is_placeholder(value: str) -> bool:
    """A platform's unfilled placeholder, e.g. Prolific's {{%PROLIFIC_PID%}}."""
    return "{{%" in value or "%}}" in value


def link_id(study: Study, external_id: str) -> str:
    """The participant id the link gives: "" (a generated one follows at consent) where the
    study allows none, else NoId for a missing id or a placeholder."""
    if external_id and not is_placeholder(external_id):
        return external_id
    if study.allow_missing_id:
        return ""
    raise NoId(NoId.placeholder if external_id else NoId.missing)


def generated_id() -> str:
    """The id of a participant whose link had none (allow_missing_id): one per browser."""
    return "no-id-" + secrets.token_hex(8)


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
    pilot: bool = False,
) -> Participant:
    """The participant's record starts here, with the consent version they agreed to, a
    condition and an image order.

    One participant per browser, and one per platform id, per study: a second consent from
    the browser returns its participant (whatever id its link carries), and the same id from
    another browser returns that id's participant (or raises AlreadyTookPart if the study
    forbids it). Two first visits with one id at once: the unique constraints let one insert
    in, and the other returns it (oTree's get_existing_or_new_participant).

    A new participant is counted against their network `address` (TooManyFromAddress past
    the study's max_consents_per_address) and numbered (assignment_index); StudyFull (and the
    study closes) when every condition is full. A `pilot` (pilots.py) is none of that: it is
    balanced among pilots only, and neither counted, numbered nor refused for a full study."""
    if existing := _existing(study, visitor, external_id):
        return _may_use(study, existing, visitor)
    external_id = external_id or (generated_id() if study.allow_missing_id else "")
    try:
        with transaction.atomic():
            # The condition is picked in the transaction that inserts the participant, so
            # two consents at once cannot both take the same last free slot. Conditions are
            # locked before the study row, in the order withdraw() updates them.
            condition = assign_condition(study, pilot=pilot)
            if not pilot:
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
                assignment_index=None if pilot else _next_assignment_index(study),
                order_seed=secrets.randbelow(2**31) if study.order == Study.Order.RANDOM else None,
                pilot=pilot,
            )
    except StudyFull:
        Study.objects.filter(pk=study.pk).update(is_open=False)
        raise
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
            f"{need}; yours is {w} × {h}. Please rotate your device, make the window larger, or "
            "use a larger screen (a computer), then come back to this link. Nothing has been "
            "recorded."
        )
    return ""


def measured_too_small(study: Study, width: str | None, height: str | None) -> bool:
    """The consent page measured the window and it is too small for the study."""
    return bool(width and height and screen_problem(study, width, height))


def decline(study: Study) -> None:
    """Someone did not agree: counted, and nothing about them stored."""
    Study.objects.filter(pk=study.pk).update(declined_count=F("declined_count") + 1)


def _slots(study: Study, pilot: bool) -> tuple[dict, dict]:
    """Per condition pk (None: no condition), the participants holding a slot, for the balance
    and for the quota. A slot is held by a finished, screened-out or withdrawn participant, or
    one active (their latest round, or their consent) within XAI_STUDY_SLOT_TIMEOUT_MINUTES: a
    participant who left gives it back, as in psiTurk's get_random_condcount. The quota counts
    only the finished and the active (those who can still give data). Pilots count among
    pilots only."""
    cutoff = timezone.now() - timedelta(minutes=settings.XAI_STUDY_SLOT_TIMEOUT_MINUTES)
    latest_round = Round.objects.filter(exploration__participant=OuterRef("pk")).order_by(
        "-created_at"
    )
    holding = (
        Participant.objects.filter(study=study, pilot=pilot)
        .annotate(
            last_active=Coalesce(Subquery(latest_round.values("created_at")[:1]), "consented_at")
        )
        .filter(
            Q(finished_at__isnull=False)
            | Q(screened_out_at__isnull=False)
            | Q(last_active__gte=cutoff, returned_at__isnull=True)
        )
    )
    rows = (
        holding.values_list("condition")
        .annotate(n=Count("pk"), taken=Count("pk", filter=Q(screened_out_at__isnull=True)))
        .order_by()
    )
    fill, taken = {}, {}
    for condition, n, t in rows:
        fill[condition], taken[condition] = n, t
    return fill, taken


def assign_condition(study: Study, *, pilot: bool = False) -> Condition | None:
    """A least-filled condition that is not full, ties broken at random; None for a study
    without conditions; StudyFull where every condition (or the study without any) has its
    participants_per_condition.

    A withdrawn or screened-out participant keeps their slot in the balance, as a finished
    one does, so that withdrawing the participants of one condition cannot send the next
    people into it (_slots). Call it inside the transaction that saves the participant: the
    condition rows are locked (SQLite's IMMEDIATE transactions lock the whole database), so
    concurrent assignments count each other."""
    conditions = list(Condition.objects.select_for_update().filter(study=study).order_by("pk"))
    quota = 0 if pilot else study.participants_per_condition
    if not conditions and not quota:
        return None
    counts, taken = _slots(study, pilot)
    if not conditions:
        if quota and taken.get(None, 0) >= quota:
            raise StudyFull
        return None
    withdrawn = {c.pk: 0 if pilot else c.withdrawn_count for c in conditions}
    if quota:
        conditions = [c for c in conditions if taken.get(c.pk, 0) < quota]
        if not conditions:
            raise StudyFull
    fill = {c.pk: counts.get(c.pk, 0) + withdrawn[c.pk] for c in conditions}
    fewest = min(fill.values())
    return random.SystemRandom().choice([c for c in conditions if fill[c.pk] == fewest])


def is_full(study: Study) -> bool:
    """Whether a newcomer would find every condition full (read without locks)."""
    quota = study.participants_per_condition
    if not quota:
        return False
    _fill, taken = _slots(study, pilot=False)
    names = list(study.conditions.values_list("pk", flat=True)) or [None]
    return all(taken.get(pk, 0) >= quota for pk in names)


def screen_out(participant: Participant) -> None:
    """A consented participant who failed the study's number of checks: what justifies it
    stays (their ids, condition and consent, their check answers, and the explorations of the
    check images with their rounds and masks); their other explorations, rounds and files go.
    They are counted, keep their condition's slot, and their link sends them to the
    screened-out URL."""
    checks = StudyImage.objects.filter(study=participant.study_id, is_attention_check=True)
    others = participant.explorations.exclude(picture__in=checks.values("picture"))
    with transaction.atomic():
        rounds = Round.objects.filter(exploration__in=others)
        rounds.only("pk", *Round.FILE_FIELDS).delete()
        others.delete()
        participant.trial_answers.all().delete()
        Participant.objects.filter(pk=participant.pk).update(
            screened_out_at=timezone.now(), finished_at=None, closing_answer=""
        )
    participant.refresh_from_db()


# --- Statuses, as a platform names them ----------------------------------------------------


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
        last_active=selectors.last_active_expression()
    )
    if annotated.filter(selectors.timed_out_filter(participant.study)).exists():
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


def mark_returned(participants: QuerySet[Participant]) -> int:
    """The platform says these returned their submission: recorded (finished or screened-out
    ones keep their status). Their condition's slot is given back, as a platform frees it."""
    return participants.filter(
        finished_at__isnull=True, screened_out_at__isnull=True, returned_at__isnull=True
    ).update(returned_at=timezone.now())


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


# --- Time limits ------------------------------------------------------------------------------

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
        task = entry.task or (participant.condition and participant.condition.task) or "classify"
        return services.start_exploration(
            visitor, entry.picture, participant=participant, task=task
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


# --- Attention checks ------------------------------------------------------------------------

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


class ScreenedOut(Exception):
    """The participant failed as many attention checks as the study screens out for."""


def submit_round(exploration: Exploration, check: StudyImage | None, data: dict, **options):
    """A Classify in or out of a study: an attention check's answer is judged and recorded first,
    then the round is submitted (services.submit_round), so its mask is kept with the answer.
    A round refused as Busy takes its answer back with it, so the participant answers again.
    A failure that reaches the study's number of failed checks screens the participant out
    (ScreenedOut), after the round is saved."""
    answer = answer_check(exploration, check, data["mask"]) if check else None
    try:
        round_ = services.submit_round(
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
    if answer is not None and not answer.passed and screens_out(exploration.participant):
        screen_out(exploration.participant)
        raise ScreenedOut
    return round_


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


def _id_key(study: Study, external_id: str) -> str:
    return hmac.new(
        settings.SECRET_KEY.encode(), f"{study.pk}:id:{external_id}".encode(), hashlib.sha256
    ).hexdigest()


def has_withdrawn(study: Study, external_id: str) -> bool:
    """Whether the participant of this platform id withdrew (their link says so)."""
    return (
        bool(external_id)
        and WithdrawnId.objects.filter(study=study, id_key=_id_key(study, external_id)).exists()
    )


def withdraw(participant: Participant) -> None:
    """Delete everything this browser gave in the study: its participant (and any other one of
    its visitor id, or whose explorations it made) with their explorations, rounds and files.
    Their platform id stays, as a keyed hash only, so that their link says they withdrew."""
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
        # A pilot's withdrawal is not counted: pilots hold no slot of the real participants.
        counted = participants.filter(pilot=False)
        for study_id, external_id in counted.exclude(external_id="").values_list(
            "study", "external_id"
        ):
            study = Study(pk=study_id)
            WithdrawnId.objects.get_or_create(study=study, id_key=_id_key(study, external_id))
        rows = counted.values_list("study", "condition").annotate(n=Count("pk")).order_by()
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
