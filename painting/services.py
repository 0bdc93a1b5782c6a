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

from . import classifier, images, masking, model_view, notify, originals
from .models import Exploration, Picture, Round

log = logging.getLogger(__name__)

QUEUE_DOWN_MESSAGE = (
    "The classifier queue could not be reached, so this round was not classified. "
    "Your mask is saved: press Retry in a moment."
)


def current_model_name(chosen: str = "") -> str:
    """The model new explorations use: the person's choice when its weights are here, else the
    configured one; raises WeightsMissing with a fix when there is none."""
    if chosen and chosen in classifier.available_models():
        return chosen
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


def start_exploration(
    visitor: str, picture: Picture, model_name: str | None = None, participant=None
) -> Exploration:
    """A new exploration whose round 0 classifies the unmasked picture."""
    with transaction.atomic():
        exploration = Exploration.objects.create(
            visitor=visitor,
            picture=picture,
            model_name=model_name or current_model_name(),
            participant=participant,
        )
        _create_round(exploration, mask=None, fill=masking.Fill.MEAN, strokes=[])
    return exploration


def resume_or_start(visitor: str, picture: Picture, chosen_model: str = "") -> Exploration:
    model_name = current_model_name(chosen_model)
    latest = Exploration.objects.filter(
        visitor=visitor, picture=picture, model_name=model_name, participant__isnull=True
    ).first()
    return latest or start_exploration(visitor, picture, model_name)


def submit_round(
    exploration: Exploration,
    mask: Image.Image,
    fill: masking.Fill,
    strokes: list,
    *,
    prediction: str = "",
    previous_latency_ms: float | None = None,
) -> Round:
    """Save the mask as a pending round and dispatch it; the worker composes and classifies.

    The browser reports how long the previous round took to show with the next Classify."""
    if previous_latency_ms is not None:
        latest = exploration.rounds.filter(status=Round.Status.DONE).order_by("-index").first()
        if latest and latest.client_latency_ms is None:
            Round.objects.filter(pk=latest.pk).update(client_latency_ms=previous_latency_ms)
    round_ = _create_round(
        exploration, mask=mask, fill=fill, strokes=strokes, prediction=prediction
    )
    round_.refresh_from_db()  # dispatch ran on commit and may have failed the round already
    return round_


def _create_round(
    exploration: Exploration,
    *,
    mask: Image.Image | None,
    fill: masking.Fill,
    strokes: list,
    prediction: str = "",
) -> Round:
    round_ = Round(
        exploration=exploration,
        fill=fill.value,
        masked_fraction=0.0 if mask is None else masking.painted_fraction(mask),
        strokes=strokes,
        prediction=prediction[:200],
        model_name=exploration.model_name,
    )
    if mask is None:  # the original: what the model sees is the picture itself
        round_.masked_image.name = exploration.picture.file.name
        round_.thumbnail.name = exploration.picture.thumbnail.name
    else:  # encoded and written before the transaction, which holds SQLite's write lock
        round_.mask.save(
            f"{exploration.pk}/{round_.pk}-mask.png",
            ContentFile(images.png_bytes(mask, fast=True)),
            save=False,
        )
    try:
        with transaction.atomic():
            # Writing the exploration row first takes the write lock, so two concurrent Classify
            # clicks on one exploration get distinct indexes.
            Exploration.objects.filter(pk=exploration.pk).update(updated_at=timezone.now())
            last = exploration.rounds.aggregate(last=Max("index"))["last"]
            round_.index = 0 if last is None else last + 1
            round_.save()
            transaction.on_commit(partial(_enqueue, round_.pk))
    except Exception:
        if mask is not None:  # no round, so no file of one
            round_.mask.delete(save=False)
        raise
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


def claim_rounds(round_id, limit: int) -> list[Round]:
    """This round plus up to limit-1 other pending rounds of the same model, marked running.

    Rounds queued while the worker was busy are classified together as one batch; their own
    messages then find them finished and do nothing."""
    with transaction.atomic():
        own = (
            Round.objects.filter(
                pk=round_id, status__in=[Round.Status.PENDING, Round.Status.RUNNING]
            )
            .values_list("model_name", flat=True)
            .first()
        )
        if own is None:
            return []  # already finished: a redelivered or batched-away message
        others = list(
            Round.objects.select_for_update(skip_locked=True)
            .filter(status=Round.Status.PENDING, model_name=own)
            .exclude(pk=round_id)
            .order_by("created_at")
            .values_list("pk", flat=True)[: max(0, limit - 1)]
        )
        ids = [round_id, *others]
        Round.objects.filter(pk__in=ids).update(
            status=Round.Status.RUNNING, started_at=timezone.now()
        )
    return list(
        Round.objects.filter(pk__in=ids)
        .select_related("exploration__picture")
        .order_by("created_at")
    )


