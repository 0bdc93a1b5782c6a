"""Where a classifier looks for one class, in the image's own pixels: Grad-CAM, and the other
class activation maps of the `grad-cam` package (pytorch-grad-cam) on the same target layer."""

from __future__ import annotations

import cv2
import numpy as np
import torch
from PIL import Image

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
    compute = grad_cam_values if method == "gradcam" else _package_cam(method)
    with classifier.lock, torch.enable_grad():
        try:
            values = compute(model, layer, batch, class_index)
        finally:
            model.zero_grad(set_to_none=True)  # the parameters' gradients: memory, nothing else
    values = np.nan_to_num(np.asarray(values, np.float32))
    if values.max() > 0:
        values = values / values.max()
    return _place_in_crop(np.clip(values, 0, 1), image.size, classifier.spec.crop_fraction)


def grad_cam_values(model, layer, batch, class_index: int) -> np.ndarray:
    """Grad-CAM as the grad-cam package's GradCAM computes it, operation for operation (a test
    holds the two equal), without the package: importing it pulls in torchvision, matplotlib and
    scikit-learn, seconds of start-up for every process that explains with the default method."""
    kept = []
    handle = layer.register_forward_hook(lambda _module, _inputs, output: kept.append(output))
    try:
        scores = model(batch)
    finally:
        handle.remove()
    [activations] = kept
    [grads] = torch.autograd.grad(scores[0, class_index], activations)
    activations, grads = activations.detach().cpu().numpy(), grads.cpu().numpy()
    weights = np.mean(grads, axis=(2, 3))
    cam = np.maximum((weights[:, :, None, None] * activations).sum(axis=1), 0)[0]
    # Stretched, resized to the input's size and stretched again: the package does the second
    # after averaging its target layers (one here, so the average is the map itself).
    return _stretch(cv2.resize(_stretch(cam), (batch.shape[-1], batch.shape[-2])))


def _stretch(values: np.ndarray) -> np.ndarray:
    """The package's min-max scaling (its scale_cam_image), its epsilon included."""
    values = values - np.min(values)
    return np.float32(values / (1e-7 + np.max(values)))


def _package_cam(method: str):
    def compute(model, layer, batch, class_index: int) -> np.ndarray:
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        from .cams import CAMS

        with CAMS[method](model, [layer]) as cam:
            [values] = cam(batch, [ClassifierOutputTarget(class_index)])
        return values

    return compute


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
