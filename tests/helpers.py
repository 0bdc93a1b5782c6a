"""Helpers for tests: masks and photos, starting an exploration the way a browser does, real
Redis servers and Celery workers. Fixtures live in conftest.py; no test module imports another."""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import subprocess
import sys
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.urls import reverse
from PIL import Image, ImageDraw

from painting import services
from painting.gallery import PHOTOS
from painting.masking import Fill
from painting.models import Exploration, Round
from tests.servers import free_port
from xaiproject.celery import app as celery_app

ROOT = Path(__file__).resolve().parent.parent
HTMX = {"HX-Request": "true"}
# Tests that load what takes seconds to load (the real model, torchvision, the grad-cam package)
# run in one process of `make fast` (--dist loadgroup), which then loads it once. conftest.py
# adds the tests marked real_model.
HEAVY_LOADS = pytest.mark.xdist_group("heavy-loads")


def start(client, picture, capture=None, **data) -> Exploration:
    """Pick a picture in the gallery. With `capture` (the on_commit fixture) the commit
    callbacks run as the request ends; without, the commit is real (transactional tests)."""
    with capture(execute=True) if capture else nullcontext():
        response = client.post(reverse("painting:explore-picture", args=[picture.pk]), data)
    assert response.status_code == 302, response.content[:500]
    return Exploration.objects.get(pk=response.url.strip("/").split("/")[-1])


