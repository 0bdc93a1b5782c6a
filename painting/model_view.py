"""The model's own view against the user's, computed on the analysis worker: each explanation
method's map per exploration (in torch), kept-importance and alignment scores per round and
per exploration, other fills and deletion curves.
Tasks call these; asking for them is services' job."""

from __future__ import annotations

import contextlib
import functools
import logging
from typing import TYPE_CHECKING

import numpy as np
import redis
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import default_storage
from PIL import Image

from . import (
    agreement,
    alignment,
    detection_view,
    explanation_files,
    masking,
    notify,
    originals,
    review,
    selectors,
)
from .inference import methods, registry
from .models import Exploration, Round, Task

if TYPE_CHECKING:
    from .inference.classifier import Classifier

log = logging.getLogger(__name__)


def gradient_model(name: str) -> Classifier:
    """The model in torch, for Grad-CAM and the analyses (the analysis worker)."""
    from .inference.classifier import load_classifier  # torch: never in web processes

    return load_classifier(name, "torch")


def compute_saliency(exploration_id) -> None:
    """The model's view of an exploration, then the scores of rounds that waited for it; then
    the other explanation methods, and every round's alignment with each."""
    exploration = (
        Exploration.objects.select_related("picture", "participant__condition")
        .filter(pk=exploration_id)
        .first()
    )
    if exploration is None:
        return  # deleted before its turn came (a withdrawal)
    if exploration.task == Task.DETECT:
        return  # a detector's view is per followed box, asked for (detection_view)
    model = gradient_model(exploration.model_name)
    _store_saliency(exploration, model)
    waiting = exploration.rounds.filter(
        status=Round.Status.DONE, kept_important__isnull=True
    ).exclude(mask="")
    for round_ in waiting:
        Round.objects.filter(pk=round_.pk).update(**scores_against_model(round_))
    condition = exploration.participant.condition if exploration.participant_id else None
    fixed = [condition.explanation_method] if condition and condition.explanation_method else []
    for method in dict.fromkeys(settings.XAI_EXPLANATION_METHODS + fixed):
        if method in methods.METHODS:
            _store_explanation(exploration, model, method)
    _score_every_round(exploration.pk)


def compute_explanation(exploration_id, method: str) -> None:
    """One more method's map, asked for when a person picks it in the menu (the worker computes
    only XAI_EXPLANATION_METHODS unasked); then every round's alignment with it. Whoever waits
    for it hears when it is done, or that it could not be."""
    try:
        exploration = (
            Exploration.objects.select_related("picture").filter(pk=exploration_id).first()
        )
        if exploration is not None and (box := detection_view.object_of(method)) is not None:
            detection_view.store(exploration, box)  # a detector's view of one box (D-RISE)
            return
        if exploration is not None and method in methods.METHODS:
            _store_explanation(exploration, gradient_model(exploration.model_name), method)
    finally:
        cache.delete(notify.explanation_requested_key(exploration_id, method))
        notify.publish(notify.explanation_channel(exploration_id, method))
    if exploration is not None and method in exploration.explanations:
        _score_every_round(exploration.pk)


def saliency_of(exploration: Exploration) -> np.ndarray | None:
    """The model's Grad-CAM for the original's top-1 class, 0–1 per pixel, once computed."""
    return selectors.explanation_of(exploration, methods.DEFAULT)


def _store_saliency(exploration: Exploration, model: Classifier) -> None:
    """Computed in the worker right after the original's answer, before the user has painted."""
    _store_explanation(exploration, model, methods.DEFAULT)


