"""The model alone, as the inference worker runs it: best images per second over batch sizes.

    .venv/bin/python benchmarks/model_throughput.py [--model efficientnet-lite2] [--batches 1,8,16]
        [--threads 1] [--backends openvino]

On a GPU: torch on cuda (the worker's runtime there). On a CPU: each fast backend (ONNX Runtime,
OpenVINO; f32), each in its own process as in a worker. Prints one line per backend and batch,
then `best: <img/s> <backend> batch <n>`, the reference of target 2 (benchmarks/gpu_throughput.sh,
docs/benchmarks.md). Preprocessing is not timed: the reference is the model itself. Each line
also gives the CPU time per image (all the process's threads): with --threads 1, the model's own
share of target 3's CPU per round (benchmarks/targets.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def measure(
    model_name: str, backend: str, batches: list[int], seconds: float, threads: int = 0
) -> dict[int, tuple[float, float]]:
    """(img/s, ms of CPU per image) per batch size, in this process."""
    from PIL import Image

    from painting.inference import classifier

    classifier.configure_torch(threads)
    compiled = Path(os.environ.get("XAI_COMPILED_DIR", ROOT / "var" / "compiled"))
    model = classifier.load_classifier(model_name, backend, compiled)
    image = Image.new("RGB", (600, 400), (120, 90, 60))
    rates = {}
    for size in batches:
        batch = model.prepare([image] * size)
        for _ in range(3):
            model.probabilities_of(batch)  # .cpu() at its end waits for a GPU
        times, deadline, cpu = [], time.perf_counter() + seconds, time.process_time()
        while len(times) < 5 or time.perf_counter() < deadline:
            started = time.perf_counter()
            model.probabilities_of(batch)
            times.append(time.perf_counter() - started)
        cpu_ms = (time.process_time() - cpu) * 1000 / (size * len(times))
        rates[size] = (size / statistics.median(times), cpu_ms)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="efficientnet-lite2")
    parser.add_argument("--batches", default="1,8,16")
    parser.add_argument("--seconds", type=float, default=3.0, help="per batch size")
    parser.add_argument("--threads", type=int, default=0, help="the runtime's; 0: one per core")
    parser.add_argument("--backends", default="", help="comma-separated; default: the fast ones")
    parser.add_argument("--worker", default="", help=argparse.SUPPRESS)  # one backend, as JSON
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    if args.worker:
        rates = measure(args.model, args.worker, batches, args.seconds, args.threads)
        print(json.dumps(rates))
        return

    import torch

    from painting.inference import runtimes

    if args.backends:
        backends = args.backends.split(",")
    elif torch.cuda.is_available():
        backends = ["torch"]
    else:
        backends = [b for b in runtimes.available_backends() if b != "torch"] or ["torch"]
    best = (0.0, "", 0)
    for backend in backends:
        out = subprocess.run(
            [sys.executable, __file__, "--model", args.model, "--batches", args.batches,
             "--seconds", str(args.seconds), "--threads", str(args.threads), "--worker", backend],
            capture_output=True, text=True, check=True,
        ).stdout.strip().splitlines()[-1]  # fmt: skip
        for size, (rate, cpu_ms) in json.loads(out).items():
            device = "cuda" if torch.cuda.is_available() else "cpu"
            print(
                f"{backend:<12} {device:<5} batch {int(size):>3}: {rate:8.1f} img/s, "
                f"{cpu_ms:6.1f} ms CPU per image"
            )
            best = max(best, (rate, backend, int(size)))
    print(f"best: {best[0]:.1f} img/s {best[1]} batch {best[2]}")


if __name__ == "__main__":
    main()
