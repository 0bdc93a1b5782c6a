"""The class activation maps behind methods.METHODS, in the input batch's pixels, computed as the
`grad-cam` package (pytorch-grad-cam 1.5.7) computes them, operation for operation (a test holds
each equal to the package's to the last bit), without the package: importing it pulls in
torchvision, matplotlib and scikit-learn, seconds of start-up for every process that explains.
Each takes a batch of one image and returns its map (float32, 0–1, the input's height × width)."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from .methods import METHODS

# Score-CAM runs the model once per channel of the target layer (1280 for EfficientNet-Lite,
# 2048 for ResNet-50): on a CPU that is a minute of the analysis worker per exploration. It
# scores only the channels whose activations vary most instead (Faster Score-CAM's choice; the
# others get no weight), in batches, and never holds the masked copies of all of them at once.
SCORE_CAM_CHANNELS = 64
SCORE_CAM_BATCH = 16


def grad_cam_values(model, layer, batch, class_index: int) -> np.ndarray:
    """Grad-CAM: each channel weighted by its gradients' mean."""
    activations, grads = _activations_and_gradients(model, layer, batch, class_index)
    return _scaled(_weighted(np.mean(grads, axis=(2, 3)), activations), batch)


def grad_cam_pp_values(model, layer, batch, class_index: int) -> np.ndarray:
    """Grad-CAM++ (Chattopadhyay et al. 2018): the positive gradients, weighted per pixel by
    second- and third-order terms (its equation 19)."""
    activations, grads = _activations_and_gradients(model, layer, batch, class_index)
    grads_power_2 = grads**2
    grads_power_3 = grads_power_2 * grads
    sum_activations = np.sum(activations, axis=(2, 3))
    sum_activations = sum_activations.reshape(sum_activations.shape + (1, 1))
    aij = grads_power_2 / (2 * grads_power_2 + sum_activations * grads_power_3 + 0.000001)
    aij = np.where(grads != 0, aij, 0)
    weights = np.sum(np.maximum(grads, 0) * aij, axis=(2, 3))
    return _scaled(_weighted(weights, activations), batch)


def hires_cam_values(model, layer, batch, class_index: int) -> np.ndarray:
    """HiResCAM (Draelos & Carin 2020): gradients times activations, pixel by pixel."""
    activations, grads = _activations_and_gradients(model, layer, batch, class_index)
    return _scaled((grads * activations).sum(axis=1)[0], batch)


def score_cam_values(model, layer, batch, class_index: int) -> np.ndarray:
    """Score-CAM (Wang et al. 2020) on the SCORE_CAM_CHANNELS channels of highest variance: each
    weighted by the softmax over those channels of the class score of the image seen through the
    channel (upsampled, stretched to 0–1)."""
    _scores, activations = _forward(model, layer, batch)
    activations = activations.detach()
    weights = np.zeros(activations.shape[:2], np.float32)
    upsample = torch.nn.UpsamplingBilinear2d(size=batch.shape[-2:])
    with torch.no_grad():
        variance = activations[0].flatten(1).var(dim=1)
        channels = torch.argsort(variance, descending=True)[:SCORE_CAM_CHANNELS]
        scores = []
        for start in range(0, len(channels), SCORE_CAM_BATCH):
            chosen = channels[start : start + SCORE_CAM_BATCH]
            maps = upsample(activations[0, chosen][:, None])
            low = maps.amin(dim=(2, 3), keepdim=True)
            high = maps.amax(dim=(2, 3), keepdim=True)
            maps = (maps - low) / (high - low + 1e-8)
            scores += [output[class_index].item() for output in model(batch[0][None] * maps)]
        weights[0, channels.cpu().numpy()] = torch.softmax(torch.tensor(scores), dim=0).numpy()
    return _scaled(_weighted(weights, activations.cpu().numpy()), batch)


def eigen_cam_values(model, layer, batch, class_index: int) -> np.ndarray:
    """EigenCAM (Muhammad & Yeasin 2020): the activations' projection on their first principal
    component (centred, by SVD); the same for every class."""
    _scores, activations = _forward(model, layer, batch)
    activations = activations.detach().cpu().numpy().copy()
    activations[np.isnan(activations)] = 0
    pixels = activations[0].reshape(activations.shape[1], -1).transpose()
    pixels = pixels - pixels.mean(axis=0)
    _u, _s, vt = np.linalg.svd(pixels, full_matrices=True)
    projection = (pixels @ vt[0, :]).reshape(activations.shape[2:])
    return _scaled(np.float32(projection), batch)


# The computation of each of methods.METHODS.
CAMS = {
    "gradcam": grad_cam_values,
    "gradcampp": grad_cam_pp_values,
    "hirescam": hires_cam_values,
    "scorecam": score_cam_values,
    "eigencam": eigen_cam_values,
}
assert set(CAMS) == set(METHODS)


def _forward(model, layer, batch) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's scores for the batch, and the target layer's output on the way."""
    kept = []
    handle = layer.register_forward_hook(lambda _module, _inputs, output: kept.append(output))
    try:
        scores = model(batch)
    finally:
        handle.remove()
    [activations] = kept
    return scores, activations


def _activations_and_gradients(model, layer, batch, class_index: int):
    """The target layer's output, and the class score's gradient with respect to it."""
    scores, activations = _forward(model, layer, batch)
    [grads] = torch.autograd.grad(scores[0, class_index], activations)
    return activations.detach().cpu().numpy(), grads.cpu().numpy()


def _weighted(weights: np.ndarray, activations: np.ndarray) -> np.ndarray:
    """The channels summed, each times its weight."""
    return (weights[:, :, None, None] * activations).sum(axis=1)[0]


def _scaled(cam: np.ndarray, batch) -> np.ndarray:
    """The package's tail: the map's positive part stretched to 0–1, resized to the input's size
    and stretched again (the package does the second after averaging its target layers: one
    here, so the average is the map itself)."""
    cam = np.maximum(cam, 0)
    return _stretch(cv2.resize(_stretch(cam), (batch.shape[-1], batch.shape[-2])))


def _stretch(values: np.ndarray) -> np.ndarray:
    """The package's min-max scaling (its scale_cam_image), its epsilon included."""
    values = values - np.min(values)
    return np.float32(values / (1e-7 + np.max(values)))
