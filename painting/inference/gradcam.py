"""Grad-CAM: where a classifier looks for one class, in the image's own pixels."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from .classifier import Classifier
from .registry import saliency_layer_of


def grad_cam(classifier: Classifier, image: Image.Image, class_index: int) -> np.ndarray:
    """Grad-CAM of one class, in the image's own pixels (0–1; 0 outside the model's crop).
    Always in torch, whatever runtime the classifier classifies on: it needs gradients."""
    image = image.convert("RGB")
    model = classifier.model
    layer = dict(model.named_modules())[saliency_layer_of(classifier.name)]
    captured = {}
    hook = layer.register_forward_hook(lambda _m, _i, output: captured.update(a=output))
    try:
        batch = classifier.preprocess(image)[None].to(classifier.device)
        with classifier.lock, torch.enable_grad():
            logits = model(batch)
            (grads,) = torch.autograd.grad(logits[0, class_index], captured["a"])
        activations = captured["a"].detach()
    finally:
        hook.remove()
    weights = grads.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * activations).sum(dim=1))[0].float().cpu().numpy()
    if cam.max() > 0:
        cam = cam / cam.max()
    return _place_in_crop(cam, image.size, classifier.spec.crop_fraction)


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
