"""The explanation methods on offer, by key: what the web side needs to name them, without
importing torch (cams.py computes them, gradcam.py places them in the image)."""

from __future__ import annotations

DEFAULT = "gradcam"
# Key: (title, how it weighs the target layer's channels). The first is the default.
METHODS = {
    "gradcam": ("Grad-CAM", "gradients averaged per channel"),
    "gradcampp": ("Grad-CAM++", "second-order gradient weights"),
    "hirescam": ("HiResCAM", "gradients times activations, per pixel"),
    "scorecam": (
        "Score-CAM",
        "the class score of the image seen through each of its most varied channels",
    ),
    "eigencam": (
        "EigenCAM",
        "the first principal component of the activations (the same for every class)",
    ),
}


def title_of(key: str) -> str:
    if key.startswith("box-"):  # the detect task's map of one box (painting.detection_view)
        return f"D-RISE of box {key[4:]}"
    return METHODS[key][0] if key in METHODS else key


CHOICES = [(key, title) for key, (title, _about) in METHODS.items()]
