"""The worker side of a round: claim it, compose what the model sees, classify, record the
answer or the failure, sweep what nobody answered.

What the model saw is not stored: it is a pure function of the stored original, the mask, the
fill and the edits (originals.masked_image_of), rebuilt when someone looks at it.

Tasks call these; the web side (services) never does, except to fail a round it gave up on."""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F, QuerySet
from PIL import Image

from . import costs, images, model_view, notify, originals, ratelimit, segments, timing
from .inference.registry import WeightsMissing, is_detector
from .models import Picture, Round

if TYPE_CHECKING:
    from .inference.classifier import Classifier, Outcome

log = logging.getLogger(__name__)


# How many of the oldest pending rounds a batch is chosen from: visitors' queues are capped
# (XAI_MAX_PENDING_ROUNDS), so this covers dozens of visitors at once.
CANDIDATES = 256


class Waiting(NamedTuple):
    """A pending round as the batches see it: whose it is and its estimated worker seconds in
    a batch (costs.batched_seconds)."""

    pk: object
    visitor: str
    client: str
    seconds: float


def _waiting(rounds: QuerySet[Round]) -> list[Waiting]:
    fields = ("fill", "masked_fraction", "exploration__picture__width")
    rows = rounds.values_list(
        "pk",
        "exploration__visitor",
        "exploration__client",
        *fields,
        "exploration__picture__height",
        "exploration__task",
    )
    return [
        Waiting(pk, visitor, client, costs.batched_seconds(w, h, fill, painted, task))
        for pk, visitor, client, fill, painted, w, h, task in rows
    ]


def claim_rounds(round_id, limit: int, *, redelivered: bool = False) -> list[Round]:
    """This round plus up to limit-1 other pending rounds of the same model, marked running.

    Rounds queued while the worker was busy are classified together as one batch; their own
    messages then find them taken and do nothing. The batch is shared fairly (_fair_batch).
    Each round is claimed by one worker only: the claim locks the rows it reads (PostgreSQL's
    row locks, skipping rows another claim holds; SQLite's IMMEDIATE transaction locks the
    whole database), and a round already running belongs to the worker that marked it. Only
    round rows are locked (of=self): locking an exploration would make every other claim skip
    all of its rounds.

    Except after a crash: a redelivered message (its worker died mid-task, and acks_late put
    the message back) takes its round back, with the rounds claimed in the same batch (they
    share its started_at), as long as they are still running."""
    running = Round.Status.RUNNING
    lockable = Round.objects.select_for_update(skip_locked=True, of=("self",)).order_by()
    with transaction.atomic():
        own = (
            lockable.filter(pk=round_id, status__in=[Round.Status.PENDING, running])
            .values_list("model_name", "status", "started_at")
            .first()
        )
        if own is None:
            return []  # finished (a batched-away message), or being claimed right now
        model_name, status, started_at = own
        if status == running and not redelivered:
            return []  # in another worker's batch
        ids = [round_id]
        if status == running:
            ids += (
                lockable.filter(status=running, started_at=started_at, model_name=model_name)
                .exclude(pk=round_id)
                .values_list("pk", flat=True)
            )
        # Chosen unlocked, then locked: only the rounds this batch takes are held, so the
        # others' own messages can still claim them.
        room = max(0, limit - len(ids))
        waiting = room and _waiting(
            Round.objects.filter(status=Round.Status.PENDING, model_name=model_name)
            .exclude(pk=round_id)
            .order_by("created_at")[:CANDIDATES]
        )
        if waiting:  # else a batch of its own, as most are when the queue is short
            [mine] = _waiting(Round.objects.filter(pk=round_id))
            chosen = _fair_batch(waiting, mine, room)
            ids += lockable.filter(pk__in=chosen, status=Round.Status.PENDING).values_list(
                "pk", flat=True
            )
        Round.objects.filter(pk__in=ids).start()
    return list(
        Round.objects.filter(pk__in=ids)
        .select_related("exploration__picture")
        .order_by("created_at")
    )


