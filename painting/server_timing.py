"""The whole time a request spends inside Django (every middleware, the view, the render),
appended as `django` to the Server-Timing header a view set (XAI_SERVER_TIMING=1 only): the
view's own stages leave out the middleware, such as the CSRF check that parses the body, and
the time to first byte minus `django` is what nginx, gunicorn and the network take."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class ServerTimingMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        if response.has_header("Server-Timing"):
            took = (time.perf_counter() - started) * 1000
            response["Server-Timing"] += f", django;dur={took:.2f}"
        return response
