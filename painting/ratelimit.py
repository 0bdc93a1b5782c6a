"""Rate limits for requests that cost worker time, in fixed windows that open at a client's
first request, counted in Django's cache (the broker's Redis, shared by every web process) per
visitor and per client address.

Counting per address as well holds a client that drops its cookie to get a fresh session (and
a fresh budget) with every request."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import time

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
    "image": "pictures of rounds",
    "trial": "answers",
    "boxes": "changes of the boxes shown",
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


def client_key(request: HttpRequest) -> str:
    """The client address, hashed with the secret key: what the work of one client is counted
    and shared fairly by (Exploration.client), without keeping the address itself."""
    address = client_address(request).encode()
    return hmac.new(settings.SECRET_KEY.encode(), address, hashlib.sha256).hexdigest()[:16]


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


# Work budgets: estimated worker seconds (painting.costs), kept as milliseconds in the cache.
BUDGET_SECONDS = 60


def _budget_key(who: str) -> str:
    return f"workbudget:{who}"


def _budgets(visitor: str, client: str) -> list[tuple[str, float, str]]:
    return [
        (_budget_key(f"visitor:{visitor}"), settings.XAI_WORKER_SECONDS_PER_MINUTE, "You"),
        (
            _budget_key(f"client:{client}"),
            settings.XAI_WORKER_SECONDS_PER_MINUTE_PER_ADDRESS,
            "Your network",
        ),
    ]


def _budget_message(subject: str, budget: float) -> str:
    return (
        f"{subject} asked for close to {budget:g} seconds of the classifier's time this "
        "minute, as much as it gives anyone. Wait a moment, or use a cheaper fill (mean or "
        "black) or a smaller photo."
    )


# All clients together: estimated worker seconds admitted in windows of this many seconds,
# short so that what a window admits is what the workers can do before the next.
ALL_WINDOW_SECONDS = 10
# Rounds that cost no more than this (the mean fill on a photo of a megapixel: ~0.06-0.09 s)
# pass however busy the workers are; dearer rounds (ROAD, blur or inpaint on large photos) are
# what gets shed first.
CHEAP_SECONDS = 0.1


def charge(visitor: str, client: str, seconds: float, *, sheddable: bool = True) -> str:
    """Charge `seconds` of estimated worker time to the visitor and to its client address (a
    client_key) in the window of a minute that opened at their first charge, and to everyone's
    in the current short window; the message to answer with when that would go over the
    visitor's or the address's budget, or, for sheddable work dearer than CHEAP_SECONDS, over
    everyone's (nothing is charged then), else ''."""
    ms = max(1, round(seconds * 1000))
    charged = []
    try:
        for key, budget, subject in _budgets(visitor, client):
            if not _take(key, ms, round(budget * 1000)):
                for undo in charged:
                    cache.decr(undo, ms)
                return _budget_message(subject, budget)
            charged.append(key)
        everyone = _everyone_key()
        cache.add(everyone, 0, timeout=2 * ALL_WINDOW_SECONDS)
        over = cache.incr(everyone, ms) > _all_budget_ms()
        if over and sheddable and seconds > CHEAP_SECONDS:
            for undo in [*charged, everyone]:
                cache.decr(undo, ms)
            return BUSY_MESSAGE
    except ValueError:  # evicted between add and incr: a new window
        return ""
    except redis.RedisError:
        log.warning("work budgets are not counted: the cache cannot be reached", exc_info=True)
    return ""


def _take(key: str, amount: int, budget: int) -> bool:
    """Add `amount` to the budget counted at `key`, in the minute that opened at its first
    amount; False, and nothing added, where that would go over `budget`."""
    cache.add(key, 0, timeout=BUDGET_SECONDS)
    if cache.incr(key, amount) <= budget:
        return True
    cache.decr(key, amount)
    return False


BUSY_MESSAGE = (
    "The classifier is busy with the work of many people just now. Try again in a few seconds, "
    "or use a cheaper fill (mean or black) or a smaller photo, which it still takes."
)


def _everyone_key() -> str:
    return f"workbudget:all:{int(time.time() // ALL_WINDOW_SECONDS)}"


def everyone_over(seconds: float) -> bool:
    """Whether `seconds` more would take everyone's work in the current short window over its
    budget (charging nothing)."""
    try:
        spent_ms = cache.get(_everyone_key(), 0)
    except redis.RedisError:
        return False
    return spent_ms + round(seconds * 1000) > _all_budget_ms()


def _all_budget_ms() -> int:
    return round(settings.XAI_WORKER_SECONDS_PER_MINUTE_TOTAL * ALL_WINDOW_SECONDS / 60 * 1000)


def over_budget(visitor: str, client: str, seconds: float) -> str:
    """charge()'s message when `seconds` more would go over a budget, charging nothing."""
    budgets = _budgets(visitor, client)
    try:
        spent_ms = cache.get_many([key for key, _, _ in budgets])
    except redis.RedisError:
        return ""
    for key, budget, subject in budgets:
        if spent_ms.get(key, 0) + round(seconds * 1000) > round(budget * 1000):
            return _budget_message(subject, budget)
    return ""


def spent(clients: list[str]) -> dict[str, float]:
    """Seconds each client address has been charged in its current window (0 when none)."""
    keys = {_budget_key(f"client:{c}"): c for c in clients}
    try:
        found = cache.get_many(list(keys))
    except redis.RedisError:
        found = {}
    return {c: found.get(key, 0) / 1000 for key, c in keys.items()}


def charge_body(address: str, length: int) -> str:
    """Charge a large request body's bytes to its client address in the minute that opened at
    its first one; the message to answer with when that goes over the address's budget (and
    nothing is charged), else ''."""
    budget = round(settings.XAI_BODY_MB_PER_MINUTE_PER_ADDRESS * 1024 * 1024)
    try:
        if _take(f"bodybytes:{address}", length, budget):
            return ""
    except ValueError:  # evicted between add and incr: a new window
        return ""
    except redis.RedisError:
        log.warning("body budgets are not counted: the cache cannot be reached", exc_info=True)
        return ""
    return (
        f"Your network sent more than {settings.XAI_BODY_MB_PER_MINUTE_PER_ADDRESS:g} MB of "
        "uploads and brush logs this minute. Wait a moment and try again."
    )
