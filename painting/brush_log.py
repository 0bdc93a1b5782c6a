"""A round's brush and event log (Round.strokes), measured: its size in bytes, its events, and
its points (each stroke's [x, y, t] samples). The counts live in columns of their own, so that
pages, quotas and limits never load a log (up to 2 MB, tens of MB once parsed) to know them."""

from __future__ import annotations

import json
from dataclasses import dataclass

MAX_BYTES = 2 * 1024 * 1024
# A stroke's pointer samples: a minute of painting at 60 Hz is 3,600. Past this, a log is not
# a person's painting between two Classify clicks.
MAX_POINTS = 50_000


@dataclass(frozen=True)
class Size:
    bytes: int
    events: int
    points: int

    def as_fields(self) -> dict[str, int]:
        return {"log_bytes": self.bytes, "log_events": self.events, "log_points": self.points}


def encoded_size(log) -> int:
    """Its size as stored (JSON, as the database's JSON field writes it)."""
    return len(json.dumps(log).encode())


def points_of(log) -> int:
    """Points of its strokes, plus one for every other event: what a cap on work counts."""
    if not isinstance(log, list):
        return 0
    points = 0
    for event in log:
        samples = event.get("points") if isinstance(event, dict) else None
        points += len(samples) if isinstance(samples, list) and samples else 1
    return points


def measure(log) -> Size:
    events = len(log) if isinstance(log, list) else 0
    return Size(bytes=encoded_size(log), events=events, points=points_of(log))
