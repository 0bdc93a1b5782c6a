"""Sixteen simultaneous 40-megapixel uploads to the web process as scripts/run.sh serves it
(gunicorn, one gthread worker): its memory stays bounded during them and comes back after."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from django.db import connection
from PIL import Image, ImageDraw

from tests.helpers import ROOT, free_port

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

MB = 1024 * 1024


class GunicornProcess:
    """The web server of scripts/run.sh against the test database and media, tasks run eagerly."""

    def __init__(self, db_path: str, media_root: str, log_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = {
            **os.environ,
            "XAI_DB_PATH": db_path,
            "XAI_MEDIA_ROOT": media_root,
            "XAI_EAGER": "1",
            "PYTHONUNBUFFERED": "1",
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> GunicornProcess:
        command = [sys.executable, "-m", "gunicorn", "xaiproject.wsgi"]
        command += ["--bind", f"127.0.0.1:{self.port}", "--worker-class", "gthread"]
        command += ["--workers", "1", "--threads", "64", "--log-level", "warning"]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if httpx.get(self.url + "/", timeout=5).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not start:\n" + self.log_path.read_text()[-3000:])

    def worker_pid(self) -> int:
        """The one worker process, the gunicorn master's child: it serves the requests."""
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent == self.process.pid:
                return int(stat.parent.name)
        raise RuntimeError("gunicorn has no worker process")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


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
def server(media_root, tmp_path):
    server = GunicornProcess(
        str(connection.settings_dict["NAME"]), str(media_root), tmp_path / "gunicorn.log"
    ).start()
    yield server
    server.stop()


def test_sixteen_forty_megapixel_uploads_keep_the_web_process_small(server):
    data = big_png()
    # As many uploads of the working size first: what every upload costs whatever its size
    # (threads, the model, each thread's database connection, its first round) is then idle.
    assert upload_at_once(server.url, big_png(1024)) == [302] * 16
    pid = server.worker_pid()
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
