"""The model's view of one object of a detect exploration: D-RISE (inference/drise.py) of the
object's box in the original picture, computed on the analysis worker when a person asks for
it (detect_views.box_view → services.request_explanation with the method "box-<id>"),
stored in the exploration's own folder like the classifiers' maps (Exploration.explanations)."""

from __future__ import annotations

import logging
import re

from django.conf import settings

from . import explanation_files, originals
from .models import Exploration, Round

log = logging.getLogger(__name__)

METHOD = re.compile(r"^box-(\d{1,7})$")


def method_for(object_id: int) -> str:
    return f"box-{object_id}"


def object_of(method: str) -> int | None:
    """The object id a "box-<id>" method names, or None for any other method."""
    match = METHOD.match(method)
    return int(match.group(1)) if match else None


def box_in_original(exploration: Exploration, object_id: int) -> dict | None:
    """The object's detection in the original round (ids 1… are the original's, in order)."""
    original = exploration.rounds.filter(index=0, status=Round.Status.DONE).first()
    if original is None or not 1 <= object_id <= len(original.detections):
        return None
    return original.detections[object_id - 1]


def store(exploration: Exploration, object_id: int) -> None:
    """Compute and store one object's map, once; nothing when the object is not in the
    original (the page offers the view only for those)."""
    from .detect_rounds import inference_detector
    from .inference.drise import drise

    exploration.refresh_from_db(fields=["explanations"])
    method = method_for(object_id)
    detection = box_in_original(exploration, object_id)
    if detection is None or method in exploration.explanations:
        return
    picture = exploration.picture
    found = drise(
        inference_detector(exploration.model_name),
        originals.original_image(picture.pk, picture.sha256),
        detection["box"],
        detection["class_index"],
        masks=settings.XAI_DRISE_MASKS,
        seconds=settings.XAI_DRISE_SECONDS,
    )
    log.info("D-RISE of box %s of %s: %s masks", object_id, exploration.pk, found.masks)
    explanation_files.save(exploration, method, explanation_files.map_png(found.values))
