"""What one visitor may keep on the server: how many uploads, and how many bytes in all
(uploaded photos, masks and brush logs); and what one client address may store in a window,
all its visitors together, so that a client dropping its cookie gets no fresh quota. Rate
limits bound the speed; these bound the total."""

from __future__ import annotations

import logging

import redis
from django.conf import settings
from django.core.cache import cache
from django.db.models import Sum

from .models import Picture, Round

log = logging.getLogger(__name__)


class QuotaExceeded(Exception):
    """The visitor keeps as much as one visitor may; the message says what to do."""


def stored_bytes_of(visitor: str) -> int:
    pictures = Picture.objects.filter(owner=visitor).aggregate(total=Sum("stored_bytes"))
    rounds = Round.objects.filter(exploration__visitor=visitor).aggregate(total=Sum("stored_bytes"))
    return (pictures["total"] or 0) + (rounds["total"] or 0)


def check(visitor: str, *, adding_bytes: int, upload: bool = False, address: str = "") -> None:
    """Raise QuotaExceeded when keeping `adding_bytes` more would go over a limit: the
    visitor's, or (given the client's address) the address's in its window."""
    if upload:
        uploads = Picture.objects.filter(owner=visitor).count()
        if uploads >= settings.XAI_VISITOR_MAX_UPLOADS:
            raise QuotaExceeded(
                f"You have {uploads} uploaded photos here, the most one visitor can keep. "
                "Explore one of them or a gallery photo instead."
            )
    limit = settings.XAI_VISITOR_MAX_STORED_BYTES
    stored = stored_bytes_of(visitor)
    if stored + adding_bytes > limit:
        raise QuotaExceeded(
            f"Your photos and rounds take {stored / 2**20:.1f} MB here, and one visitor may "
            f"keep {limit / 2**20:.1f} MB. Start over with fewer uploads or shorter brush logs."
        )
    if address:
        _check_address(address, adding_bytes)


def _address_key(address: str) -> str:
    return f"stored-bytes:address:{address}"


def _check_address(address: str, adding_bytes: int) -> None:
    limit = settings.XAI_ADDRESS_MAX_STORED_BYTES
    try:
        stored = cache.get(_address_key(address), 0)
    except redis.RedisError:  # as the rate limits do: no shared cache, no count per address
        log.warning("storage per address is not counted: the cache cannot be reached")
        return
    if stored + adding_bytes > limit:
        hours = settings.XAI_ADDRESS_STORED_WINDOW_SECONDS / 3600
        raise QuotaExceeded(
            f"Your network has stored {stored / 2**20:.1f} MB here in the last {hours:g} hours, "
            f"and one network may store {limit / 2**20:.0f} MB. Try again tomorrow."
        )


def charge(address: str, stored_bytes: int) -> None:
    """Count bytes just stored for the client's address (its window opens with the first)."""
    if not address or stored_bytes <= 0:
        return
    key = _address_key(address)
    try:
        cache.add(key, 0, timeout=settings.XAI_ADDRESS_STORED_WINDOW_SECONDS)
        cache.incr(key, stored_bytes)
    except ValueError:  # evicted between add and incr: its window opens again
        cache.add(key, stored_bytes, timeout=settings.XAI_ADDRESS_STORED_WINDOW_SECONDS)
    except redis.RedisError:
        log.warning("storage per address is not counted: the cache cannot be reached")
