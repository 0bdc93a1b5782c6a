"""Refuse a request body larger than the upload limit, or a large one past its address's
budget, before anything reads or spools it.

nginx refuses the same bodies in front (`xaiproject/nginx.py`, with the same message); this
is the check for gunicorn serving alone, and for anything nginx lets through.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from . import ratelimit
from .responses import error

# A body of this many bytes or more is large: counted against its address's budget (nginx
# matches the same bodies by their Content-Length's digits, so it is a power of ten).
LARGE_BODY_BYTES = 100_000

# Large bodies are read (parsed into fields and files) a few at a time in a web process, as
# uploads are decoded: a flood of them waits its turn instead of sharing the processor with
# every other visitor's request, thread by thread.
_LARGE_BODY_READS = threading.BoundedSemaphore(settings.XAI_DECODE_CONCURRENCY)


def too_large_message() -> str:
    megabytes = settings.XAI_MAX_UPLOAD_BYTES / (1024 * 1024)
    return f"That upload is too large: this server accepts files up to {megabytes:.0f} MB."


LENGTH_REQUIRED_MESSAGE = "Send the request with a Content-Length: chunked bodies are refused."


def refusal(request: HttpRequest) -> tuple[str, int] | None:
    """(message, status) for a body that must not be read, from its headers alone."""
    meta = request.META
    length = meta.get("CONTENT_LENGTH")
    if length:
        if length.isdigit() and int(length) > settings.XAI_MAX_REQUEST_BYTES:
            return too_large_message(), 413
        if _is_large(meta):
            address = ratelimit.client_address(request)
            if over := ratelimit.charge_body(address, int(length)):
                return over, 429
    elif "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower():
        # Its size is known only once it has been read, which is what must not happen.
        return LENGTH_REQUIRED_MESSAGE, 411
    return None


class BodyLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refused = refusal(request)
        if refused is not None:
            message, status = refused
            return error(request, message, status=status)
        if request.method == "POST" and _is_large(request.META):
            with _LARGE_BODY_READS:
                request.POST  # noqa: B018 (read and parse it now, in turn)
        return self.get_response(request)


def _is_large(meta: dict) -> bool:
    length = meta.get("CONTENT_LENGTH") or ""
    return length.isdigit() and int(length) >= LARGE_BODY_BYTES
