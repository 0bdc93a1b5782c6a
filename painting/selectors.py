"""Reads only: whose explorations are whose, and what a round's result says."""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from . import review, understanding_stats
from .inference import methods
from .models import (
    CheckAnswer,
    Condition,
    Exploration,
    Participant,
    Picture,
    Round,
    Study,
    TrialAnswer,
)


def explorations_of(visitor: str) -> QuerySet[Exploration]:
    return (
        Exploration.objects.filter(visitor=visitor)
        .select_related("picture")
        .annotate(round_count=Count("rounds"))
    )


@dataclass(frozen=True)
class Queued:
    """Rounds waiting for the classifier or being classified: a visitor's, a client address's
    (every session of it, Exploration.client) and everyone's. One stuck past every time limit
    (a lost message) no longer counts."""

    visitor: int
    address: int
    total: int


def queued_rounds(visitor: str, client: str = "") -> Queued:
    """The queue as refuse_if_busy weighs it, in one query (a Classify asks it twice)."""
    since = timezone.now() - timedelta(seconds=settings.XAI_ROUND_STALE_SECONDS)
    counts = Round.objects.filter(
        status__in=[Round.Status.PENDING, Round.Status.RUNNING], created_at__gte=since
    ).aggregate(
        visitor=Count("pk", filter=Q(exploration__visitor=visitor)),
        address=Count("pk", filter=Q(exploration__client=client)),  # unused without a client
        total=Count("pk"),
    )
    return Queued(**counts)


def queued_analyses_of(visitor: str) -> int:
    """queued_rounds_of() for analyses (Round.analysis_in_flight, counted in the database)."""
    since = timezone.now() - timedelta(seconds=settings.XAI_ROUND_STALE_SECONDS)
    return Round.objects.filter(
        exploration__visitor=visitor,
        analysis_status=Round.AnalysisStatus.PENDING,
        analysis_requested_at__gte=since,
    ).count()


def pictures_for(visitor: str) -> tuple[QuerySet[Picture], QuerySet[Picture]]:
    """The gallery, and this visitor's own uploads."""
    gallery = Picture.objects.filter(is_gallery=True).order_by("title")
    uploads = Picture.objects.filter(is_gallery=False, owner=visitor).order_by("-created_at")
    return gallery, uploads


@dataclass(frozen=True)
class Bar:
    label: str
    probability: float
    is_original_class: bool


@dataclass(frozen=True)
class RoundResult:
    """What a finished round means next to the original and the round before it."""

    round: Round
    label: str
    probability: float
    bars: list[Bar]
    original_label: str
    original_probability: float  # of the original top-1 class, in this round
    change_from_original: float  # in probability units, for the original class
    change_from_previous: float | None  # same class, against the previous finished round
    top1_changed: bool


def result_of(round_: Round, original: Round | None, previous: Round | None) -> RoundResult | None:
    if round_.status != Round.Status.DONE or not round_.top:
        return None
    reference = original if original and original.status == Round.Status.DONE else round_
    original_top = reference.top[0]
    now = round_.probability_of(original_top["index"])
    before = None
    if previous and previous.status == Round.Status.DONE:
        before = previous.probability_of(original_top["index"])
    return RoundResult(
        round=round_,
        label=round_.top[0]["label"],
        probability=round_.top[0]["probability"],
        bars=[
            Bar(p["label"], p["probability"], p["index"] == original_top["index"])
            for p in round_.top
        ],
        original_label=original_top["label"],
        original_probability=now,
        change_from_original=now - original_top["probability"],
        change_from_previous=None if before is None else now - before,
        top1_changed=round_.top[0]["index"] != original_top["index"],
    )


def analysis_of(round_: Round, offered=None) -> dict:
    """What the analysis panel of a round shows: its deletion chart, the other fills' answers
    (only the `offered` ones, a condition's, where given), and whether they disagree with the
    round's answer."""
    done = round_.analysis_status == Round.AnalysisStatus.DONE and round_.top1 is not None
    fills = [
        f
        for f in (round_.analysis.get("fills", []) if done else [])
        if offered is None or f["fill"] in offered
    ]
    return {
        "chart": review.deletion_chart(round_.analysis) if done else None,
        "fills": fills,
        "fills_disagree": any(f["label"] != round_.top1["label"] for f in fills),
        "rise": review.rise_rows(round_.analysis.get("rise")) if done else [],
    }


