"""Edits of the whole picture (painting.edits): crop, then flips, then a clockwise rotation,
checked against numpy's own array operations; and the form fields that carry them."""

import numpy as np
import pytest
from PIL import Image

from painting.edits import NONE, EditRejected, Edits, parse_crop

# A picture whose every pixel is different: 7 wide, 5 high.
PIXELS = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
PICTURE = Image.fromarray(PIXELS)


def array(image: Image.Image) -> np.ndarray:
    return np.asarray(image)


def test_no_edits_give_the_same_picture():
    assert NONE.is_identity and Edits().is_identity
    assert NONE.apply(PICTURE) is PICTURE
    assert NONE.describe() == ""


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_a_rotation_turns_clockwise(rotation):
    turned = array(Edits(rotation=rotation).apply(PICTURE))
    assert np.array_equal(turned, np.rot90(PIXELS, k=-rotation // 90))
    if rotation == 90:  # the top-left pixel goes to the top-right
        assert np.array_equal(turned[0, -1], PIXELS[0, 0])


def test_flips():
    assert np.array_equal(array(Edits(flip_horizontal=True).apply(PICTURE)), PIXELS[:, ::-1])
    assert np.array_equal(array(Edits(flip_vertical=True).apply(PICTURE)), PIXELS[::-1])


def test_the_order_is_crop_then_flips_then_rotation():
    edits = Edits(crop=(1, 2, 4, 3), flip_horizontal=True, flip_vertical=True, rotation=90)
    expected = np.rot90(PIXELS[2:5, 1:5][::-1, ::-1], k=-1)
    out = array(edits.apply(PICTURE))
    assert out.shape == (4, 3, 3) and np.array_equal(out, expected)
    assert edits.describe() == (
        "Cropped to 4×3 at (1, 2), flipped left–right, flipped top–bottom, rotated 90° clockwise"
    )


def test_a_crop_must_lie_inside_the_picture_and_hold_a_pixel():
    assert Edits(crop=(0, 0, 7, 5)).check((7, 5)).crop == (0, 0, 7, 5)
    for crop in [(0, 0, 8, 5), (6, 0, 2, 5), (0, 4, 7, 2), (3, 3, 0, 1), (3, 3, 1, 0)]:
        with pytest.raises(EditRejected):
            Edits(crop=crop).check((7, 5))
        with pytest.raises(EditRejected):
            Edits(crop=crop).apply(PICTURE)
    with pytest.raises(EditRejected, match="reaches outside the image, which is 7×5"):
        Edits(crop=(5, 0, 3, 5)).check((7, 5))
    with pytest.raises(EditRejected, match="The crop is empty"):
        Edits(crop=(1, 1, 0, 4)).check((7, 5))


def test_only_quarter_turns():
    for rotation in [45, -90, 360, 1]:
        with pytest.raises(EditRejected, match="The rotation must be one of 0, 90, 180, 270"):
            Edits(rotation=rotation)


def test_the_crop_as_the_page_sends_it():
    assert parse_crop("") is None and parse_crop("  ") is None
    assert parse_crop("10,20,300,200") == (10, 20, 300, 200)
    assert parse_crop(" 10, 20 ,300 , 200 ") == (10, 20, 300, 200)
    for junk in ["1,2,3", "1,2,3,4,5", "a,b,c,d", "-1,0,5,5", "1.5,0,5,5", "1e3,0,5,5", "١,2,3,4"]:
        with pytest.raises(EditRejected, match="four whole numbers"):
            parse_crop(junk)
    with pytest.raises(EditRejected):
        parse_crop("9999999,0,1,1")  # more digits than any picture has pixels


def test_a_round_stores_them_in_columns():
    edits = Edits(crop=(1, 2, 3, 4), flip_vertical=True, rotation=270)
    fields = edits.as_fields()
    assert fields == {
        "crop_left": 1,
        "crop_top": 2,
        "crop_width": 3,
        "crop_height": 4,
        "flip_horizontal": False,
        "flip_vertical": True,
        "rotation": 270,
    }

    class Stored:
        pass

    stored = Stored()
    stored.__dict__.update(fields)
    assert Edits.of(stored) == edits
    stored.__dict__.update(NONE.as_fields())
    assert Edits.of(stored) is not None and Edits.of(stored).is_identity
