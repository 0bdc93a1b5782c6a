"""The model's own view against the user's, computed on the analysis worker: Grad-CAM per
exploration (in torch), kept-importance scores per round, other fills and deletion curves.
Tasks call these; asking for them is services' job."""

from __future__ import annotations

import functools
import logging

import numpy as np
from celery.exceptions import SoftTimeLimitExceeded
from django.core.files.base import ContentFile
from PIL import Image

from . import agreement, images, masking, notify, originals
from .inference.classifier import Classifier, load_classifier
from .inference.gradcam import grad_cam
from .models import Exploration, Round

log = logging.getLogger(__name__)


def gradient_model(name: str) -> Classifier:
    """The model in torch, for Grad-CAM and the analyses (the analysis worker)."""
    return load_classifier(name, "torch")


def compute_saliency(exploration_id) -> None:
    """The model's view of an exploration, then the scores of rounds that waited for it."""
    exploration = Exploration.objects.select_related("picture").filter(pk=exploration_id).first()
    if exploration is None:
        return  # deleted before its turn came (a withdrawal)
    _store_saliency(exploration, gradient_model(exploration.model_name))
    waiting = exploration.rounds.filter(
        status=Round.Status.DONE, kept_important__isnull=True
    ).exclude(mask="")
    for round_ in waiting:
        Round.objects.filter(pk=round_.pk).update(**scores_against_model(round_))


def saliency_of(exploration: Exploration) -> np.ndarray | None:
    """The model's Grad-CAM for the original's top-1 class, 0–1 per pixel, once computed."""
    if not exploration.saliency:
        return None
    with exploration.saliency.open("rb") as f:
        return np.asarray(Image.open(f).convert("L"), np.float32) / 255


def _store_saliency(exploration: Exploration, model: Classifier) -> None:
    """Computed in the worker right after the original's answer, before the user has painted."""
    original = exploration.original_round
    if original is None or exploration.saliency:
        return
    try:
        picture = exploration.picture
        cam = grad_cam(
            model, originals.original_image(picture.pk, picture.sha256), original.top[0]["index"]
        )
    except Exception:  # the answer stands without the heatmap
        log.exception("no saliency for exploration %s", exploration.pk)
        return
    png = images.png_bytes(Image.fromarray((cam * 255).astype(np.uint8), "L"), fast=True)
    # In the exploration's own folder, which goes with it (files.py).
    exploration.saliency.save(f"{exploration.pk}/saliency.png", ContentFile(png), save=False)
    name = exploration.saliency.name
    if not Exploration.objects.filter(pk=exploration.pk).update(saliency=name):
        exploration.saliency.storage.delete(name)  # the exploration went meanwhile


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
    round_ = Round.objects.select_related("exploration__picture").filter(pk=round_id).first()
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
        batch = [masking.compose_where(original, painted, f) for f in others] + [
            masking.compose_where(original, m, fill) for m in user_masks + model_masks
        ]
        outcomes = model.classify(batch)
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
        start = original_round.top[0]["probability"]
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
        }
    Round.objects.filter(pk=round_id).update(analysis_status=status, analysis=result)
    notify.publish(f"analysis-{round_id}")