def explanation_menu(only: str = "") -> list[tuple[str, str]]:
    """(key, title) of the explanation methods a person can choose from: every one (those not
    in XAI_EXPLANATION_METHODS are computed when picked), or the one a study condition fixes."""
    if only:
        return [(only, methods.title_of(only))]
    return [(key, methods.title_of(key)) for key in explanation_keys()]


def explanation_keys() -> list[str]:
    return [methods.DEFAULT] + [m for m in methods.METHODS if m != methods.DEFAULT]


def history_of(exploration: Exploration) -> list[Round]:
    return list(exploration.rounds.order_by("index"))


def results_of(rounds: list[Round]) -> list[RoundResult | None]:
    """result_of() for every round of one exploration, in index order, from the list itself."""
    original = next((r for r in rounds if r.index == 0), None)
    results, previous = [], None
    for round_ in rounds:
        results.append(result_of(round_, original, previous))
        if round_.status == Round.Status.DONE:
            previous = round_
    return results


def result_in_context(round_: Round) -> RoundResult | None:
    """result_of() with the exploration's original and the previous finished round."""
    if round_.status != Round.Status.DONE:
        return None
    if round_.index == 0:
        return result_of(round_, round_, None)
    # The original and the previous finished round in one query (this runs on every answer).
    done = Round.objects.filter(exploration_id=round_.exploration_id, status=Round.Status.DONE)
    last = done.filter(index__lt=round_.index).order_by("-index").values("index")[:1]
    both = {
        r.index: r
        for r in done.filter(Q(index=0) | Q(index=Subquery(last))).only(
            "index", "status", "top", "probabilities"
        )
    }
    previous = max(both.values(), key=lambda r: r.index, default=None)
    return result_of(round_, both.get(0), previous)


# --- Studies, for staff ------------------------------------------------------------------


def step_times(participants: QuerySet[Participant]) -> dict:
    """Seconds each of these participants' explorations took: from the image's first opening
    to the first opening of their next image (the next exploration they made), or to their
    finish; None while they are still on it. One query, ordered in the database."""
    rows = (
        Exploration.objects.filter(participant__in=participants)
        .order_by("participant_id", "created_at")
        .values_list("pk", "participant_id", "created_at", "participant__finished_at")
    )
    times, following = {}, None
    # Walk backwards: each exploration ends where the participant's next one begins.
    for pk, participant_id, created_at, finished_at in reversed(list(rows)):
        ended = following[1] if following and following[0] == participant_id else finished_at
        times[pk] = (ended - created_at).total_seconds() if ended else None
        following = (participant_id, created_at)
    return times


@dataclass(frozen=True)
class ConditionCounts:
    name: str
    consented: int
    started: int
    in_progress: int
    finished: int
    withdrawn: int
    screened_out: int
    returned: int
    timed_out: int
    checks_passed: int  # attention checks answered, by participants of the condition
    checks_failed: int


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


@dataclass(frozen=True)
class ImageFigures:
    picture: Picture
    practice: bool
    check: bool
    explorations: int
    rounds: int
    rounds_per_exploration: float | None
    median_seconds: float | None


class PoolError(ValueError):
    """A study or condition asked for that does not exist (a clear 400, never a 500)."""


@dataclass(frozen=True)
class ImagePool:
    """The explorations of a photo that the image summary pools, and how to say which."""

    explorations: QuerySet[Exploration]
    label: str
    study: str = ""  # "" all, "free" free play, else a study's slug
    condition: str = ""  # a condition's name within the study, or "" for all of them
    studies: tuple[tuple[str, str], ...] = ()  # (slug, name) of the studies that explored it
    conditions: tuple[str, ...] = ()  # the chosen study's conditions

    @property
    def query(self) -> dict[str, str]:
        return {k: v for k, v in (("study", self.study), ("condition", self.condition)) if v}


