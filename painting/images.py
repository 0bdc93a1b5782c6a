"""Reading untrusted image bytes safely, and writing the files we store. Pure; no Django."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import io
import math
import warnings
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import BinaryIO

from PIL import Image, ImageOps, UnidentifiedImageError

UPLOAD_FORMATS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP"}


class ImageRejected(ValueError):
    """Bytes that are not an acceptable image; the message is meant for the user."""


def open_upload(
    source: bytes | BinaryIO,
    *,
    max_pixels: int,
    max_side: int,
    gate: AbstractContextManager | None = None,
) -> Image.Image:
    """The working copy (see working_copy) of an uploaded photo, decoded at a bounded cost.

    The format and the pixel count are checked before any pixel is decoded. A 40-megapixel
    upload is 160 MB once decoded, and one web process serves many uploads at once: so a JPEG
    is decoded already scaled down (libjpeg's DCT scaling), other formats are reduced as soon as
    they are decoded, and no full-size copy outlives `gate`, which the caller uses to bound how
    many decodes run at the same time."""
    too_large = f"The image is too large to decode safely (the limit is {megapixels(max_pixels)})."
    with _refusing(UPLOAD_FORMATS, too_large=too_large):
        image = Image.open(_readable(source), formats=list(UPLOAD_FORMATS))
        width, height = image.size
        if width * height > max_pixels:
            raise ImageRejected(
                f"The image is {width}×{height} pixels "
                f"({megapixels(width * height, up=True)}); the limit is {megapixels(max_pixels)}."
            )
        if max(image.size) > max_side:
            # The size it will end up; libjpeg picks the smallest scale at least that large.
            scale = max_side / max(image.size)
            image.draft(None, (math.ceil(width * scale), math.ceil(height * scale)))
        with gate or contextlib.nullcontext():
            image.load()
            image = working_copy(_reduced(image, max_side), max_side)
    release_freed_memory()
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


# 8 bits a channel: averaging blocks of these is what resampling does anyway (Pillow premultiplies
# alpha). Palette, bilevel and 16-bit images are converted to RGB first.
_REDUCIBLE_MODES = {"L", "LA", "RGB", "RGBA", "CMYK"}


def _reduced(image: Image.Image, max_side: int) -> Image.Image:
    """Shrink a freshly decoded image by a whole factor, leaving at least twice max_side for the
    final Lanczos resize (the reducing_gap Image.thumbnail itself uses)."""
    factor = max(image.size) // (2 * max_side)
    if factor < 2:
        return image
    if image.mode not in _REDUCIBLE_MODES:
        image = _to_rgb(image)
    return image.reduce(factor)


def release_freed_memory() -> None:
    """Hand freed memory back to the system now: glibc keeps what many threads freed in their
    arenas, so the web process would stay at its peak size after a burst of large decodes."""
    if _libc is not None:
        _libc.malloc_trim(0)


def _load_libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim  # noqa: B018 (glibc only: musl and macOS have none)
    except (OSError, AttributeError):
        return None
    return libc


_libc = _load_libc()


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
