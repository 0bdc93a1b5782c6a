"""The shipped gallery: public-domain, CC0 and CC BY photos bundled with scikit-image,
scikit-learn and Matplotlib (the last six give docs/understanding_study.json photos the default
model gets right and wrong; two are crops of another photo)."""

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
    package: str = "skimage"  # whose data folder holds the file
    crop: tuple[float, float, float, float] | None = None  # left, top, right, bottom as shares

    def open(self) -> Image.Image:
        image = Image.open(_data_dir(self.package) / self.file)
        if self.crop is None:
            return image
        width, height = image.size
        left, top, right, bottom = self.crop
        return image.crop((round(left * width), round(top * height), round(right * width),
                           round(bottom * height)))  # fmt: skip


def _data_dir(package: str) -> Path:
    if package == "skimage":
        import skimage.data

        return Path(skimage.data.data_dir)
    if package == "sklearn":
        import sklearn.datasets

        return Path(sklearn.datasets.__file__).parent / "images"
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data"


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
    GalleryPhoto(
        "clock",
        "clock_motion.png",
        "Wall clock",
        "Stefan van der Walt (scikit-image)",
        "Public domain",
    ),
    GalleryPhoto(
        "palace",
        "china.jpg",
        "Chinese palace",
        "danielbuechele on Flickr (scikit-learn)",
        "CC BY 2.0",
        package="sklearn",
    ),
    GalleryPhoto(
        "grace-hopper",
        "grace_hopper.jpg",
        "Grace Hopper",
        "US Navy (Matplotlib)",
        "Public domain",
        package="matplotlib",
    ),
    GalleryPhoto("horse", "horse.png", "Horse silhouette", "Andreas Preuss (scikit-image)", "CC0"),
    GalleryPhoto(
        "rocket-close",
        "rocket.jpg",
        "Falcon 9 launch, close",
        "SpaceX (scikit-image), cropped",
        "Public domain",
        crop=(0.3, 0.0, 0.7, 0.7),
    ),
    GalleryPhoto(
        "camera-close",
        "camera.png",
        "Photographer's camera, close",
        "Lav Varshney (scikit-image), cropped",
        "CC0",
        crop=(150 / 512, 30 / 512, 350 / 512, 230 / 512),
    ),
)
