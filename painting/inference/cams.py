"""The class activation maps of the `grad-cam` package (pytorch-grad-cam) behind
methods.METHODS, and a bounded Score-CAM. Imported only where a map is computed (gradcam.py)."""

from __future__ import annotations

import numpy as np
import torch
from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus, HiResCAM
from pytorch_grad_cam.base_cam import BaseCAM

from .methods import METHODS

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