def _fair_batch(waiting: list[Waiting], mine: Waiting, room: int) -> list:
    """Which waiting rounds (oldest first) join a batch that already holds `mine`: the least
    busy addresses' first (the seconds charged to them this minute, ratelimit.spent), at most
    XAI_BATCH_PER_VISITOR of each visitor's and XAI_BATCH_PER_ADDRESS of each address's, and
    XAI_BATCH_SECONDS of estimated work in all, so that neither one visitor's queue nor many
    sessions from one address fill every batch ahead of others, and a batch of dear rounds
    (ROAD on large photos) never makes a person's cheap round wait seconds. A visitor alone in
    the queue gets batches as full as that budget allows."""
    budget = settings.XAI_BATCH_SECONDS
    alone = all(w.visitor == mine.visitor for w in waiting)
    if alone:
        per_visitor = per_address = room + 1  # its own round is counted in
    else:
        per_visitor, per_address = settings.XAI_BATCH_PER_VISITOR, settings.XAI_BATCH_PER_ADDRESS
    spent = ratelimit.spent(list({w.client for w in waiting}))
    taken = Counter([mine.visitor, mine.client])
    fair, cost = [], 0.0
    for w in sorted(waiting, key=lambda w: spent[w.client]):  # stable: oldest first at par
        if len(fair) >= room:
            break
        if taken[w.visitor] >= per_visitor or (w.client and taken[w.client] >= per_address):
            continue  # a round without a known address (a command's) counts as its visitor's
        if cost + w.seconds > budget:
            continue  # a cheaper one further on may still fit
        fair.append(w.pk)
        cost += w.seconds
        taken.update([w.visitor, w.client])
    return fair


def slices(rounds: list[Round]) -> list[list[Round]]:
    """A claimed batch cut into slices of at most XAI_BATCH_SECONDS of estimated work (one
    round at least), the least busy addresses' first: each slice is answered as soon as it is
    done, so a cheap round claimed beside a dear one does not wait for it. The least busy
    address's rounds make a slice of their own: on a CPU a batch's model call takes about as
    long per image as one alone, and a person should not wait for strangers' images."""
    if len(rounds) == 1:
        return [rounds]  # nothing to cut or order (a round deleted since fails in compose)
    costed = {w.pk: w for w in _waiting(Round.objects.filter(pk__in=[r.pk for r in rounds]))}
    spent = ratelimit.spent(list({w.client for w in costed.values()}))
    ordered = sorted(
        (r for r in rounds if r.pk in costed), key=lambda r: spent[costed[r.pk].client]
    )
    cut: list[list[Round]] = []
    cost = settings.XAI_BATCH_SECONDS
    least_busy = costed[ordered[0].pk].client if ordered else None
    for round_ in ordered:
        seconds = costed[round_.pk].seconds
        apart = len(cut) == 1 and costed[round_.pk].client != least_busy
        if cut and not apart and cost + seconds <= settings.XAI_BATCH_SECONDS:
            cut[-1].append(round_)
            cost += seconds
        else:
            cut.append([round_])
            cost = seconds
    return cut


