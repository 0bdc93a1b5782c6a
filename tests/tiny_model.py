"""A tiny classifier for the tests that need an answer, not the right answer: a real torch
network (two convolutions, a linear layer over the 1000 ImageNet classes) with fixed random
weights, registered beside the real models. It runs the whole path (registry, weights file and
its sha256, OpenVINO export, Grad-CAM) in milliseconds instead of the real model's seconds.

The app never registers it: only the tests do (conftest.py). Tests that check what a real
model answers are marked `real_model` and use the real default (see docs/testing.md)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from painting.inference import registry

NAME = "tiny-test"
INPUT_SIZE = 64


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 5, stride=4, padding=2),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.classifier = nn.Linear(32, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.features(x).mean(dim=(2, 3))
        return self.classifier(nn.functional.layer_norm(pooled, pooled.shape[1:]))


def _weights() -> dict[str, torch.Tensor]:
    """The same weights in every run (so the exported OpenVINO model is cached by their
    sha256), scaled so that the answers are confident and move when an image is painted."""
    generator = torch.Generator().manual_seed(0)
    model = TinyNet()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
        model.classifier.weight.mul_(4)
    return model.state_dict()


def _build(weights_path: Path):
    model = TinyNet()
    model.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
    # The EfficientNet-Lite pipeline at 64 px: resize, centre crop, pixels in [-1, 1].
    return model, registry._efficientnet_lite_transform(INPUT_SIZE)


def register(directory: Path) -> str:
    """Write the weights file into directory and list the model in the registry."""
    path = Path(directory) / f"{NAME}.pth"
    if not path.is_file():
        torch.save(_weights(), path)
    resize_to = int(INPUT_SIZE / 0.875)
    registry.REGISTRY[NAME] = registry.ModelSpec(
        NAME,
        "Tiny test network (fixed random weights)",
        lambda: path,
        _build,
        "It is registered by the tests only.",
        INPUT_SIZE / resize_to,
        f"bicubic resize of the short side to {resize_to}, center crop {INPUT_SIZE}, x/127.5-1",
    )
    registry.SALIENCY_LAYERS[NAME] = "features"
    return NAME
