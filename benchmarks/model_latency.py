"""Latency and throughput of each classifier on each CPU inference backend.

For every model x backend x batch size: median and p95 wall time per batch (after warm-up),
images per second, and the check against torch eager at batch 1 on every gallery photo (the
photos passed at that batch size): the largest logit difference and whether the top-5
classes, in order, are the same. Ends with a summary per model.

Each model x backend runs in a fresh process, as it would in a worker: runtimes loaded side
by side slow each other down (onnxruntime's threads spin after each call, stalling torch's).

    .venv/bin/python benchmarks/model_latency.py [--models efficientnet-lite2] [--batches 1,8]

ResNet-50 runs with random weights when its real ones are absent: its timings hold, and the
top-5 check still compares the backends' arithmetic, but its classes mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from painting.gallery import PHOTOS  # noqa: E402
from painting.inference import runtimes  # noqa: E402
from painting.inference.registry import REGISTRY  # noqa: E402

INPUT_SIZES = {"efficientnet-lite2": 260, "efficientnet-lite0": 224, "resnet50": 224}
MIN_RUNS = 5


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


def logits_in_batches(run: Callable, images: np.ndarray, batch_size: int) -> np.ndarray:
    """Every image's logits, computed batch_size at a time (the last batch filled up by
    cycling), so the check sees the same batch shapes as the timings."""
    chunks = []
    for start in range(0, len(images), batch_size):
        indices = np.arange(start, start + batch_size) % len(images)
        chunks.append(run(images[indices])[: len(images) - start])
    return np.concatenate(chunks)


def time_calls(run: Callable, batch: np.ndarray, args: argparse.Namespace) -> list[float]:
    """Seconds per call after warm-up: at least MIN_RUNS calls, then up to args.repeat while
    args.budget seconds last."""
    for _ in range(args.warmup):
        run(batch)
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < MIN_RUNS or (
        len(times) < args.repeat and time.perf_counter() - started < args.budget
    ):
        t0 = time.perf_counter()
        run(batch)
        times.append(time.perf_counter() - t0)
    return times


def measure(name: str, backend: str, batches: list[int], args: argparse.Namespace) -> dict:
    """One model on one backend, in this process: setup costs and a row per batch size."""
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    model, preprocess, note = load_model(name)
    size = INPUT_SIZES[name]
    images = torch.stack([preprocess(photo.open().convert("RGB")) for photo in PHOTOS]).numpy()
    reference = logits_in_batches(runtimes.compile_model(model, size, "torch"), images, 1)
    started = time.perf_counter()
    run = runtimes.compile_model(model, size, backend, args.threads)
    ready = time.perf_counter() - started
    started = time.perf_counter()
    run(images[:1])
    first = time.perf_counter() - started
    rows = []
    for batch_size in batches:
        # The timed batch holds the photos, cycled to fill it.
        times = time_calls(run, images[np.arange(batch_size) % len(images)], args)
        outputs = logits_in_batches(run, images, batch_size)
        median = statistics.median(times)
        rows.append(
            {
                "model": name,
                "backend": backend,
                "batch": batch_size,
                "median": median * 1000,
                "p95": float(np.percentile(times, 95)) * 1000,
                "ips": batch_size / median,
                "runs": len(times),
                "same": sum(a == b for a, b in zip(top5(outputs), top5(reference), strict=True)),
                "diff": float(np.abs(outputs - reference).max()),
            }
        )
    return {"note": note, "size": size, "ready": ready, "first": first, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(INPUT_SIZES))
    parser.add_argument("--backends", default=",".join(runtimes.available_backends()))
    parser.add_argument("--batches", default="1,2,4,8,16")
    parser.add_argument("--repeat", type=int, default=30, help="most timed runs per row")
    parser.add_argument("--budget", type=float, default=2.0, help="seconds per row (>= 5 runs)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--worker", default="", help=argparse.SUPPRESS)  # MODEL:BACKEND
    args = parser.parse_args()
    models = [m for m in args.models.split(",") if m]
    backends = [b for b in args.backends.split(",") if b]
    batches = [int(b) for b in args.batches.split(",") if b]
    for backend in backends:
        if backend not in runtimes.available_backends():
            raise SystemExit(f"Backend {backend!r} is not installed.")

    if args.worker:
        name, backend = args.worker.split(":")
        print(json.dumps(measure(name, backend, batches, args)))
        return

    versions = [f"torch {torch.__version__}"]
    for module in ("onnxruntime", "openvino"):
        if module in backends:
            versions.append(f"{module} {__import__(module).__version__}")
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{args.threads} threads; {', '.join(versions)}"
    )
    rows: list[dict] = []
    for name in models:
        print(f"\n{name}", flush=True)
        for backend in backends:
            worker = subprocess.run(
                [sys.executable, __file__, *sys.argv[1:], "--worker", f"{name}:{backend}"],
                stdout=subprocess.PIPE,
                text=True,
                check=True,
            )
            result = json.loads(worker.stdout.splitlines()[-1])
            rows += result["rows"]
            print(
                f"  {backend:<12} {result['size']}px, {result['note']}; export+load "
                f"{result['ready']:4.1f} s, first call {result['first'] * 1000:5.0f} ms",
                flush=True,
            )

    print()
    header = (
        f"{'model':<19}{'backend':<13}{'batch':>5}{'median ms':>11}{'p95 ms':>9}"
        f"{'ms/img':>8}{'img/s':>8}{'runs':>6}{'max|dlogit|':>12}  top5 same"
    )
    print(header)
    print("-" * len(header))
    rows.sort(key=lambda r: (models.index(r["model"]), backends.index(r["backend"]), r["batch"]))
    for r in rows:
        same = "yes" if r["same"] == len(PHOTOS) else "NO"
        print(
            f"{r['model']:<19}{r['backend']:<13}{r['batch']:>5}{r['median']:>11.1f}"
            f"{r['p95']:>9.1f}{r['median'] / r['batch']:>8.1f}{r['ips']:>8.1f}{r['runs']:>6}"
            f"{r['diff']:>12.1e}  "
            f"{same} ({r['same']}/{len(PHOTOS)})"
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