FREE_PLAY = "free"


def image_pool(picture: Picture, study: str = "", condition: str = "") -> ImagePool:
    """The explorations of the picture in one study (and condition), in free play (outside
    any study), or all of them (study ""). PoolError for a study or condition unknown here."""
    explorations = Exploration.objects.filter(picture=picture)
    studies = tuple(
        Study.objects.filter(participants__explorations__picture=picture)
        .distinct()
        .order_by("name")
        .values_list("slug", "name")
    )
    if not study:
        if condition:
            raise PoolError("Choose a study before a condition.")
        label = "Every exploration of this photo: all studies, free play and conditions."
        return ImagePool(explorations, label, studies=studies)
    if study == FREE_PLAY:
        if condition:
            raise PoolError("Free play has no conditions.")
        label = "Free play only (explorations outside any study)."
        return ImagePool(explorations.filter(participant=None), label, study, studies=studies)
    chosen = Study.objects.filter(slug=study[:100]).first()
    if chosen is None:
        raise PoolError(f"There is no study {study[:100]!r}.")
    conditions = tuple(chosen.conditions.order_by("pk").values_list("name", flat=True))
    explorations = explorations.filter(participant__study=chosen)
    label = f"Study “{chosen.name}” only, all its conditions."
    if condition and condition not in conditions:
        # As the form sends it after another study was chosen: said, not refused.
        label += f" (It has no condition “{condition[:64]}”.)"
        condition = ""
    if condition:
        explorations = explorations.filter(participant__condition__name=condition)
        label = f"Study “{chosen.name}”, condition “{condition}” only."
    return ImagePool(explorations, label, study, condition, studies, conditions)


def counted_participants(study: Study, with_pilots: bool = False):
    """The study's participants the dashboard counts: pilots only when asked."""
    participants = Participant.objects.filter(study=study)
    return participants if with_pilots else participants.filter(pilot=False)


def _counts_by_condition(study: Study, with_pilots: bool = False) -> list[ConditionCounts]:
    """Participants per condition, counted in the database. Started: opened an image (or
    finished, or was screened out); returned and timed out as studies.status_of says; in
    progress: none of finished, screened out, returned, timed out."""
    explored = Exploration.objects.filter(participant=OuterRef("pk"))
    counted = (
        counted_participants(study, with_pilots)
        .annotate(explored=Exists(explored), last_active=last_active_expression())
        .values("condition")
        .annotate(
            consented=Count("pk"),
            started=Count(
                "pk",
                filter=Q(explored=True)
                | Q(finished_at__isnull=False)
                | Q(screened_out_at__isnull=False),
            ),
            finished=Count("pk", filter=Q(finished_at__isnull=False)),
            screened_out=Count("pk", filter=Q(screened_out_at__isnull=False)),
            returned=Count(
                "pk",
                filter=Q(returned_at__isnull=False, finished_at=None, screened_out_at=None),
            ),
            timed_out=Count("pk", filter=timed_out_filter(study)),
        )
        .order_by()
    )
    by_condition = {row["condition"]: row for row in counted}
    checks = {
        row["participant__condition"]: row
        for row in CheckAnswer.objects.filter(
            participant__in=counted_participants(study, with_pilots)
        )
        .values("participant__condition")
        .annotate(
            n_passed=Count("pk", filter=Q(passed=True)),
            n_failed=Count("pk", filter=Q(passed=False)),
        )
        .order_by()
    }
    conditions = list(Condition.objects.filter(study=study).order_by("pk"))
    rows = [(c.pk, c.name, c.withdrawn_count) for c in conditions]
    if not conditions or None in by_condition:
        withdrawn_elsewhere = study.withdrawn_count - sum(c.withdrawn_count for c in conditions)
        rows.append((None, "(no condition)", withdrawn_elsewhere))
    result = []
    for pk, name, withdrawn in rows:
        row = by_condition.get(pk, {})
        consented, finished = row.get("consented", 0), row.get("finished", 0)
        screened_out = row.get("screened_out", 0)
        returned, timed_out = row.get("returned", 0), row.get("timed_out", 0)
        result.append(
            ConditionCounts(
                name=name,
                consented=consented,
                started=row.get("started", 0),
                in_progress=consented - finished - screened_out - returned - timed_out,
                finished=finished,
                withdrawn=withdrawn,
                screened_out=screened_out,
                returned=returned,
                timed_out=timed_out,
                checks_passed=checks.get(pk, {}).get("n_passed", 0),
                checks_failed=checks.get(pk, {}).get("n_failed", 0),
            )
        )
    return result


