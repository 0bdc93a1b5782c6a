"""Shared fixtures: isolated media, gallery, masks, a real Redis + Celery worker, and the web
server as `make run` starts it."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from PIL import Image, ImageDraw

from tests.servers import WebServer, free_port
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


class RedisServer:
    """A real redis-server on its own port, which tests may stop and start again."""

    def __init__(self, workdir: Path):
        self.executable = shutil.which("redis-server")
        if self.executable is None:
            pytest.fail("redis-server is missing: run `make system` (apt-get install redis-server)")
        self.port = free_port()
        self.workdir = workdir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        import redis

        self.process = subprocess.Popen(
            [
                self.executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        client = redis.Redis.from_url(self.url)
        for _ in range(100):
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server.url
    server.stop()


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
                    # One process for both queues here: the tests need the answers, not speed.
                    "inference,analysis",
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

    def pool_children(self) -> list[int]:
        """The prefork pool's child processes, which run the tasks."""
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent == self.process.pid:
                children.append(int(stat.parent.name))
        return children

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def database_path(django_db_blocker) -> str:
    from django.db import connection

    with django_db_blocker.unblock():
        return str(connection.settings_dict["NAME"])


@pytest.fixture(scope="session")
def start_worker(media_root, django_db_setup, django_db_blocker, tmp_path_factory):
    """Start real workers against the test database: start_worker(redis_url, **env)."""
    db_path = database_path(django_db_blocker)
    workers = []

    def start(redis_url: str, **env) -> WorkerProcess:
        log = tmp_path_factory.mktemp("worker") / "worker.log"
        workers.append(WorkerProcess(redis_url, db_path, str(media_root), log, **env).start())
        return workers[-1]

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture(scope="session")
def worker_process(redis_url, start_worker):
    return start_worker(redis_url)


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


@pytest.fixture(scope="session")
def start_server(media_root, django_db_setup, django_db_blocker, tmp_path_factory):
    """Start the web side of `make run` (scripts/serve.sh) against the test database:
    start_server(proxy=True, **env). Tasks run in the web process unless env says otherwise."""
    from django.conf import settings

    servers = []

    def start(proxy: bool = True, **env) -> WebServer:
        env = {
            "XAI_DB_PATH": database_path(django_db_blocker),
            "XAI_MEDIA_ROOT": str(media_root),
            "XAI_COMPILED_DIR": str(settings.XAI_COMPILED_DIR),  # models compiled once
            "XAI_EAGER": "1",
            **env,
        }
        workdir = tmp_path_factory.mktemp("server")
        servers.append(WebServer(workdir, proxy=proxy, **env).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def public_server(start_server) -> WebServer:
    """nginx in front of gunicorn, as `make run` serves the app."""
    return start_server()
