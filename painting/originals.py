"""Decoded originals, kept per process: every round of an exploration reuses one."""

from __future__ import annotations

import functools

from PIL import Image

from .models import Picture


@functools.lru_cache(maxsize=16)
def original_image(picture_id, sha256: str) -> Image.Image:
    """Decoded originals, kept per worker process: every round of an exploration reuses one."""
    with Picture.objects.get(pk=picture_id).file.open("rb") as f:
        image = Image.open(f)
        image.load()
    return image.convert("RGB")