def _image_figures(study: Study, with_pilots: bool = False) -> list[ImageFigures]:
    """Per image of the study: explorations and masked rounds (counted in the database), and
    the median time on the image over those who moved on from it (or finished)."""
    participants = counted_participants(study, with_pilots)
    explorations = Exploration.objects.filter(participant__in=participants)
    made = dict(explorations.values_list("picture").annotate(n=Count("pk")).order_by())
    rounds = dict(
        Round.objects.filter(exploration__in=explorations, index__gte=1)
        .values_list("exploration__picture")
        .annotate(n=Count("pk"))
        .order_by()
    )
    picture_of = dict(explorations.values_list("pk", "picture_id"))
    seconds: dict = {}
    for pk, spent in step_times(participants).items():
        if spent is not None:
            seconds.setdefault(picture_of[pk], []).append(spent)
    figures = []
    for entry in study.images.select_related("picture").order_by("position"):
        pid = entry.picture_id
        n, r = made.get(pid, 0), rounds.get(pid, 0)
        figures.append(
            ImageFigures(
                picture=entry.picture,
                practice=entry.is_practice,
                check=entry.is_attention_check,
                explorations=n,
                rounds=r,
                rounds_per_exploration=r / n if n else None,
                median_seconds=statistics.median(seconds[pid]) if seconds.get(pid) else None,
            )
        )
    return figures


def study_dashboard(study: Study, with_pilots: bool = False) -> dict:
    """What a researcher watches while a study runs; pilots (pilots.py) counted only when
    asked."""
    conditions = _counts_by_condition(study, with_pilots)
    fields = [f.name for f in dataclasses.fields(ConditionCounts)][1:]
    total = ConditionCounts("all", *(sum(getattr(c, f) for c in conditions) for f in fields))
    return {
        "conditions": conditions,
        "total": total,
        "declined": study.declined_count,
        "images": _image_figures(study, with_pilots),
        "with_pilots": with_pilots,
        "pilots": Participant.objects.filter(study=study, pilot=True).count(),
        "slot_minutes": settings.XAI_STUDY_SLOT_TIMEOUT_MINUTES,
        "understanding": understanding_scores(study, with_pilots),
    }


def understanding_scores(study: Study, with_pilots: bool = False) -> dict | None:
    """The understanding tests' scores (understanding_stats.py), over the participants who were
    not screened out (pilots only when asked); None for a study without tests."""
    if not study.tests:
        return None
    fields = ("participant", "condition", "phase", "kind", "model_right", "correct_1", "correct_2")
    answers = list(
        TrialAnswer.objects.filter(
            participant__in=counted_participants(study, with_pilots),
            participant__screened_out_at__isnull=True,
        )
        .annotate(condition=Coalesce("participant__condition__name", Value("")))
        .values(*fields)
    )
    rows = understanding_stats.score_rows(answers)
    return {
        "rows": rows,
        "panels": understanding_stats.plot_panels(rows),
        "participants": len({a["participant"] for a in answers}),
        "plot": {"width": understanding_stats.PLOT_W, "height": understanding_stats.PLOT_H},
    }


def explanation_of(exploration: Exploration, method: str):
    """An explanation method's map for the original's top-1 class, 0–1 per pixel, once the
    worker has stored it (None before); FileNotFoundError when it is no longer stored."""
    name = exploration.saliency.name if method == methods.DEFAULT else None
    name = name or exploration.explanations.get(method)
    return review.stored_map(name) if name else None
