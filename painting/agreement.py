"""The user's view against the model's: how much of what the model looks at was kept, and
deletion curves. Pure; no Django, no torch."""

from __future__ import annotations

import numpy as np

IMPORTANT_SHARE = 0.2  # the model's important region: the top 20% of its heatmap
DELETION_STEPS = 10


def important_region(saliency: np.ndarray) -> np.ndarray:
    """The IMPORTANT_SHARE of pixels with the highest saliency (none if the map is empty)."""
    if not saliency.any():
        return np.zeros(saliency.shape, bool)
    count = max(1, round(saliency.size * IMPORTANT_SHARE))
    top = np.argpartition(-saliency, count - 1, axis=None)[:count]  # O(n), unlike a sort
    region = np.zeros(saliency.size, bool)
    region[top] = True
    return region.reshape(saliency.shape)


def kept_scores(painted: np.ndarray, important: np.ndarray) -> tuple[float, float]:
    """(share of the important region left unpainted, IoU of unpainted and important)."""
    kept = ~painted
    overlap = np.logical_and(kept, important).sum()
    share = float(overlap / important.sum()) if important.any() else 1.0
    union = np.logical_or(kept, important).sum()
    return share, float(overlap / union) if union else 1.0


def reading(share: float) -> str:
    """One line a person can read."""
    percent = round(share * 100)
    if percent >= 90:
        return f"You kept {percent}% of what the model looks at: you left its evidence alone."
    if percent <= 30:
        return (
            f"You kept only {percent}% of what the model looks at: you painted over its evidence."
        )
    return f"You kept {percent}% of what the model looks at."


def deletion_masks(painted: np.ndarray, saliency: np.ndarray) -> tuple[list, list]:
    """Masks for two deletion curves of the same areas, DELETION_STEPS steps each:
    the painted region growing from its centre, and as many pixels in the heatmap's order."""
    total = int(painted.sum())
    ys, xs = np.nonzero(painted)
    if total:
        distance = (ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2
        user_order = np.ravel_multi_index((ys, xs), painted.shape)[
            np.argsort(distance, kind="stable")
        ]
    else:
        user_order = np.array([], int)
    model_order = np.argsort(-saliency, axis=None, kind="stable")
    user, model = [], []
    for step in range(1, DELETION_STEPS + 1):
        count = round(total * step / DELETION_STEPS)
        user.append(_mask_of(user_order[:count], painted.shape))
        model.append(_mask_of(model_order[:count], painted.shape))
    return user, model


def _mask_of(flat_indices: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape[0] * shape[1], bool)
    mask[flat_indices] = True
    return mask.reshape(shape)
