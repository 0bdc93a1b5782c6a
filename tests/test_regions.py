"""The Region tool's superpixels: made once when a picture is added, served as a compact map,
and a Classify's brush log may only name regions the picture has."""

import io
import json
from pathlib import Path

import numpy as np
import pytest
from django.test import Client

from painting import segments
from painting.models import Picture
from tests.helpers import classify, mask_png, photo, start, upload


def labels_of(picture: Picture) -> np.ndarray:
    with picture.segments.open("rb") as f:
        return segments.decode(f.read())


def test_a_picture_gets_its_superpixels_when_it_is_added(gallery):
    coffee = gallery["coffee"]
    labels = labels_of(coffee)
    assert labels.shape == (coffee.height, coffee.width)
    assert 100 <= coffee.segment_count <= 600
    assert set(np.unique(labels)) == set(range(coffee.segment_count))  # ids 0..n-1, all used
    # Regions, not noise: neighbours mostly share their segment.
    assert (labels[:, 1:] == labels[:, :-1]).mean() > 0.9
    assert coffee.stored_bytes > coffee.segments.size  # counted for the quota too


def test_an_upload_gets_them_too_and_only_its_owner_sees_them(client, on_commit, db):
    buffer = io.BytesIO()
    photo("chelsea").resize((500, 300)).save(buffer, format="JPEG")
    response = upload(client, buffer.getvalue(), capture=on_commit)
    assert response.status_code == 302
    picture = Picture.objects.get(is_gallery=False)
    assert picture.segment_count > 50
    url = f"/pictures/{picture.pk}/segments.png"
    mine = client.get(url)
    assert mine.status_code == 200 and mine["Content-Type"] == "image/png"
    assert segments.decode(b"".join(mine.streaming_content)).shape == (300, 500)
    assert Client().get(url).status_code == 404


def test_a_picture_added_before_regions_gets_them_once_on_first_use(client, gallery, settings):
    chelsea = gallery["chelsea"]
    old_file = Path(settings.MEDIA_ROOT) / chelsea.segments.name
    Picture.objects.filter(pk=chelsea.pk).update(segments="", segment_count=0)
    old_file.unlink()
    first = client.get(f"/pictures/{chelsea.pk}/segments.png")
    assert first.status_code == 200
    chelsea.refresh_from_db()
    assert chelsea.segments and chelsea.segment_count > 0
    name = chelsea.segments.name
    client.get(f"/pictures/{chelsea.pk}/segments.png")
    chelsea.refresh_from_db()
    assert chelsea.segments.name == name  # not made again


def region_log(segment) -> str:
    return json.dumps(
        [
            {"type": "region", "tool": "paint", "segment": segment, "pointer": "mouse", "x": 5},
            {"type": "classify"},
        ]
    )


def test_a_tap_on_a_region_is_kept_in_the_brush_log(client, gallery, on_commit):
    exploration = start(client, gallery["coffee"], on_commit)
    last = gallery["coffee"].segment_count - 1
    mask = mask_png((600, 400), (0, 0, 100, 100))
    response = classify(client, exploration, on_commit, mask, strokes=region_log(last))
    assert response.status_code == 200
    assert exploration.rounds.get(index=1).strokes[0]["segment"] == last


@pytest.mark.parametrize(
    "segment, message",
    [
        ("past", "this image has"),
        (-1, "this image has"),
        (2**40, "this image has"),
        ("3", "no whole-number id"),
        (True, "no whole-number id"),
        (1.5, "no whole-number id"),
        (None, "no whole-number id"),
    ],
)
def test_a_region_the_picture_lacks_is_a_clear_400_and_writes_nothing(
    client, gallery, on_commit, segment, message
):
    exploration = start(client, gallery["coffee"], on_commit)
    if segment == "past":
        segment = gallery["coffee"].segment_count
    mask = mask_png((600, 400), (0, 0, 100, 100))
    response = classify(client, exploration, on_commit, mask, strokes=region_log(segment))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert exploration.rounds.count() == 1
