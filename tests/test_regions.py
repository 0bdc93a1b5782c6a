"""The Region tool's superpixels: made once per picture (by the gallery command, or by the
analysis worker after an upload), served as a compact map, and a Classify's brush log may only
name regions the picture has."""

import io
import json
from pathlib import Path

import numpy as np
from django.test import Client

from painting import segments
from painting.models import Picture
from tests.helpers import classify, free_port, mask_png, photo, start, upload


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


def test_an_upload_is_segmented_by_the_worker_not_in_its_request(client, db, on_commit):
    buffer = io.BytesIO()
    photo("chelsea").resize((500, 300)).save(buffer, format="JPEG")
    with on_commit() as sent:  # the request's work, without the tasks it sends
        assert upload(client, buffer.getvalue()).status_code == 302
    picture = Picture.objects.get(is_gallery=False)
    assert not picture.segments and picture.segment_count == 0
    waiting = client.get(f"/pictures/{picture.pk}/segments.png")
    assert waiting.status_code == 404 and waiting["Retry-After"] == "2"
    assert "still being prepared" in waiting.content.decode()
    for task in sent:  # the worker's part: classify round 0, segment the picture
        task()
    picture.refresh_from_db()
    assert picture.segment_count > 50
    assert client.get(f"/pictures/{picture.pk}/segments.png").status_code == 200


def test_a_picture_added_before_regions_gets_them_once_asked(client, gallery, settings, on_commit):
    chelsea = gallery["chelsea"]
    old_file = Path(settings.MEDIA_ROOT) / chelsea.segments.name
    Picture.objects.filter(pk=chelsea.pk).update(segments="", segment_count=0)
    old_file.unlink()
    url = f"/pictures/{chelsea.pk}/segments.png"
    with on_commit(execute=False) as asked:
        assert client.get(url).status_code == 404
        assert client.get(url).status_code == 404  # asked once a minute, not per request
    assert len(asked) == 1
    asked[0]()
    asked[0]()  # a second task for the same picture keeps the first map and no extra file
    chelsea.refresh_from_db()
    assert chelsea.segments and chelsea.segment_count > 0
    assert client.get(url).status_code == 200
    folder = Path(settings.MEDIA_ROOT) / Path(chelsea.segments.name).parent
    assert [p.name for p in folder.glob(f"{chelsea.sha256[:16]}-segments*")] == [
        Path(chelsea.segments.name).name
    ]


def test_without_a_reachable_cache_the_map_is_still_asked_for(client, gallery, settings, on_commit):
    chelsea = gallery["chelsea"]
    Picture.objects.filter(pk=chelsea.pk).update(segments="", segment_count=0)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/1",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    with on_commit(execute=False) as asked:
        waiting = client.get(f"/pictures/{chelsea.pk}/segments.png")
    assert waiting.status_code == 404 and waiting["Retry-After"] == "2"
    assert len(asked) == 1


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


def test_a_region_the_picture_lacks_is_a_clear_400_and_writes_nothing(
    client, gallery, on_commit, subtests
):
    exploration = start(client, gallery["coffee"], on_commit)
    mask = mask_png((600, 400), (0, 0, 100, 100))
    for segment, message in [
        (gallery["coffee"].segment_count, "this image has"),  # one past the last
        (-1, "this image has"),
        (2**40, "this image has"),
        ("3", "no whole-number id"),
        (True, "no whole-number id"),
        (1.5, "no whole-number id"),
        (None, "no whole-number id"),
    ]:
        with subtests.test(segment=segment):
            response = classify(client, exploration, on_commit, mask, strokes=region_log(segment))
            assert response.status_code == 400
            assert message in response.content.decode()
            assert exploration.rounds.count() == 1
