"""The worker side of a detect round: the pipeline's slice of rounds (claimed, composed as for
classification) run through the detector, each answer's boxes stored in the original
picture's pixels with the detector's name and weights hash. pipeline._run_slice hands a slice
here when its rounds' model is a detector; everything else (claiming, failing, sweeping,
thumbnails) is the pipeline's."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction

from . import detections, notify, timing
from .models import Round

if TYPE_CHECKING:
    from PIL import Image

    from .inference.detector import Box, Detector


def inference_detector(name: str) -> Detector:
    """The detector, loaded once per worker process (torch, f32)."""
    from .inference.detector import load_detector  # torch: never in web processes

    return load_detector(name, settings.XAI_BACKEND, settings.XAI_COMPILED_DIR)


def run_slice(rounds: list[Round], seen: list[Image.Image], stages: dict) -> set:
    """Detect on each composed picture and record the answers; the ids recorded. `stages` is
    the slice's timing record (compose is in it already)."""
    detector = inference_detector(rounds[0].model_name)
    with timing.stage("preprocess"):
        batch, placements = detector.prepare(seen)
    with timing.stage("model"):
        found = detector.detect_prepared(batch, placements, [image.size for image in seen])
    with timing.stage("scores"):
        boxes = [
            _in_original(round_, image.size, answer)
            for round_, image, answer in zip(rounds, seen, found, strict=True)
        ]
    per_image_ms = (stages["preprocess"] + stages["model"]) / len(rounds)
    worker_stages = {**{k: round(v, 3) for k, v in stages.items()}, "answered_at": time.time()}
    with transaction.atomic():
        recorded = {
            round_.pk
            for round_, answer in zip(rounds, boxes, strict=True)
            if Round.objects.filter(pk=round_.pk).answer(
                model_name=detector.name,
                weights_sha256=detector.weights_sha256,
                detections=answer,
                top=_top_of(answer),
                inference_ms=per_image_ms,
                batch_size=len(rounds),
                stages=worker_stages,
            )
        }
    for round_ in rounds:
        notify.publish(round_.pk)
    return recorded


def _in_original(round_: Round, edited_size: tuple[int, int], found: list[Box]) -> list[dict]:
    """The boxes in the original picture's pixels (the page draws them there, and rounds with
    different edits are matched there)."""
    edits = round_.edits
    placed = []
    for box in found:
        entry = box.as_dict()
        if not edits.is_identity:
            entry["box"] = [
                round(v, 1)
                for v in detections.box_in_original(
                    entry["box"],
                    edited_size,
                    edits.crop,
                    edits.flip_horizontal,
                    edits.flip_vertical,
                    edits.rotation,
                )
            ]
        placed.append(entry)
    return placed


def _top_of(answer: list[dict]) -> list[dict]:
    """The best box per class, as a classifier's top list (label and probability): what the
    history strip, the admin and the export's round rows already read."""
    best: dict[int, dict] = {}
    for d in answer:
        if d["class_index"] not in best:
            best[d["class_index"]] = d
    return [
        {"index": d["class_index"], "label": d["label"], "probability": d["score"]}
        for d in list(best.values())[:5]
    ]
