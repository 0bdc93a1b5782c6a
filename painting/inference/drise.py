"""D-RISE (Petsiuk et al., CVPR 2021): where a detector looks for one of its detections.
Black-box: random masks over the picture, each masked picture's proposals scored against the
detection (IoU of the boxes × the proposal's objectness-weighted class score, its cosine with
the target's one-hot class), the masks summed with those weights.

Bounded: at most `masks` masks, in batches, stopping early at a deadline (the map then rests on
the masks done, which the answer says). Masks live in the detector's input square (the picture
letterboxed once), the map is cut back to the picture's own pixels. No Django.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from .detector import INPUT_SIZE, SCALES, Detector, letterbox

# Cells per side of a random mask (RISE's s): coarser than the paper's 16, as a map from a few
# hundred masks (not its thousands) needs each mask to move the score more.
GRID = 8
KEEP = 0.5  # a cell's chance to stay visible (RISE's p)
GREY = 0.5  # what a hidden cell shows: the letterbox's own grey


@dataclass(frozen=True)
class DRise:
    values: np.ndarray  # (height, width), 0–1, in the picture's pixels
    masks: int  # the masks it rests on


def _masks(count: int, rng: np.random.Generator, size: int = INPUT_SIZE) -> np.ndarray:
    """RISE's masks: a coarse random grid, upsampled bilinearly and shifted by up to a cell."""
    cell = int(np.ceil(size / GRID))
    grids = (rng.random((count, GRID, GRID)) < KEEP).astype(np.float32)
    up = torch.nn.functional.interpolate(
        torch.from_numpy(grids)[:, None], size=((GRID + 1) * cell,) * 2, mode="bilinear"
    )[:, 0].numpy()
    shifts = rng.integers(0, cell, size=(count, 2))
    return np.stack([up[i, y : y + size, x : x + size] for i, (x, y) in enumerate(shifts)]).astype(
        np.float32
    )


def _similarity(
    boxes: torch.Tensor, scores: torch.Tensor, target: torch.Tensor, class_index: int
) -> torch.Tensor:
    """Per masked picture, the best proposal's likeness to the target detection."""
    x0 = torch.maximum(boxes[..., 0], target[0])
    y0 = torch.maximum(boxes[..., 1], target[1])
    x1 = torch.minimum(boxes[..., 2], target[2])
    y1 = torch.minimum(boxes[..., 3], target[3])
    inter = (x1 - x0).clamp(min=0) * (y1 - y0).clamp(min=0)
    area = (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    target_area = (target[2] - target[0]) * (target[3] - target[1])
    iou = inter / (area + target_area - inter).clamp(min=1e-6)
    # scores are objectness × class probability: their cosine with the one-hot class, times
    # their size (the objectness, up to the class probabilities' norm).
    return (iou * scores[..., class_index]).max(dim=1).values


def drise(
    detector: Detector,
    image: Image.Image,
    box: list[float],
    class_index: int,
    *,
    masks: int = 256,
    batch: int = 16,
    seconds: float = 20.0,
    seed: int = 0,
) -> DRise:
    """The map of one detection (its box in the picture's pixels, its class), at the scale
    (detector.SCALES) at which the detector finds it best."""
    width, height = image.size
    candidates = []
    for scale in SCALES:
        picture, placed = letterbox(image, fill=scale)
        target = torch.tensor(
            [
                box[0] * placed.scale + placed.dx,
                box[1] * placed.scale + placed.dy,
                box[2] * placed.scale + placed.dx,
                box[3] * placed.scale + placed.dy,
            ]
        )
        boxes, scores = detector.raw_scores(torch.from_numpy(picture[None]))
        found = float(_similarity(boxes, scores, target, class_index)[0])
        candidates.append((found, picture, placed, target))
    _, picture, placed, target = max(candidates, key=lambda c: c[0])
    rng = np.random.default_rng(seed)
    total = np.zeros((INPUT_SIZE, INPUT_SIZE), np.float64)
    mask_sum = np.zeros((INPUT_SIZE, INPUT_SIZE), np.float64)
    weight_sum, done = 0.0, 0
    deadline = time.monotonic() + seconds
    while done < masks and (done == 0 or time.monotonic() < deadline):
        these = _masks(min(batch, masks - done), rng)
        shown = picture[None] * these[:, None] + GREY * (1 - these[:, None])
        boxes, scores = detector.raw_scores(torch.from_numpy(shown.astype(np.float32)))
        weights = _similarity(boxes, scores, target, class_index).numpy()
        total += np.tensordot(weights, these, axes=1)
        mask_sum += these.sum(axis=0)
        weight_sum += float(weights.sum())
        done += len(these)
    # Σ w·M minus what the mean weight would give (a control variate): with few masks, the
    # map's noise is mostly the masks' own unevenness, which this takes out.
    values = total - (weight_sum / done) * mask_sum
    w, h = round(width * placed.scale), round(height * placed.scale)
    inside = values[int(placed.dy) : int(placed.dy) + h, int(placed.dx) : int(placed.dx) + w]
    inside = inside - inside.min()
    if inside.max() > 0:
        inside = inside / inside.max()
    resized = Image.fromarray(inside.astype(np.float32), "F").resize(
        (width, height), Image.Resampling.BILINEAR
    )
    return DRise(np.clip(np.asarray(resized, np.float32), 0, 1), done)
