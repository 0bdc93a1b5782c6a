"""Human–model alignment as published benchmarks measure it. Pure: numpy and scipy, no Django,
no torch.

- ClickMe/Harmonization (Fel et al. 2022): the human map is shrunk to 64×64, blurred with their
  Gaussian kernel (size 10, σ 10), and compared with the model's map by Spearman rank
  correlation; the score is that correlation divided by the human ceiling, here the split-half
  correlation of the people who explored the image. IoU and Dice of both maps' top 10%.
- Quantus (Hedström et al. 2023) localisation, with what the person kept as ground truth:
  pointing game, relevance mass accuracy, relevance rank accuracy.

Every map is compared inside the model's crop (the centred square it saw): outside it the
model's map is 0 by construction, which would only inflate agreement."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from PIL import Image

HARMONIZATION_SIDE = 64  # the benchmark blurs and compares at this resolution
BLUR_SIZE, BLUR_SIGMA = 10, 10.0  # its Gaussian kernel
TOP_SHARE = 0.10  # its binarisation for IoU and Dice
LOCALISATION_SIDE = 224  # Quantus works at the model's input resolution
CEILING_SPLITS = 100  # random split halves averaged for the ceiling (seeded: reproducible)


def crop_square(values: np.ndarray, crop_fraction: float, side: int) -> np.ndarray:
    """The centred square the model saw (as gradcam places its map), resampled to side×side
    by area averaging (0–1 floats stay 0–1)."""
    height, width = values.shape
    crop = max(1, round(min(width, height) * crop_fraction))
    left, top = (width - crop) // 2, (height - crop) // 2
    square = np.asarray(values[top : top + crop, left : left + crop], np.float32)
    resized = Image.fromarray(square, "F").resize((side, side), Image.Resampling.BOX)
    return np.asarray(resized, np.float32)


def _gaussian_kernel(size: int = BLUR_SIZE, sigma: float = BLUR_SIGMA) -> np.ndarray:
    axis = np.arange(size, dtype=np.float64) - (size - 1) / 2
    xx, yy = np.meshgrid(axis, axis)
    kernel = np.exp(-(xx**2 + yy**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def blurred(human: np.ndarray) -> np.ndarray:
    """The benchmark's blur of a human map. Its edges are extended, not padded with zeros as
    its convolution does: ClickMe maps are clicks on a zero ground, ours are kept pixels
    (1) on painted ones (0), and zeros would darken the border of a map of someone who kept
    everything into a centre bias that the model's maps would then agree with."""
    from scipy import ndimage  # imported here: a second of start-up for every web process

    return ndimage.convolve(np.asarray(human, np.float64), _gaussian_kernel(), mode="nearest")


def spearman(a: np.ndarray, b: np.ndarray, b_ranks: np.ndarray | None = None) -> float | None:
    """Spearman rank correlation of two maps pixel by pixel; None when either is constant
    (a correlation is undefined there, and 0 would read as a finding). b_ranks: b's ranks
    (ranks()), when b is compared with many maps."""
    a, b = np.ravel(a), np.ravel(b)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    if b_ranks is None:
        b_ranks = ranks(b)
    return float(np.corrcoef(ranks(a), b_ranks)[0, 1])


def ranks(values: np.ndarray) -> np.ndarray:
    """Each pixel's rank, ties given their mean rank (Spearman's, as scipy's spearmanr)."""
    from scipy import stats

    return stats.rankdata(np.ravel(values))


def top_region(values: np.ndarray, share: float = TOP_SHARE) -> np.ndarray:
    """The `share` of pixels with the highest values (ties broken by position, so the count
    is exact)."""
    count = max(1, round(values.size * share))
    top = np.argsort(-np.ravel(values), kind="stable")[:count]
    region = np.zeros(values.size, bool)
    region[top] = True
    return region.reshape(values.shape)