def _store_explanation(exploration: Exploration, model: Classifier, method: str) -> None:
    """Compute one method's map (once per exploration; copied from another exploration of the
    same photo with the same weights and class when there is one: a gallery photo's maps are
    computed once, whoever explores it) and store it in the exploration's own folder, which
    goes with it (files.py)."""
    exploration.refresh_from_db(fields=["saliency", "explanations"])
    original = exploration.original_round
    done = exploration.saliency if method == methods.DEFAULT else None
    if original is None or done or method in exploration.explanations:
        return
    try:
        png = _same_map_elsewhere(exploration, original, method)
        if png is None:
            from .inference.gradcam import explanation_map

            picture = exploration.picture
            values = explanation_map(
                model,
                originals.original_image(picture.pk, picture.sha256),
                original.top[0]["index"],
                method,
            )
            png = explanation_files.map_png(values)
    except Exception:  # the answer stands without the heatmap
        log.exception("no %s for exploration %s", method, exploration.pk)
        return
    explanation_files.save(exploration, method, png)


def _same_map_elsewhere(exploration: Exploration, original: Round, method: str) -> bytes | None:
    """The PNG of the same map stored for another exploration (same photo, model, weights and
    class), or None."""
    others = (
        Exploration.objects.filter(
            picture_id=exploration.picture_id,
            model_name=exploration.model_name,
            explanations__has_key=method,
            rounds__index=0,
            rounds__weights_sha256=original.weights_sha256,
            rounds__top__0__index=original.top[0]["index"],
        )
        .exclude(pk=exploration.pk)
        .values_list("explanations", flat=True)
    )
    for stored in others[:3]:
        try:
            with default_storage.open(stored[method], "rb") as f:
                return f.read()
        except OSError:  # deleted meanwhile (a withdrawal): try another, or compute it
            continue
    return None


ALIGNMENT_QUEUED_KEY = "alignment-queued:{}"


def first_to_score(round_id) -> bool:
    """Whether a round just answered needs a score_alignment task of its own: not when one for
    its exploration is queued already (that one scores every round still unscored)."""
    exploration_id = Round.objects.filter(pk=round_id).values_list("exploration_id", flat=True)
    key = ALIGNMENT_QUEUED_KEY.format(exploration_id.first())
    try:
        return cache.add(key, 1, timeout=3 * settings.CELERY_TASK_TIME_LIMIT)
    except redis.RedisError:
        return True


# Rounds scored by one task besides its own (the rest by the next): a bound on its time.
MORE_ROUNDS_SCORED = 50


def score_alignment(round_id) -> None:
    """A round's alignment with every explanation method computed so far, and the other
    rounds' of its exploration that answered while this waited (first_to_score), and its
    exploration's (the mean of its masked rounds): on the optional-work worker, after the round
    was classified, and again once the exploration's maps are all there."""
    round_ = Round.objects.select_related("exploration").filter(pk=round_id).first()
    if round_ is None:
        return
    with contextlib.suppress(redis.RedisError):  # rounds answered from now on send another
        cache.delete(ALIGNMENT_QUEUED_KEY.format(round_.exploration_id))
    _score_alignment(round_)
    unscored = (
        round_.exploration.rounds.exclude(mask="")
        .exclude(pk=round_.pk)
        .filter(status=Round.Status.DONE, alignment={})
        .order_by("-index")[:MORE_ROUNDS_SCORED]
    )
    for other in unscored:
        other.exploration = round_.exploration
        _score_alignment(other, with_exploration=False)


def _score_every_round(exploration_id) -> None:
    """Every masked round's alignment, once the exploration has a new map."""
    rounds = Round.objects.filter(exploration_id=exploration_id).exclude(mask="")
    for round_ in rounds.select_related("exploration"):
        _score_alignment(round_)


def _score_alignment(round_: Round, *, with_exploration: bool = True) -> None:
    round_id = round_.pk
    if not round_.mask:
        return
    exploration = round_.exploration
    crop = registry.crop_fraction_of(exploration.model_name)
    model_maps = review.model_maps(exploration.explanations, crop)
    if not model_maps:
        return  # compute_saliency scores it when the maps come
    try:
        kept = alignment.cropped((~_painted(round_)).astype(np.float32), crop)
        human = _exploration_human_map(exploration, crop) if with_exploration else None
    except (OSError, ValueError):  # a mask deleted meanwhile (a withdrawal)
        log.warning("round %s: no alignment", round_id, exc_info=True)
        return
    Round.objects.filter(pk=round_id).update(
        alignment={m: alignment.scores(kept, maps) for m, maps in model_maps.items()}
    )
    if human is not None and with_exploration:
        Exploration.objects.filter(pk=exploration.pk).update(
            alignment={m: alignment.scores(human, maps) for m, maps in model_maps.items()}
        )


