"""Where a classifier looks for one class, in the image's own pixels: Grad-CAM, and the other
class activation maps of the `grad-cam` package (pytorch-grad-cam) on the same target layer."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus, HiResCAM
from pytorch_grad_cam.base_cam import BaseCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from .classifier import Classifier
from .methods import DEFAULT, METHODS
from .registry import saliency_layer_of

# Score-CAM runs the model once per channel of the target layer (1280 for EfficientNet-Lite,
# 2048 for ResNet-50): on a CPU that is a minute of the analysis worker per exploration. It
# scores only the channels whose activations vary most instead (Faster Score-CAM's choice; the
# others get no weight), in batches, and never holds the masked copies of all of them at once.
SCORE_CAM_CHANNELS = 64
SCORE_CAM_BATCH = 16


class BoundedScoreCAM(BaseCAM):
    """Score-CAM (Wang et al. 2020) on the SCORE_CAM_CHANNELS channels of highest variance."""

    def __init__(self, model, target_layers):
        super().__init__(model, target_layers, uses_gradients=False)

    def get_cam_weights(self, input_tensor, target_layer, targets, activations, grads):
        activations = torch.from_numpy(activations).to(self.device)
        weights = np.zeros(activations.shape[:2], np.float32)
        upsample = torch.nn.UpsamplingBilinear2d(size=input_tensor.shape[-2:])
        with torch.no_grad():
            for row, (target, image) in enumerate(zip(targets, input_tensor, strict=True)):
                variance = activations[row].flatten(1).var(dim=1)
                channels = torch.argsort(variance, descending=True)[:SCORE_CAM_CHANNELS]
                scores = []
                for start in range(0, len(channels), SCORE_CAM_BATCH):
                    chosen = channels[start : start + SCORE_CAM_BATCH]
                    maps = upsample(activations[row, chosen][:, None])
                    low = maps.amin(dim=(2, 3), keepdim=True)
                    high = maps.amax(dim=(2, 3), keepdim=True)
                    maps = (maps - low) / (high - low + 1e-8)
                    scores += [target(o).item() for o in self.model(image[None] * maps)]
                weights[row, channels.cpu().numpy()] = torch.softmax(
                    torch.tensor(scores), dim=0
                ).numpy()
        return weights


# The package's class for each of methods.METHODS.
CAMS: dict[str, type[BaseCAM]] = {
    "gradcam": GradCAM,
    "gradcampp": GradCAMPlusPlus,
    "hirescam": HiResCAM,
    "scorecam": BoundedScoreCAM,
    "eigencam": EigenCAM,
}
assert set(CAMS) == set(METHODS)


def explanation_map(
    classifier: Classifier, image: Image.Image, class_index: int, method: str = DEFAULT
) -> np.ndarray:
    """A class activation map by `method` (a methods.METHODS key), in the image's own pixels
    (0–1; 0 outside the model's crop). In torch, whatever runtime the classifier classifies on."""
    image = image.convert("RGB")
    model = classifier.model
    layer = dict(model.named_modules())[saliency_layer_of(classifier.name)]
    batch = classifier.preprocess(image)[None].to(classifier.device)
    with classifier.lock, torch.enable_grad(), CAMS[method](model, [layer]) as cam:
        try:
            [values] = cam(batch, [ClassifierOutputTarget(class_index)])
        finally:
            model.zero_grad(set_to_none=True)  # the parameters' gradients: memory, nothing else
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
