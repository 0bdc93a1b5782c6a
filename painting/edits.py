"""Edits of the whole picture beyond masking: crop, flip and rotate. Pure; no Django.

The mask is painted on the original picture, in its coordinates, and the fill is composed
there (masking.compose); the edits then apply to that composed picture, always in this order:

    1. crop      a rectangle of the original (left, top, width, height, in its pixels)
    2. flip      horizontally (left–right), then vertically (top–bottom)
    3. rotate    clockwise by 0, 90, 180 or 270 degrees

What comes out is what the model classifies and what a round's masked.png shows. Every
combination of flips and quarter turns is one of these (a page applying "flip" after a turn
records it as the flip and the opposite turn: canvas.js)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from PIL import Image

ROTATIONS = (0, 90, 180, 270)
# PIL's ROTATE_n turns counter-clockwise.
_CLOCKWISE = {
    90: Image.Transpose.ROTATE_270,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_90,
}


class EditRejected(ValueError):
    """Edits that do not fit the picture; the message says why, for the person who sent them."""


@dataclass(frozen=True)
class Edits:
    crop: tuple[int, int, int, int] | None = None  # left, top, width, height; None: all of it
    flip_horizontal: bool = False
    flip_vertical: bool = False
    rotation: int = 0  # clockwise degrees

    def __post_init__(self):
        if self.rotation not in ROTATIONS:
            raise EditRejected(f"The rotation must be one of {', '.join(map(str, ROTATIONS))}.")

    @property
    def is_identity(self) -> bool:
        return self == NONE

    def check(self, size: tuple[int, int]) -> Edits:
        """These edits, if the crop lies inside a picture of this size and is not empty."""
        if self.crop is None:
            return self
        left, top, width, height = self.crop
        if width < 1 or height < 1:
            raise EditRejected(
                "The crop is empty: drag a rectangle at least 1 pixel wide and high."
            )
        if left < 0 or top < 0 or left + width > size[0] or top + height > size[1]:
            raise EditRejected(
                f"The crop ({width}×{height} at {left}, {top}) reaches outside the image, "
                f"which is {size[0]}×{size[1]} pixels."
            )
        return self

    def apply(self, image: Image.Image) -> Image.Image:
        """The picture with the edits applied, in the module's order; the same image object
        when there are none."""
        if self.crop is not None:
            left, top, width, height = self.check(image.size).crop
            image = image.crop((left, top, left + width, top + height))
        if self.flip_horizontal:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if self.flip_vertical:
            image = image.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
        if self.rotation:
            image = image.transpose(_CLOCKWISE[self.rotation])
        return image

    def as_fields(self) -> dict:
        """As a round stores them (models.Round's crop_*, flip_* and rotation columns)."""
        left, top, width, height = self.crop or (None, None, None, None)
        return {
            "crop_left": left,
            "crop_top": top,
            "crop_width": width,
            "crop_height": height,
            "flip_horizontal": self.flip_horizontal,
            "flip_vertical": self.flip_vertical,
            "rotation": self.rotation,
        }

    @classmethod
    def of(cls, stored) -> Edits:
        """The edits a round (anything with as_fields()' attributes) stores."""
        crop = (stored.crop_left, stored.crop_top, stored.crop_width, stored.crop_height)
        return cls(
            crop=None if None in crop else crop,
            flip_horizontal=stored.flip_horizontal,
            flip_vertical=stored.flip_vertical,
            rotation=stored.rotation,
        )

    @property
    def crop_text(self) -> str:
        """The crop as the page sends it (parse_crop); '' for none."""
        return ",".join(map(str, self.crop)) if self.crop else ""

    def describe(self) -> str:
        """In words, in the order they apply; '' for none."""
        parts = []
        if self.crop is not None:
            left, top, width, height = self.crop
            parts.append(f"cropped to {width}×{height} at ({left}, {top})")
        if self.flip_horizontal:
            parts.append("flipped left–right")
        if self.flip_vertical:
            parts.append("flipped top–bottom")
        if self.rotation:
            parts.append(f"rotated {self.rotation}° clockwise")
        text = ", ".join(parts)
        return text[:1].upper() + text[1:]


NONE = Edits()


_CROP = re.compile(r"\s*([0-9]{1,6})\s*,\s*([0-9]{1,6})\s*,\s*([0-9]{1,6})\s*,\s*([0-9]{1,6})\s*")


def parse_crop(text: str) -> tuple[int, int, int, int] | None:
    """ "left,top,width,height" (whole pixels of the original) as the page sends it; '' for none."""
    if not text.strip():
        return None
    match = _CROP.fullmatch(text)
    if match is None:
        raise EditRejected(
            "The crop must be four whole numbers, left,top,width,height in image pixels."
        )
    return tuple(int(n) for n in match.groups())
