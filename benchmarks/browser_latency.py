"""Classify click → result on screen, in Debian's Chromium, by the page's own clock; with the
POST's Resource Timing and the server's per-stage breakdown (its Server-Timing header).

Start the app with the breakdown on (`XAI_SERVER_TIMING=1 make run`), then:

    .venv/bin/python benchmarks/browser_latency.py [--url http://127.0.0.1:8000] [--rounds 20]

Prints, as medians over the rounds: the click-to-result time; the POST's time to first byte
and what lies before (the mask's encoding) and after it (download and swap); the server's
stages (lookup, ratelimit, validate, files, db, publish, queue, the worker's claim /
compose / preprocess / model / scores, answered = record + commit + announce + wake-up, render),
Django's middleware around them and what lies outside Django (nginx, gunicorn); a bare
HTMX round trip (click → swap of /healthz, a tiny endpoint through the same server); the
model alone at batch 1 on each fast backend in this process; and target 1's ratio:
click-to-result / (fastest model + bare round trip), to be ≤ 1.25.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
from pathlib import Path
from urllib.parse import urlparse

from playwright.sync_api import sync_playwright

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.session import Session
from painting.chromium import CHROMIUM, CHROMIUM_ARGS  # the browser tests' own flags
from tests.e2e.browser import stroke

# Click Classify and resolve with the page's times once the new round's result is done.
CLICK_TO_RESULT = """async (expected) => {
  performance.clearResourceTimings();
  const done = new Promise((resolve) => {
    const check = () => {
      const r = document.getElementById("result");
      if (r && r.dataset.roundIndex === String(expected) && r.classList.contains("done")) {
        observer.disconnect();
        resolve(performance.now());
      }
    };
    const observer = new MutationObserver(check);
    observer.observe(document.body, {subtree: true, childList: true, attributes: true});
  });
  const started = performance.now();
  document.querySelector("form[data-classify-form] button[type=submit]").click();
  const shown = await done;
  const post = performance.getEntriesByType("resource").find(
    (e) => e.name.includes("/rounds/") && e.initiatorType === "xmlhttprequest");
  return {
    total: shown - started,
    before: post ? post.requestStart - started : null,
    ttfb: post ? post.responseStart - post.requestStart : null,
    after: post ? shown - post.responseStart : null,
    server: post ? post.serverTiming.map((s) => [s.name, s.duration]) : [],
  };
}"""

BARE_ROUND_TRIP = """async () => {
  let target = document.getElementById("bench-target");
  if (!target) {
    target = document.createElement("div");
    target.id = "bench-target";
    target.hidden = true;
    document.body.appendChild(target);
  }
  const started = performance.now();
  await htmx.ajax("GET", "/healthz", {target: "#bench-target", swap: "innerHTML"});
  return performance.now() - started;
}"""


def model_only(model_name: str, backends: list[str]) -> dict[str, float]:
    """Median ms of the model alone (preprocessing not timed) at batch 1 on each backend."""
    from benchmarks.model_throughput import measure

    return {backend: 1000 / measure(model_name, backend, [1], 3.0)[1][0] for backend in backends}


def detector_only() -> dict[str, float]:
    """Median ms of the detector alone (forward and decoding) at batch 1 on each runtime."""
    from painting.inference import runtimes
    from painting.inference.detector import Detector
    from painting.inference.registry import default_detector_name, detector_spec_of

    spec = detector_spec_of(default_detector_name())
    timings = {}
    for backend in runtimes.available_backends():
        detector = Detector(spec, backend=backend)
        batch, _ = detector.prepare([detector_sample()])
        call = functools.partial(detector.raw_scores, batch)
        timings[backend] = runtimes.time_calls(call, 15).median_ms
    return timings


def detector_sample():
    from painting.gallery import PHOTOS

    return next(p for p in PHOTOS if p.slug == "grace-hopper").open().convert("RGB")


def browse(
    url: str, title: str, rounds: int, bare_repeat: int, task: str = ""
) -> tuple[list[dict], list[float]]:
    # An exploration with its model's view, as a person finds it (detect: none to wait for).
    session = Session(url, title, task=task)
    host = urlparse(url).hostname
    cookies = [
        {"name": c.name, "value": c.value, "domain": host, "path": "/"}
        for c in session.client.cookies.jar
    ]
    results, bare = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.add_cookies(cookies)
        page = context.new_page()
        page.goto(url + session.base)
        page.wait_for_selector("#result.done")
        stroke(page, [(0.3, 0.3), (0.6, 0.5)])
        for _ in range(3):  # the connection and the page's code warm up
            bare.append(page.evaluate(BARE_ROUND_TRIP))
        bare.clear()
        shown = int(page.get_attribute("#result", "data-round-index") or 0)
        for expected in range(shown + 1, shown + 1 + rounds):
            results.append(page.evaluate(CLICK_TO_RESULT, expected))
        for _ in range(bare_repeat):
            bare.append(page.evaluate(BARE_ROUND_TRIP))
        browser.close()
    return results[2:] if len(results) > 4 else results, bare


def median(values) -> float:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--title", default="Coffee", help="gallery photo to explore")
    parser.add_argument("--model", default="efficientnet-lite2")
    parser.add_argument("--backends", default="onnxruntime,openvino")
    parser.add_argument(
        "--task", default="", help="detect: Detect rounds against the detector alone"
    )
    args = parser.parse_args()

    results, bare = browse(args.url, args.title, args.rounds, bare_repeat=20, task=args.task)
    if args.task == "detect":
        models = detector_only()
    else:
        models = model_only(args.model, args.backends.split(","))
    stages: dict[str, list[float]] = {}
    for result in results:
        for name, ms in result["server"]:
            stages.setdefault(name, []).append(ms)

    rows = [
        ("Classify click → result on screen", median(r["total"] for r in results)),
        ("  before the request leaves (mask encoding)", median(r["before"] for r in results)),
        ("  POST time to first byte", median(r["ttfb"] for r in results)),
        ("  after the first byte (download, swap)", median(r["after"] for r in results)),
    ]
    if stages:
        rows.append(("  server stages (Server-Timing), sum of medians", None))
        rows += [
            (f"    {name}", median(values)) for name, values in stages.items() if name != "django"
        ]
    if "django" in stages:  # the whole request inside Django (XAI_SERVER_TIMING's middleware)
        outside, rest = [], []
        for result in results:
            server = dict(result["server"])
            if "django" in server and result["ttfb"] is not None:
                outside.append(result["ttfb"] - server["django"])
                rest.append(server["django"] - sum(v for k, v in server.items() if k != "django"))
        rows.append(("    Django's middleware (the CSRF check's body parse…)", median(rest)))
        rows.append(("  outside Django (nginx, gunicorn, the network)", median(outside)))
    else:
        rows.append(("  (no Server-Timing: start the app with XAI_SERVER_TIMING=1)", None))
    rows.append(("bare HTMX round trip (/healthz, click → swap)", median(bare)))
    rows += [(f"model alone, batch 1, {name}", ms) for name, ms in models.items()]
    fastest = min(models.values())
    reference = fastest + median(bare)
    print(f"{len(results)} rounds; medians in ms")
    for label, value in rows:
        print(f"{label:<52} {'' if value is None else f'{value:8.1f}'}")
    ratio = median(r["total"] for r in results) / reference
    print(
        f"\ntarget 1: click-to-result / (fastest model + bare round trip) = {ratio:.2f}× (≤ 1.25)"
    )


if __name__ == "__main__":
    main()
