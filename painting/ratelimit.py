"""Rate limits for requests that cost worker time, in fixed windows that open at a client's
first request, counted in Django's cache (the broker's Redis, shared by every web process) per
visitor and per client address.

Counting per address as well holds a client that drops its cookie to get a fresh session (and
a fresh budget) with every request."""

from __future__ import annotations

import ipaddress
import logging

import redis
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

log = logging.getLogger(__name__)

WHAT = {
    "classify": "rounds",
    "upload": "uploads",
    "explore": "new explorations",
    "analysis": "analyses",
    "events": "event reports",
    "preview": "previews",
    "code": "participant codes",
    "trial": "answers",
}


def client_address(request: HttpRequest) -> str:
    """Who sent the request, as far as this server can trust it.

    Behind our proxy (BEHIND_PROXY), or over a unix socket (no REMOTE_ADDR), which only a local
    proxy can reach, it is the right-most X-Forwarded-For entry: the one the proxy added
    ($remote_addr). Entries left of it are whatever the client wrote. Otherwise the header is
    the client's own and only REMOTE_ADDR counts. An IPv6 client is counted by its /64, which
    one subscriber holds whole."""
    ip = _ip(request.META.get("REMOTE_ADDR", ""))
    if settings.BEHIND_PROXY or ip is None:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").rsplit(",", 1)[-1]
        ip = _ip(forwarded.strip()) or ip
    if ip is None:
        return "unknown"
    if ip.version == 6 and ip.ipv4_mapped:
        return str(ip.ipv4_mapped)
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False).network_address)
    return str(ip)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def refusal(request: HttpRequest, action: str, visitor: str) -> str:
    """Count one request of this kind from this visitor and from its address; the message to
    answer with when either is over its limit, else ''."""
    over = ""
    if visitor and _over(settings.XAI_RATE_LIMITS, action, f"visitor:{visitor}"):
        over = _message(settings.XAI_RATE_LIMITS, action, "That is")
    address = client_address(request)
    if _over(settings.XAI_ADDRESS_RATE_LIMITS, action, f"address:{address}"):
        over = over or _message(settings.XAI_ADDRESS_RATE_LIMITS, action, "Your network sent")
    return over


def _over(limits: dict, action: str, who: str) -> bool:
    if action not in limits:
        return False
    limit, period = limits[action]
    # A window opens at the first request and lasts `period`: incr keeps the key's expiry.
    key = f"ratelimit:{action}:{who}"
    try:
        cache.add(key, 0, timeout=period)
        return cache.incr(key) > limit
    except ValueError:  # evicted between add and incr: this is its first request again
        return False
    except redis.RedisError:
        # No Redis, no workers either: let the request through to its "queue down" answer.
        log.warning("rate limits are not counted: the cache cannot be reached", exc_info=True)
        return False


def _message(limits: dict, action: str, subject: str) -> str:
    limit, period = limits[action]
    return (
        f"{subject} more than {limit} {WHAT[action]} in {period} seconds. "
        "Wait a moment and try again."
    )