def iou_and_dice(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """IoU and Dice of two boolean regions (both empty: 1, they agree)."""
    overlap = np.logical_and(a, b).sum()
    union = np.logical_or(a, b).sum()
    sizes = a.sum() + b.sum()
    return (
        float(overlap / union) if union else 1.0,
        float(2 * overlap / sizes) if sizes else 1.0,
    )


def harmonization_scores(human: np.ndarray, model: np.ndarray | Cropped) -> dict:
    """Spearman of the blurred human map (kept = 1, painted = 0, or a mean of such) with the
    model's map, and IoU and Dice of their top 10%: both side×side maps of the model's crop.
    The model's map as a Cropped brings its ranks and top 10% computed once (its .small)."""
    human = blurred(human)
    if isinstance(model, Cropped):
        top, model_ranks, model = model.small_top, model.small_ranks, model.small
    else:
        top, model_ranks = top_region(model), None
    iou, dice = iou_and_dice(top_region(human), top)
    rho = spearman(human, model, model_ranks)
    return {"spearman": rho, "iou_top10": iou, "dice_top10": dice}


def split_half_ceiling(
    maps: list[np.ndarray], splits: int = CEILING_SPLITS, seed: int = 0
) -> float | None:
    """The human ceiling of an image: people split at random into two halves, the Spearman of
    the halves' blurred mean maps, averaged over `splits` splits. None below two people, or
    when no split gives a correlation (everyone kept everything)."""
    if len(maps) < 2:
        return None
    stack = np.stack(maps)
    rng = np.random.default_rng(seed)
    scores = []
    for _ in range(splits):
        order = rng.permutation(len(maps))
        half = len(maps) // 2
        a, b = stack[order[:half]].mean(axis=0), stack[order[half:]].mean(axis=0)
        if (score := spearman(blurred(a), blurred(b))) is not None:
            scores.append(score)
    return float(np.mean(scores)) if scores else None


def alignment_score(rho: float | None, ceiling: float | None) -> float | None:
    """Spearman divided by the human ceiling, as the benchmark reports it; None when either is
    unknown or the ceiling is not positive (a ratio to nothing means nothing)."""
    if rho is None or ceiling is None or ceiling <= 0 or math.isnan(ceiling):
        return None
    return rho / ceiling


def localisation_scores(
    model: np.ndarray, kept: np.ndarray, order: np.ndarray | None = None
) -> dict:
    """Quantus' localisation metrics of the model's map with the kept region as ground truth
    (both side×side maps of the model's crop; `kept` boolean):
    - pointing_game: 1 if a maximum of the map lies in the kept region, else 0;
    - relevance_mass: the map's total inside the kept region over its total;
    - relevance_rank: of the map's k highest pixels (k = the kept region's size), the share
      inside it.
    All None when the person kept nothing (or everything is zero in the map). order: the
    map's ascending order (ascending()), when it is compared with many regions."""
    kept = np.asarray(kept, bool)
    relevance = np.ravel(np.asarray(model, np.float64))
    truth = np.ravel(kept)
    k = int(truth.sum())
    if k == 0 or relevance.sum() <= 0:
        return {"pointing_game": None, "relevance_mass": None, "relevance_rank": None}
    highest = (ascending(relevance) if order is None else order)[-k:]
    return {
        "pointing_game": int(truth[relevance == relevance.max()].any()),
        "relevance_mass": float(relevance[truth].sum() / relevance.sum()),
        "relevance_rank": float(truth[highest].sum() / k),
    }


def ascending(values: np.ndarray) -> np.ndarray:
    """Flat indices of a map's pixels from the lowest value (ties in reading order)."""
    return np.argsort(np.ravel(np.asarray(values, np.float64)), kind="stable")


@dataclass(frozen=True)
class Cropped:
    """A map (human or model) inside the model's crop, at both resolutions the scores use.
    A model's map is scored against every round of its exploration: what the scores need of
    it alone is computed once (review.model_map keeps it per process)."""

    small: np.ndarray  # HARMONIZATION_SIDE²
    large: np.ndarray  # LOCALISATION_SIDE²

    @cached_property
    def small_ranks(self) -> np.ndarray:
        return ranks(self.small)

    @cached_property
    def small_top(self) -> np.ndarray:
        return top_region(self.small)

    @cached_property
    def large_order(self) -> np.ndarray:
        return ascending(self.large)


def cropped(values: np.ndarray, crop_fraction: float) -> Cropped:
    return Cropped(
        crop_square(values, crop_fraction, HARMONIZATION_SIDE),
        crop_square(values, crop_fraction, LOCALISATION_SIDE),
    )


def scores(human: Cropped, model: Cropped) -> dict:
    """Every score of a human map (the share of masks that kept each pixel, 0–1) against the
    model's map: harmonization_scores at 64×64, and localisation_scores at 224×224 with the
    pixels kept by at least half the masks as ground truth."""
    result = harmonization_scores(human.small, model)
    result.update(localisation_scores(model.large, human.large >= 0.5, model.large_order))
    return result


# --- Faithfulness: RISE deletion and insertion (Petsiuk et al. 2018) ------------------------

RISE_STEPS = 10  # pixels removed (or inserted) in tenths: 2 × 2 × 10 model calls per round
RISE_GRID = HARMONIZATION_SIDE  # the order is decided per cell of a 64×64 grid over the crop


def importance_order(values: np.ndarray) -> np.ndarray:
    """Flat indices of a map's cells, most important first (ties in reading order)."""
    return np.argsort(-np.ravel(values), kind="stable")


def person_order(kept: Cropped) -> np.ndarray:
    """A person's order of importance: what they kept first, the middle of what they kept
    before its edges (their kept map blurred as the benchmark blurs it), what they painted
    last."""
    return importance_order(blurred(kept.small))


def rise_masks(order: np.ndarray, side: int = RISE_GRID, steps: int = RISE_STEPS) -> list:
    """side×side boolean masks of the first 1/steps, 2/steps, … 1 of the cells in `order`."""
    masks = []
    for step in range(1, steps + 1):
        mask = np.zeros(side * side, bool)
        mask[order[: round(len(order) * step / steps)]] = True
        masks.append(mask.reshape(side, side))
    return masks


def in_image(grid: np.ndarray, size: tuple[int, int], crop_fraction: float) -> np.ndarray:
    """A boolean grid over the model's crop, stretched to an image of `size` (width, height);
    False outside the crop."""
    width, height = size
    side = max(1, round(min(width, height) * crop_fraction))
    left, top = (width - side) // 2, (height - side) // 2
    cells = Image.fromarray(grid.astype(np.uint8) * 255, "L")
    stretched = np.asarray(cells.resize((side, side), Image.Resampling.NEAREST)) > 127
    full = np.zeros((height, width), bool)
    full[top : top + side, left : left + side] = stretched
    return full


def normalised_auc(curve: list[float]) -> float:
    """Area under a curve sampled at evenly spaced fractions from 0 to 1 (trapezoids): RISE's
    AUC, 0–1 for probabilities."""
    values = np.asarray(curve, np.float64)
    return float(np.trapezoid(values, dx=1 / (len(values) - 1)))
