"""The web side's rules: adding images, starting explorations, submitting and retrying rounds,
asking for analyses, and waiting for answers.

Views, admin and management commands call these; none of them takes a request. Work for the
workers goes out through dispatch; the worker side lives in pipeline."""

from __future__ import annotations

import contextlib
import logging
import threading

import redis
from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from PIL import Image

from . import (
    backlog,
    brush_log,
    costs,
    dispatch,
    images,
    masking,
    notify,
    originals,
    segments,
    selectors,
    timing,
)
from .edits import NONE as NO_EDITS
from .edits import Edits
from .inference import registry
from .models import Exploration, Picture, Round, Task

log = logging.getLogger(__name__)


class Busy(Exception):
    """This visitor already has as much work queued as one person may; the message says so."""


def refuse_if_busy(visitor: str, max_pending: int | None, client: str = "") -> None:
    """Callers on the web pass the cap (and the request's client address, hashed); staff
    tools, commands and tests pass None (no cap). The queue is bounded per visitor, per
    address (many sessions from one) and in all: kept short, the batches see all of it and
    serve the least busy first (pipeline.claim_rounds)."""
    if max_pending is None:
        return
    queued = selectors.queued_rounds(visitor, client)
    if queued.visitor >= max_pending:
        raise Busy(
            f"You have {queued.visitor} rounds waiting for the classifier. "
            "Wait for your previous rounds, then try again."
        )
    if client and queued.address >= settings.XAI_MAX_PENDING_ROUNDS_PER_ADDRESS:
        raise Busy(
            "Your network has as many rounds waiting for the classifier as one network may. "
            "Wait a moment, then try again."
        )
    if queued.total >= settings.XAI_MAX_PENDING_ROUNDS_TOTAL:
        raise Busy("The classifier is busy with many people's rounds. Try again in a moment.")


def current_model_name(chosen: str = "", task: str = Task.CLASSIFY) -> str:
    """The model new explorations use: the person's choice when its weights are here, else the
    configured one (for detect, the detector); raises WeightsMissing with a fix when there is
    none."""
    if task == Task.DETECT:
        return registry.default_detector_name()
    if chosen and chosen in registry.available_models():
        return chosen
    return registry.default_model_name(settings.XAI_MODEL)


def add_picture(
    image: Image.Image, *, title: str, owner: str = "", client: str = "", **gallery
) -> Picture:
    """Store a working copy of the image (and a thumbnail) as a new Picture.

    An upload is kept as a high-quality JPEG (a tenth of a PNG's size); the model always reads
    this stored copy, so what it sees never depends on how the photo was first sent."""
    working = images.working_copy(image, settings.XAI_WORKING_MAX_SIDE)
    if gallery.get("is_gallery"):
        data, extension = images.png_bytes(working), "png"
    else:
        data, extension = images.jpeg_bytes(working, quality=95), "jpg"
    sha = images.sha256_hex(data)
    thumbnail = images.jpeg_bytes(images.thumbnail(working))
    picture = Picture(
        title=title[:200],
        owner=owner,
        width=working.width,
        height=working.height,
        sha256=sha,
        stored_bytes=len(data) + len(thumbnail),
        **gallery,
    )
    try:
        picture.file.save(f"{sha[:16]}.{extension}", ContentFile(data), save=False)
        picture.thumbnail.save(f"{sha[:16]}-thumb.jpg", ContentFile(thumbnail), save=False)
        if gallery.get("is_gallery"):  # added by a command or by staff, once: segmented here
            png, picture.segment_count = segments.map_of(working)
            picture.stored_bytes += len(png)
            name = picture.segments_file_name
            picture.segments.save(name, ContentFile(png), save=False)
        picture.save()
    except BaseException:  # a full disk, a lost database: no file without its row
        for field in (picture.file, picture.thumbnail, picture.segments):
            if field:
                field.storage.delete(field.name)
        raise
    if not picture.segments:
        # SLIC takes about a second of CPU: the analysis worker's, not the upload request's.
        dispatch.enqueue_segments(picture.pk, costs.priority_of(client))
    return picture


