"""Per-session rate limits in fixed windows, counted in Django's cache."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache


def allow(visitor: str, action: str) -> bool:
    """Count one request; False when this visitor is over the action's limit."""
    limit, period = settings.XAI_RATE_LIMITS[action]
    window = int(time.time() // period)
    key = f"ratelimit:{action}:{visitor}:{window}"
    cache.add(key, 0, timeout=period + 1)
    return cache.incr(key) <= limit


def message(action: str) -> str:
    limit, period = settings.XAI_RATE_LIMITS[action]
    what = {"classify": "rounds", "upload": "uploads"}[action]
    return f"That is more than {limit} {what} in {period} seconds. Wait a moment and try again."
