"""What one visitor may keep: uploads and bytes, refused with a message, nothing written."""

import json

from django.urls import reverse

from painting import quotas
from painting.models import Exploration, Picture, Round
from tests.helpers import classify, jpeg, mask_png, start, upload


def files_under(media_root) -> set:
    return {p for p in media_root.rglob("*") if p.is_file()}


def test_an_upload_is_stored_as_a_jpeg_and_counted(client, db, on_commit):
    upload(client, jpeg((1024, 768)), capture=on_commit)
    picture = Picture.objects.get()
    assert picture.file.name.endswith(".jpg")
    files = (picture.file, picture.thumbnail, picture.segments)  # segments: the Region tool's
    assert picture.stored_bytes == sum(f.size for f in files)
    served = client.get(reverse("painting:picture-file", args=[picture.pk, "image.png"]))
    assert served["Content-Type"] == "image/jpeg"
    assert quotas.stored_bytes_of(picture.owner) >= picture.stored_bytes


def test_uploads_beyond_the_quota_are_refused_and_nothing_is_written(
    client, db, on_commit, settings, media_root
):
    settings.XAI_VISITOR_MAX_UPLOADS = 2
    for _ in range(2):
        assert upload(client, jpeg(), capture=on_commit).status_code == 302
    before = files_under(media_root)
    response = upload(client, jpeg(), capture=on_commit)
    assert response.status_code == 403
    assert "the most one visitor can keep" in response.content.decode()
    assert Picture.objects.count() == 2 and files_under(media_root) == before


def test_rounds_beyond_the_stored_bytes_are_refused_and_nothing_is_written(
    client, gallery, on_commit, settings, media_root
):
    exploration = start(client, gallery["coffee"], on_commit)
    log = json.dumps([{"type": "note", "text": "x" * 60_000}])
    settings.XAI_VISITOR_MAX_STORED_BYTES = 100_000
    painted = mask_png((600, 400), (0, 0, 9, 9))
    first = classify(client, exploration, on_commit, painted, strokes=log)
    assert first.status_code == 200
    assert Round.objects.get(exploration=exploration, index=1).stored_bytes > 60_000
    before = files_under(media_root)
    second = classify(client, exploration, on_commit, mask_png((600, 400)), strokes=log)
    assert second.status_code == 403
    assert "take 0.1 MB here, and one visitor may keep 0.1 MB" in second.content.decode()
    assert exploration.rounds.count() == 2 and files_under(media_root) == before
    assert Exploration.objects.count() == 1
