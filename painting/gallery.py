"""The shipped gallery: public-domain and CC0 photos bundled with scikit-image."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image


@dataclass(frozen=True)
class GalleryPhoto:
    slug: str
    file: str  # in skimage's data directory
    title: str
    source: str
    licence: str

    def open(self) -> Image.Image:
        import skimage.data

        return Image.open(Path(skimage.data.data_dir) / self.file)


PHOTOS = (
    GalleryPhoto("coffee", "coffee.png", "Coffee", "Rachel Michetti (scikit-image)", "CC0"),
    GalleryPhoto(
        "chelsea", "chelsea.png", "Chelsea the cat", "Stefan van der Walt (scikit-image)", "CC0"
    ),
    GalleryPhoto(
        "astronaut",
        "astronaut.png",
        "Astronaut Eileen Collins",
        "NASA (scikit-image)",
        "Public domain",
    ),
    GalleryPhoto(
        "rocket", "rocket.jpg", "Falcon 9 launch", "SpaceX (scikit-image)", "Public domain"
    ),
    GalleryPhoto("camera", "camera.png", "Photographer", "Lav Varshney (scikit-image)", "CC0"),
    GalleryPhoto(
        "hubble",
        "hubble_deep_field.jpg",
        "Hubble deep field",
        "NASA (scikit-image)",
        "Public domain",
    ),
)
