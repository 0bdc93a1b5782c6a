"""The object detector alone (YOLOv3-tiny, f32, 416×416) on each CPU runtime: median and p90
ms per image of the forward pass and the boxes' decoding, at batch 1 and 4, with 1 and 2
threads, on the gallery's Grace Hopper photo; which runtime XAI_BACKEND=auto would pick. Under
a minute.

    .venv/bin/python benchmarks/detector_latency.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from painting.gallery import PHOTOS  # noqa: E402
from painting.inference import runtimes  # noqa: E402
from painting.inference.detector import Detector, fastest_backend  # noqa: E402
from painting.inference.registry import default_detector_name, detector_spec_of  # noqa: E402


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
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    name = default_detector_name()
    photo = next(p for p in PHOTOS if p.slug == "grace-hopper").open().convert("RGB")
    cache = Path(tempfile.mkdtemp())
    for threads in (2, 1):
        torch.set_num_threads(threads)
        for backend in runtimes.available_backends():
            detector = Detector(detector_spec_of(name), backend=backend, cache_dir=cache)
            for size in (1, 4):
                batch, _ = detector.prepare([photo] * size)
                median, p90 = timed(lambda d=detector, b=batch: d.raw_scores(b), runs)
                print(
                    f"{backend:12} {threads} thread(s) batch {size}: "
                    f"{median / size:6.1f} ms/image median, {p90 / size:6.1f} p90"
                )
    torch.set_num_threads(2)
    print("XAI_BACKEND=auto picks", fastest_backend(name, cache))


if __name__ == "__main__":
    main()
