"""End to end: from the HTMX POST of a mask to the result partial, through the running app.

Start the app first (`make run`), then:

    .venv/bin/python benchmarks/e2e_latency.py [--url http://127.0.0.1:8000] [--sessions 1,4,16]

Each simulated session is its own browser (cookies): it picks the gallery's Coffee photo,
waits for the original's result, then classifies random rectangular masks one after another,
as a person clicking Classify would. Reports p50/p95 latency and rounds/s per concurrency, and
the ratio of the 1-session median to the model-only median measured in this same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

from PIL import Image

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.session import Session, percentile, random_masks


def run_level(url: str, title: str, sessions: int, rounds: int) -> tuple[list[float], float]:
    clients = [Session(url, title) for _ in range(sessions)]
    masks = random_masks(clients[0].size, 16)
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(sessions)

    def work(index: int) -> None:
        session = clients[index]
        session.classify(masks[index % len(masks)])  # warm this session's connection
        barrier.wait()
        for r in range(rounds):
            took = session.classify(masks[(index + r) % len(masks)])
            with lock:
                latencies.append(took)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(sessions)]
    for t in threads:
        t.start()
    started = time.perf_counter()  # approximately: after the warm-up, the barrier releases
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    return latencies, len(latencies) / wall


def page_timing(url: str, title: str, repeat: int = 30) -> tuple[float, str]:
    """Median time to fetch the canvas page of an exploration, and the CSS's cache header."""
    session = Session(url, title)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        session.client.get(session.base).raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    css = session.client.get("/static/painting/app.css")
    return statistics.median(times), css.headers.get("cache-control", "none")


def model_only_ms(model_name: str, backend: str, repeat: int = 30) -> float:
    """The same model on the same backend as the worker, batch 1, in this process."""
    from painting.inference import classifier

    classifier.configure_torch(int(os.environ.get("XAI_TORCH_THREADS", "0")))
    root = Path(__file__).resolve().parent.parent
    model = classifier.load_classifier(model_name, backend, root / "var" / "compiled")
    image = Image.new("RGB", (600, 400), (120, 90, 60))
    model.warm_up()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        model.classify([image])
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--sessions", default="1,4,16")
    parser.add_argument("--rounds", type=int, default=20, help="rounds per session")
    parser.add_argument("--title", default="Coffee", help="gallery photo to explore")
    parser.add_argument("--model", default="efficientnet-lite2", help="for the model-only row")
    parser.add_argument("--backend", default=os.environ.get("XAI_BACKEND", "openvino"))
    args = parser.parse_args()

    model_ms = model_only_ms(args.model, args.backend)
    print(f"model only ({args.model} on {args.backend}, batch 1): {model_ms:.1f} ms median\n")
    print(
        f"{'sessions':>8} {'rounds':>7} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8} {'rounds/s':>9}"
    )
    one_session_p50 = None
    for level in [int(s) for s in args.sessions.split(",")]:
        rounds = max(5, args.rounds // max(1, level // 4)) if level > 1 else args.rounds
        latencies, throughput = run_level(args.url, args.title, level, rounds)
        p50 = percentile(latencies, 0.5) * 1000
        if level == 1:
            one_session_p50 = p50
        print(
            f"{level:>8} {len(latencies):>7} {p50:>8.1f} {percentile(latencies, 0.95) * 1000:>8.1f}"
            f" {statistics.mean(latencies) * 1000:>8.1f} {throughput:>9.1f}"
        )
    page_p50, cache = page_timing(args.url, args.title)
    print(f"\ncanvas page (GET, loopback): {page_p50:.1f} ms median; static assets: {cache}")
    if one_session_p50 is not None:
        print(f"\nend to end at 1 session / model only: {one_session_p50 / model_ms:.2f}×")


if __name__ == "__main__":
    main()
