"""The detect task's rounds read together: each round's detections matched to the previous
round's, so that an object keeps one id across an exploration ("dog 0.91 → 0.40", "person:
gone", "new: cat 0.35"), and the score of a followed object across rounds.

Pure functions of the stored detections (models.Round.detections: dicts with class_index,
label, score and box [x0, y0, x1, y1] in the original picture's pixels); no Django, so the page,
the export and the tests compute the same ids.

Matching: between two consecutive answered rounds, pairs of the same class are taken greedily
by IoU (highest first) as long as the IoU is at least MATCH_IOU; each detection is in at most
one pair. A matched detection keeps its predecessor's id; an unmatched one gets the next new
id (ids start at 1, in the original's order: its best detection is 1). An id whose object is
not matched in a round is gone there; it may come back later only as a new id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Painting over part of an object shrinks or shifts its box; 0.3 still pairs the same object
# and keeps two side by side apart (two people a box apart have IoU near 0).
MATCH_IOU = 0.3


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two boxes [x0, y0, x1, y1]."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match(previous: list[dict], current: list[dict]) -> dict[int, int]:
    """Which detection of the previous round each current one is: {current index: previous
    index}, same class only, greedy by IoU (ties: the higher current score first)."""
    pairs = sorted(
        (
            (iou(p["box"], c["box"]), c["score"], ci, pi)
            for ci, c in enumerate(current)
            for pi, p in enumerate(previous)
            if c["class_index"] == p["class_index"]
        ),
        key=lambda pair: (-pair[0], -pair[1], pair[2], pair[3]),
    )
    matched: dict[int, int] = {}
    taken: set[int] = set()
    for overlap, _score, ci, pi in pairs:
        if overlap < MATCH_IOU:
            break
        if ci in matched or pi in taken:
            continue
        matched[ci] = pi
        taken.add(pi)
    return matched


def track(rounds: list[list[dict]]) -> list[list[int]]:
    """The ids of each round's detections, for answered rounds in index order."""
    ids: list[list[int]] = []
    next_id = 1
    for n, current in enumerate(rounds):
        paired = match(rounds[n - 1], current) if n else {}
        these = []
        for ci in range(len(current)):
            if ci in paired:
                these.append(ids[n - 1][paired[ci]])
            else:
                these.append(next_id)
                next_id += 1
        ids.append(these)
    return ids


@dataclass(frozen=True)
class Change:
    """One object between the previous answered round and this one."""

    id: int
    label: str
    score: float | None  # in this round; None: gone
    before: float | None  # in the previous round; None: new
    box: list[float]

    @property
    def status(self) -> str:
        if self.score is None:
            return "gone"
        return "new" if self.before is None else "kept"

    def shown_at(self, threshold: float) -> bool:
        """Worth a line at this threshold: above it now, or before."""
        return max(self.score or 0.0, self.before or 0.0) >= threshold

    def describe(self) -> str:
        """In the page's words: "dog 0.91 → 0.40", "person: gone", "new: cat 0.35"."""
        if self.score is None:
            return f"{self.label}: gone"
        if self.before is None:
            return f"new: {self.label} {self.score:.2f}"
        return f"{self.label} {self.before:.2f} → {self.score:.2f}"


def changes(
    previous: list[dict] | None,
    previous_ids: list[int] | None,
    current: list[dict],
    current_ids: list[int],
) -> list[Change]:
    """This round's objects against the previous round's (None: this is the first round):
    the ones kept and new, best score first, then the ones gone."""
    before = dict(zip(previous_ids or [], previous or [], strict=True))
    now = [
        Change(
            i,
            d["label"],
            d["score"],
            before[i]["score"] if i in before else None,
            d["box"],
        )
        for i, d in zip(current_ids, current, strict=True)
    ]
    if previous is None:
        now = [Change(c.id, c.label, c.score, c.score, c.box) for c in now]
    gone = [
        Change(i, d["label"], None, d["score"], d["box"])
        for i, d in before.items()
        if i not in set(current_ids)
    ]
    return sorted(now, key=lambda c: -(c.score or 0.0)) + sorted(gone, key=lambda c: -c.before)


def score_across(ids: list[list[int]], rounds: list[list[dict]], followed: int) -> list:
    """The followed object's score in each round (None where it is not found); ids and rounds
    as track() takes and gives them."""
    series = []
    for these, detections in zip(ids, rounds, strict=True):
        scores = [d["score"] for i, d in zip(these, detections, strict=True) if i == followed]
        series.append(scores[0] if scores else None)
    return series


def label_of(ids: list[list[int]], rounds: list[list[dict]], wanted: int) -> str | None:
    """The class of an object id, or None when no round has it."""
    for these, detections in zip(ids, rounds, strict=True):
        for i, d in zip(these, detections, strict=True):
            if i == wanted:
                return d["label"]
    return None


def box_in_original(
    box: Sequence[float],
    edited_size: tuple[int, int],
    crop: tuple[int, int, int, int] | None,
    flip_horizontal: bool,
    flip_vertical: bool,
    rotation: int,
) -> list[float]:
    """A box found in the edited picture (painting.edits: crop, flips, then a clockwise turn),
    in the original picture's pixels: the edits undone in reverse order."""
    width, height = edited_size  # after the turn
    if rotation in (90, 270):
        width, height = height, width  # before it
    corners = []
    for x, y in ((box[0], box[1]), (box[2], box[3])):
        if rotation == 90:
            x, y = y, height - x
        elif rotation == 180:
            x, y = width - x, height - y
        elif rotation == 270:
            x, y = width - y, x
        if flip_vertical:
            y = height - y
        if flip_horizontal:
            x = width - x
        if crop is not None:
            x, y = x + crop[0], y + crop[1]
        corners.append((x, y))
    (ax, ay), (bx, by) = corners
    return [min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)]