def ask_for_segments(picture: Picture) -> None:
    """A picture without its Region map yet (an upload whose map is on its way, or one added
    before the Region tool): ask the worker for it, at most once a minute per picture."""
    if _first_to_ask(f"xai:segments-asked:{picture.pk}", 60):
        dispatch.enqueue_segments(picture.pk)


def _first_to_ask(key: str, seconds: float) -> bool:
    """True for the first request to ask for a piece of work within `seconds` (a marker in the
    shared cache); True as well without a reachable cache (the broker is likely down too)."""
    try:
        return cache.add(key, 1, timeout=seconds)
    except redis.RedisError:
        return True


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
    visitor: str,
    picture: Picture,
    model_name: str | None = None,
    participant=None,
    *,
    max_pending: int | None = None,
    client: str = "",
    task: str = Task.CLASSIFY,
) -> Exploration:
    """A new exploration whose round 0 classifies (or, for task detect, detects in) the
    unmasked picture; raises Busy when the visitor has max_pending rounds queued already.
    client: the request's hashed address."""
    with transaction.atomic():
        refuse_if_busy(visitor, max_pending, client)
        exploration = Exploration.objects.create(
            visitor=visitor,
            picture=picture,
            model_name=model_name or current_model_name(task=task),
            task=task,
            participant=participant,
            client=client,
        )
        _create_round(exploration, mask=None, fill=masking.Fill.MEAN, strokes=[])
    return exploration


def resume_or_start(
    visitor: str,
    picture: Picture,
    chosen_model: str = "",
    *,
    max_pending: int | None = None,
    client: str = "",
    task: str = Task.CLASSIFY,
) -> Exploration:
    model_name = current_model_name(chosen_model, task)
    latest = Exploration.objects.filter(
        visitor=visitor, picture=picture, model_name=model_name, participant__isnull=True
    ).first()
    return latest or start_exploration(
        visitor, picture, model_name, max_pending=max_pending, client=client, task=task
    )


def submit_round(
    exploration: Exploration,
    mask: Image.Image,
    fill: masking.Fill,
    strokes: list,
    *,
    prediction: str = "",
    live: bool = False,
    edits: Edits = NO_EDITS,
    max_pending: int | None = None,
    client: str = "",
) -> Round:
    """Save the mask (and the edits) as a pending round and dispatch it; the worker composes
    and classifies. client: the request's hashed address, which the batches share fairly by.
    Raises Busy, having saved nothing, when the visitor has max_pending rounds queued already."""
    refuse_if_busy(exploration.visitor, max_pending, client)  # before any file is written
    round_ = _create_round(
        exploration,
        mask=mask,
        fill=fill,
        strokes=strokes,
        prediction=prediction,
        live=live,
        edits=edits,
        max_pending=max_pending,
        client=client,
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
    live: bool = False,
    edits: Edits = NO_EDITS,
    max_pending: int | None = None,
    client: str = "",
) -> Round:
    log_size = brush_log.measure(strokes)
    round_ = Round(
        exploration=exploration,
        fill=fill.value,
        masked_fraction=0.0 if mask is None else masking.painted_fraction(mask),
        strokes=strokes,
        **log_size.as_fields(),
        prediction=prediction[:200],
        live=live,
        model_name=exploration.model_name,
        **edits.as_fields(),
    )
    if mask is None:  # the original: what the model sees is the picture itself
        round_.masked_image.name = exploration.picture.file.name
        round_.thumbnail.name = exploration.picture.thumbnail.name
    else:  # encoded and written before the transaction, which holds SQLite's write lock
        # One bit a pixel: a few kilobytes, and exactly the area that was painted.
        with timing.stage("files"):
            png = images.png_bytes(mask.convert("1", dither=Image.Dither.NONE))
            name = f"{exploration.pk}/{round_.pk}-mask.png"
            round_.mask.save(name, ContentFile(png), save=False)
        round_.stored_bytes = len(png) + log_size.bytes
    try:
        with timing.stage("db"), transaction.atomic():
            # Two concurrent Classify clicks on one exploration get distinct indexes, and the
            # visitor's queue is counted once at a time: the first holds the exploration's row
            # lock (PostgreSQL) until it commits, and the second reads after waiting for it.
            # On SQLite the IMMEDIATE transaction has already taken the database's write lock.
            locked = Exploration.objects.select_for_update().filter(pk=exploration.pk)
            if not list(locked.values_list("pk", flat=True)):
                raise Exploration.DoesNotExist(f"exploration {exploration.pk} was deleted")
            _mark_active(exploration, client)
            refuse_if_busy(exploration.visitor, max_pending, client)
            last = exploration.rounds.aggregate(last=Max("index"))["last"]
            round_.index = 0 if last is None else last + 1
            round_.save()
            dispatch.enqueue_round(round_.pk)
    except BaseException:
        if round_.mask:  # written for a row that never came to be
            round_.mask.storage.delete(round_.mask.name)
        raise
    return round_


