"""Matching a detect round's boxes to the previous round's (painting.detections): pure."""

import numpy as np
import pytest
from PIL import Image

from painting import detections
from painting.edits import Edits


def det(label, score, box, class_index=None):
    index = {"person": 0, "dog": 16, "cat": 15, "tie": 27}.get(label, 1)
    return {"class_index": index if class_index is None else class_index, "label": label,
            "score": score, "box": list(box)}  # fmt: skip


def test_iou():
    assert detections.iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1
    assert detections.iou([0, 0, 10, 10], [10, 0, 20, 10]) == 0
    assert detections.iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(50 / 150)
    assert detections.iou([0, 0, 0, 0], [0, 0, 0, 0]) == 0


def test_same_class_and_overlap_match_and_each_box_once():
    before = [det("dog", 0.91, (0, 0, 100, 100)), det("person", 0.8, (200, 0, 300, 200))]
    after = [
        det("person", 0.7, (205, 5, 300, 200)),
        det("cat", 0.35, (0, 0, 100, 100)),  # where the dog was, but another class
        det("dog", 0.40, (10, 10, 100, 100)),
        det("dog", 0.30, (0, 0, 90, 90)),  # a second dog over the same one: not matched twice
    ]
    assert detections.match(before, after) == {0: 1, 2: 0}


def test_a_box_moved_too_far_is_a_new_object():
    before = [det("dog", 0.9, (0, 0, 100, 100))]
    after = [det("dog", 0.9, (80, 80, 180, 180))]  # IoU 400/19600
    assert detections.match(before, after) == {}


def test_ids_carry_across_rounds_and_gone_ones_never_come_back():
    rounds = [
        [det("dog", 0.91, (0, 0, 100, 100)), det("person", 0.8, (200, 0, 300, 200))],
        [det("dog", 0.40, (5, 5, 100, 100))],  # person gone
        [det("person", 0.8, (200, 0, 300, 200)), det("dog", 0.2, (5, 5, 100, 100))],
    ]
    assert detections.track(rounds) == [[1, 2], [1], [3, 1]]
    assert detections.score_across(detections.track(rounds), rounds, 1) == [0.91, 0.40, 0.2]
    assert detections.score_across(detections.track(rounds), rounds, 2) == [0.8, None, None]
    assert detections.label_of(detections.track(rounds), rounds, 3) == "person"
    assert detections.label_of(detections.track(rounds), rounds, 9) is None


def test_changes_say_what_the_page_says():
    before = [det("dog", 0.91, (0, 0, 100, 100)), det("person", 0.8, (200, 0, 300, 200))]
    after = [det("cat", 0.35, (400, 0, 500, 100)), det("dog", 0.40, (5, 5, 100, 100))]
    [ids_before, ids_after] = detections.track([before, after])
    lines = [c.describe() for c in detections.changes(before, ids_before, after, ids_after)]
    assert lines == ["dog 0.91 → 0.40", "new: cat 0.35", "person: gone"]
    first = detections.changes(None, None, before, ids_before)
    assert [c.status for c in first] == ["kept", "kept"]
    gone = detections.changes(before, ids_before, after, ids_after)[-1]
    assert gone.shown_at(0.5) and not gone.shown_at(0.85)


@pytest.mark.parametrize(
    "edits",
    [
        Edits(),
        Edits(crop=(30, 20, 150, 100)),
        Edits(flip_horizontal=True),
        Edits(flip_vertical=True, rotation=90),
        Edits(crop=(10, 5, 170, 110), flip_horizontal=True, rotation=270),
        Edits(rotation=180),
        Edits(crop=(40, 30, 120, 90), rotation=90, flip_horizontal=True, flip_vertical=True),
    ],
)
def test_a_box_in_the_edited_picture_is_put_back_in_the_original(edits):
    """A white rectangle in a 200 × 120 picture, edited: its box found in the edited picture
    and put back lands where the rectangle is."""
    original = Image.new("L", (200, 120), 0)
    original.paste(255, (50, 40, 90, 70))
    edited = edits.apply(original)
    ys, xs = np.nonzero(np.asarray(edited))
    found = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    crop = edits.crop
    back = detections.box_in_original(
        found, edited.size, crop, edits.flip_horizontal, edits.flip_vertical, edits.rotation
    )
    assert back == [50, 40, 90, 70]
