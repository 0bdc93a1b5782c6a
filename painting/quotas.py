"""What one visitor may keep on the server: how many uploads, and how many bytes in all
(uploaded photos, masks and brush logs). Rate limits bound the speed; these bound the total."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Sum

from .models import Picture, Round


class QuotaExceeded(Exception):
    """The visitor keeps as much as one visitor may; the message says what to do."""


def stored_bytes_of(visitor: str) -> int:
    pictures = Picture.objects.filter(owner=visitor).aggregate(total=Sum("stored_bytes"))
    rounds = Round.objects.filter(exploration__visitor=visitor).aggregate(total=Sum("stored_bytes"))
    return (pictures["total"] or 0) + (rounds["total"] or 0)


def check(visitor: str, *, adding_bytes: int, upload: bool = False) -> None:
    """Raise QuotaExceeded when keeping `adding_bytes` more would go over a limit."""
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
