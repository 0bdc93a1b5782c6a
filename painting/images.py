"""Reading untrusted image bytes safely, and writing the files we store. Pure; no Django."""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import warnings
from collections.abc import Iterator
from typing import BinaryIO

from PIL import Image, ImageOps, UnidentifiedImageError

UPLOAD_FORMATS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP"}


class ImageRejected(ValueError):
    """Bytes that are not an acceptable image; the message is meant for the user."""


def open_untrusted(
    source: bytes | BinaryIO, *, formats: dict[str, str], max_pixels: int
) -> Image.Image:
    """Decode bytes into a fully loaded image, checking format and size before decoding pixels."""
    too_large = f"The image is too large to decode safely (the limit is {megapixels(max_pixels)})."
    with _refusing(formats, too_large=too_large):
        image = Image.open(_readable(source), formats=list(formats))
        width, height = image.size
        if width * height > max_pixels:
            raise ImageRejected(
                f"The image is {width}×{height} pixels "
                f"({megapixels(width * height, up=True)}); the limit is {megapixels(max_pixels)}."
            )
        image.load()
    return image


def open_mask(source: bytes | BinaryIO, size: tuple[int, int]) -> Image.Image:
    """A painted mask: a PNG of exactly the picture's size (never reduced: it must match the
    picture pixel for pixel), its size checked before any pixel is decoded."""
    again = "; reload the page and paint again."
    too_large = f"The mask is far larger than the image ({size[0]}×{size[1]} pixels){again}"
    with _refusing({"PNG": "PNG"}, too_large=too_large, prefix="The mask must be a PNG image: "):
        image = Image.open(_readable(source), formats=["PNG"])
        if image.size != size:
            raise ImageRejected(
                f"The mask is {image.width}×{image.height} pixels but the image is "
                f"{size[0]}×{size[1]}{again}"
            )
        image.load()
    return image


def _readable(source: bytes | BinaryIO) -> BinaryIO:
    if isinstance(source, bytes):
        return io.BytesIO(source)
    source.seek(0)
    return source


@contextlib.contextmanager
def _refusing(formats: dict[str, str], *, too_large: str, prefix: str = "") -> Iterator[None]:
    """Whatever Pillow raises on hostile bytes becomes an ImageRejected with a clear message."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(too_large) from exc
    except UnidentifiedImageError as exc:
        names = ", ".join(formats.values())
        raise ImageRejected(f"{prefix}That file is not an image we can read ({names}).") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejected(f"{prefix}The image file is damaged or truncated.") from exc


def megapixels(pixels: int, *, up: bool = False) -> str:
    """A pixel count as people read it: "40 megapixels", "39.7 megapixels"."""
    return f"{_amount(pixels / 1e6, up)} megapixels"


def file_size(size: int, *, up: bool = False) -> str:
    """A size in bytes as people read it, in binary units: 20 × 1024 × 1024 bytes is "20 MB"."""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{_amount(size / 1024, up)} KB"
    return f"{_amount(size / (1024 * 1024), up)} MB"


def _amount(value: float, up: bool) -> str:
    """Three significant digits, no trailing zeros. A limit is rounded down (`up` false) and what
    went over it rounded up, so something over a limit never reads as the limit itself."""
    if value <= 0:
        return "0"
    places = max(0, 2 - math.floor(math.log10(value)))
    step = 10**-places
    rounded = (math.ceil if up else math.floor)(round(value / step, 6)) * step
    return f"{rounded:.{places}f}".rstrip("0").rstrip(".") if places else f"{rounded:.0f}"


def working_copy(image: Image.Image, max_side: int) -> Image.Image:
    """Upright RGB, no longer than max_side: the picture users paint on and the model sees."""
    # An unreadable EXIF block is not worth refusing a photo for.
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
        image = ImageOps.exif_transpose(image)
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)
    rgb = _to_rgb(image)
    if max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return rgb


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale to 8 bits rather than clip.
        return image.point(lambda v: v / 256).convert("L").convert("RGB")
    return image.convert("RGB")


def png_bytes(image: Image.Image, *, fast: bool = False) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1 if fast else 6)
    return buffer.getvalue()


def jpeg_bytes(image: Image.Image, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def thumbnail(image: Image.Image, side: int = 160) -> Image.Image:
    copy = image.convert("RGB")
    copy.thumbnail((side, side), Image.Resampling.LANCZOS)
    return copy


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
