"""Media in an S3-compatible bucket (XAI_STORAGE=s3): a real S3 API on localhost (moto's
server), the web server as `make run` starts it and a real Celery worker, both with only the
storage settings in common with this process. Nothing lands in a local folder; the files are
served only to their owner, by a short-lived signed URL, and go when their rows go.

moto answers the S3 API as S3 does for everything here but one: it does not refuse a signed URL
after its expiry (nor check signatures). So the expiry is checked where S3 reads it, in the
signed (SigV4) query: X-Amz-Date and X-Amz-Expires."""

from __future__ import annotations

import io
import subprocess
import sys
import time
import zipfile
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command

from benchmarks.session import Session, random_masks
from painting import health, retention, storage
from painting.models import Exploration, Picture, Round
from tests.helpers import ROOT, jpeg, make_study
from tests.servers import S3Server
from xaiproject import nginx

URL_SECONDS = S3Server.URL_SECONDS
BUCKET = S3Server.BUCKET


def load_gallery() -> dict[str, Picture]:
    call_command("load_gallery", stdout=io.StringIO())
    return {p.slug: p for p in Picture.objects.filter(is_gallery=True)}


@pytest.mark.server  # moto's S3 server
def test_settings_describe_a_private_bucket_and_where_its_urls_point(in_bucket, settings):
    options = settings.STORAGES["default"]["OPTIONS"]
    assert options["querystring_auth"] and options["querystring_expire"] == URL_SECONDS
    assert options["default_acl"] is None and options["custom_domain"] is None
    assert options["addressing_style"] == "path"  # an S3-compatible server by its endpoint
    assert storage.signed_urls_are_allowed_images(None) == []


@pytest.mark.server  # moto's S3 server
def test_the_system_check_names_a_bucket_the_page_would_not_show(in_bucket, settings):
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"img-src": ["'self'"]}}
    errors = storage.signed_urls_are_allowed_images(None)
    assert [e.id for e in errors] == ["painting.E002"]
    assert in_bucket.origin in errors[0].hint


def picture_files(pictures) -> set[str]:
    """What a picture stores: its file, thumbnail and Region map."""
    return {f.name for p in pictures for f in (p.file, p.thumbnail, p.segments) if f}


def wait_for_thumbnails(exploration: Exploration) -> None:
    """The worker writes a round's thumbnail just after its answer."""
    deadline = time.monotonic() + 30
    while exploration.rounds.filter(index__gt=0, thumbnail="").exists():
        assert time.monotonic() < deadline, "the worker wrote no thumbnail"
        time.sleep(0.1)


@pytest.mark.server  # moto's S3 server
@pytest.mark.django_db
def test_health_asks_the_bucket(in_bucket, settings):
    assert health.check()["storage"] == "ok"
    options = settings.STORAGES["default"]["OPTIONS"]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**settings.STORAGES["default"], "OPTIONS": {**options, "bucket_name": "gone"}},
    }
    assert health.check()["storage"] == "failed"


@pytest.mark.server  # moto's S3 server
@pytest.mark.django_db
def test_purge_lists_the_bucket_and_deletes_only_orphans(in_bucket):
    gallery = load_gallery()
    kept = picture_files(gallery.values())
    orphan = default_storage.save("rounds/lost/1-mask.png", ContentFile(b"png"))

    assert retention.delete_orphaned_files() == 0  # too young: it may be a row being written
    assert retention.delete_orphaned_files(now=datetime.now(UTC) + timedelta(hours=2)) == 1
    assert in_bucket.keys() == kept and orphan not in kept


def test_nginx_serves_no_media_itself(settings):
    config = nginx.render("127.0.0.1:8000", "unix:/tmp/web.sock", ROOT / "var" / "nginx")
    directives = [line.split() for line in config.splitlines() if line.strip()]
    locations = [words[1] for words in directives if words[0] == "location"]
    assert locations == ["/", "@too_large", "@too_many"]  # everything else goes to Django
    assert not [words for words in directives if words[0] in ("root", "alias")]


def owner_and_stranger_see(owner: httpx.Client, path: str) -> httpx.Response:
    stranger = httpx.Client(base_url=str(owner.base_url))
    stranger.get("/")  # a session of its own
    assert stranger.get(path).status_code == 404, path
    return owner.get(path)


def signed_url_of(response: httpx.Response) -> str:
    """The redirect's signed URL, checked: it expires URL_SECONDS after it was signed."""
    assert response.status_code == 302, response.text[:300]
    assert response.headers["Cache-Control"] == f"private, max-age={URL_SECONDS // 2}"
    url = response.headers["Location"]
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == [str(URL_SECONDS)]
    signed = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - signed).total_seconds()) < 10
    return url


