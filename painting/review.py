"""What staff see when they review: confidence across rounds, and where people kept pixels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.core.files.storage import default_storage
from PIL import Image

from . import images, masking
from .models import Picture, Round

CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 600, 160, 24


@dataclass(frozen=True)
class Chart:
    """A small line chart of two probability series, drawn by painting/chart.html as SVG."""

    original: str  # "x,y x,y …" of the original class's probability (or the user's curve)
    top1: str  # of the top-1 probability (or the heatmap order's curve)
    xs: list[tuple[int, str]]  # (x, label) for the axis ticks
    label: str  # what the chart shows, for screen readers
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT
    left: int = CHART_PAD
    right: int = CHART_WIDTH - CHART_PAD
    top: int = CHART_PAD
    bottom: int = CHART_HEIGHT - CHART_PAD


def _x(i: int, count: int) -> int:
    return round(CHART_PAD + i * (CHART_WIDTH - 2 * CHART_PAD) / max(1, count - 1))


def polyline(values: list[float]) -> str:
    """SVG points for probabilities (0–1) spread evenly across the chart."""
    height = CHART_HEIGHT - 2 * CHART_PAD
    return " ".join(
        f"{_x(i, len(values))},{round(CHART_HEIGHT - CHART_PAD - v * height)}"
        for i, v in enumerate(values)
    )


def confidence_chart(rounds: list[Round]) -> Chart | None:
    done = [r for r in rounds if r.status == Round.Status.DONE and r.top]
    if not done or done[0].index != 0:
        return None
    original_class = done[0].top[0]["index"]
    return Chart(
        original=polyline([r.probability_of(original_class) for r in done]),
        top1=polyline([r.top[0]["probability"] for r in done]),
        xs=[(_x(i, len(done)), str(r.index)) for i, r in enumerate(done)],
        label="Confidence across rounds",
    )


def deletion_chart(analysis: dict) -> Chart:
    """The two deletion curves of an analysed round: `original` is the user's, `top1` the
    heatmap order's; the axis counts tenths of the painted area."""
    steps = len(analysis["user"])
    return Chart(
        original=polyline(analysis["user"]),
        top1=polyline(analysis["model"]),
        xs=[(_x(i, steps), f"{i * 10}%") for i in range(0, steps, 2)],
        label="Probability of the original class as the painted area is removed",
    )


# The human importance map is summed at this resolution at most, whatever the photo's size and
# however many people explored it: memory stays two small arrays, not a mask per round.
IMPORTANCE_MAP_SIDE = 256


def importance_map_size(picture: Picture) -> tuple[int, int]:
    scale = min(1.0, IMPORTANCE_MAP_SIDE / max(picture.width, picture.height))
    return max(1, round(picture.width * scale)), max(1, round(picture.height * scale))


def kept_fraction_map(picture: Picture) -> tuple[np.ndarray, int]:
    """Per pixel (at importance_map_size), how often people kept it unpainted: the mean over
    explorations of each exploration's mean over its masked rounds. Returns the map and the
    explorations counted. Reads one mask at a time."""
    size = importance_map_size(picture)
    total = np.zeros(size[::-1], np.float64)
    explorations, current, summed, rounds = 0, None, None, 0
    masks = (
        Round.objects.filter(exploration__picture=picture, status=Round.Status.DONE)
        .exclude(mask="")
        .order_by("exploration_id", "index")
        .values_list("exploration_id", "mask")
        .iterator(chunk_size=500)
    )
    for exploration_id, name in masks:
        if exploration_id != current:
            if rounds:
                total += summed / rounds
                explorations += 1
            current, summed, rounds = exploration_id, np.zeros_like(total), 0
        summed += _kept_at(name, size)
        rounds += 1
    if rounds:
        total += summed / rounds
        explorations += 1
    if not explorations:
        return np.ones(size[::-1], np.float32), 0
    return (total / explorations).astype(np.float32), explorations


def _kept_at(name: str, size: tuple[int, int]) -> np.ndarray:
    """1 where a mask left the pixel unpainted, averaged over each cell of `size`."""
    with default_storage.open(name, "rb") as f:
        mask = Image.open(f)
        mask.load()
    kept = Image.fromarray(np.where(masking.painted(mask), 0, 255).astype(np.uint8), "L")
    return np.asarray(kept.resize(size, Image.Resampling.BOX), np.float64) / 255


def heatmap_png(values: np.ndarray, size: tuple[int, int] | None = None) -> bytes:
    """Warm and opaque where values are high (0–1), clear where they are low; stretched to
    `size` (width, height) when given."""
    if size is not None and values.shape != size[::-1]:
        stretched = Image.fromarray(values.astype(np.float32), "F").resize(
            size, Image.Resampling.BILINEAR
        )
        values = np.clip(np.asarray(stretched), 0, 1)
    rgba = np.zeros((*values.shape, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 1] = (200 * (1 - values)).astype(np.uint8)
    rgba[..., 3] = (200 * values).astype(np.uint8)
    return images.png_bytes(Image.fromarray(rgba, "RGBA"), fast=True)
