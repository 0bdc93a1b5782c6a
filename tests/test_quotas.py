"""What one visitor may keep: uploads and bytes, refused with a message, nothing written."""

import json

from django.core.cache import cache
from django.test import Client
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


def test_an_address_stores_a_bounded_amount_whatever_its_cookies(
    gallery, on_commit, settings, media_root
):
    """Eight browsers (fresh cookies) from one address: once the address has stored its
    share, the next Classify with a log is refused (403), nothing written; another address
    goes on."""
    settings.XAI_ADDRESS_MAX_STORED_BYTES = 300_000
    log = json.dumps([{"type": "note", "text": "x" * 60_000}])
    painted = mask_png((600, 400), (0, 0, 9, 9))
    answers = []
    for _ in range(8):
        browser = Client(REMOTE_ADDR="203.0.113.9")
        exploration = start(browser, gallery["coffee"], on_commit)
        answers.append(classify(browser, exploration, on_commit, painted, strokes=log))
    statuses = [a.status_code for a in answers]
    assert statuses[:4] == [200] * 4 and set(statuses[5:]) == {403}, statuses
    assert "Your network has stored" in answers[-1].content.decode()
    stored = Round.objects.filter(index__gte=1).count()
    assert stored == statuses.count(200)
    assert sum(Round.objects.values_list("stored_bytes", flat=True)) <= 300_000 + 70_000
    elsewhere = Client(REMOTE_ADDR="198.51.100.20")
    exploration = start(elsewhere, gallery["coffee"], on_commit)
    assert classify(elsewhere, exploration, on_commit, painted, strokes=log).status_code == 200


def test_uploads_count_toward_their_address(client, db, on_commit, settings):
    settings.XAI_ADDRESS_MAX_STORED_BYTES = 10 * 2**20
    assert upload(client, jpeg((1024, 768)), capture=on_commit).status_code == 302
    picture = Picture.objects.get()
    counted = cache.get("stored-bytes:address:127.0.0.1")
    assert 0.9 * picture.stored_bytes < counted <= picture.stored_bytes  # its Region map: later
    settings.XAI_ADDRESS_MAX_STORED_BYTES = counted + 100
    other = Client()  # a fresh cookie, the same address
    response = upload(other, jpeg((1024, 768)), capture=on_commit)
    assert response.status_code == 403 and "Your network has stored" in response.content.decode()
    assert Picture.objects.count() == 1
