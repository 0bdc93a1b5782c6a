"""The Region tool's two costs: segmenting a picture when it is added (SLIC), and a tap's way
to the screen in a real browser (the segment map is on the client: no request).

    .venv/bin/python benchmarks/regions.py                  # SLIC only
    .venv/bin/python benchmarks/regions.py --url http://127.0.0.1:8000 [--taps 40]

With --url (a running app, `make run`), headless Chromium opens the gallery's Coffee photo,
chooses the Region tool and taps around the picture; each tap is timed from its pointerdown
event to the second animation frame after it (the frame that shows it). Reports medians and
p95 in ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xaiproject.settings")

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]

TIMER = """() => {
  window.__taps = [];
  document.querySelector("canvas[data-mask]").addEventListener("pointerdown", (event) => {
    const t0 = event.timeStamp;
    const shown = () => window.__taps.push(performance.now() - t0);
    requestAnimationFrame(() => requestAnimationFrame(shown));
  });
}"""


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def slic_times(repeat: int) -> None:
    import django

    django.setup()
    from painting import segments
    from painting.gallery import PHOTOS

    for photo in PHOTOS:
        image = photo.open().convert("RGB")
        cases = [(photo.slug, image)]
        if photo.slug == PHOTOS[0].slug:
            big = image.resize((1024, round(1024 * image.height / image.width)))
            cases.append((f"{photo.slug} at 1024 px", big))
        for name, picture in cases:
            took = []
            for _ in range(repeat):
                started = time.perf_counter()
                labels = segments.slic_labels(picture)
                png = segments.encode(labels)
                took.append((time.perf_counter() - started) * 1000)
            print(
                f"SLIC {name} {picture.width}x{picture.height}: median "
                f"{statistics.median(took):.0f} ms, {int(labels.max()) + 1} regions, "
                f"map {len(png) / 1024:.1f} KiB"
            )


def tap_times(url: str, taps: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=os.environ.get("XAI_CHROMIUM", "/usr/bin/chromium"), args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900}, bypass_csp=True)
        page.goto(url)
        page.get_by_role("button", name="Coffee").first.click()
        page.wait_for_selector("[data-stage][data-regions]", state="attached")
        page.keyboard.press("r")
        page.evaluate(TIMER)
        box = page.locator("canvas[data-mask]").bounding_box()
        for i in range(taps):
            x = box["x"] + box["width"] * (0.1 + 0.8 * ((i * 7) % taps) / taps)
            y = box["y"] + box["height"] * (0.1 + 0.8 * ((i * 13) % taps) / taps)
            page.mouse.click(x, y)
            page.wait_for_function(f"window.__taps.length > {i}")
        times = page.evaluate("window.__taps")
        browser.close()
    print(
        f"Tap to screen ({taps} taps): median {statistics.median(times):.1f} ms, "
        f"p95 {p95(times):.1f} ms, max {max(times):.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="")
    parser.add_argument("--taps", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    slic_times(args.repeat)
    if args.url:
        tap_times(args.url, args.taps)


if __name__ == "__main__":
    main()