def run_rounds(round_id, batch_size: int = 1) -> None:
    """Classify a round (and others waiting) and record the answers. Runs in the worker.

    Whatever goes wrong, every claimed round ends done or failed with a message."""
    claimed = [round_id]
    try:
        rounds = claim_rounds(round_id, batch_size)
        if not rounds:
            return
        claimed = [r.pk for r in rounds]
        model = inference_model(rounds[0].model_name)
        rounds, seen = _compose_each(rounds)
        if not rounds:
            return
        started = time.perf_counter()
        outcomes = model.classify(seen)
        per_image_ms = (time.perf_counter() - started) * 1000 / len(rounds)
        for round_, image, outcome in zip(rounds, seen, outcomes, strict=True):
            record_result(
                round_.pk,
                model,
                outcome,
                per_image_ms,
                batch_size=len(rounds),
                **_thumbnail_of(round_, image),
                **model_view.scores_against_model(round_),
            )
    except SoftTimeLimitExceeded:
        return _fail_all(
            claimed,
            f"The classifier took longer than {settings.CELERY_TASK_SOFT_TIME_LIMIT:g} seconds "
            "on this round. Press Retry to try again.",
        )
    except classifier.WeightsMissing as exc:
        return _fail_all(claimed, str(exc))
    except Exception as exc:
        log.exception("rounds %s failed", claimed)
        return _fail_all(claimed, _crash_message(exc))
    for round_ in rounds:
        if round_.index == 0:
            model_view.enqueue_saliency(round_.exploration_id)


def _compose_each(rounds: list[Round]) -> tuple[list[Round], list[Image.Image]]:
    """What the model sees for each round; a round whose mask is damaged or gone (a
    participant withdrew meanwhile) fails alone, not with the batch it came in."""
    kept, seen = [], []
    for round_ in rounds:
        try:
            seen.append(masked_image_of(round_))
        except (OSError, ValueError) as exc:
            log.exception("round %s cannot be composed", round_.pk)
            fail_round(round_.pk, _crash_message(exc))
            continue
        kept.append(round_)
    return kept, seen


def _crash_message(exc: Exception) -> str:
    return f"The classifier failed on this round ({type(exc).__name__}). Press Retry to try again."


def inference_model(name: str) -> classifier.Classifier:
    """The model on the inference worker's fast backend."""
    return classifier.load_classifier(name, settings.XAI_BACKEND, settings.XAI_COMPILED_DIR)


def busy_within(seconds: float) -> bool:
    """Whether any round was submitted in the last `seconds`."""
    since = timezone.now() - timedelta(seconds=seconds)
    return Round.objects.filter(created_at__gte=since).exists()


def archive_masked_images(limit: int = 64) -> int:
    """Store the lossless copy of what the model saw for finished rounds that lack one.

    A PNG of a photo takes longer to encode than some models take to answer, so this runs one
    image at a time, and only while no round is waiting; the image is a pure function of
    original, mask and fill, so deferring it loses nothing."""
    stored = 0
    while stored < limit and not Round.objects.filter(status=Round.Status.PENDING).exists():
        round_ = (
            Round.objects.filter(status=Round.Status.DONE, masked_image="")
            .exclude(mask="")
            .select_related("exploration__picture")
            .first()
        )
        if round_ is None:
            break
        _store_masked_image(round_, masked_image_of(round_))
        stored += 1
    return stored


def masked_image_of(round_: Round) -> Image.Image:
    """What the model sees for a round: the stored original with the mask's fill applied."""
    picture = round_.exploration.picture
    original = originals.original_image(picture.pk, picture.sha256)
    if not round_.mask:
        return original
    with round_.mask.open("rb") as f:
        mask = Image.open(f)
        mask.load()
    return masking.compose(original, mask, masking.Fill(round_.fill))


def _thumbnail_of(round_: Round, image: Image.Image) -> dict:
    """Write the history strip's thumbnail of what the model saw; its name for the result."""
    if not round_.mask:
        return {}  # the original's is the picture's own
    name = f"{round_.exploration_id}/{round_.pk}-thumb.jpg"
    data = ContentFile(images.jpeg_bytes(images.thumbnail(image)))
    round_.thumbnail.save(name, data, save=False)
    return {"thumbnail": round_.thumbnail.name}


def _store_masked_image(round_: Round, image: Image.Image) -> None:
    name = f"{round_.exploration_id}/{round_.pk}-masked.png"
    round_.masked_image.save(name, ContentFile(images.png_bytes(image, fast=True)), save=False)
    Round.objects.filter(pk=round_.pk).update(masked_image=round_.masked_image.name)


def _fail_all(round_ids: list, message: str) -> None:
    for round_id in round_ids:
        fail_round(round_id, message)


def record_result(
    round_id,
    model: classifier.Classifier,
    outcome: classifier.Outcome,
    inference_ms: float,
    batch_size: int = 1,
    **scores,
) -> None:
    Round.objects.filter(pk=round_id).update(
        **scores,
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
        batch_size=batch_size,
    )
    notify.publish(round_id)


def fail_round(round_id, message: str) -> None:
    Round.objects.filter(pk=round_id).exclude(status=Round.Status.DONE).update(
        status=Round.Status.FAILED, error=message, finished_at=timezone.now()
    )
    notify.publish(round_id)


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
