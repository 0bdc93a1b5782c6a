"""What the model sees: the decoded original (kept per process: every round of an exploration
reuses one) with a round's mask and fill applied, then its edits."""

from __future__ import annotations

import functools

from PIL import Image

from . import masking
from .edits import NONE as NO_EDITS
from .edits import Edits
from .models import Picture, Round


@functools.lru_cache(maxsize=16)
def original_image(picture_id, sha256: str) -> Image.Image:
    with Picture.objects.get(pk=picture_id).file.open("rb") as f:
        image = Image.open(f)
        image.load()
    return image.convert("RGB")


def masked_image_of(round_: Round) -> Image.Image:
    """The stored original with the round's mask filled: exactly what the model was shown."""
    picture = round_.exploration.picture
    if not round_.mask:
        return original_image(picture.pk, picture.sha256)
    with round_.mask.open("rb") as f:
        mask = Image.open(f)
        mask.load()
    return seen_by_model(picture, mask, masking.Fill(round_.fill), round_.edits)


def seen_by_model(
    picture: Picture, mask: Image.Image, fill: masking.Fill, edits: Edits = NO_EDITS
) -> Image.Image:
    """What the model is shown for this mask, fill and edits: a round's (masked_image_of),
    and the page's preview of one before it is sent (services.preview_png), made the same
    way: the fill composed on the original, then the edits (painting.edits)."""
    return edits.apply(masking.compose(original_image(picture.pk, picture.sha256), mask, fill))