def _mark_active(exploration: Exploration, client: str) -> None:
    """The exploration was used just now, from this client address (when known)."""
    changes = {"updated_at": timezone.now(), **({"client": client} if client else {})}
    Exploration.objects.filter(pk=exploration.pk).update(**changes)


def record_latency(round_: Round, ms: float) -> None:
    """The browser's Classify-to-result time of a finished masked round; the first report
    stands (a replayed or doubled request changes nothing)."""
    Round.objects.filter(
        pk=round_.pk, index__gte=1, status=Round.Status.DONE, client_latency_ms__isnull=True
    ).update(client_latency_ms=ms)


class LogFull(Exception):
    """The round's brush log holds as much as one round's may; the message says so."""


def add_late_events(exploration: Exploration, events: list[dict]) -> Round | None:
    """Append events the browser logged after the exploration's latest Classify (sent as the
    person left the page) to its latest round's brush log, each marked "sent": "leave"; the
    round, or None when it has none. Under the round's lock: two reports at once both land.
    Raises LogFull, having written nothing, when the log would go over its caps (told from
    the round's counts, before its log is loaded)."""
    marked = [{**event, "sent": "leave"} for event in events]
    added = brush_log.measure(marked)
    with transaction.atomic():
        latest = (
            Round.objects.select_for_update()
            .filter(exploration=exploration)
            .order_by("-index")
            .only("pk", "stored_bytes", "log_bytes", "log_events", "log_points")
            .first()
        )
        if latest is None:
            return None
        events, points = latest.log_events + added.events, latest.log_points + added.points
        if latest.log_bytes + added.bytes > brush_log.MAX_BYTES or brush_log.too_long(
            events, points
        ):
            raise LogFull("This image's log is full: the events were not recorded.")
        log = latest.strokes if isinstance(latest.strokes, list) else []
        latest.strokes = [*log, *marked]
        size = brush_log.measure(latest.strokes)
        latest.stored_bytes += size.bytes - latest.log_bytes
        for name, value in size.as_fields().items():
            setattr(latest, name, value)
        latest.save(update_fields=["strokes", "stored_bytes", *size.as_fields()])
    return latest


def retry_round(round_: Round, *, max_pending: int | None = None, client: str = "") -> Round:
    """Send a failed round to the classifier again (Busy when the visitor's queue is full)."""
    with transaction.atomic():
        refuse_if_busy(round_.exploration.visitor, max_pending, client)
        _mark_active(round_.exploration, client)
        Round.objects.filter(pk=round_.pk).retry()
        dispatch.enqueue_round(round_.pk)
    round_.refresh_from_db()
    return round_


