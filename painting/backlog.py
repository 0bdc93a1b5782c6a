"""The optional work waiting for the optional-work worker (analyses, explanation methods a
person picks), bounded per visitor, per client address and in all.

Optional work has its own queue and worker (CELERY_TASK_ROUTES), so the work a page needs (the
Region map, Grad-CAM) never waits behind it; these bounds keep that queue short, so that a
person's own ask never waits behind strangers' either: past a bound, the ask is refused at
once with a plain "busy, try again" rather than queued.

Each bound is a set of slots in the shared cache, taken with cache.add (atomic in Redis and in
the embedded fallback alike) and given back when the work is done; a slot whose work was lost
(a dead worker, a lost message) frees itself after SLOT_SECONDS."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import redis
from django.conf import settings
from django.core.cache import cache

log = logging.getLogger(__name__)


class Full(Exception):
    """No room for this ask; the message says whose work fills it and what to do."""


def _slot_seconds() -> float:
    # Longer than one job can take, with a few ahead of it.
    return 3 * settings.CELERY_TASK_TIME_LIMIT


def _bounds(visitor: str, client: str) -> list[tuple[str, int, str]]:
    return [
        (
            f"visitor:{visitor}",
            settings.XAI_MAX_PENDING_ANALYSES,
            "Your previous analysis is still running. Wait for it, then try again.",
        ),
        (
            f"client:{client}",
            settings.XAI_MAX_PENDING_ANALYSES_PER_ADDRESS,
            "Your network has as many analyses waiting as one network may. "
            "Wait for them, then try again.",
        ),
        (
            "all",
            settings.XAI_MAX_PENDING_ANALYSES_TOTAL,
            "The server is busy with other people's analyses right now. "
            "Try again in a minute: your rounds and their answers are not affected.",
        ),
    ]


def _job_key(job: str) -> str:
    return f"backlog-job:{job}"


def admit(job: str, visitor: str, client: str) -> None:
    """Take one slot of each bound for this job (a key such as "analysis:<round id>"), or
    raise Full with the message of the first bound that has none free, having taken nothing.
    Without a reachable cache nothing is counted (the broker is likely down too)."""
    taken: list[str] = []
    try:
        for scope, size, message in _bounds(visitor, client):
            slot = next(
                (
                    key
                    for key in (f"backlog:{scope}:{i}" for i in range(size))
                    if cache.add(key, job, timeout=_slot_seconds())
                ),
                None,
            )
            if slot is None:
                cache.delete_many(taken)
                raise Full(message)
            taken.append(slot)
        cache.set(_job_key(job), taken, timeout=_slot_seconds())
    except redis.RedisError:
        log.warning("optional work is not counted: the cache cannot be reached", exc_info=True)


def release(job: str) -> None:
    """Give the job's slots back (it is done, failed, or could not be sent)."""
    with contextlib.suppress(redis.RedisError):
        slots = cache.get(_job_key(job)) or []
        # Only slots still holding this job: one that expired may belong to another by now.
        mine = [slot for slot, holder in cache.get_many(slots).items() if holder == job]
        cache.delete_many([*mine, _job_key(job)])


@contextlib.contextmanager
def running(job: str) -> Iterator[None]:
    """Hold the job's slots while it runs on the worker; give them back however it ends."""
    try:
        yield
    finally:
        release(job)


def analysis_job(round_id) -> str:
    return f"analysis:{round_id}"


def explanation_job(exploration_id, method: str) -> str:
    return f"explanation:{exploration_id}:{method}"
