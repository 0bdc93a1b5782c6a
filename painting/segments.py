"""Superpixels for the Region tool: SLIC (scikit-image) once per picture, stored as a PNG whose
red and green channels hold each pixel's segment id (id = red + 256 × green), so the browser
reads the whole map with one image decode and paints a tapped segment without asking."""

import io

import numpy as np
from PIL import Image

SEGMENTS = 300  # about; SLIC returns fewer or more
COMPACTNESS = 10
MAX_SIDE = 640  # larger pictures are segmented at this size and the labels scaled up


def slic_labels(image: Image.Image) -> np.ndarray:
    """Segment ids 0..n-1 at the picture's resolution (uint16, every id present)."""
    from skimage.segmentation import slic

    rgb = image.convert("RGB")
    small = rgb
    if max(rgb.size) > MAX_SIDE:
        small = rgb.copy()
        small.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.BILINEAR)
    labels = slic(np.asarray(small), n_segments=SEGMENTS, compactness=COMPACTNESS, start_label=0)
    if small.size != rgb.size:
        scaled = Image.fromarray(labels.astype(np.int32), mode="I").resize(
            rgb.size, Image.Resampling.NEAREST
        )
        labels = np.asarray(scaled)
    # Consecutive ids, none missing (scaling or SLIC itself may leave gaps).
    _, labels = np.unique(labels, return_inverse=True)
    return labels.reshape(rgb.size[1], rgb.size[0]).astype(np.uint16)


def map_of(image: Image.Image) -> tuple[bytes, int]:
    """The Region map of a picture as stored: its PNG and its number of segments."""
    labels = slic_labels(image)
    return encode(labels), int(labels.max()) + 1


def encode(labels: np.ndarray) -> bytes:
    rgb = np.zeros((*labels.shape, 3), dtype=np.uint8)
    rgb[..., 0] = labels & 0xFF
    rgb[..., 1] = labels >> 8
    out = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(out, format="PNG")
    return out.getvalue()


def decode(png: bytes) -> np.ndarray:
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.uint16)
    return rgb[..., 0] + (rgb[..., 1] << 8)
