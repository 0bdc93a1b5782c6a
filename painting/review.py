"""What staff see when they review: confidence across rounds, and where people kept pixels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from . import images, masking
from .models import Exploration, Picture, Round

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


def kept_fraction_map(picture: Picture) -> tuple[np.ndarray, int]:
    """Per pixel, how often people kept it unpainted: the mean over explorations of each
    exploration's mean over its masked rounds. Returns the map and the explorations counted."""
    maps = []
    for exploration in Exploration.objects.filter(picture=picture):
        rounds = exploration.rounds.filter(status=Round.Status.DONE).exclude(mask="")
        kept = [1.0 - masking.painted(_open(r.mask)).astype(np.float32) for r in rounds]
        if kept:
            maps.append(np.mean(kept, axis=0))
    if not maps:
        return np.ones((picture.height, picture.width), np.float32), 0
    return np.mean(maps, axis=0), len(maps)


def _open(field) -> Image.Image:
    with field.open("rb") as f:
        image = Image.open(f)
        image.load()
    return image


def heatmap_png(values: np.ndarray) -> bytes:
    """Warm and opaque where values are high (0–1), clear where they are low."""
    rgba = np.zeros((*values.shape, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 1] = (200 * (1 - values)).astype(np.uint8)
    rgba[..., 3] = (200 * values).astype(np.uint8)
    return images.png_bytes(Image.fromarray(rgba, "RGBA"), fast=True)
