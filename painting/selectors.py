"""Reads only: whose explorations are whose, and what a round's result says."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Q, QuerySet, Subquery
from django.utils import timezone

from . import review
from .inference import methods
from .models import (
    Exploration,
    Picture,
    Round,
    Study,
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


# --- Image pools, for staff's review -------------------------------------------------------


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


def explanation_of(exploration: Exploration, method: str):
    """An explanation method's map for the original's top-1 class, 0–1 per pixel, once the
    worker has stored it (None before); FileNotFoundError when it is no longer stored."""
    name = exploration.saliency.name if method == methods.DEFAULT else None
    name = name or exploration.explanations.get(method)
    return review.stored_map(name) if name else None
