"""The ROAD fill's cost per round: noisy linear imputation solved at reduced resolution.

    .venv/bin/python benchmarks/road_fill.py [--repeats 5]

Fills holes of several sizes in the gallery's Coffee photo (600×400) and in the same photo
scaled to 1024×683 (the largest working copy, XAI_WORKING_MAX_SIDE), and reports the median
ms of compose(..., Fill.ROAD).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image, ImageDraw

from painting.gallery import PHOTOS
from painting.masking import Fill, compose, painted_fraction


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    coffee = next(p for p in PHOTOS if p.slug == "coffee").open().convert("RGB")
    for image in (coffee, coffee.resize((1024, 683))):
        w, h = image.size
        for share in (0.05, 0.25, 0.6):
            side = share**0.5
            box = (0, 0, int(w * side), int(h * side))
            mask = Image.new("L", image.size, 0)
            ImageDraw.Draw(mask).rectangle(box, fill=255)
            times = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                compose(image, mask, Fill.ROAD)
                times.append(time.perf_counter() - started)
            print(
                f"{w}×{h}, {painted_fraction(mask):4.0%} painted"
                f" ({int(painted_fraction(mask) * w * h):>9,} px):"
                f" {statistics.median(times) * 1000:6.0f} ms"
            )


if __name__ == "__main__":
    main()
