"""Shared fixtures: isolated media, gallery, masks, and a real Redis + Celery worker."""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from PIL import Image, ImageDraw

from xaiproject.celery import app as celery_app

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def media_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(autouse=True)
def _isolated_media(settings, media_root):
    settings.MEDIA_ROOT = str(media_root)
    # In view tests the task runs when the captured commit callbacks do, after the response:
    # nothing is worth waiting for inside the request.
    settings.XAI_POLL_WAIT_SECONDS = 0.05


@pytest.fixture(autouse=True)
def _eager_celery():
    """Unit and view tests run tasks in-process; `real_worker` switches to the real thing."""
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = True


def use_broker(url: str) -> None:
    """Point this process's Celery app at another broker, dropping pooled connections."""
    celery_app.conf.broker_url = url
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def gallery(db):
    call_command("load_gallery", stdout=io.StringIO())
    from painting.models import Picture

    return {p.slug: p for p in Picture.objects.filter(is_gallery=True)}


def mask_png(size: tuple[int, int], box: tuple[int, int, int, int] | None = None) -> bytes:
    """A white-on-black mask PNG, painted inside box (x0, y0, x1, y1)."""
    mask = Image.new("L", size, 0)
    if box:
        ImageDraw.Draw(mask).rectangle(box, fill=255)
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail(
            "redis-server is not installed: run `make system` (apt-get install redis-server)"
        )
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    client = redis.Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield url
    process.terminate()
    process.wait(10)


class WorkerProcess:
    """A real `celery worker` process on the inference queue, against the test database."""

    def __init__(self, redis_url: str, db_path: str, media_root: str, log_path: Path, **env):
        self.log_path = log_path
        self.env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "XAI_DB_PATH": db_path,
            "XAI_MEDIA_ROOT": media_root,
            "XAI_EAGER": "0",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> WorkerProcess:
        with open(self.log_path, "ab") as log:  # the child keeps its own copy of the handle
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "xaiproject",
                    "worker",
                    "-Q",
                    "inference",
                    "--concurrency",
                    "1",
                    "--loglevel",
                    "INFO",
                    "--without-mingle",
                    "--without-gossip",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if b"ready." in self.log_path.read_bytes():
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError("the Celery worker did not start:\n" + self.log_path.read_text()[-3000:])

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="session")
def worker_process(redis_url, media_root, django_db_setup, django_db_blocker, tmp_path_factory):
    from django.db import connection

    with django_db_blocker.unblock():
        db_path = connection.settings_dict["NAME"]
    worker = WorkerProcess(
        redis_url, str(db_path), str(media_root), tmp_path_factory.mktemp("worker") / "worker.log"
    ).start()
    yield worker
    worker.stop()


@pytest.fixture
def real_worker(worker_process, redis_url, settings):
    """Tasks go over the real Redis to the real worker process."""
    settings.XAI_POLL_WAIT_SECONDS = 10
    celery_app.conf.task_always_eager = False
    use_broker(redis_url)
    yield worker_process
    celery_app.conf.task_always_eager = True


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """Run the commit callbacks (task dispatch) of a request made inside `with on_commit(...)`."""
    return django_capture_on_commit_callbacks
