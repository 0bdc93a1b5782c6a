"""Sixteen simultaneous 40-megapixel uploads to the web process as scripts/run.sh serves it
(gunicorn, one gthread worker): its memory stays bounded during them and comes back after."""

from __future__ import annotations

import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageDraw

from tests.servers import WebServer

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

MB = 1024 * 1024


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid:
            found.append(int(stat.parent.name))
    return found


def worker_pid(server: WebServer) -> int:
    """The one gunicorn worker (serve.sh's bash → gunicorn master → worker): it serves requests."""
    for master in children(server.process.pid):
        if workers := children(master):
            return workers[0]
    raise RuntimeError("gunicorn has no worker process")


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def upload(url: str, data: bytes) -> int:
    """One browser: the home page (for its CSRF cookie), then the upload form."""
    with httpx.Client(base_url=url, timeout=120) as client:
        client.get("/").raise_for_status()
        response = client.post(
            "/upload/",
            headers={"X-CSRFToken": client.cookies["csrftoken"]},
            files={"image": ("big.png", data, "image/png")},
        )
        return response.status_code


def upload_at_once(url: str, data: bytes, browsers: int = 16) -> list[int]:
    with ThreadPoolExecutor(browsers) as pool:
        return list(pool.map(upload, [url] * browsers, [data] * browsers))


def big_png(side: int = 6300) -> bytes:
    """Just under the 40-megapixel limit, and small on the wire: two flat colours compress well."""
    image = Image.new("RGB", (side, side), (120, 80, 40))
    ImageDraw.Draw(image).ellipse((side // 6, side // 6, side * 4 // 5, side * 2 // 3), "teal")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=9)
    return buffer.getvalue()


@pytest.fixture
def server(start_server):
    """gunicorn alone (one gthread worker), as serve.sh runs it without nginx. Thirty-two
    uploads from one address within a minute are over its usual limits (their count, and the
    worker seconds they cost): this test is about memory."""
    return start_server(
        proxy=False,
        XAI_UPLOADS_PER_MINUTE_PER_ADDRESS="1000",
        XAI_EXPLORES_PER_MINUTE_PER_ADDRESS="1000",
        XAI_WORKER_SECONDS_PER_MINUTE="100000",
        XAI_WORKER_SECONDS_PER_MINUTE_PER_ADDRESS="100000",
        XAI_MAX_PENDING_ROUNDS_PER_ADDRESS="1000",
    )


def test_sixteen_forty_megapixel_uploads_keep_the_web_process_small(server):
    data = big_png()
    # As many uploads of the working size first: what every upload costs whatever its size
    # (threads, the model, each thread's database connection, its first round) is then idle.
    assert upload_at_once(server.url, big_png(1024)) == [302] * 16
    pid = worker_pid(server)
    time.sleep(0.5)
    idle = peak = rss(pid)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.02):
            peak = max(peak, rss(pid))

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.monotonic()
    statuses = upload_at_once(server.url, data)
    took = time.monotonic() - started
    done.set()
    sampler.join()
    deadline = time.monotonic() + 3  # a few seconds to give the memory back
    while (after := rss(pid)) - idle >= 300 * MB and time.monotonic() < deadline:
        time.sleep(0.1)
    summary = (
        f"16 uploads of {len(data) // 1024} KB in {took:.1f} s; worker RSS idle {idle // MB} MB, "
        f"peak +{(peak - idle) // MB} MB, after +{(after - idle) // MB} MB"
    )
    print(summary)
    assert statuses == [302] * 16
    assert peak - idle < 1536 * MB, summary
    assert after - idle < 300 * MB, summary
