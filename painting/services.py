"""The rules of the app: adding images, starting explorations, submitting and finishing rounds.

Views, tasks, admin and management commands call these; none of them takes a request.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from functools import partial

import numpy as np
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from PIL import Image

from . import classifier, images, masking
from .models import Exploration, Picture, Round

log = logging.getLogger(__name__)

QUEUE_DOWN_MESSAGE = (
    "The classifier queue could not be reached, so this round was not classified. "
    "Your mask is saved: press Retry in a moment."
)


def current_model_name() -> str:
    """The model new explorations use; raises WeightsMissing with a fix when there is none."""
    return classifier.default_model_name(settings.XAI_MODEL)


def add_picture(image: Image.Image, *, title: str, owner: str = "", **gallery) -> Picture:
    """Store a working copy of the image (and a thumbnail) as a new Picture."""
    working = images.working_copy(image, settings.XAI_WORKING_MAX_SIDE)
    data = images.png_bytes(working)
    sha = images.sha256_hex(data)
    picture = Picture(
        title=title[:200],
        owner=owner,
        width=working.width,
        height=working.height,
        sha256=sha,
        **gallery,
    )
    picture.file.save(f"{sha[:16]}.png", ContentFile(data), save=False)
    picture.thumbnail.save(
        f"{sha[:16]}-thumb.jpg",
        ContentFile(images.jpeg_bytes(images.thumbnail(working))),
        save=False,
    )
    picture.save()
    return picture


def add_gallery_picture(
    image: Image.Image, *, slug: str, title: str, source: str, licence: str
) -> Picture:
    """Idempotent: an existing gallery picture with this slug is kept as it is."""
    existing = Picture.objects.filter(slug=slug).first()
    if existing:
        return existing
    return add_picture(
        image, title=title, slug=slug, is_gallery=True, source=source, licence=licence
    )


def start_exploration(visitor: str, picture: Picture, model_name: str | None = None) -> Exploration:
    """A new exploration whose round 0 classifies the unmasked picture."""
    with transaction.atomic():
        exploration = Exploration.objects.create(
            visitor=visitor, picture=picture, model_name=model_name or current_model_name()
        )
        with picture.file.open("rb") as f:
            original = Image.open(f)
            original.load()
        _create_round(exploration, original, mask=None, fill=masking.Fill.MEAN, strokes=[])
    return exploration


def resume_or_start(visitor: str, picture: Picture) -> Exploration:
    model_name = current_model_name()
    latest = Exploration.objects.filter(
        visitor=visitor, picture=picture, model_name=model_name
    ).first()
    return latest or start_exploration(visitor, picture, model_name)


def submit_round(
    exploration: Exploration, mask: Image.Image, fill: masking.Fill, strokes: list
) -> Round:
    """Compose the masked image from the stored original, save a pending round, dispatch it."""
    with exploration.picture.file.open("rb") as f:
        original = Image.open(f)
        original.load()
    with transaction.atomic():
        round_ = _create_round(exploration, original, mask=mask, fill=fill, strokes=strokes)
    round_.refresh_from_db()  # dispatch ran on commit and may have failed the round already
    return round_


def _create_round(
    exploration: Exploration,
    original: Image.Image,
    *,
    mask: Image.Image | None,
    fill: masking.Fill,
    strokes: list,
) -> Round:
    masked = original if mask is None else masking.compose(original, mask, fill)
    # Writing the exploration row first takes the write lock, so two concurrent Classify
    # clicks on one exploration get distinct indexes.
    Exploration.objects.filter(pk=exploration.pk).update(updated_at=timezone.now())
    last = exploration.rounds.aggregate(last=Max("index"))["last"]
    round_ = Round(
        exploration=exploration,
        index=0 if last is None else last + 1,
        fill=fill.value,
        masked_fraction=0.0 if mask is None else masking.painted_fraction(mask),
        strokes=strokes,
        model_name=exploration.model_name,
    )
    stem = f"{exploration.pk}/{round_.pk}"
    if mask is not None:
        round_.mask.save(f"{stem}-mask.png", ContentFile(images.png_bytes(mask)), save=False)
    round_.masked_image.save(
        f"{stem}-masked.png", ContentFile(images.png_bytes(masked)), save=False
    )
    round_.thumbnail.save(
        f"{stem}-thumb.jpg", ContentFile(images.jpeg_bytes(images.thumbnail(masked))), save=False
    )
    round_.save()
    transaction.on_commit(partial(_enqueue, round_.pk))
    return round_


def retry_round(round_: Round) -> Round:
    """Send a failed round to the classifier again."""
    with transaction.atomic():
        Round.objects.filter(pk=round_.pk, status=Round.Status.FAILED).update(
            status=Round.Status.PENDING,
            error="",
            created_at=timezone.now(),
            started_at=None,
            finished_at=None,
        )
        transaction.on_commit(partial(_enqueue, round_.pk))
    round_.refresh_from_db()
    return round_


def _enqueue(round_id) -> None:
    from .tasks import classify_round

    try:
        classify_round.delay(str(round_id))
    except Exception:  # any failure to publish (broker down, DNS, auth) fails the round
        log.exception("could not dispatch round %s", round_id)
        fail_round(round_id, QUEUE_DOWN_MESSAGE)


def run_round(round_id: str) -> None:
    """Classify a pending round and record the answer. Runs in the worker."""
    claimed = Round.objects.filter(
        pk=round_id, status__in=[Round.Status.PENDING, Round.Status.RUNNING]
    ).update(status=Round.Status.RUNNING, started_at=timezone.now())
    if not claimed:
        return  # already finished: a redelivered or duplicate message
    round_ = Round.objects.select_related("exploration").get(pk=round_id)
    try:
        model = classifier.load_classifier(round_.exploration.model_name)
        with round_.masked_image.open("rb") as f:
            image = Image.open(f)
            image.load()
        started = time.perf_counter()
        outcome = model.classify([image])[0]
        elapsed_ms = (time.perf_counter() - started) * 1000
    except SoftTimeLimitExceeded:
        fail_round(
            round_id,
            f"The classifier took longer than {settings.CELERY_TASK_SOFT_TIME_LIMIT}"
            " seconds on this round. Press Retry to try again.",
        )
        return
    except classifier.WeightsMissing as exc:
        fail_round(round_id, str(exc))
        return
    except Exception as exc:
        log.exception("round %s failed", round_id)
        fail_round(
            round_id,
            f"The classifier failed on this round ({type(exc).__name__}). "
            "Press Retry to try again.",
        )
        return
    record_result(round_id, model, outcome, elapsed_ms)


def record_result(
    round_id, model: classifier.Classifier, outcome: classifier.Outcome, inference_ms: float
) -> None:
    Round.objects.filter(pk=round_id).update(
        status=Round.Status.DONE,
        error="",
        model_name=model.name,
        weights_sha256=model.weights_sha256,
        top=[
            {"index": p.class_index, "label": p.label, "probability": p.probability}
            for p in outcome.top
        ],
        probabilities=outcome.probabilities.astype(np.float32).tobytes(),
        finished_at=timezone.now(),
        inference_ms=inference_ms,
    )


def fail_round(round_id, message: str) -> None:
    Round.objects.filter(pk=round_id).exclude(status=Round.Status.DONE).update(
        status=Round.Status.FAILED, error=message, finished_at=timezone.now()
    )


def fail_stale_rounds() -> int:
    """Fail rounds left pending past every time limit (a lost message, a dead worker)."""
    cutoff = timezone.now() - timedelta(seconds=settings.XAI_ROUND_STALE_SECONDS)
    return Round.objects.filter(
        status__in=[Round.Status.PENDING, Round.Status.RUNNING], created_at__lt=cutoff
    ).update(
        status=Round.Status.FAILED,
        error="No classifier answered this round in time. Press Retry to try again.",
        finished_at=timezone.now(),
    )