def _exploration_human_map(exploration: Exploration, crop: float) -> alignment.Cropped | None:
    """The share of the exploration's masks (rounds not failed) that kept each pixel."""
    names = (
        exploration.rounds.exclude(mask="")
        .exclude(status=Round.Status.FAILED)
        .values_list("mask", flat=True)
    )
    total, count = _kept_sum(exploration.pk, frozenset(names))
    return alignment.cropped(total.astype(np.float32) / count, crop) if count else None


# Per worker process: each exploration's masks counted so far and how many of them kept each
# pixel. A round's mask never changes once written, so the next round's score adds its one mask
# instead of decoding all of them again (which made an exploration's scoring quadratic in its
# rounds). 2 bytes a pixel: at most 2 MB an exploration (XAI_WORKING_MAX_SIDE 1024).
_KEPT_SUMS: dict[object, tuple[frozenset, np.ndarray | None]] = {}
KEPT_SUMS_KEPT = 32  # explorations


def _kept_sum(exploration_id, names: frozenset) -> tuple[np.ndarray | None, int]:
    """How many of these masks kept each pixel (a count, exact in any order), and how many
    masks they are."""
    counted, total = _KEPT_SUMS.pop(exploration_id, (frozenset(), None))
    if not counted <= names:  # a round failed or went since: count them all again
        counted, total = frozenset(), None
    for name in names - counted:
        with default_storage.open(name, "rb") as f:
            kept = (~masking.painted(Image.open(f))).astype(np.uint16)
        total = kept if total is None else total + kept
    _KEPT_SUMS[exploration_id] = (names, total)  # the most recent last
    while len(_KEPT_SUMS) > KEPT_SUMS_KEPT:
        del _KEPT_SUMS[next(iter(_KEPT_SUMS))]
    return total, len(names)


def scores_against_model(round_: Round) -> dict:
    if not round_.mask:
        return {}
    saliency_name = (
        Exploration.objects.filter(pk=round_.exploration_id)
        .values_list("saliency", flat=True)
        .first()
    )
    if not saliency_name:
        return {}
    important = _important_region(round_.exploration_id, saliency_name)
    share, iou = agreement.kept_scores(_painted(round_), important)
    return {"kept_important": share, "kept_iou": iou}


@functools.lru_cache(maxsize=64)
def _important_region(exploration_id, saliency_name: str) -> np.ndarray:
    """Per worker process: every round of an exploration is scored against the same region."""
    saliency = saliency_of(Exploration.objects.get(pk=exploration_id))
    return agreement.important_region(saliency)


def _painted(round_: Round) -> np.ndarray:
    with round_.mask.open("rb") as f:
        return masking.painted(Image.open(f))


