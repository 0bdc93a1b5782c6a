import io
import threading

import numpy as np
import pytest
from PIL import Image

from painting import images
from painting.images import ImageRejected, file_size, megapixels, open_upload, working_copy
from tests.helpers import png_header_only


def encode(image: Image.Image, fmt: str, **kw) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kw)
    return buffer.getvalue()


def upload(data: bytes, max_pixels: int = 40_000_000) -> Image.Image:
    return open_upload(data, max_pixels=max_pixels, max_side=1024)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_it_reads_the_upload_formats(fmt):
    image = upload(encode(Image.new("RGB", (30, 20), "red"), fmt))
    assert image.size == (30, 20)


def test_it_rejects_bytes_that_are_not_an_image():
    with pytest.raises(ImageRejected, match="not an image"):
        upload(b"%PDF-1.4 definitely not a picture")


def test_it_rejects_formats_outside_the_list():
    with pytest.raises(ImageRejected, match="not an image"):
        upload(encode(Image.new("RGB", (8, 8)), "BMP"))


def test_it_rejects_a_truncated_file():
    data = encode(Image.effect_noise((200, 200), 60).convert("RGB"), "JPEG")
    with pytest.raises(ImageRejected, match="damaged or truncated"):
        upload(data[: len(data) // 2])


def test_it_rejects_too_many_pixels_before_decoding():
    with pytest.raises(ImageRejected) as refused:
        upload(png_header_only(6400, 6300))
    assert str(refused.value) == (
        "The image is 6400×6300 pixels (40.4 megapixels); the limit is 40 megapixels."
    )


def test_a_bomb_beyond_pillows_own_limit_is_refused_as_too_large():
    with pytest.raises(ImageRejected, match=r"too large to decode safely \(the limit is 40 meg"):
        upload(png_header_only(50_000, 50_000))


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
    photo = upload(encode(image, "JPEG", exif=exif))
    assert working_copy(photo, 1024).size == (20, 40)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "CMYK", "I;16", "L"])
def test_every_mode_becomes_rgb(mode):
    image = Image.new("RGB", (16, 16), (200, 100, 50)).convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    assert upload(encode(image, fmt)).mode == "RGB"


def test_transparent_areas_become_white():
    image = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    out = upload(encode(image, "PNG"))
    assert out.getpixel((0, 0)) == (255, 255, 255)


def test_sixteen_bit_greys_are_scaled_not_clipped():
    array = np.full((4, 4), 40000, dtype=np.uint16)
    image = Image.fromarray(array)
    out = upload(encode(image, "PNG"))
    assert 150 < out.getpixel((0, 0))[0] < 160


def test_large_photos_are_scaled_to_the_working_size():
    out = working_copy(Image.new("RGB", (3000, 1500)), 1024)
    assert out.size == (1024, 512)


def test_an_animated_image_uses_its_first_frame():
    frames = [Image.new("RGB", (10, 10), c) for c in ("red", "green")]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="WEBP", save_all=True, append_images=frames[1:])
    out = upload(buffer.getvalue())
    assert out.getpixel((5, 5))[0] > 200


def photo(name: str = "coffee", scale: int = 8) -> Image.Image:
    """A gallery photo blown up to what a phone sends (coffee: 4800×3200)."""
    from skimage import data

    small = Image.fromarray(getattr(data, name)()).convert("RGB")
    return small.resize((small.width * scale, small.height * scale), Image.Resampling.BICUBIC)


def test_a_large_jpeg_is_decoded_already_scaled_down(monkeypatch):
    decoded = []

    def spy(image, max_side):
        decoded.append(image.size)
        return working_copy(image, max_side)

    monkeypatch.setattr(images, "working_copy", spy)
    out = upload(encode(photo(scale=12), "JPEG"))  # 7200×4800
    assert out.size == (1024, 683)
    assert max(decoded[0]) <= 2 * 1024  # not 7200 wide: libjpeg scaled it by 1/4


@pytest.mark.slow
@pytest.mark.parametrize("name", ["coffee", "astronaut"])
@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_the_working_copy_is_what_decoding_at_full_size_gave(name, fmt):
    data = encode(photo(name), fmt)
    full = Image.open(io.BytesIO(data))
    full.load()
    expected = np.asarray(working_copy(full, 1024), np.int16)
    difference = np.abs(np.asarray(upload(data), np.int16) - expected)
    assert difference.mean() < 1 and np.percentile(difference, 99) <= 3


@pytest.mark.slow
def test_a_large_rotated_photo_is_upright():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    assert upload(encode(photo(), "JPEG", exif=exif)).size == (683, 1024)


def test_an_upload_waits_for_its_turn_to_decode():
    gate = threading.BoundedSemaphore(1)
    gate.acquire()  # another upload is decoding
    data = encode(Image.new("RGB", (30, 20), "red"), "PNG")
    decoded = []
    waiting = threading.Thread(
        target=lambda: decoded.append(open_upload(data, max_pixels=10**6, max_side=8, gate=gate))
    )
    waiting.start()
    waiting.join(0.3)
    assert waiting.is_alive() and not decoded
    gate.release()
    waiting.join(5)
    assert decoded[0].size == (8, 5)


def test_a_mask_keeps_its_exact_size():
    mask = Image.new("L", (2500, 2100), 255)
    assert images.open_mask(encode(mask, "PNG"), (2500, 2100)).size == (2500, 2100)
