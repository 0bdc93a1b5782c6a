"""Refuse a request body larger than the upload limit before anything reads or spools it.

nginx refuses the same bodies in front (`xaiproject/nginx.py`, with the same message); this
is the check for gunicorn serving alone, and for anything nginx lets through.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from .responses import error


def too_large_message() -> str:
    megabytes = settings.XAI_MAX_UPLOAD_BYTES / (1024 * 1024)
    return f"That upload is too large: this server accepts files up to {megabytes:.0f} MB."


LENGTH_REQUIRED_MESSAGE = "Send the request with a Content-Length: chunked bodies are refused."


def refusal(meta: dict) -> tuple[str, int] | None:
    """(message, status) for a body that must not be read, from its headers alone."""
    length = meta.get("CONTENT_LENGTH")
    if length:
        if length.isdigit() and int(length) > settings.XAI_MAX_REQUEST_BYTES:
            return too_large_message(), 413
    elif "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower():
        # Its size is known only once it has been read, which is what must not happen.
        return LENGTH_REQUIRED_MESSAGE, 411
    return None


class BodyLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refused = refusal(request.META)
        if refused is None:
            return self.get_response(request)
        message, status = refused
        return error(request, message, status=status)
