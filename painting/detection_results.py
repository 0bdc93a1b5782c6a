"""Reads only: what a detect round's result says (its objects against the previous round's,
the followed object's score across rounds) and which object ids an exploration has. The
matching itself is painting.detections'."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from PIL import Image

from . import agreement, detection_view, detections, masking, selectors
from .models import Exploration, Round

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tracked:
    """An exploration's answered rounds up to one, in index order, with their object ids."""

    indexes: list[int]
    rounds: list[list[dict]]
    ids: list[list[int]]

    def all_ids(self) -> set[int]:
        return {i for these in self.ids for i in these}

    def up_to(self, index: int) -> Tracked:
        """The same for the rounds up to `index`: tracking is causal, so a prefix of it is
        what tracking the prefix alone gives."""
        n = sum(i <= index for i in self.indexes)
        return Tracked(self.indexes[:n], self.rounds[:n], self.ids[:n])


def tracked(exploration_id, up_to: int | None = None) -> Tracked:
    done = Round.objects.filter(exploration_id=exploration_id, status=Round.Status.DONE)
    if up_to is not None:
        done = done.filter(index__lte=up_to)
    return _tracked(list(done.order_by("index").values_list("index", "detections")))


def tracked_in(rounds: list[Round]) -> Tracked:
    """tracked() of an exploration's rounds at hand (its history, in index order): no query."""
    return _tracked([(r.index, r.detections) for r in rounds if r.status == Round.Status.DONE])


def _tracked(rows: list[tuple[int, list | None]]) -> Tracked:
    rounds = [list(found or []) for _, found in rows]
    return Tracked([index for index, _ in rows], rounds, detections.track(rounds))


@dataclass(frozen=True)
class FollowedStep:
    label: str  # "Original", "#2"
    score: float | None


@dataclass(frozen=True)
class DetectionResult:
    round: Round
    changes: list[detections.Change]
    boxes: list[dict]  # this round's, with their ids: what the canvas draws
    threshold: float
    followed: int | None
    followed_label: str | None
    followed_steps: list[FollowedStep]
    # The followed box's D-RISE map: its URL is offered (an object of the original), and the
    # share of its top fifth this round left unpainted, once the map is stored.
    view_offered: bool = False
    kept_of_view: float | None = None

    @property
    def shown_changes(self) -> list[detections.Change]:
        return [c for c in self.changes if c.shown_at(self.threshold)]

    @property
    def rows(self) -> list[tuple[detections.Change, bool]]:
        """Each change, and whether it is worth a line at the person's threshold (the page
        hides the others until the slider goes down)."""
        return [(c, c.shown_at(self.threshold)) for c in self.changes]

    @property
    def canvas(self) -> dict:
        """What the canvas draws: this round's boxes with their ids, the followed one."""
        return {"boxes": self.boxes, "followed": self.followed, "threshold": self.threshold}

    @property
    def drawn(self) -> list[dict]:
        """This round's boxes at the threshold (the followed one always), as an SVG over the
        picture draws them (the replay: no script, and the CSP allows no inline styles)."""
        return [
            {
                **box,
                "x": box["box"][0],
                "y": box["box"][1],
                "width": box["box"][2] - box["box"][0],
                "height": box["box"][3] - box["box"][1],
                "hue": round(box["id"] * 137.508 % 360),  # as detections.js's hueOf
                "followed": box["id"] == self.followed,
            }
            for box in self.boxes
            if box["score"] >= self.threshold or box["id"] == self.followed
        ]

    @property
    def followed_now(self) -> float | None:
        return self.followed_steps[-1].score if self.followed_steps else None


def result_of(
    round_: Round,
    exploration: Exploration,
    *,
    with_view: bool = True,
    history: Tracked | None = None,
) -> DetectionResult | None:
    """A finished detect round next to the answered round before it; with_view: and how it
    agrees with the followed box's D-RISE map (two files read: not for the history strip).
    `history`: the exploration's rounds already tracked (tracked_in), else they are read."""
    if round_.status != Round.Status.DONE:
        return None
    if history is not None:
        seen = history.up_to(round_.index)
    else:
        seen = tracked(round_.exploration_id, up_to=round_.index)
    if round_.index not in seen.indexes:
        return None
    at = seen.indexes.index(round_.index)
    changes = detections.changes(
        seen.rounds[at - 1] if at else None,
        seen.ids[at - 1] if at else None,
        seen.rounds[at],
        seen.ids[at],
    )
    boxes = [{**d, "id": i} for d, i in zip(seen.rounds[at], seen.ids[at], strict=True)]
    followed = exploration.followed
    label = detections.label_of(seen.ids, seen.rounds, followed) if followed else None
    steps = []
    if label is not None:
        scores = detections.score_across(seen.ids, seen.rounds, followed)
        steps = [
            FollowedStep("Original" if index == 0 else f"#{index}", score)
            for index, score in zip(seen.indexes, scores, strict=True)
        ]
    followed = followed if label is not None else None
    offered = (
        with_view
        and bool(followed)
        and detection_view.box_in_original(exploration, followed) is not None
    )
    return DetectionResult(
        round_,
        changes,
        boxes,
        exploration.detection_threshold,
        followed,
        label,
        steps,
        offered,
        _kept_of_view(round_, exploration, followed) if offered else None,
    )


def _kept_of_view(round_: Round, exploration: Exploration, followed: int) -> float | None:
    """How much of where the model looks for the followed box this round kept (agreement.py's
    reading, as for a classifier's map), once that map is stored; None before or unmasked."""
    if not round_.mask:
        return None
    try:
        values = selectors.explanation_of(exploration, detection_view.method_for(followed))
        if values is None:
            return None
        with round_.mask.open("rb") as f:
            painted = masking.painted(Image.open(f))
        return agreement.kept_scores(painted, agreement.important_region(values))[0]
    except (OSError, ValueError):  # a file gone meanwhile: the result stands without it
        log.warning("round %s: no agreement with the box's view", round_.pk, exc_info=True)
        return None


def results_of(rounds: list[Round], exploration: Exploration) -> list[DetectionResult | None]:
    """result_of() for each of an exploration's rounds (its history, in index order): the
    rounds tracked once."""
    history = tracked_in(rounds)
    return [result_of(r, exploration, history=history) for r in rounds]


def summaries_of(rounds: list[Round], exploration: Exploration) -> dict[int, str]:
    """summary_of() for each of an exploration's rounds (its history, in index order), by
    round id: tracked once, not once per round."""
    history = tracked_in(rounds)
    return {r.pk: summary_of(r, exploration, history=history) for r in rounds}


def summary_of(round_: Round, exploration: Exploration, history: Tracked | None = None) -> str:
    """The history strip's line for a detect round: its changes at the person's threshold,
    the followed object first."""
    result = result_of(round_, exploration, with_view=False, history=history)
    if result is None:
        return ""
    shown = result.shown_changes
    if round_.index == 0:
        return ", ".join(f"{c.label} {c.score:.2f}" for c in shown[:3]) or "nothing found"
    moved = [c for c in shown if c.status != "kept" or abs(c.score - c.before) >= 0.01]
    moved.sort(key=lambda c: c.id != result.followed)
    return " · ".join(c.describe() for c in moved[:2]) or "no change"
