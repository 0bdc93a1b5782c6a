"""An object detector: YOLOv3-tiny (COCO's 80 classes) in torch, loaded from darknet's own
weights file, and its answer for a picture as boxes in the picture's pixels.

Darknet's weights file is a header (major, minor, revision as int32, then `seen` as int64 from
version 0.2 on, int32 before) followed by float32 arrays, layer after layer in the cfg's
order: for a convolution with batch norm its bias, scale, running mean and running variance,
then the convolution's weights; without batch norm the convolution's bias, then its weights.
The network below is the one yolov3-tiny.cfg describes (checked against the file's size).

Knows nothing of Django; f32 only.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F
from torchvision.ops import batched_nms

from . import runtimes
from .backends import AUTO
from .registry import DetectorSpec, WeightsMissing, detector_spec_of, sha256_of

log = logging.getLogger(__name__)

INPUT_SIZE = 416
# Anchors (width, height in input pixels): the coarse head uses 3-5, the fine head 0-2.
ANCHORS = ((10, 14), (23, 27), (37, 58), (81, 82), (135, 169), (344, 319))
CLASSES = 80
# Each picture is seen twice, filling the input square and filling half of it (on grey), and
# the two answers' boxes merged: YOLOv3-tiny's largest anchor is 344×319 px of its 416, and a
# photo filled by one subject (a portrait, a cat's face: most of the gallery) is beyond what it
# learned from COCO. Grace Hopper: "person" 0.17 at full size, 0.99 at half; her tie 0.48 at
# full size, 0.26 at half. Twice the arithmetic, for the objects people see.
SCALES = (1.0, 0.5)
# Kept from each answer: every box down to this score (the page's threshold starts higher),
# at most this many, after non-maximum suppression per class at this IoU (darknet's own).
SCORE_FLOOR = 0.1
MAX_BOXES = 100
NMS_IOU = 0.45


def _conv(c_in: int, c_out: int, size: int, bn: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(c_in, c_out, size, 1, size // 2, bias=not bn)]
    if bn:
        layers += [nn.BatchNorm2d(c_out, eps=1e-5), nn.LeakyReLU(0.1)]
    return nn.Sequential(*layers)


class YoloV3Tiny(nn.Module):
    """yolov3-tiny.cfg: seven 3×3 convolutions with max-pooling (the last pooling with stride 1,
    padded on the right and bottom as darknet pads), then two YOLO heads at 13×13 and 26×26."""

    def __init__(self, classes: int = CLASSES):
        super().__init__()
        widths = [3, 16, 32, 64, 128, 256, 512, 1024]
        self.backbone = nn.ModuleList(_conv(widths[i], widths[i + 1], 3) for i in range(7))
        out = 3 * (5 + classes)
        self.reduce = _conv(1024, 256, 1)
        self.head_coarse = nn.Sequential(_conv(256, 512, 3), _conv(512, out, 1, bn=False))
        self.lateral = _conv(256, 128, 1)
        self.head_fine = nn.Sequential(_conv(384, 256, 3), _conv(256, out, 1, bn=False))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        route = None
        for i, conv in enumerate(self.backbone):
            x = conv(x)
            if i == 4:
                route = x  # 26×26×256, joined to the upsampled coarse features
            if i < 5:
                x = F.max_pool2d(x, 2, 2)
            elif i == 5:
                x = F.max_pool2d(F.pad(x, (0, 1, 0, 1), mode="replicate"), 2, 1)
        x = self.reduce(x)
        coarse = self.head_coarse(x)
        up = F.interpolate(self.lateral(x), scale_factor=2, mode="nearest")
        fine = self.head_fine(torch.cat([up, route], dim=1))
        return coarse, fine

    def convolutions(self) -> list[nn.Sequential]:
        """In the weights file's order (the cfg's layer order)."""
        return [
            *self.backbone,
            self.reduce,
            *self.head_coarse,
            self.lateral,
            *self.head_fine,
        ]


class _Flat(nn.Module):
    """Both heads as one (N, K) array: what the exported runtimes (runtimes.py) return."""

    def __init__(self, model: YoloV3Tiny):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        coarse, fine = self.model(x)
        return torch.cat([coarse.flatten(1), fine.flatten(1)], dim=1)


def _unflat(flat: torch.Tensor, size: int = INPUT_SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    channels, coarse = 3 * (5 + CLASSES), size // 32
    split = channels * coarse * coarse
    n = flat.shape[0]
    return (
        flat[:, :split].reshape(n, channels, coarse, coarse),
        flat[:, split:].reshape(n, channels, 2 * coarse, 2 * coarse),
    )


def load_darknet_weights(model: YoloV3Tiny, path: Path) -> None:
    """Fill the model from a darknet .weights file; ValueError when its size does not fit."""
    with open(path, "rb") as f:
        major, minor, _revision = np.fromfile(f, dtype=np.int32, count=3)
        np.fromfile(f, dtype=np.int64 if major * 10 + minor >= 2 else np.int32, count=1)
        values = np.fromfile(f, dtype=np.float32)
    at = 0

    def take(tensor: torch.Tensor) -> None:
        nonlocal at
        n = tensor.numel()
        if at + n > values.size:
            raise ValueError(f"{path.name} ends before the network's weights do")
        tensor.data.copy_(torch.from_numpy(values[at : at + n].copy()).view_as(tensor))
        at += n

    for block in model.convolutions():
        conv = block[0]
        if len(block) > 1:
            bn = block[1]
            for tensor in (bn.bias, bn.weight, bn.running_mean, bn.running_var):
                take(tensor)
        else:
            take(conv.bias)
        take(conv.weight)
    if at != values.size:
        raise ValueError(f"{path.name} has {values.size - at} values more than yolov3-tiny")


@dataclass(frozen=True)
class Box:
    """One detection in the picture's pixels: x0, y0 (top left) and x1, y1 (bottom right)."""

    class_index: int
    label: str
    score: float
    x0: float
    y0: float
    x1: float
    y1: float

    def as_dict(self) -> dict:
        return {
            "class_index": self.class_index,
            "label": self.label,
            "score": round(self.score, 4),
            "box": [round(v, 1) for v in (self.x0, self.y0, self.x1, self.y1)],
        }


