import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from painting.images import (
    UPLOAD_FORMATS,
    ImageRejected,
    file_size,
    megapixels,
    open_untrusted,
    working_copy,
)


def encode(image: Image.Image, fmt: str, **kw) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kw)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims huge dimensions (a decompression bomb's header)."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def open_upload(data: bytes, max_pixels: int = 40_000_000) -> Image.Image:
    return open_untrusted(data, formats=UPLOAD_FORMATS, max_pixels=max_pixels)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_it_reads_the_upload_formats(fmt):
    image = open_upload(encode(Image.new("RGB", (30, 20), "red"), fmt))
    assert image.size == (30, 20)


def test_it_rejects_bytes_that_are_not_an_image():
    with pytest.raises(ImageRejected, match="not an image"):
        open_upload(b"%PDF-1.4 definitely not a picture")


def test_it_rejects_formats_outside_the_list():
    with pytest.raises(ImageRejected, match="not an image"):
        open_upload(encode(Image.new("RGB", (8, 8)), "BMP"))


def test_it_rejects_a_truncated_file():
    data = encode(Image.effect_noise((200, 200), 60).convert("RGB"), "JPEG")
    with pytest.raises(ImageRejected, match="damaged or truncated"):
        open_upload(data[: len(data) // 2])


def test_it_rejects_too_many_pixels_before_decoding():
    with pytest.raises(ImageRejected) as refused:
        open_upload(png_header_only(6400, 6300))
    assert str(refused.value) == (
        "The image is 6400×6300 pixels (40.4 megapixels); the limit is 40 megapixels."
    )


def test_a_bomb_beyond_pillows_own_limit_is_refused_as_too_large():
    with pytest.raises(ImageRejected, match=r"too large to decode safely \(the limit is 40 meg"):
        open_upload(png_header_only(50_000, 50_000))


@pytest.mark.parametrize(
    "pixels, up, text",
    [
        (40_000_000, False, "40 megapixels"),
        (40_000_001, True, "40.1 megapixels"),
        (39_690_000, True, "39.7 megapixels"),
        (10_000, False, "0.01 megapixels"),
        (240_000, False, "0.24 megapixels"),
    ],
)
def test_megapixels_read_as_people_read_them(pixels, up, text):
    assert megapixels(pixels, up=up) == text


@pytest.mark.parametrize(
    "size, up, text",
    [
        (20 * 1024 * 1024, False, "20 MB"),
        (20 * 1024 * 1024 + 1, True, "20.1 MB"),
        (21_000_000, True, "20.1 MB"),
        (8 * 1024 * 1024, False, "8 MB"),
        (1500, True, "1.47 KB"),
        (1000, False, "1000 bytes"),
    ],
)
def test_file_sizes_read_in_one_unit_with_the_limit_exact(size, up, text):
    assert file_size(size, up=up) == text


def test_exif_rotation_is_applied():
    image = Image.new("RGB", (40, 20), "blue")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    photo = open_upload(encode(image, "JPEG", exif=exif))
    assert working_copy(photo, 1024).size == (20, 40)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "CMYK", "I;16", "L"])
def test_every_mode_becomes_rgb(mode):
    image = Image.new("RGB", (16, 16), (200, 100, 50)).convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    assert working_copy(open_upload(encode(image, fmt)), 1024).mode == "RGB"


def test_transparent_areas_become_white():
    image = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    out = working_copy(open_upload(encode(image, "PNG")), 1024)
    assert out.getpixel((0, 0)) == (255, 255, 255)


def test_sixteen_bit_greys_are_scaled_not_clipped():
    array = np.full((4, 4), 40000, dtype=np.uint16)
    image = Image.fromarray(array)
    out = working_copy(open_upload(encode(image, "PNG")), 1024)
    assert 150 < out.getpixel((0, 0))[0] < 160


def test_large_photos_are_scaled_to_the_working_size():
    out = working_copy(Image.new("RGB", (3000, 1500)), 1024)
    assert out.size == (1024, 512)


def test_an_animated_image_uses_its_first_frame():
    frames = [Image.new("RGB", (10, 10), c) for c in ("red", "green")]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="WEBP", save_all=True, append_images=frames[1:])
    out = working_copy(open_upload(buffer.getvalue()), 1024)
    assert out.getpixel((5, 5))[0] > 200