def run_rounds(round_id, batch_size: int = 1, *, redelivered: bool = False) -> list:
    """Classify a round (and others waiting) and record the answers. Returns the explorations
    whose original was answered (id, client address), for the model's view to follow.
    `redelivered`: the message came back after its worker died (claim_rounds).

    The claimed rounds are classified in slices (slices()); each slice's answers are recorded
    in one transaction and announced as soon as it commits; what the answer does not need (the
    history strip's thumbnails) is written after that.

    Whatever goes wrong, every claimed round ends done or failed with a message."""
    originals_answered = []
    unanswered = [round_id]
    try:
        with timing.recording() as stages, timing.stage("claim"):
            claimed = claim_rounds(round_id, batch_size, redelivered=redelivered)
        unanswered = [r.pk for r in claimed]
        for number, slice_ in enumerate(slices(claimed) if claimed else []):
            answered = _run_slice(slice_, stages if number == 0 else {})
            originals_answered += [
                (r.exploration_id, r.exploration.client) for r in answered if r.index == 0
            ]
            unanswered = [pk for pk in unanswered if pk not in {r.pk for r in slice_}]
    except SoftTimeLimitExceeded:
        _fail_all(
            unanswered,
            f"The classifier took longer than {settings.CELERY_TASK_SOFT_TIME_LIMIT:g} seconds "
            "on this round. Press Retry to try again.",
        )
    except WeightsMissing as exc:
        _fail_all(unanswered, str(exc))
    except Exception as exc:
        log.exception("rounds %s failed", unanswered)
        _fail_all(unanswered, _crash_message(exc))
    return originals_answered


def _run_slice(rounds: list[Round], claim_stages: dict[str, float]) -> list[Round]:
    """Compose, classify and record one slice of a batch; the rounds answered."""
    with timing.recording() as stages:
        stages.update(claim_stages)
        if is_detector(rounds[0].model_name):
            return _detect_slice(rounds, stages)
        model = inference_model(rounds[0].model_name)
        with timing.stage("compose"):
            rounds, seen = _compose_each(rounds)
        if not rounds:
            return []
        with timing.stage("preprocess"):
            batch = model.prepare(seen)
        with timing.stage("model"):
            outcomes = model.classify_prepared(batch)
        with timing.stage("scores"):
            scores = [_scores_of(round_) for round_ in rounds]
    per_image_ms = (stages["preprocess"] + stages["model"]) / len(rounds)
    recorded = _record_all(rounds, model, outcomes, scores, per_image_ms, stages)
    answered = zip(rounds, seen, strict=True)
    _store_thumbnails([(round_, image) for round_, image in answered if round_.pk in recorded])
    return rounds


def _detect_slice(rounds: list[Round], stages: dict[str, float]) -> list[Round]:
    """A slice of detect rounds (detect_rounds): composed as any round, answered with boxes."""
    from . import detect_rounds

    with timing.stage("compose"):
        rounds, seen = _compose_each(rounds)
    if not rounds:
        return []
    recorded = detect_rounds.run_slice(rounds, seen, stages)
    _store_thumbnails(
        [(r, image) for r, image in zip(rounds, seen, strict=True) if r.pk in recorded]
    )
    return rounds


def _record_all(
    rounds: list[Round],
    model: Classifier,
    outcomes: list[Outcome],
    scores: list[dict],
    per_image_ms: float,
    stages: dict[str, float],
) -> set:
    """Record the batch's answers in one commit, then announce each. The stages are the
    batch's (shared by its rounds); answered_at (epoch seconds) lets the web side time its own
    wake-up. Returns the ids recorded (a round deleted meanwhile is not)."""
    worker_stages = {**{k: round(v, 3) for k, v in stages.items()}, "answered_at": time.time()}
    with transaction.atomic():
        recorded = {
            round_.pk
            for round_, outcome, extra in zip(rounds, outcomes, scores, strict=True)
            if record_result(
                round_.pk,
                model,
                outcome,
                per_image_ms,
                batch_size=len(rounds),
                announce=False,
                stages=worker_stages,
                **extra,
            )
        }
    for round_ in rounds:
        notify.publish(round_.pk)
    return recorded