@dataclass(frozen=True)
class Letterbox:
    """How a picture sits in the square input: scaled by `scale`, offset by (dx, dy)."""

    scale: float
    dx: float
    dy: float


def letterbox(
    image: Image.Image, size: int = INPUT_SIZE, fill: float = 1.0
) -> tuple[np.ndarray, Letterbox]:
    """The picture scaled to fit `fill` of a size×size square, centred on grey (darknet's
    letterbox at fill 1), as float32 CHW in 0–1."""
    image = image.convert("RGB")
    scale = fill * min(size / image.width, size / image.height)
    w, h = max(1, round(image.width * scale)), max(1, round(image.height * scale))
    canvas = np.full((size, size, 3), 0.5, np.float32)
    dx, dy = (size - w) // 2, (size - h) // 2
    resized = image.resize((w, h), Image.Resampling.BILINEAR)
    canvas[dy : dy + h, dx : dx + w] = np.asarray(resized, np.float32) / 255
    return np.ascontiguousarray(canvas.transpose(2, 0, 1)), Letterbox(scale, dx, dy)


def decode(
    outputs: tuple[torch.Tensor, torch.Tensor], size: int = INPUT_SIZE
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both heads' raw outputs → per image, boxes (N, 4: x0 y0 x1 y1 in input pixels) and class
    scores (N, 80: objectness × class probability)."""
    boxes, scores = [], []
    for raw, anchors in zip(outputs, (ANCHORS[3:], ANCHORS[:3]), strict=True):
        n, _, gh, gw = raw.shape
        p = raw.view(n, 3, 5 + CLASSES, gh, gw).permute(0, 1, 3, 4, 2).float()
        ys, xs = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
        anchor = torch.tensor(anchors, dtype=torch.float32).view(1, 3, 1, 1, 2)
        cx = (p[..., 0].sigmoid() + xs) * (size / gw)
        cy = (p[..., 1].sigmoid() + ys) * (size / gh)
        wh = p[..., 2:4].exp() * anchor
        corners = torch.stack(
            [cx - wh[..., 0] / 2, cy - wh[..., 1] / 2, cx + wh[..., 0] / 2, cy + wh[..., 1] / 2],
            dim=-1,
        )
        boxes.append(corners.reshape(n, -1, 4))
        scores.append((p[..., 4:5].sigmoid() * p[..., 5:].sigmoid()).reshape(n, -1, CLASSES))
    return torch.cat(boxes, 1), torch.cat(scores, 1)


@functools.cache
def coco_labels(path: Path) -> tuple[str, ...]:
    labels = tuple(line.strip() for line in path.read_text().splitlines() if line.strip())
    if len(labels) != CLASSES:
        raise ValueError(f"{path} must list the {CLASSES} COCO classes")
    return labels


class Detector:
    """A loaded detector: detect() takes PIL pictures, gives each one's boxes in its pixels."""

    task = "detect"

    def __init__(
        self,
        spec: DetectorSpec,
        device: str | None = None,
        backend: str = "torch",
        cache_dir: Path | None = None,
    ):
        paths = spec.paths()
        if paths is None:
            raise WeightsMissing(f"No weights for {spec.name}. {spec.missing_help}")
        self.name = spec.name
        self.title = spec.title
        self.spec = spec
        self.weights_path = paths.weights
        self.weights_sha256 = sha256_of(paths.weights)
        self.labels = coco_labels(paths.names)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        model = YoloV3Tiny()
        load_darknet_weights(model, paths.weights)
        self.model = model.eval().to(self.device)
        self.lock = threading.Lock()  # one forward at a time per process, as the classifier
        # The same CPU runtimes as the classifiers (f32), exported once per weights and cached.
        self.backend = backend if self.device.type == "cpu" else "torch"
        self._run = None
        if self.backend != "torch":
            self._run = runtimes.compile_model(
                _Flat(self.model),
                INPUT_SIZE,
                self.backend,
                torch.get_num_threads(),
                cache_dir,
                cache_key=f"{self.name}-{self.weights_sha256[:16]}",
            )

    def warm_up(self) -> None:
        self.detect([Image.new("RGB", (320, 240), (124, 116, 104))])

    def prepare(
        self, images: Sequence[Image.Image], scales: Sequence[float] = SCALES
    ) -> tuple[torch.Tensor, list[Letterbox]]:
        """The input batch (each picture letterboxed at each scale, 0–1, picture by picture)
        and where each one sits in its square."""
        prepared = [letterbox(image, fill=scale) for image in images for scale in scales]
        batch = torch.from_numpy(np.stack([array for array, _ in prepared]))
        return batch, [placed for _, placed in prepared]

    def raw_scores(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Every candidate box and its class scores, in input pixels (D-RISE reads these)."""
        if self._run is not None:
            with self.lock:
                outputs = _unflat(torch.from_numpy(self._run(batch.numpy())).float())
        else:
            with self.lock, torch.inference_mode():
                outputs = tuple(o.cpu() for o in self.model(batch.to(self.device)))
        return decode(outputs)

    def detect_prepared(
        self,
        batch: torch.Tensor,
        placements: Sequence[Letterbox],
        sizes: Sequence[tuple[int, int]],
    ) -> list[list[Box]]:
        all_boxes, all_scores = self.raw_scores(batch)
        per = len(placements) // len(sizes)  # the scales of each picture, in a row
        found = []
        for n, size in enumerate(sizes):
            at = slice(n * per, (n + 1) * per)
            in_picture = [
                _in_picture(boxes, placed)
                for boxes, placed in zip(all_boxes[at], placements[at], strict=True)
            ]
            found.append(
                self._boxes_of(torch.cat(in_picture), torch.cat(list(all_scores[at])), size)
            )
        return found

    def detect(self, images: Sequence[Image.Image]) -> list[list[Box]]:
        batch, placements = self.prepare(images)
        return self.detect_prepared(batch, placements, [image.size for image in images])

    def _boxes_of(
        self, boxes: torch.Tensor, scores: torch.Tensor, size: tuple[int, int]
    ) -> list[Box]:
        """One picture's candidates (in its pixels, from every scale) → its detections (score
        floor, NMS per class), best first."""
        anchor_index, class_index = (scores >= SCORE_FLOOR).nonzero(as_tuple=True)
        kept_scores = scores[anchor_index, class_index]
        kept_boxes = boxes[anchor_index]
        keep = batched_nms(kept_boxes, kept_scores, class_index, NMS_IOU)[:MAX_BOXES]
        width, height = size
        found = []
        for i in keep.tolist():
            x0, y0, x1, y1 = kept_boxes[i].tolist()
            x0, x1 = min(max(x0, 0.0), width), min(max(x1, 0.0), width)
            y0, y1 = min(max(y0, 0.0), height), min(max(y1, 0.0), height)
            if x1 - x0 < 1 or y1 - y0 < 1:
                continue
            label_index = int(class_index[i])
            found.append(
                Box(label_index, self.labels[label_index], float(kept_scores[i]), x0, y0, x1, y1)
            )
        return found


def _in_picture(boxes: torch.Tensor, placed: Letterbox) -> torch.Tensor:
    """Boxes in input pixels → in the picture's pixels (not clipped)."""
    offset = torch.tensor([placed.dx, placed.dy, placed.dx, placed.dy], dtype=boxes.dtype)
    return (boxes - offset) / placed.scale


def load_detector(name: str, backend: str = "torch", cache_dir: Path | None = None) -> Detector:
    """The named detector on a backend, loaded once per process; "auto": the fastest here,
    measured once (as classifier.fastest_backend does for a classifier)."""
    if backend == AUTO:
        backend = fastest_backend(name, cache_dir)
    return _loaded(name, backend, None if backend == "torch" else cache_dir)


@functools.cache
def fastest_backend(name: str, cache_dir: Path | None = None) -> str:
    """The runtime that detects in one picture fastest on this machine (torch on a GPU)."""
    candidates = ["torch", *(b for b in runtimes.available_backends() if b != "torch")]
    if torch.cuda.is_available() or len(candidates) == 1:
        return "torch"
    timings = {}
    for backend in candidates:
        detector = _loaded(name, backend, None if backend == "torch" else cache_dir)
        batch, _ = detector.prepare([Image.new("RGB", (320, 240), (124, 116, 104))])
        call = functools.partial(detector.raw_scores, batch)
        timings[backend] = runtimes.time_calls(call, 7).median_ms
    chosen = min(timings, key=timings.__getitem__)
    log.info("backend for %s: %s (median ms at batch 1: %s)", name, chosen, timings)
    return chosen


@functools.cache
def _loaded(name: str, backend: str = "torch", cache_dir: Path | None = None) -> Detector:
    return Detector(detector_spec_of(name), backend=backend, cache_dir=cache_dir)
