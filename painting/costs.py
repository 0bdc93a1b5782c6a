"""What a round costs the inference worker, estimated before it is sent: the fill's compose
(per megapixel of the picture, more for ROAD the more is painted) plus the model's share.

Rate limits count requests; the work budgets (ratelimit.charge) count these seconds, so that a
client who asks for the dearest rounds (ROAD on a 1024 px upload: ~10× a mean fill) cannot
buy ten times the worker with the same number of clicks. The batches use them too
(pipeline.claim_rounds): a batch holds at most XAI_BATCH_SECONDS of them besides its own.

Factors measured with the compose of each fill on a 1024×1024 photo (benchmarks/road_fill.py,
/ preview_fill.py, 2026-12-05, 2 cores shared by other jobs), rounded up: mean 10–36 ms,
blur ~70, inpaint 50–90, ROAD 40 ms with nothing painted to 180 ms with 90 % painted; and in
the inference worker under a flood (benchmarks/flood.py --scenario road, load ~9 on 2 cores):
ROAD rounds with 7 % painted 106 ms of compose, 180 ms in all."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings

from . import ratelimit
from .masking import Fill

if TYPE_CHECKING:
    from django.http import HttpRequest

    from .models import Picture

# The model, the mask's decode, the original's load and the thumbnail, per round.
ROUND_SECONDS = 0.04
# Compose, in seconds per megapixel: (whatever is painted, more per share painted).
FILL_SECONDS_PER_MEGAPIXEL = {
    Fill.MEAN: (0.02, 0.03),
    Fill.BLACK: (0.02, 0.03),
    Fill.BLUR: (0.08, 0.0),
    Fill.INPAINT: (0.1, 0.0),
    Fill.ROAD: (0.1, 0.2),
    Fill.DARKEN: (0.01, 0.02),
    Fill.BRIGHTEN: (0.01, 0.02),
    Fill.GREY: (0.01, 0.02),
}


# A detector's round runs YOLOv3-tiny at two scales: ~0.06 s more than a classifier's.
DETECT_EXTRA_SECONDS = 0.06


def round_seconds(
    width: int, height: int, fill: str, painted: float, task: str = "classify"
) -> float:
    """Estimated worker seconds of a round on a width×height picture with `painted` (0–1) of it
    painted over with `fill`; the original (nothing painted) costs the model's share only."""
    model = ROUND_SECONDS + (DETECT_EXTRA_SECONDS if task == "detect" else 0.0)
    if painted <= 0:
        return model
    base, per_painted = FILL_SECONDS_PER_MEGAPIXEL.get(Fill(fill), (0.1, 0.2))
    return model + width * height / 1e6 * (base + per_painted * painted)


# An exploration: its original's round and its Grad-CAM on the analysis worker (~0.3 s in torch;
# a gallery photo's is copied from another exploration's).
EXPLORATION_SECONDS = ROUND_SECONDS + 0.3
GALLERY_EXPLORATION_SECONDS = ROUND_SECONDS + 0.05

# Redis queue priorities (0 first, then 3, 6, 9) of the work a page needs: an address that has
# spent more than this share of its budget this minute goes behind those that have not.
BUSY_SHARE = 0.1
LIGHT, BUSY = 0, 6


def priority_of(client: str) -> int:
    """The queue priority of the work a page needs (Grad-CAM, a Region map) for a client
    address: the least busy addresses' first, so a flood of explorations or uploads from a
    few addresses does not hold back another visitor's model view."""
    budget = settings.XAI_WORKER_SECONDS_PER_MINUTE_PER_ADDRESS
    spent = ratelimit.spent([client])[client] if client else 0.0
    return BUSY if spent > BUSY_SHARE * budget else LIGHT


# An upload: its Region map (SLIC, ~1 s on the analysis worker), then its exploration.
UPLOAD_SECONDS = 1.0 + EXPLORATION_SECONDS


def upload_refusal(request: HttpRequest, visitor: str) -> str:
    """refusal() for an upload (its Region map and its exploration), before it is read: never
    shed when everyone's rounds are over their budget, since the Region map is the analysis
    worker's work, bounded by its own queue."""
    return ratelimit.charge(visitor, ratelimit.client_key(request), UPLOAD_SECONDS, sheddable=False)


def exploration_refusal(request: HttpRequest, visitor: str, picture: Picture) -> str:
    """refusal() for starting an exploration (its original's round and its Grad-CAM): never
    shed when everyone's work is over its budget, since a page needs it."""
    seconds = GALLERY_EXPLORATION_SECONDS if picture.is_gallery else EXPLORATION_SECONDS
    return ratelimit.charge(visitor, ratelimit.client_key(request), seconds, sheddable=False)


# What one more image adds to a batch's model call (the rest of ROUND_SECONDS is shared): on
# these CPUs about as much as a call of its own (the model alone: 20-25 ms at batch 1, ~15 ms
# an image at batch 8), so a batch's work, and what the next round waits for, stays short.
BATCHED_ROUND_SECONDS = 0.02


def batched_seconds(
    width: int, height: int, fill: str, painted: float, task: str = "classify"
) -> float:
    """round_seconds() of a round in a batch: its compose is its own, the model call shared."""
    return round_seconds(width, height, fill, painted, task) - ROUND_SECONDS + BATCHED_ROUND_SECONDS


def spent_refusal(request: HttpRequest, visitor: str) -> str:
    """refusal() before the mask is even read, when a budget is spent already: a flood's
    refused rounds then cost the web side next to nothing."""
    return ratelimit.over_budget(visitor, ratelimit.client_key(request), ROUND_SECONDS)


def dear_refusal(picture: Picture, fill: str, task: str) -> str:
    """Before the mask is read: the busy message when everyone's work is over its budget
    (ratelimit.charge) and a round of this fill on this picture would be dear however little
    is painted, so that a flood of dear rounds is refused without decoding its masks."""
    try:
        least = round_seconds(picture.width, picture.height, fill, 1e-6, task)
    except ValueError:
        return ""  # no such fill: the form says so
    if least <= ratelimit.CHEAP_SECONDS or not ratelimit.everyone_over(least):
        return ""
    return ratelimit.BUSY_MESSAGE


def refusal(
    request: HttpRequest, visitor: str, picture: Picture, fill: str, painted: float, task: str
) -> str:
    """Charge a round's estimated seconds to the visitor and its address (ratelimit.charge);
    the message to answer with when either has spent its budget for this minute, else ''."""
    seconds = round_seconds(picture.width, picture.height, fill, painted, task)
    return ratelimit.charge(visitor, ratelimit.client_key(request), seconds)
