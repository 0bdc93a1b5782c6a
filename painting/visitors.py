"""Who a browser is: its anonymous visitor id, kept in its session. What it made is its own
(views._get_exploration_for); the study participants it is are in studies/pages.py."""

from __future__ import annotations

import uuid

from django.http import HttpRequest


def visitor_id(request: HttpRequest, *, create: bool = False) -> str:
    """This browser's anonymous id, kept in its session (never the session key itself)."""
    visitor = request.session.get("visitor", "")
    if not visitor and create:
        visitor = request.session["visitor"] = uuid.uuid4().hex
    return visitor
