"""Figures of human–model alignment for one gallery photo, from a few explorations, and the
analysis worker's time per explanation method.

Runs the app in-process (eager tasks) on a fresh SQLite database and media folder under a
temporary XAI_VAR_DIR: each "person" starts an exploration of the photo, classifies one mask
and asks for the analysis (other fills, deletion curves, RISE). Prints the seconds each
method took on this machine, then the image summary's figures: the human ceiling and the
people it rests on, each method's scores, and the mean RISE AUCs.

    .venv/bin/python benchmarks/alignment_figures.py [--photo coffee] [--threads 2]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Each person paints one rectangle (x0, y0, x1, y1) of the 600×400 coffee photo: three paint
# the table around the cup (what they believe does not matter), one paints the cup itself.
MASKS = {
    "painted the table on the left": (0, 0, 200, 400),
    "painted the table below and right": (150, 300, 600, 400),
    "painted the table on the right": (440, 0, 600, 400),
    "painted the cup": (180, 60, 430, 300),
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

    for label, box in MASKS.items():
        _explore(picture, box)
        print(f"explored: {label}")
    assert Exploration.objects.filter(picture=picture).count() == len(MASKS)

    for result in image_alignment(picture):
        ceiling = "unknown" if result.ceiling is None else f"{result.ceiling:.3f}"
        print(f"\n{result.model_name}: human ceiling {ceiling} from {result.people} people")
        print(
            f"  {'method':11s} {'score':>6s} {'rho':>6s} {'IoU10':>6s} {'Dice10':>6s}"
            f" {'point':>5s} {'mass':>6s} {'rank':>6s}"
        )
        for row in result.rows:
            print(
                f"  {row.title:11s} {_f(row.score)} {_f(row.spearman)} {_f(row.iou_top10)}"
                f" {_f(row.dice_top10)} {str(row.pointing_game):>5s} {_f(row.relevance_mass)}"
                f" {_f(row.relevance_rank)}"
            )
    rise = rise_summary(picture)
    if rise:
        print(f"\nRISE over {rise.rounds} analysed rounds (deletion AUC, insertion AUC):")
        for row in rise.rows:
            print(f"  {row.order:20s} {row.deletion_auc:.3f} {row.insertion_auc:.3f}")


def _explore(picture, box) -> None:
    """One person: start, classify one mask, ask for the analysis."""
    from django.test import Client
    from PIL import Image, ImageDraw

    from painting.models import Exploration

    client = Client()
    response = client.post(f"/pictures/{picture.pk}/explore/")
    assert response.status_code == 302, response.status_code
    exploration = Exploration.objects.get(pk=response.url.strip("/").split("/")[-1])
    mask = Image.new("L", (picture.width, picture.height), 0)
    ImageDraw.Draw(mask).rectangle(box, fill=255)
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


def _f(value) -> str:
    return f"{value:6.3f}" if value is not None else "     –"


if __name__ == "__main__":
    main()
