"""A Classify with edits of the whole picture: the round records them, the model is shown the
composed picture cropped, flipped and rotated, masked.png is that picture, the preview too;
edits that do not fit are refused with a message and nothing written."""

import io

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image

from painting import masking, pipeline
from painting.edits import Edits
from painting.models import Round
from tests.helpers import HTMX, files_of, mask_png, mask_upload, start

SIZE = (600, 400)
MASK = mask_png(SIZE, (150, 100, 350, 300))
EDITS = {"crop": "100,50,400,300", "rotation": "90", "flip_horizontal": "1"}


def send(client, exploration, on_commit, url="classify", mask=MASK, fill="blur", **edits):
    with on_commit(execute=True):
        return client.post(
            reverse(f"painting:{url}", args=[exploration.pk]),
            {"mask": mask_upload(mask), "fill": fill, "strokes": "[]", **edits},
            headers=HTMX,
        )


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_the_model_is_shown_the_composed_picture_cropped_flipped_and_rotated(
    client, gallery, on_commit
):
    exploration = start(client, gallery["coffee"], on_commit)
    response = send(client, exploration, on_commit, **EDITS)
    assert response.status_code == 200, response.content[:300]
    round_ = exploration.rounds.get(index=1)
    assert round_.status == Round.Status.DONE
    assert (round_.crop_left, round_.crop_top, round_.crop_width, round_.crop_height) == (
        100,
        50,
        400,
        300,
    )
    assert round_.rotation == 90 and round_.flip_horizontal and not round_.flip_vertical
    assert round_.masked_fraction == 201 * 201 / (600 * 400)  # of the original

    with exploration.picture.file.open("rb") as f:
        original = Image.open(f).convert("RGB")
    composed = np.asarray(
        masking.compose(original, Image.open(io.BytesIO(MASK)), masking.Fill.BLUR)
    )
    expected = np.rot90(composed[50:350, 100:500][:, ::-1], k=-1)  # crop, flip, turn
    assert expected.shape == (400, 300, 3)

    masked = client.get(
        reverse("painting:round-file", args=[exploration.pk, round_.pk, "masked.png"])
    )
    assert np.array_equal(pixels(masked.content), expected)
    _, [seen] = pipeline._compose_each([round_])  # what the worker gives the model
    assert np.array_equal(np.asarray(seen), expected)
    model = pipeline.inference_model(round_.model_name)
    [outcome] = model.classify([Image.fromarray(expected)])
    assert round_.top[0]["index"] == outcome.top[0].class_index
    assert round_.top[0]["probability"] == outcome.top[0].probability
    [unedited] = model.classify([Image.fromarray(composed)])
    assert unedited.probabilities.tolist() != outcome.probabilities.tolist()

    # The history strip's thumbnail is of the edited picture too (taller than wide now).
    thumb = client.get(
        reverse("painting:round-file", args=[exploration.pk, round_.pk, "thumb.jpg"])
    )
    width, height = Image.open(io.BytesIO(b"".join(thumb.streaming_content))).size
    assert height > width

    # The preview of the same canvas shows exactly that picture.
    preview = send(client, exploration, on_commit, url="preview", **EDITS)
    assert np.array_equal(pixels(preview.content), expected)
    # And the page shows the edits with the result, and the reviewer's replay with the round.
    result = client.get(reverse("painting:round", args=[exploration.pk, round_.pk]), headers=HTMX)
    body = result.content.decode()
    assert "Cropped to 400×300 at (100, 50), flipped left–right, rotated 90° clockwise" in body


def test_the_replay_shows_each_rounds_edits(client, gallery, on_commit, staff):
    exploration = start(client, gallery["coffee"], on_commit)
    send(client, exploration, on_commit, rotation="180", flip_vertical="1")
    send(client, exploration, on_commit, crop="", rotation="")
    plain = exploration.rounds.get(index=2)
    assert plain.edits == Edits() and plain.crop_left is None and plain.rotation == 0
    replay = staff.get(reverse("painting:replay", args=[exploration.pk])).content.decode()
    assert replay.count("No edits of the whole picture") == 2  # the original and round 2
    assert "Edits: Flipped top–bottom, rotated 180° clockwise" in replay
    admin = staff.get(f"/admin/painting/exploration/{exploration.pk}/change/").content.decode()
    assert "Flipped top–bottom, rotated 180° clockwise" in admin


def test_edits_that_do_not_fit_are_refused_and_nothing_is_written(
    client, gallery, on_commit, media_root
):
    exploration = start(client, gallery["coffee"], on_commit)
    before = sorted(files_of(media_root, exploration.pk))
    cases = [
        ({"crop": "500,0,200,100"}, "The crop (200×100 at 500, 0) reaches outside the image"),
        ({"crop": "0,0,600,401"}, "reaches outside the image, which is 600×400 pixels"),
        ({"crop": "10,10,0,50"}, "The crop is empty"),
        ({"crop": "-5,0,10,10"}, "The crop must be four whole numbers"),
        ({"crop": "a,b,c,d"}, "The crop must be four whole numbers"),
        ({"crop": "1,2,3"}, "The crop must be four whole numbers"),
        ({"crop": "9" * 100}, "The crop is longer than 64 characters"),
        ({"rotation": "45"}, "The rotation must be one of 0, 90, 180, 270 degrees"),
        ({"rotation": "ninety"}, "The rotation must be one of 0, 90, 180, 270 degrees"),
        ({"flip_horizontal": "yes"}, "flip_horizontal must be 1 or empty"),
        ({"flip_vertical": "true"}, "flip_vertical must be 1 or empty"),
    ]
    for url in ["classify", "preview"]:
        for edits, message in cases:
            response = send(client, exploration, on_commit, url=url, **edits)
            assert response.status_code == 400, (url, edits, response.content[:300])
            assert message in response.content.decode(), response.content.decode()
    assert exploration.rounds.count() == 1
    assert sorted(files_of(media_root, exploration.pk)) == before


def test_the_other_fills_of_an_analysis_get_the_rounds_edits(client, gallery, on_commit):
    exploration = start(client, gallery["coffee"], on_commit)
    send(client, exploration, on_commit, **EDITS)
    round_ = exploration.rounds.get(index=1)
    with on_commit(execute=True):
        client.post(reverse("painting:analysis", args=[exploration.pk, round_.pk]), headers=HTMX)
    round_.refresh_from_db()
    assert round_.analysis_status == Round.AnalysisStatus.DONE, round_.analysis
    [mean] = [row for row in round_.analysis["fills"] if row["fill"] == "mean"]
    with exploration.picture.file.open("rb") as f:
        original = Image.open(f).convert("RGB")
    composed = masking.compose(original, Image.open(io.BytesIO(MASK)), masking.Fill.MEAN)
    model = pipeline.inference_model(round_.model_name)
    [edited] = model.classify([round_.edits.apply(composed)])
    assert mean["probability"] == pytest.approx(edited.top[0].probability, abs=1e-6)
    assert mean["label"] == edited.top[0].label
