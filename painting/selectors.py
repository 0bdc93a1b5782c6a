"""Reads only: whose explorations are whose, and what a round's result says."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, QuerySet
from django.utils import timezone

from . import review
from .models import Exploration, Picture, Round


def explorations_of(visitor: str) -> QuerySet[Exploration]:
    return (
        Exploration.objects.filter(visitor=visitor)
        .select_related("picture")
        .annotate(round_count=Count("rounds"))
    )


def queued_rounds_of(visitor: str) -> int:
    """How many of this visitor's rounds wait for the classifier or are being classified; one
    stuck past every time limit (a lost message) no longer counts."""
    since = timezone.now() - timedelta(seconds=settings.XAI_ROUND_STALE_SECONDS)
    return Round.objects.filter(
        exploration__visitor=visitor,
        status__in=[Round.Status.PENDING, Round.Status.RUNNING],
        created_at__gte=since,
    ).count()


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


def analysis_of(round_: Round) -> dict:
    """What the analysis panel of a round shows: its deletion chart, and whether the other
    fills disagree with the round's answer."""
    done = round_.analysis_status == Round.AnalysisStatus.DONE and round_.top1 is not None
    return {
        "chart": review.deletion_chart(round_.analysis) if done else None,
        "fills_disagree": done
        and any(f["label"] != round_.top1["label"] for f in round_.analysis["fills"]),
    }


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
    previous = (
        Round.objects.filter(
            exploration_id=round_.exploration_id, index__lt=round_.index, status=Round.Status.DONE
        )
        .only("index", "status", "top", "probabilities")
        .order_by("-index")
        .first()
    )
    return result_of(round_, round_.exploration.original_round, previous)
