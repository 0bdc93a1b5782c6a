"""What staff see when they review: confidence across rounds, and where people kept pixels."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from django.core.files.storage import default_storage
from PIL import Image

from . import alignment, images, masking
from .inference import methods, registry
from .models import Exploration, Picture, Round

log = logging.getLogger(__name__)

# The plot area's margins leave room for the tick labels and the axis titles. A chart is drawn
# at its own width where there is room (1×, so its 13px text stays 13px): the deletion chart
# fits the explore page's 360px column, the confidence chart the replay page.
CHART_WIDTH, NARROW_CHART_WIDTH, CHART_HEIGHT = 600, 320, 200
CHART_LEFT, CHART_RIGHT_PAD, CHART_TOP, CHART_BOTTOM = 60, 16, 12, 156


@dataclass(frozen=True)
class Chart:
    """A small line chart of two probability series, drawn by painting/chart.html as SVG."""

    original: str  # "x,y x,y …" of the original class's probability (or the user's curve)
    top1: str  # of the top-1 probability (or the heatmap order's curve)
    xs: list[tuple[int, str]]  # (x, label) for the axis ticks
    label: str  # what the chart shows, for screen readers
    x_title: str
    y_title: str
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT
    left: int = CHART_LEFT
    top: int = CHART_TOP
    bottom: int = CHART_BOTTOM

    @property
    def right(self) -> int:
        return self.width - CHART_RIGHT_PAD


def _x(i: int, count: int, width: int = CHART_WIDTH) -> int:
    right = width - CHART_RIGHT_PAD
    return round(CHART_LEFT + i * (right - CHART_LEFT) / max(1, count - 1))


def polyline(values: list[float], width: int = CHART_WIDTH) -> str:
    """SVG points for probabilities (0–1) spread evenly across a chart `width` wide."""
    height = CHART_BOTTOM - CHART_TOP
    return " ".join(
        f"{_x(i, len(values), width)},{round(CHART_BOTTOM - v * height)}"
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
        x_title="Round",
        y_title="Probability",
    )


def deletion_chart(analysis: dict) -> Chart:
    """The two deletion curves of an analysed round: `original` is the user's, `top1` the
    heatmap order's; the axis counts tenths of the painted area."""
    steps = len(analysis["user"])
    width = NARROW_CHART_WIDTH
    return Chart(
        original=polyline(analysis["user"], width),
        top1=polyline(analysis["model"], width),
        xs=[(_x(i, steps, width), f"{i * 10}%") for i in range(0, steps, 2)],
        label="Probability of the original class as the painted area is removed",
        x_title="Share of the painted area removed",
        y_title="Probability",
        width=width,
    )


# The human importance map is summed at this resolution at most, whatever the photo's size and
# however many people explored it: memory stays two small arrays, not a mask per round.
IMPORTANCE_MAP_SIDE = 256


def importance_map_size(picture: Picture) -> tuple[int, int]:
    scale = min(1.0, IMPORTANCE_MAP_SIDE / max(picture.width, picture.height))
    return max(1, round(picture.width * scale)), max(1, round(picture.height * scale))


def kept_maps(picture: Picture, explorations=None) -> Iterator[np.ndarray]:
    """Each exploration's kept map at importance_map_size: per pixel, the share of its masked
    rounds that left it unpainted. Of `explorations` (a queryset) when given, else of every
    exploration of the picture. Reads one mask at a time."""
    size = importance_map_size(picture)
    rounds = Round.objects.filter(exploration__picture=picture, status=Round.Status.DONE)
    if explorations is not None:
        rounds = rounds.filter(exploration__in=explorations)
    masks = (
        rounds.exclude(mask="")
        .order_by("exploration_id", "index")
        .values_list("exploration_id", "mask")
        .iterator(chunk_size=500)
    )
    current, summed, count = None, None, 0
    for exploration_id, name in masks:
        if exploration_id != current:
            if count:
                yield summed / count
            current, summed, count = exploration_id, np.zeros(size[::-1], np.float64), 0
        try:
            summed += _kept_at(name, size)
        except FileNotFoundError:  # deleted since it was listed (a withdrawal)
            continue
        count += 1
    if count:
        yield summed / count


def kept_fraction_map(picture: Picture, explorations=None) -> tuple[np.ndarray, int]:
    """Per pixel (at importance_map_size), how often people kept it unpainted: the mean over
    explorations (of `explorations` when given) of each exploration's mean over its masked
    rounds. Returns the map and the explorations counted."""
    size = importance_map_size(picture)
    total, counted = np.zeros(size[::-1], np.float64), 0
    for kept in kept_maps(picture, explorations):
        total += kept
        counted += 1
    if not counted:
        return np.ones(size[::-1], np.float32), 0
    return (total / counted).astype(np.float32), counted


