"""Answers that every view (and the middleware in front of them) gives the same way: a message
in the page's message area for HTMX, or as a plain page; and the server's own failures."""

from __future__ import annotations

import errno
import logging
import sys

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_htmx.http import reswap, retarget

log = logging.getLogger(__name__)

MESSAGES = "painting/explore.html#messages"
OUT_OF_SPACE = (
    "The server has run out of storage space, so nothing was saved. Your earlier rounds are"
    " safe. Please try again in a few minutes."
)


def error(request: HttpRequest, message: str, status: int = 400) -> HttpResponse:
    """The message in the page's message area (HTMX), or as a plain page."""
    response = render(request, MESSAGES, {"error": message}, status=status)
    if getattr(request, "htmx", False):
        retarget(response, "#messages")
        reswap(response, "outerHTML")
    return response


def out_of_space(exc: BaseException | None) -> bool:
    """Whether an error is a full disk: the media's (ENOSPC, or a quota), SQLite's ("database or
    disk is full") or PostgreSQL's (disk_full, SQLSTATE 53100), seen anywhere in its chain."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if isinstance(exc, OperationalError) and "disk is full" in str(exc):
            return True
        if getattr(exc, "sqlstate", None) == "53100":
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a full disk is 507 with a plain message (the request's transaction rolled
    back, its files removed: services and storage see to that); anything else a plain 500."""
    message, status = "Something went wrong on the server. Please try again.", 500
    if out_of_space(sys.exc_info()[1]):
        message, status = OUT_OF_SPACE, 507
    try:
        return error(request, message, status=status)
    except Exception:  # the page needs what failed (the database): the message alone
        log.exception("the error page failed")
        return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
