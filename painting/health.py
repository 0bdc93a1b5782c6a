"""Can this deployment serve? What a load balancer, systemd and `make run` ask.

`/healthz` (the web side): the database answers, the broker answers (unless tasks run in the
web process), the media storage is reachable. 200 with a small JSON, 503 naming what failed.
A middleware at the top of the stack answers it, before the others, because it must be cheap,
create no session, count against no rate limit, and answer a load balancer that asks over
plain HTTP by IP address (no allowed-host check, no redirect to https: nothing in the answer
depends on the host). Why a check failed goes to the log, not to whoever asked.

`workers()`: which Celery workers answer, and for which queues (`manage.py worker_health`).
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Callable

import redis
from django.conf import settings
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import connection
from django.http import HttpRequest, HttpResponse

log = logging.getLogger(__name__)

PATH = "/healthz"
TIMEOUT_SECONDS = 2.0


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


@functools.cache
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS
    )


def uses_workers() -> bool:
    """False when tasks run in the web process (XAI_EAGER): no broker, no workers."""
    from xaiproject.celery import app

    return not app.conf.task_always_eager


def broker() -> str:
    """ "ok" when the broker answers, "skipped" without one; raises otherwise."""
    from xaiproject.celery import app

    if not uses_workers():
        return "skipped"
    url = app.conf.broker_url or ""
    if url.startswith(("redis://", "rediss://", "unix://")):
        _redis(url).ping()
    else:
        with app.connection_for_write() as broker:
            broker.ensure_connection(max_retries=1, timeout=TIMEOUT_SECONDS)
    return "ok"


def _storage() -> None:
    if isinstance(default_storage, FileSystemStorage):
        # Made on the first write; a fresh deployment is healthy before its first upload.
        os.makedirs(default_storage.location, exist_ok=True)
        if not os.access(default_storage.location, os.W_OK):
            raise PermissionError(f"{default_storage.location} is not writable")
    elif not default_storage.exists(""):  # the root: for S3-like storages, the bucket
        raise OSError("the storage's root does not exist")


CHECKS: dict[str, Callable[[], str | None]] = {
    "database": _database,
    "broker": broker,
    "storage": _storage,
}


def check() -> dict[str, str]:
    """Each check's outcome: "ok", "skipped" or "failed"."""
    outcomes = {}
    for name, run in CHECKS.items():
        try:
            outcomes[name] = run() or "ok"
        except Exception as exc:  # whatever the cause, this part cannot serve
            log.warning("health check %s failed: %s: %s", name, type(exc).__name__, exc)
            outcomes[name] = "failed"
    return outcomes


def response() -> HttpResponse:
    checks = check()
    failed = [name for name, outcome in checks.items() if outcome == "failed"]
    body = {"status": "failed" if failed else "ok", "checks": checks}
    if failed:
        body["failed"] = failed
    answer = HttpResponse(
        json.dumps(body), content_type="application/json", status=503 if failed else 200
    )
    answer["Cache-Control"] = "no-store"
    return answer


class HealthCheckMiddleware:
    """Answers /healthz before any other middleware runs (see the module's docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.rstrip("/") != PATH:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            refused = HttpResponse(status=405)
            refused["Allow"] = "GET, HEAD"
            return refused
        return response()


def queues() -> list[str]:
    """The queues the tasks are routed to: each needs a worker."""
    return sorted({route["queue"] for route in settings.CELERY_TASK_ROUTES.values()})


def workers(timeout: float = TIMEOUT_SECONDS) -> dict[str, list[str]]:
    """queue -> the workers that answered a ping within timeout and consume it. Raises when
    the broker cannot be reached (at once, rather than after Celery's retries)."""
    from xaiproject.celery import app

    broker()
    replies = app.control.inspect(timeout=timeout).active_queues() or {}
    answered: dict[str, list[str]] = {}
    for worker, consumed in replies.items():
        for queue in consumed:
            answered.setdefault(queue["name"], []).append(worker)
    return answered