def wait_for_round(round_: Round, timeout: float) -> Round:
    """Hold the request until the round is done or failed, or the timeout passes. A round left
    unanswered past every time limit is failed here, so nobody waits on it forever."""

    def finished() -> bool:
        round_.refresh_from_db(fields=["status"])
        return round_.is_finished

    if not round_.is_finished and not notify.wait(round_.pk, finished, timeout):
        Round.objects.filter(pk=round_.pk).fail_stale()
    round_.refresh_from_db()
    return round_


def request_analysis(
    round_: Round, *, max_pending: int | None = None, client: str | None = None
) -> Round:
    """Queue the analysis of a finished round (once); its result lands on the round. Raises
    Busy when the visitor has max_pending analyses queued already, or when the optional work's
    bounds (backlog, for a request from `client`, a hashed address) have no room."""
    if round_.analysis_status == Round.AnalysisStatus.DONE or round_.analysis_in_flight:
        return round_
    with transaction.atomic():
        visitor = round_.exploration.visitor
        if max_pending is not None and selectors.queued_analyses_of(visitor) >= max_pending:
            raise Busy("Your previous analysis is still running. Wait for it, then try again.")
        if client is not None:
            _admit(backlog.analysis_job(round_.pk), visitor, client)
        Round.objects.filter(pk=round_.pk).update(
            analysis_status=Round.AnalysisStatus.PENDING,
            analysis_requested_at=timezone.now(),
            analysis={},
        )
        dispatch.enqueue_analysis(round_.pk)
    round_.refresh_from_db()
    return round_


def explanation_on_its_way(exploration: Exploration, method: str) -> bool:
    try:
        return cache.get(notify.explanation_requested_key(exploration.pk, method)) is not None
    except redis.RedisError:  # no Redis, no workers either: asking again says so
        return False


def request_explanation(
    exploration: Exploration, method: str, *, client: str | None = None
) -> None:
    """Ask the optional-work worker for one more explanation method's map of an exploration,
    once while it is on its way (a lost message is asked again after the marker expires).
    Asked from `client` (a hashed address), it is counted in the optional work's bounds
    (backlog): Busy when they have no room."""
    job = backlog.explanation_job(exploration.pk, method)
    if client is not None:
        _admit(job, exploration.visitor, client)
    key = notify.explanation_requested_key(exploration.pk, method)
    if _first_to_ask(key, 3 * settings.CELERY_TASK_TIME_LIMIT):
        dispatch.enqueue_explanation(exploration.pk, method)
    elif client is not None:
        backlog.release(job)  # asked by someone else a moment ago: theirs is on its way


def _admit(job: str, visitor: str, client: str) -> None:
    try:
        backlog.admit(job, visitor, client)
    except backlog.Full as exc:
        raise Busy(str(exc)) from exc


def wait_for_explanation(exploration: Exploration, method: str, timeout: float):
    """The method's map once the worker has stored it (or failed to), or None at the timeout."""

    def finished() -> bool:
        exploration.refresh_from_db(fields=["saliency", "explanations"])
        return method in exploration.explanations or not explanation_on_its_way(exploration, method)

    notify.wait(notify.explanation_channel(exploration.pk, method), finished, timeout)
    exploration.refresh_from_db(fields=["saliency", "explanations"])
    return selectors.explanation_of(exploration, method)


def wait_for_analysis(round_: Round, timeout: float) -> Round:
    """wait_for_round() for a round's analysis; one still pending past every time limit is
    failed, so the page offers it again."""

    def finished() -> bool:
        round_.refresh_from_db(fields=["analysis_status"])
        return round_.analysis_status != Round.AnalysisStatus.PENDING

    notify.wait(f"analysis-{round_.pk}", finished, timeout)
    round_.refresh_from_db()
    if round_.analysis_status == Round.AnalysisStatus.PENDING and not round_.analysis_in_flight:
        Round.objects.filter(pk=round_.pk, analysis_status=Round.AnalysisStatus.PENDING).update(
            analysis_status=Round.AnalysisStatus.FAILED,
            analysis={"error": "The analysis did not come back. Try again."},
        )
        round_.refresh_from_db()
    return round_


