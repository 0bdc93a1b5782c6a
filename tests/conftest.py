"""Fixtures only (helpers are in helpers.py and servers.py): isolated media, eager or real
Celery, the tiny test classifier, the gallery, a staff client, real Redis servers and Celery
workers, the web server as `make run` starts it, and media in an S3 bucket."""

from __future__ import annotations

import gc
import io
import os
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from tests.helpers import HEAVY_LOADS, RedisServer, WorkerProcess, database_env, use_broker
from tests.servers import S3Server, WebServer
from xaiproject.celery import app as celery_app

# One backend in every test process, web and worker, unless the shell names one: measuring the
# fastest (XAI_BACKEND=auto, the default) is tested on its own, in test_classifier.py.
if not os.environ.get("XAI_BACKEND"):
    settings.XAI_BACKEND = "openvino"

ROOT = Path(__file__).resolve().parent.parent
# The explanation methods computed per exploration, here and in the processes tests start:
# each other method is seconds of CPU per exploration; the tests of the methods ask for them.
ONLY_GRAD_CAM = "gradcam"


def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # One of several test processes on the cores (-n): one thread each. Torch's OpenMP
        # threads wait for each other at every operation; with more threads than cores among
        # the processes, a Grad-CAM of the real model took 20× as long.
        os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_collection_finish(session):
    """What a test process has loaded by now (Django, torch, the test modules) stays loaded:
    Python's full garbage collections need not walk its hundreds of thousands of objects again
    in every test (seconds per process)."""
    gc.freeze()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("real_model") and not item.get_closest_marker("xdist_group"):
            item.add_marker(HEAVY_LOADS)
    if config.getoption("loadgroup", False):
        # pytest-xdist 3.8 names a test's group in its node id (test@group) by setting
        # item._nodeid, which pytest 9 no longer reads: the groups were silently ignored.
        from _pytest.nodeid import NodeId

        for item in items:
            if (marker := item.get_closest_marker("xdist_group")) and "@" not in item.nodeid:
                item._id = NodeId.parse(f"{item.nodeid}@{marker.args[0]}")


def pytest_unconfigure(config):
    # Nor the collections of the interpreter's exit over all that a process made: ~2 s in
    # each process of `make fast`, which the run waits for.
    gc.freeze()


@pytest.fixture(scope="session")
def media_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(autouse=True)
def _isolated_media(settings, media_root):
    settings.MEDIA_ROOT = str(media_root)
    # Static files are served from static/ where a test asks (WHITENOISE_USE_FINDERS), never
    # from a collectstatic folder a `make run` left: whitenoise would index it for each Client.
    settings.STATIC_ROOT = str(media_root.parent / "no-static-root")
    # In view tests the task runs when the captured commit callbacks do, after the response:
    # nothing is worth waiting for inside the request.
    settings.XAI_POLL_WAIT_SECONDS = 0
    settings.XAI_EXPLANATION_METHODS = [ONLY_GRAD_CAM]


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    """No test logs in with a password (force_login), so hashing one need not be slow."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def tiny_model_name(tmp_path_factory) -> str:
    from tests import tiny_model  # torch: not in the process that only hands out tests (-n)

    return tiny_model.register(tmp_path_factory.mktemp("tiny-model"))


# Tests where another process (a worker, a web server) classifies: it knows only the real models.
OTHER_PROCESS_CLASSIFIES = ("worker", "server", "browser")


@pytest.fixture(autouse=True)
def _tiny_model_by_default(request, settings, tiny_model_name):
    """New explorations in this process use the tiny test network (tiny_model.py), unless the
    test checks a real model's answers (marked real_model) or another process classifies."""
    if any(
        request.node.get_closest_marker(name) for name in ("real_model", *OTHER_PROCESS_CLASSIFIES)
    ):
        yield
        return
    import torch

    settings.XAI_MODEL = tiny_model_name
    # A network this small gains nothing from a second thread; on a busy machine it only waits.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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


