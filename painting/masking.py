"""Compose an image with a painted mask: painted pixels are replaced by a fill. Pure; no Django.

A mask is a single-channel image of the same size as the picture; pixels >= 128 are painted.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
from PIL import Image, ImageFilter

IMAGENET_MEAN_RGB = (124, 116, 104)  # 0.485, 0.456, 0.406 × 255: zero after normalization


class Fill(StrEnum):
    MEAN = "mean"
    BLACK = "black"
    BLUR = "blur"
    INPAINT = "inpaint"
    # Edits beyond masking: the painted area keeps its content, changed.
    DARKEN = "darken"
    BRIGHTEN = "brighten"
    GREY = "grey"

    @property
    def label(self) -> str:
        return FILL_LABELS[self]


FILL_LABELS = {
    Fill.MEAN: "ImageNet mean colour",
    Fill.BLACK: "Black",
    Fill.BLUR: "Blur of the original",
    Fill.INPAINT: "Inpaint from the edges",
    Fill.DARKEN: "Darker (half the brightness)",
    Fill.BRIGHTEN: "Brighter (halfway to white)",
    Fill.GREY: "Grey (its colour removed)",
}

# The fills that take the painted content away; "would another fill agree?" compares these.
REMOVING_FILLS = (Fill.MEAN, Fill.BLACK, Fill.BLUR, Fill.INPAINT)


def painted(mask: Image.Image) -> np.ndarray:
    """Boolean array, True where the mask is painted."""
    return np.asarray(mask.convert("L")) >= 128


def painted_fraction(mask: Image.Image) -> float:
    return float(painted(mask).mean())


def compose(image: Image.Image, mask: Image.Image, fill: Fill) -> Image.Image:
    """The image as the model will see it: painted pixels replaced by the fill."""
    if image.size != mask.size:
        raise ValueError(f"mask is {mask.size}, image is {image.size}")
    return compose_where(image, painted(mask), fill)


def compose_where(image: Image.Image, where: np.ndarray, fill: Fill) -> Image.Image:
    """compose() with the painted pixels given as a boolean array."""
    rgb = image.convert("RGB")
    if not where.any():
        return rgb.copy()
    pixels = np.asarray(rgb).copy()
    pixels[where] = _fill_pixels(rgb, where, fill)[where]
    return Image.fromarray(pixels)


def _fill_pixels(rgb: Image.Image, where: np.ndarray, fill: Fill) -> np.ndarray:
    if fill is Fill.MEAN:
        return np.broadcast_to(np.array(IMAGENET_MEAN_RGB, np.uint8), (*where.shape, 3))
    if fill is Fill.BLACK:
        return np.zeros((*where.shape, 3), np.uint8)
    if fill is Fill.BLUR:
        radius = max(2.0, max(rgb.size) / 25)
        return np.asarray(rgb.filter(ImageFilter.GaussianBlur(radius)))
    if fill is Fill.INPAINT:
        return inpaint(np.asarray(rgb), where)
    if fill is Fill.DARKEN:
        return (np.asarray(rgb, np.uint16) // 2).astype(np.uint8)
    if fill is Fill.BRIGHTEN:
        return (255 - (255 - np.asarray(rgb, np.uint16)) // 2).astype(np.uint8)
    if fill is Fill.GREY:
        return np.repeat(np.asarray(rgb.convert("L"))[..., None], 3, axis=2)
    raise ValueError(f"unknown fill {fill!r}")


def inpaint(pixels: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Fill the hole from its surroundings by pull-push (normalized convolution on a pyramid):
    each coarser level averages the known pixels, and holes take the value of the finest level
    that has any. Smooth, fast, and free of the mean colour's bias."""
    known = (~hole).astype(np.float32)
    if not known.any():
        return np.broadcast_to(np.array(IMAGENET_MEAN_RGB, np.uint8), pixels.shape).copy()
    levels = [(pixels.astype(np.float32) * known[..., None], known)]
    while min(levels[-1][1].shape) > 1:
        values, weights = levels[-1]
        levels.append((_halve(values), _halve(weights)))
    values, weights = levels[-1]
    estimate = values / np.maximum(weights, 1e-6)[..., None]
    for values, weights in reversed(levels[:-1]):
        upsampled = _upsample(estimate, weights.shape)
        w = np.clip(weights, 0.0, 1.0)[..., None]
        own = values / np.maximum(weights, 1e-6)[..., None]
        estimate = own * w + upsampled * (1 - w)
    return np.clip(estimate + 0.5, 0, 255).astype(np.uint8)


def _halve(a: np.ndarray) -> np.ndarray:
    """Sum of 2×2 blocks (odd edges padded by repetition)."""
    h, w = a.shape[:2]
    if h % 2 or w % 2:
        pad = [(0, h % 2), (0, w % 2)] + [(0, 0)] * (a.ndim - 2)
        a = np.pad(a, pad, mode="edge")
    return a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]


def _upsample(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    doubled = a.repeat(2, axis=0).repeat(2, axis=1)
    return doubled[: shape[0], : shape[1]]
