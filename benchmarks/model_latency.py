"""Latency and throughput of each classifier on each CPU inference backend.

For every model x backend x batch size: median and p95 wall time per batch (after warm-up),
images per second, and whether the backend's top-5 classes (in order) equal torch eager's at
batch 1 on every gallery photo, the photos passed at that batch size. Ends with a summary per
model.

    .venv/bin/python benchmarks/model_latency.py [--models efficientnet-lite2] [--batches 1,8]

ResNet-50 runs with random weights when its real ones are absent: its timings hold, and the
top-5 check still compares the backends' arithmetic, but its classes mean nothing.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from painting import runtimes  # noqa: E402
from painting.classifier import REGISTRY  # noqa: E402
from painting.gallery import PHOTOS  # noqa: E402

INPUT_SIZES = {"efficientnet-lite2": 260, "efficientnet-lite0": 224, "resnet50": 224}


def load_model(name: str) -> tuple[torch.nn.Module, Callable, str]:
    """The model in eval mode, its preprocessing, and a note on its weights."""
    spec = REGISTRY[name]
    path = spec.weights_path()
    if path is not None:
        model, preprocess = spec.build(path)
        return model.eval(), preprocess, "real weights"
    if name != "resnet50":
        raise SystemExit(f"No weights for {name}. {spec.missing_help}")
    from torchvision.models import ResNet50_Weights, resnet50

    model = resnet50(weights=None)  # timing only, see the module docstring
    return model.eval(), ResNet50_Weights.IMAGENET1K_V2.transforms(), "RANDOM weights (timing only)"


def top5(logits: np.ndarray) -> list[tuple[int, ...]]:
    return [tuple(int(i) for i in np.argsort(-row, kind="stable")[:5]) for row in logits]


def time_batches(run: Callable, batch: np.ndarray, warmup: int, repeat: int, budget: float):
    for _ in range(warmup):
        run(batch)
    times: list[float] = []
    started = time.perf_counter()
    # At least 5 timings; then stop at `repeat` timings or when the budget is spent.
    while len(times) < 5 or (len(times) < repeat and time.perf_counter() - started < budget):
        t0 = time.perf_counter()
        run(batch)
        times.append(time.perf_counter() - t0)
    return times


def logits_in_batches(run: Callable, images: np.ndarray, batch_size: int) -> np.ndarray:
    """Every image's logits, computed batch_size at a time (the last batch filled up by
    cycling), so the check sees the same batch shapes as the timings."""
    chunks = []
    for start in range(0, len(images), batch_size):
        indices = np.arange(start, start + batch_size) % len(images)
        chunks.append(run(images[indices])[: len(images) - start])
    return np.concatenate(chunks)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(INPUT_SIZES))
    parser.add_argument("--backends", default=",".join(runtimes.available_backends()))
    parser.add_argument("--batches", default="1,2,4,8,16")
    parser.add_argument("--repeat", type=int, default=30, help="most timed runs per row")
    parser.add_argument("--budget", type=float, default=2.0, help="seconds per row, >= 5 runs")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    models = [m for m in args.models.split(",") if m]
    backends = [b for b in args.backends.split(",") if b]
    batches = [int(b) for b in args.batches.split(",") if b]
    for backend in backends:
        if backend not in runtimes.available_backends():
            raise SystemExit(f"Backend {backend!r} is not installed.")

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    versions = [f"torch {torch.__version__}"]
    for module in ("onnxruntime", "openvino"):
        if module in backends:
            versions.append(f"{module} {__import__(module).__version__}")
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{args.threads} threads; {', '.join(versions)}"
    )
    photos = [photo.open().convert("RGB") for photo in PHOTOS]

    rows: list[dict] = []
    for name in models:
        model, preprocess, note = load_model(name)
        size = INPUT_SIZES[name]
        images = torch.stack([preprocess(photo) for photo in photos]).numpy()
        reference = runtimes.compile_model(model, size, "torch")
        expected = logits_in_batches(reference, images, 1)
        print(f"\n{name} ({size}px, {note}); {len(images)} gallery photos")
        for backend in backends:
            started = time.perf_counter()
            run = runtimes.compile_model(model, size, backend, args.threads)
            ready = time.perf_counter() - started
            started = time.perf_counter()
            run(images[:1])
            first_ms = (time.perf_counter() - started) * 1000
            print(f"  {backend:<12} export+load {ready:5.1f} s, first call {first_ms:6.0f} ms")
            for batch_size in batches:
                # The timed batch holds the photos, cycled to fill it.
                batch = images[np.arange(batch_size) % len(images)]
                times = time_batches(run, batch, args.warmup, args.repeat, args.budget)
                outputs = logits_in_batches(run, images, batch_size)
                same = sum(a == b for a, b in zip(top5(outputs), top5(expected), strict=True))
                median = statistics.median(times)
                rows.append(
                    {
                        "model": name,
                        "backend": backend,
                        "batch": batch_size,
                        "median": median * 1000,
                        "p95": percentile(times, 95) * 1000,
                        "per_image": median * 1000 / batch_size,
                        "ips": batch_size / median,
                        "runs": len(times),
                        "same": same,
                        "photos": len(images),
                        "diff": float(np.abs(outputs - expected).max()),
                    }
                )
            del run
            gc.collect()

    print()
    header = (
        f"{'model':<19}{'backend':<13}{'batch':>5}{'median ms':>11}{'p95 ms':>9}"
        f"{'ms/img':>8}{'img/s':>8}{'runs':>6}{'max|dlogit|':>12}  top5 same"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        same = "yes" if r["same"] == r["photos"] else "NO"
        print(
            f"{r['model']:<19}{r['backend']:<13}{r['batch']:>5}{r['median']:>11.1f}"
            f"{r['p95']:>9.1f}{r['per_image']:>8.1f}{r['ips']:>8.1f}{r['runs']:>6}"
            f"{r['diff']:>12.1e}  "
            f"{same} ({r['same']}/{r['photos']})"
        )

    for name in models:
        print(f"\n{name}:")
        ones = {r["backend"]: r for r in rows if r["model"] == name and r["batch"] == 1}
        if ones:
            fastest = min(ones.values(), key=lambda r: r["median"])
            print(f"  fastest at batch 1: {fastest['backend']} ({fastest['median']:.1f} ms)")
            for backend, r in ones.items():
                print(f"    {backend:<12} {r['median'] / fastest['median']:.2f}x the fastest")
        for backend in backends:
            mine = [r for r in rows if r["model"] == name and r["backend"] == backend]
            best = max(mine, key=lambda r: r["ips"])
            print(
                f"  best throughput, {backend:<12} batch {best['batch']:>2} "
                f"({best['ips']:.1f} img/s)"
            )


if __name__ == "__main__":
    main()