@pytest.fixture(scope="session", autouse=True)
def _region_maps_kept_between_runs(request):
    """SLIC is a third of a second of CPU per picture, and every test process of every run
    segmented the same gallery photos again. A Region map is a function of the picture's
    pixels, segments.py and the libraries only: kept in pytest's cache under a hash of all of
    them, it is computed once (and again whenever one of them changes)."""
    import hashlib
    import importlib.metadata
    import json

    from painting import segments

    cache = getattr(request.config, "cache", None)
    if cache is None:  # -p no:cacheprovider: no attribute at all; compute each map
        yield
        return
    code = hashlib.sha256(Path(segments.__file__).read_bytes())
    for library in ("scikit-image", "numpy", "pillow"):
        code.update(importlib.metadata.version(library).encode())
    folder = cache.mkdir("region-maps")
    compute = segments.map_of

    def map_of(image):
        key = code.copy()
        key.update(f"{image.mode} {image.size}".encode())
        key.update(image.tobytes())
        png_path = folder / f"{key.hexdigest()}.png"
        count_path = png_path.with_suffix(".json")
        if png_path.is_file() and count_path.is_file():
            return png_path.read_bytes(), json.loads(count_path.read_text())
        png, count = compute(image)
        for path, data in ((png_path, png), (count_path, json.dumps(count).encode())):
            partial = path.with_name(f"{path.name}.{os.getpid()}")  # processes of -n write too
            partial.write_bytes(data)
            partial.replace(path)
        return png, count

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(segments, "map_of", map_of)
        yield


@pytest.fixture(scope="session")
def _gallery_rows() -> list[dict]:
    """The gallery's rows as load_gallery first wrote them in this session (filled below)."""
    return []


@pytest.fixture
def gallery(db, _gallery_rows):
    """The gallery as `manage.py load_gallery` makes it. The command runs once per session (a
    second of PNG compression); later tests get the rows it wrote back, pointing at the same
    files in the session's media folder (the command again when a test deleted one)."""
    from django.core.files.storage import default_storage
    from django.utils import timezone

    from painting.models import Picture

    files = [row[name] for row in _gallery_rows for name in ("file", "thumbnail")]
    if (
        _gallery_rows
        and not Picture.objects.filter(is_gallery=True).exists()
        and all(default_storage.exists(name) for name in files)
    ):
        Picture.objects.bulk_create(
            Picture(**{**row, "created_at": timezone.now()}) for row in _gallery_rows
        )
    else:
        call_command("load_gallery", stdout=io.StringIO())
        _gallery_rows[:] = Picture.objects.filter(is_gallery=True).values()
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

    def start(
        redis_url: str, queues: str = "inference,analysis,optional,exports", **env
    ) -> WorkerProcess:
        log = tmp_path_factory.mktemp("worker") / "worker.log"
        # Only the analysis tests' own maps: Grad-CAM alone, and D-RISE (the detect task's
        # view of a box) from 16 masks, not 96.
        env = {"XAI_EXPLANATION_METHODS": ONLY_GRAD_CAM, "XAI_DRISE_MASKS": "16", **env}
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

    return {
        **_database_env(django_db_blocker),
        "XAI_MEDIA_ROOT": str(media_root),
        "XAI_COMPILED_DIR": str(settings.XAI_COMPILED_DIR),  # models compiled once
        "XAI_BACKEND": settings.XAI_BACKEND,
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


@pytest.fixture(scope="session")
def s3():
    server = S3Server().start()
    yield server
    server.stop()


@pytest.fixture
def in_bucket(s3, settings, monkeypatch):
    """This process keeps its media in the bucket too, configured by settings.py's own code
    from the same environment; the bucket is emptied afterwards."""
    from xaiproject import settings as project_settings

    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    options, origins = project_settings._s3_storage(s3.url_seconds)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options},
    }
    settings.XAI_MEDIA_SIGNED_URLS = True
    settings.XAI_MEDIA_URL_SECONDS = s3.url_seconds
    directives = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
    settings.CONTENT_SECURITY_POLICY = {
        "DIRECTIVES": {**directives, "img-src": [*directives["img-src"], *origins]}
    }
    yield s3
    s3.empty()


@pytest.fixture(scope="session")
def bucket_redis(tmp_path_factory):
    """A broker of the bucket tests' own, so that only a worker with the bucket's settings
    takes their tasks."""
    server = RedisServer(tmp_path_factory.mktemp("redis-s3")).start()
    yield server.url
    server.stop()


@pytest.fixture
def app_in_bucket(in_bucket, bucket_redis, start_worker, start_server, tmp_path):
    """A real worker and the web server (nginx + gunicorn) with the bucket's settings, and a
    local media folder of their own that must stay empty: (server, that folder)."""
    local = tmp_path / "media-that-stays-empty"
    local.mkdir()
    env = {**in_bucket.env, "XAI_MEDIA_ROOT": str(local)}
    worker = start_worker(bucket_redis, **env)
    server = start_server(XAI_EAGER="0", REDIS_URL=bucket_redis, **env)
    yield server, local
    server.stop()
    worker.stop()
