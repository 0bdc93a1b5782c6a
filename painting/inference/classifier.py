"""A loaded classifier: preprocessing, a forward pass on the chosen runtime, softmax, top-k.
Loaded once per (model, backend) in each process."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import runtimes
from .backends import AUTO
from .registry import ModelSpec, WeightsMissing, sha256_of, spec_of

LABELS_FILE = Path(__file__).with_name("imagenet_classes.txt")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    class_index: int
    label: str
    probability: float


@dataclass(frozen=True)
class Outcome:
    """One image's answer: its top-k and the full softmax (to follow any class)."""

    top: list[Prediction]
    probabilities: np.ndarray

    @classmethod
    def from_probabilities(cls, probabilities: np.ndarray, k: int) -> Outcome:
        labels = imagenet_labels()
        order = np.argsort(-probabilities)[:k]
        top = [Prediction(int(i), labels[int(i)], float(probabilities[i])) for i in order]
        return cls(top, probabilities)

    def probability_of(self, class_index: int) -> float:
        return float(self.probabilities[class_index])


@functools.cache
def imagenet_labels() -> tuple[str, ...]:
    labels = tuple(LABELS_FILE.read_text().splitlines())
    assert len(labels) == 1000, "imagenet_classes.txt must list the 1000 classes"
    return labels


def configure_torch(threads: int = 0) -> None:
    """One thread pool per process, sized to the cores (or as asked)."""
    torch.set_num_threads(threads or os.cpu_count() or 1)
    # Raises once parallel work has begun in this process; the first setting then stands.
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)


class Classifier:
    """A loaded model: call classify() with PIL images, get top-k predictions per image.

    Classification runs on `backend` (torch, onnxruntime or openvino: see runtimes.py);
    Grad-CAM (gradcam.py) always uses the torch model, which needs gradients."""

    def __init__(
        self,
        spec: ModelSpec,
        device: str | None = None,
        backend: str = "torch",
        cache_dir: Path | None = None,
    ):
        path = spec.weights_path()
        if path is None:
            raise WeightsMissing(f"No weights for {spec.name}. {spec.missing_help}")
        self.name = spec.name
        self.title = spec.title
        self.spec = spec
        self.weights_path = path
        self.weights_sha256 = sha256_of(path)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        model, self.preprocess = spec.build(path)
        self.model = model.eval().to(self.device)
        # One forward at a time per process: torch's pool is already sized to the cores.
        self.lock = threading.Lock()
        self.backend = backend if self.device.type == "cpu" else "torch"
        self._run = None
        if self.backend != "torch":
            size = self.preprocess(Image.new("RGB", (64, 64))).shape[-1]
            self._run = runtimes.compile_model(
                self.model,
                size,
                self.backend,
                torch.get_num_threads(),
                cache_dir,
                cache_key=f"{self.name}-{self.weights_sha256[:16]}",
            )

    def warm_up(self) -> None:
        """The first forward pass is several times slower; pay for it before any user does."""
        self.probabilities([Image.new("RGB", (256, 256), (124, 116, 104))])

    def prepare(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """The model's input batch: each image preprocessed (resized, cropped, normalized).
        Stacked in numpy, off torch's thread pool (see _efficientnet_lite_transform)."""
        tensors = [self.preprocess(image.convert("RGB")) for image in images]
        return torch.from_numpy(np.stack([t.numpy() for t in tensors]))

    def probabilities(self, images: Sequence[Image.Image]) -> torch.Tensor:
        return self.probabilities_of(self.prepare(images))

    def probabilities_of(self, batch: torch.Tensor) -> torch.Tensor:
        """Softmax of a prepared batch."""
        if self._run is not None:
            with self.lock:
                return torch.from_numpy(self._run(batch.numpy())).float().softmax(dim=-1)
        with self.lock, torch.inference_mode():
            logits = self.model(batch.to(self.device))
            return logits.float().softmax(dim=-1).cpu()

    def classify(self, images: Sequence[Image.Image], k: int = 5) -> list[Outcome]:
        return self.classify_prepared(self.prepare(images), k)

    def classify_prepared(self, batch: torch.Tensor, k: int = 5) -> list[Outcome]:
        return [Outcome.from_probabilities(row, k) for row in self.probabilities_of(batch).numpy()]


def load_classifier(name: str, backend: str = "torch", cache_dir: Path | None = None) -> Classifier:
    """The named model on a backend, loaded once per process. Only the exported runtimes use
    cache_dir, so the torch model is one copy however it is asked for. backend="auto": the
    fastest on this machine (fastest_backend), measured once per process."""
    if backend == AUTO:
        backend = fastest_backend(name, cache_dir)[0]
    return _loaded(name, backend, None if backend == "torch" else cache_dir)


# A runtime this much slower than the fastest at batch 1 may still be chosen when it burns less
# CPU per image: OpenVINO's pool keeps its threads spinning after a call (~28 ms of CPU per
# EfficientNet-Lite2 image on 2 threads against ONNX Runtime's ~20, told not to spin), CPU that
# the web and the other rounds need when the box is busy, for ~1 ms less wait when it is idle.
LATENCY_MARGIN = 1.25


@functools.cache
def fastest_backend(
    name: str, cache_dir: Path | None = None, candidates: tuple[str, ...] | None = None
) -> tuple[str, dict[str, float], dict[str, float]]:
    """Which runtime classifies one image fastest here, each one's median ms at batch 1 and
    its ms of CPU time per image:
    the winner differs between CPUs (ONNX Runtime or OpenVINO), so it is measured, not fixed.
    Of those within LATENCY_MARGIN of the fastest, the one that uses the least CPU time per
    image (all its threads) wins. All f32. A GPU, or no exported runtime installed, means
    torch without measuring."""
    if candidates is None:
        candidates = tuple(b for b in runtimes.available_backends() if b != "torch")
    if torch.cuda.is_available() or not candidates:
        return "torch", {}, {}
    timings, cpu = {}, {}
    for backend in candidates:
        model = _loaded(name, backend, cache_dir)
        batch = model.prepare([Image.new("RGB", (256, 256), (124, 116, 104))])
        call = functools.partial(model.probabilities_of, batch)
        timed = runtimes.time_calls(call, 15, pause=0.005)
        timings[backend], cpu[backend] = timed.median_ms, timed.cpu_ms
    fastest = min(timings.values())
    near = [b for b in candidates if timings[b] <= fastest * LATENCY_MARGIN]
    chosen = min(near, key=cpu.__getitem__)
    log.info(
        "backend for %s: %s (median ms at batch 1: %s; ms of CPU per image: %s)",
        name,
        chosen,
        {b: round(ms, 1) for b, ms in timings.items()},
        {b: round(ms, 1) for b, ms in cpu.items()},
    )
    return chosen, timings, cpu


@functools.cache
def _loaded(name: str, backend: str, cache_dir: Path | None) -> Classifier:
    return Classifier(spec_of(name), backend=backend, cache_dir=cache_dir)