# Pictures composed at once in this process: previews of a fill (blur, inpaint and ROAD cost
# 100 to 170 ms of CPU each) and rounds' masked images (150 to 500 ms for a 1024² upload). One
# visitor has at most one of each kind in progress anywhere (a cache key all processes share).
_COMPOSING = threading.BoundedSemaphore(settings.XAI_PREVIEW_CONCURRENCY)
COMPOSE_HELD_SECONDS = 10  # how long a crashed process's claim on a visitor's compose lasts


@contextlib.contextmanager
def _composing(what: str, visitor: str):
    """Hold one of this process's composing slots, and this visitor's claim on composing a
    `what`; Busy, with a message naming it, when either is taken."""
    key = f"{what}-in-progress:{visitor}" if visitor else ""
    try:
        if key and not cache.add(key, 1, timeout=COMPOSE_HELD_SECONDS):
            raise Busy(f"Your previous {what} is still being made. Wait a moment and try again.")
    except redis.RedisError:  # as the rate limits do: no shared cache, no per-visitor count
        log.warning("%ss are not counted: the cache cannot be reached", what, exc_info=True)
        key = ""
    try:
        if not _COMPOSING.acquire(blocking=False):
            raise Busy(f"The server is making other {what}s right now. Try again in a moment.")
        try:
            yield
        finally:
            _COMPOSING.release()
    finally:
        if key:
            with contextlib.suppress(redis.RedisError):
                cache.delete(key)


def preview_png(
    picture: Picture, mask: Image.Image, fill: masking.Fill, edits: Edits, visitor: str
) -> bytes:
    """What the model would be shown for this mask, fill and edits, composed as for a round
    (originals.seen_by_model), as a PNG. Writes nothing. Raises Busy when this visitor's
    previous preview is still being composed, or this process has no room for another."""
    with _composing("preview", visitor):
        return images.png_bytes(originals.seen_by_model(picture, mask, fill, edits), fast=True)


def masked_png(round_: Round, visitor: str) -> bytes:
    """A masked round's picture as the model saw it (composed again: it is not stored), as a
    PNG; Busy as for previews."""
    with _composing("image", visitor):
        return images.png_bytes(originals.masked_image_of(round_), fast=True)


def thumbnail_jpeg(round_: Round, visitor: str) -> bytes:
    """A finished masked round's thumbnail, made as the worker makes it, for a page that asks
    before the worker has stored it; Busy as for previews."""
    with _composing("image", visitor):
        return images.jpeg_bytes(images.thumbnail(originals.masked_image_of(round_)))


class NotAnObject(ValueError):
    """A box number the exploration's rounds do not have."""


def set_detection_threshold(exploration: Exploration, threshold: float) -> None:
    Exploration.objects.filter(pk=exploration.pk, task=Task.DETECT).update(
        detection_threshold=threshold
    )
    exploration.detection_threshold = threshold


def follow_object(exploration: Exploration, round_: Round, object_id: int | None) -> None:
    """Follow one object of a detect exploration by its id in the round on screen (None:
    none); NotAnObject, with nothing written, for an id that round does not have."""
    from .detection_results import tracked

    if object_id is not None:
        seen = tracked(exploration.pk, up_to=round_.index)
        here = seen.ids[-1] if seen.indexes and seen.indexes[-1] == round_.index else []
        if object_id not in here:
            raise NotAnObject(f"No box {object_id} in {round_.label.lower()}.")
    Exploration.objects.filter(pk=exploration.pk, task=Task.DETECT).update(followed=object_id)
    exploration.followed = object_id
