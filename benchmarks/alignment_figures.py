"""Figures of human–model alignment for one gallery photo, from simulated people's
explorations, and the analysis worker's time per explanation method.

Runs the app in-process (eager tasks) on a fresh SQLite database and media folder under a
temporary XAI_VAR_DIR: each simulated person (PEOPLE: constructed brush strokes, not real
people) starts an exploration of the photo, classifies one mask and asks for the analysis
(other fills, deletion curves, RISE). Prints the seconds each method took on this machine,
then the image summary's figures: the human ceiling and the people it rests on, each method's
scores with RISE AUCs in its order, and the mean RISE AUCs of the analysed rounds.

    .venv/bin/python benchmarks/alignment_figures.py [--photo coffee] [--threads 2]
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Simulated people, constructed deterministically (no one real painted these): each paints
# brush strokes, (brush width, [(x, y), ...]), over the 600×400 coffee photo. Like the people
# in the field studies, they paint the wooden table around the cup and saucer, each their own
# way (brush size, path, how far they go), so their masks overlap but differ; everyone keeps
# the cup. A ring (centre, radii) stands for a stroke drawn around the saucer.
SAUCER = (278, 225)


def ring(rx: int, ry: int, start: float = 0, end: float = 360) -> list[tuple[float, float]]:
    """A stroke along an ellipse round the saucer, from `start` to `end` degrees (0: right,
    90: down)."""
    import math

    cx, cy = SAUCER
    steps = max(2, round(abs(end - start) / 7.5))
    angles = [math.radians(start + (end - start) * i / steps) for i in range(steps + 1)]
    return [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in angles]


PEOPLE = {
    "wide brush down the table on the left": [
        (90, [(40, 0), (40, 400)]),
        (60, [(100, 0), (140, 40)]),
    ],
    "wide brush down the table on the right": [
        (110, [(545, 0), (545, 400)]),
        (50, [(470, 0), (500, 60)]),
    ],
    "medium brush around the saucer, then its lower half": [
        (50, ring(235, 175, -40, 220)),  # not over the cup at the top
        (50, ring(160, 120, 20, 160)),
    ],
    "small brush along the bottom and into the corners": [
        (40, [(0, 385), (600, 385)]),
        (40, [(20, 290), (60, 400)]),
        (40, [(570, 280), (590, 400)]),
        (40, ring(170, 125, 30, 150)),
    ],
    "medium brush over the top of the table and the right": [
        (70, [(0, 40), (150, 40)]),
        (70, [(430, 30), (600, 30)]),
        (60, [(545, 0), (545, 400)]),
    ],
    "thin brush round the saucer's rim, then the left": [
        (30, ring(215, 170, -40, 220)),
        (30, ring(185, 140, 10, 170)),
        (60, [(30, 0), (30, 400)]),
    ],
    "big brush over everything but the cup": [
        (100, [(35, 0), (35, 400)]),
        (120, [(545, 0), (545, 400)]),
        (40, [(0, 390), (600, 390)]),
        (80, [(0, 30), (170, 0)]),
        (70, ring(165, 125, 15, 165)),
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", default="coffee")
    parser.add_argument("--threads", type=int, default=2, help="torch threads, as on 2 cores")
    parser.add_argument(
        "--repeats", type=int, default=3, help="timings per method (median); 0: none"
    )
    args = parser.parse_args()
    os.environ["XAI_VAR_DIR"] = tempfile.mkdtemp(prefix="alignment-figures-")
    logging.disable(logging.INFO)  # the eager tasks' and ONNX exporter's chatter
    warnings.simplefilter("ignore")
    os.environ["XAI_EAGER"] = "1"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xaiproject.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from painting.inference import classifier, methods
    from painting.inference.gradcam import explanation_map
    from painting.models import Exploration, Picture
    from painting.review import image_alignment, rise_summary

    call_command("migrate", verbosity=0)
    call_command("load_gallery", stdout=io.StringIO())
    classifier.configure_torch(args.threads)
    picture = Picture.objects.get(slug=args.photo)

    model = classifier.load_classifier("efficientnet-lite2")
    image = picture.file.open("rb")
    from PIL import Image

    photo = Image.open(image).convert("RGB")
    explanation_map(model, photo, 967, "gradcam")  # warm up
    if args.repeats:
        print(f"Seconds per method on {args.photo} ({args.threads} torch threads):")
    for key in methods.METHODS if args.repeats else []:
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            explanation_map(model, photo, 967, key)
            times.append(time.perf_counter() - started)
        print(f"  {methods.title_of(key):11s} {sorted(times)[len(times) // 2]:6.2f}")

    print(f"\n{len(PEOPLE)} simulated people (constructed brush strokes, not real people):")
    for label, strokes in PEOPLE.items():
        share = _explore(picture, strokes)
        print(f"  explored: {label} ({share:.0%} painted)")
    assert Exploration.objects.filter(picture=picture).count() == len(PEOPLE)

    for result in image_alignment(picture):
        ceiling = "unknown" if result.ceiling is None else f"{result.ceiling:.3f}"
        print(
            f"\n{result.model_name}: human split-half ceiling {ceiling} from {result.people} people"
        )
        rise = _rise_per_method(picture, result.model_name)
        print(
            f"  {'method':11s} {'rho':>6s} {'ceil':>6s} {'rho/c':>6s} {'IoU10':>6s}"
            f" {'Dice10':>6s} {'point':>5s} {'mass':>6s} {'rank':>6s} {'del':>6s} {'ins':>6s}"
        )
        for row in result.rows:
            deletion, insertion = rise.get(row.method, (None, None))
            print(
                f"  {row.title:11s} {_f(row.spearman)} {_f(result.ceiling)} {_f(row.score)}"
                f" {_f(row.iou_top10)} {_f(row.dice_top10)} {str(row.pointing_game):>5s}"
                f" {_f(row.relevance_mass)} {_f(row.relevance_rank)} {_f(deletion)}"
                f" {_f(insertion)}"
            )
        print(
            "  rho: Spearman of the blurred human kept map with the method's map; ceil: the"
            " split-half ceiling;\n  rho/c: their ratio (the Harmonization score); IoU10/Dice10:"
            " top 10% of both maps; point:\n  pointing game, mass/rank: relevance mass and rank"
            " accuracy (the pixels kept by at least\n  half the people as truth); del/ins: RISE"
            " deletion/insertion normalised AUC in the method's\n  order (deletion to the mean"
            " fill, insertion from the blur)."
        )
    rise = rise_summary(picture)
    if rise:
        print(f"\nRISE over {rise.rounds} analysed rounds (deletion AUC, insertion AUC):")
        for row in rise.rows:
            print(f"  {row.order:20s} {row.deletion_auc:.3f} {row.insertion_auc:.3f}")


def _rise_per_method(picture, model_name: str) -> dict:
    """{method: (deletion AUC, insertion AUC)} of each method's heatmap order, as the analysis
    computes them for the one method a round is analysed with."""
    from painting import alignment, originals, review
    from painting.inference import registry
    from painting.masking import Fill
    from painting.model_view import gradient_model, rise_of_order
    from painting.models import Exploration

    exploration = (
        Exploration.objects.filter(picture=picture, model_name=model_name)
        .exclude(explanations={})
        .latest("created_at")
    )
    top = exploration.original_round.top[0]
    original = originals.original_image(picture.pk, picture.sha256)
    crop = registry.crop_fraction_of(model_name)
    model = gradient_model(model_name)
    out = {}
    for method, name in exploration.explanations.items():
        order = alignment.importance_order(review.model_map(name, crop).small)
        started = time.perf_counter()
        rise = rise_of_order(
            model, original, order, crop, Fill.MEAN, (top["index"], top["probability"])
        )
        print(f"  RISE for {method}: {time.perf_counter() - started:.1f} s")
        out[method] = (rise["deletion_auc"], rise["insertion_auc"])
    return out


def _explore(picture, strokes) -> float:
    """One person: start, classify one mask painted with `strokes`, ask for the analysis.
    Returns the share painted."""
    from django.test import Client
    from PIL import Image, ImageDraw

    from painting.models import Exploration

    client = Client()
    response = client.post(f"/pictures/{picture.pk}/explore/")
    assert response.status_code == 302, response.status_code
    exploration = Exploration.objects.get(pk=response.url.strip("/").split("/")[-1])
    mask = Image.new("L", (picture.width, picture.height), 0)
    draw = ImageDraw.Draw(mask)
    for width, path in strokes:
        draw.line(path, fill=255, width=width, joint="curve")
        for x, y in (path[0], path[-1]):  # round brush ends
            draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=255)
    data = io.BytesIO()
    mask.save(data, format="PNG")
    data.seek(0)
    data.name = "mask.png"
    headers = {"HX-Request": "true"}
    client.post(
        f"/e/{exploration.pk}/rounds/",
        {"mask": data, "fill": "mean", "strokes": "[]"},
        headers=headers,
    )
    round_ = exploration.rounds.get(index=1)
    client.post(f"/e/{exploration.pk}/rounds/{round_.pk}/analysis/", headers=headers)
    return float((np.asarray(mask) >= 128).mean())


def _f(value) -> str:
    return f"{value:6.3f}" if value is not None else "     –"


if __name__ == "__main__":
    main()