@pytest.mark.worker
@pytest.mark.server
@pytest.mark.django_db(transaction=True)
def test_an_upload_classified_by_a_worker_lives_in_the_bucket_for_its_owner_only(
    app_in_bucket, in_bucket
):
    server, local = app_in_bucket
    session = Session(server.url, upload=jpeg((640, 480)))  # the worker reads it from the bucket
    for mask in random_masks(session.size, 2):
        session.classify(mask)  # the web side writes the mask, the worker its thumbnail
    exploration = Exploration.objects.get(pk=session.base.strip("/").split("/")[-1])
    upload = exploration.picture
    wait_for_thumbnails(exploration)
    deadline = time.monotonic() + 60  # the analysis worker segments the upload meanwhile
    while not Picture.objects.get(pk=upload.pk).segments:
        assert time.monotonic() < deadline, "the upload was never segmented"
        time.sleep(0.1)
    upload.refresh_from_db()
    rounds = list(exploration.rounds.order_by("index"))
    assert [r.status for r in rounds] == [Round.Status.DONE] * 3
    stored = picture_files([upload]) | {exploration.saliency.name}
    stored |= {name for r in rounds[1:] for name in (r.mask.name, r.thumbnail.name)}
    assert in_bucket.keys() == stored
    assert exploration.saliency.name.startswith(f"explorations/{exploration.pk}/")
    assert list(local.rglob("*")) == []  # nothing on the local disk of either process

    # The page allows images from the bucket, whose signed URLs its images redirect to.
    page = session.client.get(session.base)
    assert (
        f"img-src 'self' data: blob: {in_bucket.origin}" in page.headers["Content-Security-Policy"]
    )
    owner = session.client
    home = owner.get("/").text
    for path, key in [
        (f"/pictures/{upload.pk}/image.png", upload.file.name),
        (f"/pictures/{upload.pk}/thumb.jpg", upload.thumbnail.name),
        (f"{session.base}rounds/{rounds[1].pk}/thumb.jpg", rounds[1].thumbnail.name),
    ]:
        assert path in page.text + home  # what the pages show
        url = signed_url_of(owner_and_stranger_see(owner, path))
        assert url.startswith(f"{in_bucket.origin}/{BUCKET}/{key}?")
        served = httpx.get(url)
        assert served.status_code == 200 and served.content == in_bucket.read(key)
        assert served.headers["Content-Type"] == ("image/jpeg")
        # Never public: the same object without the signature is refused.
        assert httpx.get(url.split("?")[0]).status_code == 403

    # The canvas reads a mask's pixels: same origin, streamed from the bucket by the view.
    mask = owner_and_stranger_see(owner, f"{session.base}rounds/{rounds[1].pk}/mask.png")
    assert mask.status_code == 200 and mask.content == in_bucket.read(rounds[1].mask.name)
    for path in (f"{session.base}rounds/{rounds[2].pk}/masked.png", f"{session.base}saliency.png"):
        composed = owner_and_stranger_see(owner, path)  # from the bucket's files, by the view
        assert composed.status_code == 200 and composed.content.startswith(b"\x89PNG")

    # The daily purge, run as cron would (its own process, the same settings), empties it.
    purge = subprocess.run(
        [sys.executable, "manage.py", "purge", "--older-than", "0"],
        cwd=ROOT,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert purge.returncode == 0, purge.stderr
    assert "1 exploration(s), 1 upload(s)" in purge.stdout
    assert in_bucket.keys() == set()
    assert owner.get(f"/pictures/{upload.pk}/image.png").status_code == 404


@pytest.mark.worker
@pytest.mark.server
@pytest.mark.django_db(transaction=True)
def test_a_participants_masks_are_exported_from_the_bucket_and_go_when_they_withdraw(
    app_in_bucket, in_bucket, tmp_path
):
    server, local = app_in_bucket
    study = make_study(load_gallery())  # the gallery's photos in the bucket
    participant = Session(server.url, study=study.slug)
    participant.classify(random_masks(participant.size, 1)[0])
    exploration = Exploration.objects.get(participant__study=study)
    wait_for_thumbnails(exploration)
    masked = exploration.rounds.get(index=1)
    assert {masked.mask.name, masked.thumbnail.name} <= in_bucket.keys()

    out = tmp_path / "study.zip"
    export = subprocess.run(
        [sys.executable, "manage.py", "export_study", study.slug, str(out)],
        cwd=ROOT,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert export.returncode == 0, export.stderr
    with zipfile.ZipFile(out) as archive:
        code = exploration.participant.code
        mask = archive.read(f"masks/{code}/{exploration.pk}-001.png")
    assert mask == in_bucket.read(masked.mask.name)

    gallery_files = picture_files(Picture.objects.all())
    withdrawn = participant.client.post(
        f"/study/{study.slug}/withdraw/",
        headers={"X-CSRFToken": participant.headers["X-CSRFToken"]},
    )
    assert withdrawn.status_code == 200
    deadline = time.monotonic() + 10  # deleted once the deletion commits
    while in_bucket.keys() != gallery_files and time.monotonic() < deadline:
        time.sleep(0.1)
    assert in_bucket.keys() == gallery_files
    assert list(local.rglob("*")) == []
