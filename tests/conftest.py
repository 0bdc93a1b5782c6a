"""Fixtures only (helpers are in helpers.py and servers.py): isolated media, eager or real
Celery, the gallery, a staff client, real Redis servers and Celery workers, and the web server
as `make run` starts it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from tests.helpers import RedisServer, WorkerProcess, database_env, use_broker
from tests.servers import WebServer
from xaiproject.celery import app as celery_app

ROOT = Path(__file__).resolve().parent.parent
# The explanation methods computed per exploration, here and in the processes tests start:
# each other method is seconds of CPU per exploration; the tests of the methods ask for them.
ONLY_GRAD_CAM = "gradcam"


@pytest.fixture(scope="session")
def media_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(autouse=True)
def _isolated_media(settings, media_root):
    settings.MEDIA_ROOT = str(media_root)
    # In view tests the task runs when the captured commit callbacks do, after the response:
    # nothing is worth waiting for inside the request.
    settings.XAI_POLL_WAIT_SECONDS = 0.05
    settings.XAI_EXPLANATION_METHODS = [ONLY_GRAD_CAM]


@pytest.fixture(autouse=True)
def _local_cache(settings):
    """Rate limits count in a cache of this process, empty for each test: the app's Redis
    cache (settings.CACHES) is tested by test_ratelimit, and fast tests need no Redis."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "tests",
        }
    }
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _eager_celery():
    """Unit and view tests run tasks in-process; `real_worker` switches to the real thing."""
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = True


@pytest.fixture
def gallery(db):
    call_command("load_gallery", stdout=io.StringIO())
    from painting.models import Picture

    return {p.slug: p for p in Picture.objects.filter(is_gallery=True)}


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server.url
    server.stop()


@pytest.fixture
def staff(db):
    user = User.objects.create_user(
        "reviewer", password="pw-for-tests", is_staff=True, is_superuser=True
    )
    client = Client()
    client.force_login(user)
    return client


def _database_env(django_db_blocker) -> dict[str, str]:
    with django_db_blocker.unblock():
        return database_env()


@pytest.fixture(scope="session")
def start_worker(media_root, django_db_setup, django_db_blocker, tmp_path_factory):
    """Start real workers against the test database: start_worker(redis_url, [queues], **env)."""
    database = _database_env(django_db_blocker)
    workers = []

    def start(redis_url: str, queues: str = "inference,analysis", **env) -> WorkerProcess:
        log = tmp_path_factory.mktemp("worker") / "worker.log"
        env = {"XAI_EXPLANATION_METHODS": ONLY_GRAD_CAM, **env}
        worker = WorkerProcess(redis_url, database, str(media_root), log, queues, **env)
        workers.append(worker.start())
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
def app_env(media_root, django_db_setup, django_db_blocker) -> dict[str, str]:
    """The environment of a process of the app (web, worker) working on the test data."""
    from django.conf import settings

    return {
        **_database_env(django_db_blocker),
        "XAI_MEDIA_ROOT": str(media_root),
        "XAI_COMPILED_DIR": str(settings.XAI_COMPILED_DIR),  # models compiled once
        "XAI_EXPLANATION_METHODS": ONLY_GRAD_CAM,
    }


@pytest.fixture(scope="session")
def start_server(app_env, tmp_path_factory):
    """Start the web side of `make run` (scripts/serve.sh) against the test database:
    start_server(proxy=True, **env). Tasks run in the web process unless env says otherwise."""
    servers = []

    def start(proxy: bool = True, **env) -> WebServer:
        env = {**app_env, "XAI_EAGER": "1", **env}
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
