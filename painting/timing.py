"""Where a round's time goes: named stages, in milliseconds, measured where they happen.

`recording()` opens a record for the current request or task; `stage(name)` adds its duration
to the open record (and costs nothing when none is open). The web side sends its record as a
Server-Timing header (read by benchmarks/browser_latency.py from the browser's Resource Timing
and by the Python client); the worker stores its own on the round (Round.stages). No Django.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator

_record: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar(
    "stages", default=None
)
# The time taken by stages inside the open one, so that each stage counts only its own time
# (a broker publish run by a commit is "publish", not "db") and the stages add up to the whole.
_inner: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar("inner", default=None)


@contextlib.contextmanager
def recording() -> Iterator[dict[str, float]]:
    """A fresh record for the stages measured inside this block."""
    stages: dict[str, float] = {}
    token = _record.set(stages)
    try:
        yield stages
    finally:
        _record.reset(token)


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    inner = [0.0]
    token = _inner.set(inner)
    started = time.perf_counter()
    try:
        yield
    finally:
        took = (time.perf_counter() - started) * 1000
        _inner.reset(token)
        add(name, took - inner[0])
        if (outer := _inner.get()) is not None:
            outer[0] += took


def add(name: str, ms: float) -> None:
    stages = _record.get()
    if stages is not None:
        stages[name] = stages.get(name, 0.0) + ms


def server_timing(stages: dict[str, float]) -> str:
    """The stages as a Server-Timing header value: `name;dur=1.23, …`."""
    return ", ".join(f"{name};dur={ms:.2f}" for name, ms in stages.items())


def parse_server_timing(value: str) -> dict[str, float]:
    """The inverse of server_timing(), for clients that read the header."""
    stages = {}
    for part in value.split(","):
        name, _, rest = part.strip().partition(";dur=")
        if name and rest:
            stages[name] = float(rest)
    return stages


WORKER_STAGES = ("claim", "compose", "preprocess", "model", "scores")


def round_breakdown(web: dict[str, float], worker: dict, woke_at: float) -> dict[str, float]:
    """One Classify's stages: the web request's own, and inside its wait (`wait`) the worker's
    (`worker-…`, for the batch the round came in), `answered` (the worker's record, commit and
    announcement, and this request's wake-up: from the worker's answered_at to woke_at, epoch
    seconds) and `queue` (the rest: the broker, the worker picking the message up)."""
    stages = {k: v for k, v in web.items() if k != "wait"}
    if "wait" not in web or "answered_at" not in worker:
        return {**stages, **({"wait": web["wait"]} if "wait" in web else {})}
    inside = {f"worker-{k}": float(worker[k]) for k in WORKER_STAGES if k in worker}
    answered = max(0.0, (woke_at - float(worker["answered_at"])) * 1000)
    queue = max(0.0, web["wait"] - answered - sum(inside.values()))
    return {**stages, "queue": queue, **inside, "answered": answered}