def mask_upload(data: bytes, name: str = "mask.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="image/png")


def classify(client, exploration, capture, mask: bytes, *, fill="mean", strokes="[]", htmx=True):
    with capture(execute=True) if capture else nullcontext():
        return client.post(
            reverse("painting:classify", args=[exploration.pk]),
            {"mask": mask_upload(mask), "fill": fill, "strokes": strokes},
            headers=HTMX if htmx else {},
        )


def make_study(
    gallery,
    *,
    slugs=("coffee", "chelsea"),
    ask_prediction=False,
    question="",
    min_rounds=1,
    practice=(),
    conditions=(),
    **fields,
):
    """A study of these gallery images (those in `practice` flagged so), with conditions given
    as dicts of Condition fields, and any other Study fields. It takes links without a
    participant id (allow_missing_id), as most tests consent without one; the tests of ids
    say allow_missing_id=False."""
    from painting.models import Condition, Study, StudyImage

    study = Study.objects.create(
        **{
            "name": "Masks and mugs",
            "slug": "masks",
            "consent_text": "We record how you paint. Data is anonymous.",
            "consent_version": "2026-11",
            "instructions": "Paint what you think does not matter.",
            "allow_missing_id": True,
            **fields,
        },
        min_rounds_per_image=min_rounds,
        ask_prediction=ask_prediction,
        closing_question=question,
    )
    for position, slug in enumerate(slugs):
        StudyImage.objects.create(
            study=study, picture=gallery[slug], position=position, is_practice=slug in practice
        )
    for condition in conditions:
        Condition.objects.create(study=study, **condition)
    return study


def join_study(client, study, capture, pid="", **ids):
    """Consent, as a participant's browser does (ids: PROLIFIC_PID, STUDY_ID, SESSION_ID)."""
    with capture(execute=True) if capture else nullcontext():
        response = client.post(f"/study/{study.slug}/consent/", {"agree": "1", "pid": pid, **ids})
    assert response.status_code == 302, response.content[:300]
    return response


def study_step(client, study, step: int, capture) -> Exploration:
    with capture(execute=True) if capture else nullcontext():
        response = client.get(f"/study/{study.slug}/step/{step}/")
    assert response.status_code == 302
    return Exploration.objects.get(pk=response.url.strip("/").split("/")[-1])


def files_of(media_root, exploration_id) -> list[Path]:
    """Every stored file named after the exploration: its rounds' and its own."""
    root = Path(media_root)
    named = (p for p in root.rglob("*") if str(exploration_id) in str(p.relative_to(root)))
    return [p for p in named if p.is_file()]


def mask_png(size: tuple[int, int], box: tuple[int, int, int, int] | None = None) -> bytes:
    """A white-on-black mask PNG, painted inside box (x0, y0, x1, y1)."""
    mask = Image.new("L", size, 0)
    if box:
        ImageDraw.Draw(mask).rectangle(box, fill=255)
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    return buffer.getvalue()


def photo(slug):
    return next(p for p in PHOTOS if p.slug == slug).open().convert("RGB")


def jpeg(size=(320, 240)) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise(size, 40).convert("RGB").save(buffer, format="JPEG")
    return buffer.getvalue()


def upload(client, data: bytes, name="photo.jpg", capture=None, **extra):
    file = SimpleUploadedFile(name, data, content_type="image/jpeg")
    if capture is None:
        return client.post(reverse("painting:upload"), {"image": file}, **extra)
    with capture(execute=True):
        return client.post(reverse("painting:upload"), {"image": file}, **extra)


def pending_rounds(exploration: Exploration, count: int) -> list[Round]:
    """Rounds saved as pending whose dispatch never runs (the test transaction never commits)."""
    masks = [
        Image.open(io.BytesIO(mask_png((600, 400), (0, 0, 60 * i, 40 * i))))
        for i in range(1, count + 1)
    ]
    with transaction.atomic():
        return [
            services._create_round(exploration, mask=m, fill=Fill.MEAN, strokes=[]) for m in masks
        ]


def new_exploration(gallery, model_name: str = "") -> Exploration:
    """An exploration of the coffee photo by the model new explorations get (services)."""
    return Exploration.objects.create(
        visitor="v1",
        picture=gallery["coffee"],
        model_name=model_name or services.current_model_name(),
    )


def wait_finished(round_id, timeout=60) -> Round:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        round_ = Round.objects.get(pk=round_id)
        if round_.is_finished:
            return round_
        time.sleep(0.05)
    raise AssertionError(f"round {round_id} still {round_.status} after {timeout}s")


def database_env() -> dict[str, str]:
    """The environment that points another process (a worker, a web server) at the test
    database: SQLite's file, or DATABASE_URL naming the test database pytest-django made."""
    from django.db import connection

    name = str(connection.settings_dict["NAME"])
    if connection.vendor == "sqlite":
        return {"DATABASE_URL": "", "XAI_DB_PATH": name}
    url = urlsplit(os.environ["DATABASE_URL"])
    return {"DATABASE_URL": urlunsplit(url._replace(path=f"/{name}"))}


def clean_env(**env) -> dict[str, str]:
    """This environment without the app's settings: what a fresh machine has."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("XAI_")}
    inherited.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return {**inherited, **env}


def load_settings(env: dict[str, str], *names: str) -> subprocess.CompletedProcess:
    """Load the settings in a fresh process with this environment; it prints the named ones."""
    script = "from django.conf import settings; print(*(getattr(settings, n) for n in %r))"
    return subprocess.run(
        [sys.executable, "-c", script % (names,)],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "xaiproject.settings"},
        capture_output=True,
        text=True,
    )


def settings_of(env: dict[str, str], *names: str) -> list[str]:
    result = load_settings(env, *names)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def use_broker(url: str) -> None:
    """Point this process's Celery app at another broker, dropping pooled connections."""
    celery_app.conf.broker_url = url
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


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


class WorkerProcess:
    """A real `celery worker` process, against the test database (database: the environment
    that names it, database_env()). One process serves both queues unless `queues`
    says otherwise: the tests need the answers, not speed."""

    def __init__(
        self,
        redis_url: str,
        database: dict[str, str],
        media_root: str,
        log_path: Path,
        queues: str = "inference,analysis,optional,exports",
        **env,
    ):
        self.log_path = log_path
        self.queues = queues
        self.env = {
            **os.environ,
            "REDIS_URL": redis_url,
            **database,
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
                    self.queues,
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


def stop_at_once(*processes) -> None:
    """Stop servers and workers all at once (each .stop() waits seconds for its own graceful
    end), then the Redis they used: the order that matters is workers before the test's rows
    are flushed, and this ends before the fixture does."""
    *others, redis = processes
    with ThreadPoolExecutor(len(others)) as pool:
        list(pool.map(lambda process: process.stop(), others))
    redis.stop()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims huge dimensions (a decompression bomb's header)."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def consent_at_once(monkeypatch, study, consents: dict[str, dict]) -> tuple[dict, int]:
    """Browsers consenting at the same moment: each one's first look for an existing
    participant waits until all have looked (a look after a lost insert does not), so they race
    for the same place. ({name: what rules.consent answered, or raised}, looks taken)."""
    from painting.studies import rules

    all_looked = threading.Barrier(len(consents), timeout=10)
    real, first_look, looks = rules._existing, threading.local(), []

    def looked(*args):
        looks.append(args)
        found = real(*args)
        if not getattr(first_look, "done", False):
            first_look.done = True
            all_looked.wait()
        return found

    monkeypatch.setattr(rules, "_existing", looked)
    answers = {}

    def visit(name, arguments):
        try:
            answers[name] = rules.consent(study, **arguments)
        except BaseException as exc:  # noqa: BLE001  reported to the test
            answers[name] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=visit, args=item) for item in consents.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return answers, len(looks)


def admin_study_form(**fields) -> dict:
    """The admin's study form as a browser posts it: every field of Study at its default (a
    new field is in without a test knowing of it), then `fields` (False: a box left unticked);
    no images or conditions unless given."""
    from django.db import models

    from painting.models import Study

    defaults, data = Study(), {}
    for field in Study._meta.concrete_fields:
        if not field.editable or field.primary_key:
            continue
        value = getattr(defaults, field.attname)
        if isinstance(field, models.BooleanField):
            data[field.name] = value
        elif isinstance(field, models.JSONField):
            data[field.name] = json.dumps(value)
        elif isinstance(field, models.DateTimeField):
            data[f"{field.name}_0"], data[f"{field.name}_1"] = "2026-11-27", "12:00:00"
        elif value is not None:
            data[field.name] = str(value)
    data.update(
        {f"{inline}-{count}": "0" for inline in ("images", "conditions") for count in FORMS}
    )
    data.update(fields)
    return {
        name: "on" if value is True else value for name, value in data.items() if value is not False
    }


FORMS = ("TOTAL_FORMS", "INITIAL_FORMS")
