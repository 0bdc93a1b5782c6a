import numpy as np
import pytest
from PIL import Image, ImageDraw

from painting.masking import (
    IMAGENET_MEAN_RGB,
    ROAD_NOISE,
    Fill,
    compose,
    inpaint,
    painted_fraction,
)


def gradient(size=(64, 48)) -> Image.Image:
    w, h = size
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :].repeat(h, 0)
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None].repeat(w, 1)
    return Image.fromarray(np.stack([x, y, 255 - x], -1).astype(np.uint8))


def box_mask(size, box) -> Image.Image:
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rectangle(box, fill=255)
    return mask


@pytest.mark.parametrize("fill", list(Fill))
def test_it_keeps_unpainted_pixels_exactly(fill):
    image = gradient()
    mask = box_mask(image.size, (10, 10, 30, 30))
    out = np.asarray(compose(image, mask, fill))
    keep = np.asarray(mask) < 128
    assert (out[keep] == np.asarray(image)[keep]).all()


def test_it_fills_with_the_imagenet_mean_by_default_value():
    image = gradient()
    out = np.asarray(compose(image, box_mask(image.size, (0, 0, 9, 9)), Fill.MEAN))
    assert tuple(out[5, 5]) == IMAGENET_MEAN_RGB


def test_it_fills_black():
    image = gradient()
    out = np.asarray(compose(image, box_mask(image.size, (0, 0, 9, 9)), Fill.BLACK))
    assert (out[:10, :10] == 0).all()


def test_blur_is_a_local_average_of_the_original():
    checks = (np.indices((200, 200)).sum(0) // 1 % 2 * 255).astype(np.uint8)
    image = Image.fromarray(checks).convert("RGB")
    out = np.asarray(compose(image, box_mask(image.size, (80, 80, 120, 120)), Fill.BLUR))
    assert np.abs(out[90:111, 90:111].astype(int) - 127).max() < 10


def test_inpaint_continues_a_flat_colour_and_stays_within_a_gradient():
    flat = np.full((50, 60, 3), (10, 200, 30), np.uint8)
    hole = np.zeros((50, 60), bool)
    hole[10:40, 15:45] = True
    assert (inpaint(flat, hole)[hole] == (10, 200, 30)).all()

    ramp = np.asarray(gradient((60, 50)))
    filled = inpaint(ramp, hole)[hole].astype(int)
    known = ramp[~hole]
    assert filled.min() >= known.min() and filled.max() <= known.max()


def test_inpaint_of_an_all_painted_image_falls_back_to_the_mean():
    pixels = np.asarray(gradient())
    out = inpaint(pixels, np.ones(pixels.shape[:2], bool))
    assert (out == IMAGENET_MEAN_RGB).all()


def test_road_fills_a_hole_in_a_linear_gradient_with_the_gradient():
    # 400×300 is solved at 160×120: the reduced resolution and the upsampling are exercised.
    image = gradient((400, 300))
    mask = box_mask(image.size, (100, 80, 299, 219))
    out = np.asarray(compose(image, mask, Fill.ROAD)).astype(float)
    hole = np.asarray(mask) >= 128
    error = out[hole] - np.asarray(image)[hole]
    assert np.abs(error.mean()) < 1.0  # the neighbour mean of a linear ramp is the ramp
    assert 0.6 * ROAD_NOISE < error.std() < 1.6 * ROAD_NOISE  # plus ROAD's small noise
    assert np.abs(error).max() < 8 * ROAD_NOISE


def test_road_continues_a_flat_colour_and_not_the_painted_content():
    pixels = np.full((300, 500, 3), (10, 200, 30), np.uint8)
    pixels[100:200, 200:300] = (250, 0, 250)  # what is painted must not leak into the fill
    image = Image.fromarray(pixels)
    out = np.asarray(compose(image, box_mask(image.size, (195, 95, 304, 204)), Fill.ROAD))
    centre = out[110:190, 210:290].reshape(-1, 3).mean(0)
    assert np.abs(centre - (10, 200, 30)).max() < 1.5


def test_road_is_reproducible_byte_for_byte():
    image = gradient((300, 200))
    mask = box_mask(image.size, (20, 30, 150, 170))
    first = compose(image, mask, Fill.ROAD).tobytes()
    assert compose(image.copy(), mask.copy(), Fill.ROAD).tobytes() == first


def test_road_of_an_all_painted_image_falls_back_to_the_mean():
    image = gradient()
    out = np.asarray(compose(image, Image.new("L", image.size, 255), Fill.ROAD))
    assert (out == IMAGENET_MEAN_RGB).all()


def test_an_empty_mask_changes_nothing():
    image = gradient()
    assert compose(image, Image.new("L", image.size, 0), Fill.BLACK).tobytes() == image.tobytes()


def test_it_refuses_a_mask_of_another_size():
    with pytest.raises(ValueError, match="mask is"):
        compose(gradient((64, 48)), Image.new("L", (48, 64)), Fill.MEAN)


def test_painted_fraction_counts_painted_pixels():
    assert painted_fraction(box_mask((10, 10), (0, 0, 4, 9))) == pytest.approx(0.5)


@pytest.mark.parametrize(
    "fill, expected",
    [
        (Fill.DARKEN, (50, 100, 25)),
        (Fill.BRIGHTEN, (178, 228, 153)),  # halfway to 255
        (Fill.GREY, (round(0.299 * 100 + 0.587 * 200 + 0.114 * 50),) * 3),
    ],
)
def test_an_edit_changes_the_painted_pixels_and_keeps_their_content(fill, expected):
    image = Image.new("RGB", (40, 40), (100, 200, 50))
    out = np.asarray(compose(image, box_mask(image.size, (0, 0, 19, 39)), fill))
    assert tuple(out[5, 5]) == pytest.approx(expected, abs=1)
    assert tuple(out[5, 30]) == (100, 200, 50)
