"""An exploration's explanation maps as files (the worker's side): a map of 0–1 values as a
greyscale PNG, stored in the exploration's own folder (files.py) and named in
Exploration.explanations under the exploration's row lock. The default method's map is also
the exploration's `saliency`."""

from __future__ import annotations

import numpy as np
from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image

from . import images
from .inference import methods
from .models import Exploration


def map_png(values: np.ndarray) -> bytes:
    return images.png_bytes(Image.fromarray((values * 255).astype(np.uint8), "L"), fast=True)


def save(exploration: Exploration, method: str, png: bytes) -> bool:
    """Store the PNG as the exploration's map for `method`; False, with the file deleted again,
    when the exploration went meanwhile."""
    storage = exploration.saliency.storage
    file_name = "saliency.png" if method == methods.DEFAULT else f"{method}.png"
    name = storage.save(f"explorations/{exploration.pk}/{file_name}", ContentFile(png))
    with transaction.atomic():
        row = Exploration.objects.select_for_update().filter(pk=exploration.pk).first()
        if row is None:
            storage.delete(name)
            return False
        changes = {"explanations": {**row.explanations, method: name}}
        if method == methods.DEFAULT:
            changes["saliency"] = name
        Exploration.objects.filter(pk=exploration.pk).update(**changes)
    exploration.explanations = changes["explanations"]
    if method == methods.DEFAULT:
        exploration.saliency.name = name
    return True
