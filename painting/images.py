"""Reading untrusted image bytes safely, and writing the files we store. Pure; no Django."""

from __future__ import annotations

import contextlib
import hashlib
import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

UPLOAD_FORMATS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP"}


class ImageRejected(ValueError):
    """Bytes that are not an acceptable image; the message is meant for the user."""


def open_untrusted(data: bytes, *, formats: dict[str, str], max_pixels: int) -> Image.Image:
    """Decode bytes into a fully loaded image, checking format and size before decoding pixels."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(formats))
            width, height = image.size
            if width * height > max_pixels:
                raise ImageRejected(
                    f"The image is {width}×{height} pixels "
                    f"({width * height / 1e6:.1f} megapixels); the limit is "
                    f"{max_pixels / 1e6:.0f} megapixels."
                )
            image.load()
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(
            "The image is too large to decode safely "
            f"(the limit is {max_pixels / 1e6:.0f} megapixels)."
        ) from exc
    except UnidentifiedImageError as exc:
        names = ", ".join(formats.values())
        raise ImageRejected(f"That file is not an image we can read ({names}).") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejected("The image file is damaged or truncated.") from exc
    return image


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