def _kept_at(name: str, size: tuple[int, int]) -> np.ndarray:
    """1 where a mask left the pixel unpainted, averaged over each cell of `size`."""
    with default_storage.open(name, "rb") as f:
        mask = Image.open(f)
        mask.load()
    kept = Image.fromarray(np.where(masking.painted(mask), 0, 255).astype(np.uint8), "L")
    return np.asarray(kept.resize(size, Image.Resampling.BOX), np.float64) / 255


# Viridis at nine even steps: perceptually uniform, readable in grey and by most colour-blind
# people, and far from the paint colour (a pinkish red). The page's legend uses the same stops.
HEATMAP_STOPS = (
    "#440154", "#472c7a", "#3b528b", "#2c718e", "#21908d", "#27ad81", "#5cc863", "#aadc32",
    "#fde725",
)  # fmt: skip


def heatmap_scale() -> list[tuple[int, str]]:
    """The heatmap's colour scale, low to high, as (percent, colour) gradient stops for its
    legend (SVG stops: the page's CSP allows no inline style)."""
    last = len(HEATMAP_STOPS) - 1
    return [(round(100 * i / last), colour) for i, colour in enumerate(HEATMAP_STOPS)]


def _heatmap_rgb(values: np.ndarray) -> np.ndarray:
    """Viridis for values in 0–1, interpolated between HEATMAP_STOPS."""
    at = np.linspace(0, 1, len(HEATMAP_STOPS))
    stops = np.array([[int(h[i : i + 2], 16) for i in (1, 3, 5)] for h in HEATMAP_STOPS])
    return np.stack([np.interp(values, at, stops[:, c]) for c in range(3)], axis=-1)


def heatmap_png(values: np.ndarray, size: tuple[int, int] | None = None) -> bytes:
    """Viridis and opaque where values are high (0–1), clear where they are low; stretched to
    `size` (width, height) when given."""
    if size is not None and values.shape != size[::-1]:
        stretched = Image.fromarray(values.astype(np.float32), "F").resize(
            size, Image.Resampling.BILINEAR
        )
        values = np.asarray(stretched)
    values = np.clip(values, 0, 1)
    rgba = np.zeros((*values.shape, 4), np.uint8)
    rgba[..., :3] = np.round(_heatmap_rgb(values)).astype(np.uint8)
    rgba[..., 3] = (200 * values).astype(np.uint8)
    return images.png_bytes(Image.fromarray(rgba, "RGBA"), fast=True)


# --- Human–model alignment per image (ClickMe/Harmonization, Quantus) -----------------------


@dataclass(frozen=True)
class AlignmentRow:
    """One explanation method's map against a person's (or people's) kept map."""

    method: str
    title: str
    spearman: float | None
    iou_top10: float | None
    dice_top10: float | None
    pointing_game: int | None
    relevance_mass: float | None
    relevance_rank: float | None
    score: float | None = None  # Spearman ÷ the image's human ceiling, where it is known


def alignment_rows(
    scores: dict, only: str = "", ceiling: float | None = None
) -> list[AlignmentRow]:
    """Stored alignment scores ({method: alignment.scores}) as rows in the menu's order; only
    the method `only` when a study fixes it."""
    return [
        AlignmentRow(
            method=key,
            title=methods.title_of(key),
            **{field: scores[key].get(field) for field in ALIGNMENT_FIELDS},
            score=alignment.alignment_score(scores[key].get("spearman"), ceiling),
        )
        for key in methods.METHODS
        if key in scores and (not only or key == only)
    ]


ALIGNMENT_FIELDS = (
    "spearman",
    "iou_top10",
    "dice_top10",
    "pointing_game",
    "relevance_mass",
    "relevance_rank",
)


# The ceiling rests on at most this many people, a seeded random sample of them (their maps are
# held at 64×64 at once); the human map itself is the mean over everyone.
CEILING_PEOPLE = 500


def stored_map(name: str) -> np.ndarray:
    """A stored explanation map (greyscale PNG), 0–1 per pixel."""
    with default_storage.open(name, "rb") as f:
        return np.asarray(Image.open(f).convert("L"), np.float32) / 255


@functools.lru_cache(maxsize=128)
def model_map(name: str, crop_fraction: float) -> alignment.Cropped:
    """A stored explanation map inside the model's crop; cropped once per process (a stored
    name never changes)."""
    return alignment.cropped(stored_map(name), crop_fraction)