def _store_thumbnails(answered: list[tuple[Round, Image.Image]]) -> None:
    """The history strip's thumbnails of what the model saw, written after the answers went
    out (until then, the thumbnail's URL composes it: views.round_file), named on the rows in
    one commit. A round deleted meanwhile (its participant withdrew) keeps nothing."""
    written = {}
    for round_, image in answered:
        if not round_.mask:
            continue  # the original's is the picture's own
        try:
            name = f"{round_.exploration_id}/{round_.pk}-thumb.jpg"
            data = ContentFile(images.jpeg_bytes(images.thumbnail(image)))
            round_.thumbnail.save(name, data, save=False)
            written[round_.pk] = round_.thumbnail
        except OSError:  # the answer stands; the URL composes the thumbnail when asked
            log.exception("round %s: no stored thumbnail", round_.pk)
    with transaction.atomic():
        for pk, thumbnail in written.items():
            if not Round.objects.filter(pk=pk).update(thumbnail=thumbnail.name):
                thumbnail.storage.delete(thumbnail.name)


def _scores_of(round_: Round) -> dict:
    """The round against the model's view; without it when the mask or the heatmap went while
    the round ran (a withdrawal): the answer stands alone, as it does before the heatmap."""
    try:
        return model_view.scores_against_model(round_)
    except (OSError, ValueError, ObjectDoesNotExist):
        log.warning("round %s: no scores against the model's view", round_.pk, exc_info=True)
        return {}


def _compose_each(rounds: list[Round]) -> tuple[list[Round], list[Image.Image]]:
    """What the model sees for each round; a round whose mask is damaged or gone (a
    participant withdrew meanwhile) fails alone, not with the batch it came in."""
    kept, seen = [], []
    for round_ in rounds:
        try:
            seen.append(originals.masked_image_of(round_))
        except (OSError, ValueError) as exc:
            log.exception("round %s cannot be composed", round_.pk)
            fail_round(round_.pk, _crash_message(exc))
            continue
        kept.append(round_)
    return kept, seen


def _crash_message(exc: Exception) -> str:
    return f"The classifier failed on this round ({type(exc).__name__}). Press Retry to try again."


def inference_model(name: str) -> Classifier:
    """The model on the inference worker's fast backend."""
    from .inference.classifier import load_classifier  # torch: never in web processes

    return load_classifier(name, settings.XAI_BACKEND, settings.XAI_COMPILED_DIR)


def _fail_all(round_ids: list, message: str) -> None:
    for round_id in round_ids:
        fail_round(round_id, message)


def record_result(
    round_id,
    model: Classifier,
    outcome: Outcome,
    inference_ms: float,
    batch_size: int = 1,
    *,
    announce: bool = True,
    **fields,
) -> bool:
    """Store the answer (and any other fields given: scores, stages); False when the round is
    gone (deleted while it ran). announce=False leaves notify.publish to the caller, who does
    it once the transaction commits."""
    recorded = Round.objects.filter(pk=round_id).answer(
        **fields,
        model_name=model.name,
        weights_sha256=model.weights_sha256,
        top=[
            {"index": p.class_index, "label": p.label, "probability": p.probability}
            for p in outcome.top
        ],
        probabilities=outcome.probabilities.astype(np.float32).tobytes(),
        inference_ms=inference_ms,
        batch_size=batch_size,
    )
    if announce:
        notify.publish(round_id)
    return bool(recorded)


def fail_round(round_id, message: str) -> None:
    Round.objects.filter(pk=round_id).fail(message)
    notify.publish(round_id)


def segment_picture(picture_id) -> None:
    """An uploaded picture's Region map (SLIC superpixels), once: a second task for the same
    picture (the page asked again meanwhile) keeps the first map and deletes its own file."""
    picture = Picture.objects.filter(pk=picture_id).first()
    if picture is None or picture.segments:
        return
    # The decoded original, kept for the Grad-CAM that comes next on this worker.
    png, count = segments.map_of(originals.original_image(picture.pk, picture.sha256))
    field = picture.segments
    name = field.storage.save(
        field.field.generate_filename(picture, picture.segments_file_name), ContentFile(png)
    )
    stored = Picture.objects.filter(pk=picture.pk, segments="").update(
        segments=name, segment_count=count, stored_bytes=F("stored_bytes") + len(png)
    )
    if not stored:  # another task's map, or the picture went meanwhile
        field.storage.delete(name)
