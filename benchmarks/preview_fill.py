"""What one server preview (views.preview) costs the web process: compose the fill at the
largest working size, apply edits, encode the PNG the page draws.

    .venv/bin/python benchmarks/preview_fill.py [--repeats 5]

The gallery's Coffee photo scaled to 1024×683 (XAI_WORKING_MAX_SIDE), a quarter of it painted,
for the fills the page cannot compute (blur, inpaint, ROAD), without edits and with a crop and
a quarter turn; the median ms of compose + edits and of the PNG, and the PNG's size.
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

from painting.edits import NONE, Edits
from painting.gallery import PHOTOS
from painting.images import png_bytes
from painting.masking import Fill, compose


def median_ms(work, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        out = work()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    image = next(p for p in PHOTOS if p.slug == "coffee").open().convert("RGB").resize((1024, 683))
    mask = Image.new("L", image.size, 0)
    ImageDraw.Draw(mask).rectangle((200, 150, 712, 491), fill=255)
    edited = Edits(crop=(100, 50, 800, 600), rotation=90)
    for fill in (Fill.BLUR, Fill.INPAINT, Fill.ROAD):
        for edits in (NONE, edited):
            compose_ms, seen = median_ms(
                lambda f=fill, e=edits: e.apply(compose(image, mask, f)), args.repeats
            )
            png_ms, png = median_ms(lambda s=seen: png_bytes(s, fast=True), args.repeats)
            print(
                f"{fill.value:8} {'edited' if edits != NONE else 'plain ':6}"
                f" compose {compose_ms:5.0f} ms, PNG {png_ms:4.0f} ms, {len(png) / 1024:5.0f} KiB"
            )


if __name__ == "__main__":
    main()