def analyse_round(round_id) -> None:
    """Re-score the round's mask under the other fills, and its deletion curves against the
    heatmap's, in one batch. Runs in the worker."""
    round_ = (
        Round.objects.select_related("exploration__picture", "exploration__participant__condition")
        .filter(pk=round_id)
        .first()
    )
    if round_ is None:
        return  # deleted before its turn came (a withdrawal)
    exploration = round_.exploration
    try:
        model = gradient_model(round_.model_name)
        _store_saliency(exploration, model)
        saliency = saliency_of(Exploration.objects.get(pk=exploration.pk))
        original_round = exploration.original_round
        target = original_round.top[0]["index"]
        picture = exploration.picture
        original = originals.original_image(picture.pk, picture.sha256)
        painted = _painted(round_)
        fill = masking.Fill(round_.fill)
        others = [f for f in masking.REMOVING_FILLS if f is not fill]
        user_masks, model_masks = agreement.deletion_masks(painted, saliency)
        # The other fills get the round's edits too, as the round itself did; the deletion
        # curves are about the painted pixels, on the picture as it is.
        edits = round_.edits
        batch = [edits.apply(masking.compose_where(original, painted, f)) for f in others] + [
            masking.compose_where(original, m, fill) for m in user_masks + model_masks
        ]
        outcomes = model.classify(batch)
        start = original_round.top[0]["probability"]
        rise = _rise_curves(exploration, model, original, painted, fill, (target, start))
    except SoftTimeLimitExceeded:
        status = Round.AnalysisStatus.FAILED
        result = {"error": "The analysis took too long. Try again when fewer people are busy."}
    except Exception as exc:
        log.exception("analysis of round %s failed", round_id)
        status = Round.AnalysisStatus.FAILED
        result = {"error": f"The analysis failed ({type(exc).__name__})."}
    else:
        fills, curves = outcomes[: len(others)], outcomes[len(others) :]
        steps = agreement.DELETION_STEPS
        status = Round.AnalysisStatus.DONE
        result = {
            "fills": [
                {
                    "fill": f.value,
                    "label": o.top[0].label,
                    "probability": o.top[0].probability,
                    "original_probability": o.probability_of(target),
                }
                for f, o in zip(others, fills, strict=True)
            ],
            "painted_fraction": round_.masked_fraction,
            "user": [start] + [o.probability_of(target) for o in curves[:steps]],
            "model": [start] + [o.probability_of(target) for o in curves[steps:]],
            "rise": rise,
        }
    Round.objects.filter(pk=round_id).update(analysis_status=status, analysis=result)
    notify.publish(f"analysis-{round_id}")


def _rise_curves(
    exploration: Exploration,
    model: Classifier,
    original: Image.Image,
    painted: np.ndarray,
    fill: masking.Fill,
    target: tuple[int, float],
) -> dict:
    """RISE deletion and insertion curves of the original class, in the person's order (what
    they kept first) and in the heatmap's (the method their condition fixes, else Grad-CAM),
    over the model's crop: deletion replaces cells with the round's fill, insertion puts
    original cells into the blur fill's image. alignment.RISE_STEPS steps each. `target`: the
    original class and its probability in the original."""
    target, start = target
    condition = exploration.participant.condition if exploration.participant_id else None
    method = (condition and condition.explanation_method) or methods.DEFAULT
    name = exploration.explanations.get(method) or exploration.saliency.name
    if method not in exploration.explanations:
        method = methods.DEFAULT
    crop = registry.crop_fraction_of(exploration.model_name)
    kept = alignment.cropped((~painted).astype(np.float32), crop)
    orders = {
        "person": alignment.person_order(kept),
        "heatmap": alignment.importance_order(review.model_map(name, crop).small),
    }
    result = {"method": method}
    for who, order in orders.items():
        result[who] = rise_of_order(model, original, order, crop, fill, (target, start))
    return result


def rise_of_order(
    model: Classifier,
    original: Image.Image,
    order: np.ndarray,
    crop: float,
    fill: masking.Fill,
    target: tuple[int, float],
) -> dict:
    """One order's RISE deletion (cells replaced by `fill`) and insertion (original cells put
    into the blurred image) curves of the target class, with their normalised AUCs."""
    target, start = target
    regions = [alignment.in_image(m, original.size, crop) for m in alignment.rise_masks(order)]
    everywhere = np.ones(regions[0].shape, bool)
    deleted = [masking.compose_where(original, r, fill) for r in regions]
    inserted = [masking.compose_where(original, everywhere, masking.Fill.BLUR)] + [
        masking.compose_where(original, ~r, masking.Fill.BLUR) for r in regions[:-1]
    ]
    outcomes = model.classify(deleted + inserted)
    probability = [o.probability_of(target) for o in outcomes]
    deletion = [start] + probability[: len(deleted)]
    insertion = probability[len(deleted) :] + [start]
    return {
        "deletion": deletion,
        "insertion": insertion,
        "deletion_auc": alignment.normalised_auc(deletion),
        "insertion_auc": alignment.normalised_auc(insertion),
    }
