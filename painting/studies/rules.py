"""The writes of a user study: consent (who is whom, by browser and by platform id), the
condition each participant gets, opening the images in order, a Classify that answers an
attention check, finishing, being screened out or returned, and withdrawing (reads:
queries.py)."""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from .. import services
from ..models import (
    AddressTally,
    Condition,
    Exploration,
    Participant,
    Round,
    Study,
    StudyImage,
    WithdrawnId,
)
from .checks import answer_check, screens_out
from .queries import steps_for

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


def mark_returned(participants: QuerySet[Participant]) -> int:
    """The platform says these returned their submission: recorded (finished or screened-out
    ones keep their status). Their condition's slot is given back, as a platform frees it."""
    return participants.filter(
        finished_at__isnull=True, screened_out_at__isnull=True, returned_at__isnull=True
    ).update(returned_at=timezone.now())


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
