"""The object detector alone (YOLOv3-tiny, torch eager, f32, 416×416): median and p90 ms per
image at batch 1 and batch 4, with 1 and 2 torch threads, on the gallery's Grace Hopper photo;
and the whole detect() (letterbox, forward, decoding, NMS) at batch 1. Under a minute.

    .venv/bin/python benchmarks/detector_latency.py [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from painting.gallery import PHOTOS  # noqa: E402
from painting.inference.detector import load_detector  # noqa: E402
from painting.inference.registry import default_detector_name  # noqa: E402


def timed(call, runs: int) -> tuple[float, float]:
    call()  # the first pass is slower
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.9 * (len(times) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    detector = load_detector(default_detector_name())
    photo = next(p for p in PHOTOS if p.slug == "grace-hopper").open().convert("RGB")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for size in (1, 4):
            batch, _ = detector.prepare([photo] * size)
            median, p90 = timed(lambda b=batch: detector.raw_scores(b), runs)
            print(
                f"model alone, {threads} thread(s), batch {size}: "
                f"{median / size:.1f} ms/image median, {p90 / size:.1f} p90"
            )
        median, p90 = timed(lambda: detector.detect([photo]), runs)
        print(
            f"detect() whole, {threads} thread(s), batch 1: {median:.1f} ms median, {p90:.1f} p90"
        )


if __name__ == "__main__":
    main()
