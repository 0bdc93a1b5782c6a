"""What a researcher watches while a study runs (the study dashboard): participants per
condition and status, each image's explorations, rounds and time, and the understanding
tests' scores. Reads only."""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Coalesce

from ..models import (
    CheckAnswer,
    Condition,
    Exploration,
    Participant,
    Picture,
    Round,
    Study,
    TrialAnswer,
)
from .queries import last_active_expression, timed_out_filter
from .understanding import stats as understanding_stats


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


@dataclass(frozen=True)
class ImageFigures:
    picture: Picture
    practice: bool
    check: bool
    explorations: int
    rounds: int
    rounds_per_exploration: float | None
    median_seconds: float | None


def counted_participants(study: Study, with_pilots: bool = False):
    """The study's participants the dashboard counts: pilots only when asked."""
    participants = Participant.objects.filter(study=study)
    return participants if with_pilots else participants.filter(pilot=False)


def _counts_by_condition(study: Study, with_pilots: bool = False) -> list[ConditionCounts]:
    """Participants per condition, counted in the database. Started: opened an image (or
    finished, or was screened out); returned and timed out as queries.status_of says; in
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
    """The understanding tests' scores (understanding/stats.py), over the participants who were
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
