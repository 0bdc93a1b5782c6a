"""Media in an S3 bucket, in a real browser: the page's images come from the bucket by signed
URLs that its Content-Security-Policy allows, and the canvas restores a stored mask (which it
may read only from the page's own origin). Any refused image or unreadable canvas is a console
error or a page error, which fails the test (the `page` fixture)."""

import pytest
from playwright.sync_api import Page, expect

from benchmarks.session import Session, random_masks
from tests.helpers import jpeg, use_broker
from xaiproject.celery import app as celery_app

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker_in_bucket(in_bucket, bucket_redis, start_worker, settings, tmp_path):
    """The live server (this process, its media in the bucket) sends its tasks to a real
    worker with the bucket's settings."""
    local = tmp_path / "media-that-stays-empty"
    local.mkdir()
    worker = start_worker(bucket_redis, **in_bucket.env, XAI_MEDIA_ROOT=str(local))
    settings.XAI_POLL_WAIT_SECONDS = 10
    celery_app.conf.task_always_eager = False
    use_broker(bucket_redis)
    yield in_bucket
    use_broker(settings.CELERY_BROKER_URL)
    celery_app.conf.task_always_eager = True
    worker.stop()


def test_the_page_shows_images_from_the_bucket_and_restores_a_mask(
    live_server, worker_in_bucket, page: Page
):
    server = live_server
    # An upload and a masked round, made by this browser's session over HTTP.
    session = Session(server.url, upload=jpeg((640, 480)))
    session.classify(random_masks(session.size, 1)[0])
    cookies = [
        {"name": c.name, "value": c.value, "url": server.url} for c in session.client.cookies.jar
    ]
    page.context.add_cookies(cookies)
    from_bucket = []
    page.on(
        "response",
        lambda r: r.url.startswith(worker_in_bucket.origin) and from_bucket.append(r.status),
    )

    page.goto(server.url + session.base)
    images = page.locator(".stage-view > img:not([hidden]), .history-item img")
    expect(images).to_have_count(3)  # the photo, the original's and round 1's thumbnails
    page.wait_for_function("() => [...document.images].every(i => i.complete)")
    widths = images.evaluate_all("images => images.map(i => i.naturalWidth)")
    assert all(width > 0 for width in widths), widths
    assert from_bucket == [200, 200, 200]

    # Round 1's mask is on the canvas as the page opens; restoring it reads its pixels again.
    painted = page.locator("[data-painted-output]")
    expect(painted).not_to_have_text("0.0%")
    page.locator(".history-item").first.click()
    page.locator(".history-item").last.click()
    expect(painted).not_to_have_text("0.0%")