def model_maps(names: dict[str, str], crop_fraction: float) -> dict[str, alignment.Cropped]:
    """{method: its map inside the model's crop} of the maps named, those still stored: a map
    deleted by hand or lost with a disk leaves its method out instead of failing the page."""
    maps = {}
    for method, name in names.items():
        try:
            maps[method] = model_map(name, crop_fraction)
        except FileNotFoundError:
            log.warning("explanation map %s is no longer stored", name)
    return maps


@dataclass(frozen=True)
class ImageAlignment:
    """The people who explored an image with one model, against that model's maps."""

    model_name: str
    people: int  # explorations with at least one masked round
    ceiling: float | None  # their split-half Spearman; None below two people
    scores: dict  # {method: alignment.scores} of everyone's mean kept map
    rows: list[AlignmentRow]  # with Spearman ÷ ceiling


def image_alignment(picture: Picture, explorations=None) -> list[ImageAlignment]:
    """Per model that explored the picture (of `explorations` when given), its maps against
    the human map and the human ceiling. The maps are those of the most recent exploration
    that has them (the same for every exploration of a model: one photo, one original class)."""
    chosen = Exploration.objects.filter(picture=picture)
    if explorations is not None:
        chosen = chosen.filter(pk__in=explorations.values("pk"))
    results = []
    for model_name in sorted(set(chosen.values_list("model_name", flat=True))):
        with_maps = (
            chosen.filter(model_name=model_name).exclude(explanations={}).order_by("-created_at")
        )
        maps_of = with_maps.values_list("explanations", flat=True).first()
        if not maps_of:
            continue
        crop = registry.crop_fraction_of(model_name)
        human, people, sample = _human_maps(picture, chosen.filter(model_name=model_name), crop)
        if human is None:
            continue
        ceiling = alignment.split_half_ceiling(sample)
        maps = model_maps(maps_of, crop)
        scores = {method: alignment.scores(human, map_) for method, map_ in maps.items()}
        rows = alignment_rows(scores, ceiling=ceiling)
        results.append(ImageAlignment(model_name, people, ceiling, scores, rows))
    return results


def _human_maps(picture: Picture, explorations, crop: float):
    """(everyone's mean kept map cropped, how many people, a sample of their 64×64 maps)."""
    rng = np.random.default_rng(0)
    total, people, sample = None, 0, []
    for kept in kept_maps(picture, explorations):
        total = kept if total is None else total + kept
        people += 1
        small = alignment.crop_square(kept, crop, alignment.HARMONIZATION_SIDE)
        if len(sample) < CEILING_PEOPLE:
            sample.append(small)
        elif (slot := rng.integers(people)) < CEILING_PEOPLE:  # reservoir sampling
            sample[slot] = small
    if total is None:
        return None, 0, []
    return alignment.cropped(total / people, crop), people, sample


# --- RISE deletion and insertion AUCs -------------------------------------------------------


@dataclass(frozen=True)
class RiseRow:
    order: str  # whose order of importance: the person's, or the heatmap's
    deletion_auc: float | None
    insertion_auc: float | None


def rise_rows(rise: dict | None) -> list[RiseRow]:
    """A round's RISE AUCs (model_view._rise_curves), the person's order first."""
    if not rise:
        return []
    method = methods.title_of(rise["method"])
    return [
        RiseRow(label, rise[who]["deletion_auc"], rise[who]["insertion_auc"])
        for who, label in (("person", "What the person kept"), ("heatmap", f"{method} heatmap"))
    ]


@dataclass(frozen=True)
class RiseSummary:
    rounds: int
    rows: list[RiseRow]  # means over the rounds


def rise_summary(picture: Picture, explorations=None) -> RiseSummary | None:
    """Mean RISE AUCs of the picture's analysed rounds (of `explorations` when given; each
    round's own heatmap method)."""
    analysed = Round.objects.filter(
        exploration__picture=picture,
        analysis_status=Round.AnalysisStatus.DONE,
        analysis__has_key="rise",
    )
    if explorations is not None:
        analysed = analysed.filter(exploration__in=explorations)
    analysed = analysed.values_list("analysis__rise", flat=True)
    sums, count = {}, 0
    for rise in analysed.iterator(chunk_size=500):
        count += 1
        for who in ("person", "heatmap"):
            for auc in ("deletion_auc", "insertion_auc"):
                sums[who, auc] = sums.get((who, auc), 0.0) + rise[who][auc]
    if not count:
        return None
    return RiseSummary(
        rounds=count,
        rows=[
            RiseRow(label, sums[who, "deletion_auc"] / count, sums[who, "insertion_auc"] / count)
            for who, label in (("person", "What people kept"), ("heatmap", "The heatmap"))
        ],
    )
