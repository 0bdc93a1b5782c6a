"""Tell waiting web requests the moment a round finishes, over the broker's Redis (pub/sub).

Without Redis (the embedded fallback, or another broker) publishing does nothing and waiting
falls back to re-reading the database; the database stays the source of truth either way.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable

import redis

log = logging.getLogger(__name__)


def _channel(round_id) -> str:
    return f"xai:round-finished:{round_id}"


@functools.cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5)


def _broker_url() -> str | None:
    from xaiproject.celery import app

    url = app.conf.broker_url or ""
    if app.conf.task_always_eager or not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    return url


def publish(round_id) -> None:
    url = _broker_url()
    if url is None:
        return
    try:
        _client(url).publish(_channel(round_id), b"1")
    except redis.RedisError:
        log.warning("could not announce round %s; pollers will see it in the database", round_id)


def wait(round_id, is_finished: Callable[[], bool], timeout: float) -> bool:
    """Block until is_finished() or the timeout; True when finished."""
    deadline = time.monotonic() + timeout
    url = _broker_url()
    if url is not None:
        try:
            return _wait_for_message(url, round_id, is_finished, deadline)
        except redis.RedisError:
            pass  # fall back to polling the database
    while not is_finished():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def _wait_for_message(url: str, round_id, is_finished, deadline: float) -> bool:
    pubsub = _client(url).pubsub(ignore_subscribe_messages=True)
    try:
        # Subscribe before looking, so a result that lands in between is not missed.
        pubsub.subscribe(_channel(round_id))
        while True:
            if is_finished():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            # Wake at least every second to re-read the database (a lost message, a sweep).
            pubsub.get_message(timeout=min(remaining, 1.0))
    finally:
        pubsub.close()


def explanation_channel(exploration_id, method: str) -> str:
    """Where the worker says that an explanation method's map is stored (or could not be)."""
    return f"explanation-{exploration_id}-{method}"


def explanation_requested_key(exploration_id, method: str) -> str:
    """Set (in the cache) while a computation of the method is on its way: asked for once; the
    worker deletes it when done."""
    return f"explanation-requested:{exploration_id}:{method}"
