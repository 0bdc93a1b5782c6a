"""A round's brush and event log (Round.strokes), measured: its size in bytes, its events, and
its points (each stroke's [x, y, t] samples). The counts live in columns of their own, so that
pages, quotas and limits never load a log (up to 2 MB, tens of MB once parsed) to know them."""

from __future__ import annotations

import json
from dataclasses import dataclass

MAX_BYTES = 2 * 1024 * 1024
# Points of strokes and events together: a minute of painting at 60 Hz is 3,600 points. Past
# this, a log is not a person's painting between two Classify clicks.
MAX_POINTS = 50_000


@dataclass(frozen=True)
class Size:
    bytes: int
    events: int
    points: int

    def as_fields(self) -> dict[str, int]:
        return {"log_bytes": self.bytes, "log_events": self.events, "log_points": self.points}


class Checked(str):
    """A log as the browser sent it, already checked and measured (forms.RoundForm): stored
    as this text (LogEncoder), never parsed again on the web side."""

    def __new__(cls, text: str, size: Size):
        checked = super().__new__(cls, text)
        checked.size = size
        return checked


class LogEncoder(json.JSONEncoder):
    """Round.strokes' encoder: a Checked log is stored as its own text; anything else (a log
    built in Python: late events, the original's empty one) is encoded as JSON always is."""

    def encode(self, o) -> str:
        return str.__str__(o) if isinstance(o, Checked) else super().encode(o)


def encoded_size(log) -> int:
    """Its size as stored (JSON, as the database's JSON field writes it)."""
    return len(json.dumps(log).encode())


def points_of(log) -> int:
    """Points of its strokes (each [x, y, t] sample)."""
    if not isinstance(log, list):
        return 0
    points = 0
    for event in log:
        samples = event.get("points") if isinstance(event, dict) else None
        points += len(samples) if isinstance(samples, list) else 0
    return points


def too_long(events: int, points: int) -> str:
    """Why a log of so many events and points is refused, or ''."""
    if events + points <= MAX_POINTS:
        return ""
    return (
        f"The brush log has {events + points:,} points and events; a round's may have "
        f"{MAX_POINTS:,}. Press Classify more often."
    )


def too_many_arrays(arrays: int) -> str:
    """Before parsing: a log with more JSON arrays than that (the log, each stroke's points,
    each point) has more points and events than a round's may; the reason, or ''."""
    if arrays - 1 <= MAX_POINTS:
        return ""
    return (
        f"The brush log has more than {MAX_POINTS:,} points and events. Press Classify more often."
    )


def measure(log) -> Size:
    if isinstance(log, Checked):
        return log.size
    events = len(log) if isinstance(log, list) else 0
    return Size(bytes=encoded_size(log), events=events, points=points_of(log))
