"""Where a classifier looks for one class, in the image's own pixels: Grad-CAM, and the other
class activation maps of methods.METHODS (cams.py) on the same target layer."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from .cams import CAMS
from .classifier import Classifier
from .methods import DEFAULT
from .registry import saliency_layer_of


def explanation_map(
    classifier: Classifier, image: Image.Image, class_index: int, method: str = DEFAULT
) -> np.ndarray:
    """A class activation map by `method` (a methods.METHODS key), in the image's own pixels
    (0–1; 0 outside the model's crop). In torch, whatever runtime the classifier classifies on."""
    image = image.convert("RGB")
    model = classifier.model
    layer = dict(model.named_modules())[saliency_layer_of(classifier.name)]
    batch = classifier.preprocess(image)[None].to(classifier.device)
    # Gradients with respect to the target layer only (torch.autograd.grad): the parameters'
    # own .grad stay unset.
    with classifier.lock, torch.enable_grad():
        values = CAMS[method](model, layer, batch, class_index)
    values = np.nan_to_num(np.asarray(values, np.float32))
    if values.max() > 0:
        values = values / values.max()
    return _place_in_crop(np.clip(values, 0, 1), image.size, classifier.spec.crop_fraction)


def grad_cam(classifier: Classifier, image: Image.Image, class_index: int) -> np.ndarray:
    """Grad-CAM of one class, in the image's own pixels (0–1; 0 outside the model's crop)."""
    return explanation_map(classifier, image, class_index, "gradcam")


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
