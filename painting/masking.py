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
    ROAD = "road"
    # Edits beyond masking: the painted area keeps its content, changed.
    DARKEN = "darken"
    BRIGHTEN = "brighten"
    GREY = "grey"

    @property
    def label(self) -> str:
        return FILL_LABELS[self]

    @property
    def plain_label(self) -> str:
        """The name a participant reads (no ImageNet, no benchmark's acronym)."""
        return PLAIN_FILL_LABELS[self]


FILL_LABELS = {
    Fill.MEAN: "ImageNet mean colour",
    Fill.BLACK: "Black",
    Fill.BLUR: "Blur of the original",
    Fill.INPAINT: "Inpaint from the edges",
    Fill.ROAD: "Neighbour average with noise (ROAD)",
    Fill.DARKEN: "Darker (half the brightness)",
    Fill.BRIGHTEN: "Brighter (halfway to white)",
    Fill.GREY: "Grey (its colour removed)",
}

PLAIN_FILL_LABELS = {
    Fill.MEAN: "Flat grey",
    Fill.BLACK: "Black",
    Fill.BLUR: "Blurred",
    Fill.INPAINT: "Filled in from around it",
    Fill.ROAD: "Blurred, with noise",
    Fill.DARKEN: "Darker",
    Fill.BRIGHTEN: "Brighter",
    Fill.GREY: "Grey (its colour removed)",
}

# The fills that take the painted content away; "would another fill agree?" compares these.
REMOVING_FILLS = (Fill.MEAN, Fill.BLACK, Fill.BLUR, Fill.INPAINT, Fill.ROAD)


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
    if fill is Fill.ROAD:
        return noisy_linear(rgb, where)
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


# ROAD's NoisyLinearImputer (Rong et al. 2022): each imputed pixel is the weighted mean of its
# 8 neighbours (edge neighbours 1/6, corners 1/12), solved as one sparse linear system, plus
# Gaussian noise (0.01 of the range there, on images scaled to [0, 1]).
ROAD_NEIGHBOURS = (
    ((0, 1), 1 / 6),
    ((0, -1), 1 / 6),
    ((1, 0), 1 / 6),
    ((-1, 0), 1 / 6),
    ((1, 1), 1 / 12),
    ((1, -1), 1 / 12),
    ((-1, 1), 1 / 12),
    ((-1, -1), 1 / 12),
)
ROAD_NOISE = 0.01 * 255
# Solved on the image scaled so its longer side is at most this: a round's fill costs well
# under 200 ms (benchmarks/road_fill.py); the full-resolution system takes seconds.
ROAD_SIDE = 160
ROAD_SEED = 0  # fixed: the same picture and mask give the same bytes (the replay relies on it)


def noisy_linear(rgb: Image.Image, hole: np.ndarray) -> np.ndarray:
    """ROAD's noisy linear imputation of the hole, solved at reduced resolution (the full
    resolution system takes seconds for a large hole), upsampled, with per-pixel noise added
    at full resolution. Deterministic."""
    if hole.all():
        return np.broadcast_to(np.array(IMAGENET_MEAN_RGB, np.uint8), (*hole.shape, 3)).copy()
    w, h = rgb.size
    scale = min(1.0, ROAD_SIDE / max(w, h))
    small_size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(rgb.resize(small_size, Image.Resampling.BOX), np.float64)
    coverage = np.asarray(
        Image.fromarray(hole.astype(np.uint8) * 255).resize(small_size, Image.Resampling.BOX)
    )
    # A small pixel is unknown if any of its pixels is painted, so no painted colour leaks in;
    # where that leaves nothing known (fine stripes), only the wholly painted ones are.
    small_hole = coverage > 0
    if small_hole.all():
        small_hole = coverage == 255
    if small_hole.all():
        return np.broadcast_to(np.array(IMAGENET_MEAN_RGB, np.uint8), (*hole.shape, 3)).copy()
    solved = _solve_neighbour_mean(small, small_hole)
    channels = [
        np.asarray(
            Image.fromarray(solved[..., c].astype(np.float32), "F").resize(
                (w, h), Image.Resampling.BILINEAR
            )
        )
        for c in range(3)
    ]
    out = np.stack(channels, -1)
    rng = np.random.default_rng(ROAD_SEED)
    out[hole] += rng.standard_normal((int(hole.sum()), 3), dtype=np.float32) * ROAD_NOISE
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _solve_neighbour_mean(pixels: np.ndarray, hole: np.ndarray) -> np.ndarray:
    # Imported here: a quarter of a second of start-up for every process, for the ROAD fill only.
    from scipy import sparse
    from scipy.sparse.linalg import spsolve

    h, w = hole.shape
    index = np.full(hole.shape, -1, np.int64)
    ys, xs = np.nonzero(hole)
    n = len(ys)
    index[ys, xs] = np.arange(n)
    rows, cols, vals = [np.arange(n)], [np.arange(n)], []
    diagonal = np.zeros(n)
    rhs = np.zeros((n, pixels.shape[2]))
    for (dy, dx), weight in ROAD_NEIGHBOURS:
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        diagonal[inside] += weight
        at = np.nonzero(inside)[0]
        neighbour = index[ny[inside], nx[inside]]
        unknown = neighbour >= 0
        rows.append(at[unknown])
        cols.append(neighbour[unknown])
        vals.append(np.full(unknown.sum(), -weight))
        known = at[~unknown]
        rhs[known] += weight * pixels[ny[inside][~unknown], nx[inside][~unknown]]
    matrix = sparse.csc_matrix(
        (np.concatenate([diagonal, *vals]), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n, n),
    )
    out = pixels.copy()
    # The matrix is symmetric: an ordering for A+Aᵀ fills in less than the default COLAMD.
    out[hole] = spsolve(matrix, rhs, permc_spec="MMD_AT_PLUS_A").reshape(n, -1)
    return out
