"""A full disk: the app as `make run` serves it, its database and media on a small tmpfs that is
then filled. Upload, Classify and consent answer 507 with a plain message and write nothing,
/healthz says the storage cannot be written, and all works again once there is room."""

import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from benchmarks.session import Session, random_masks
from tests.helpers import ROOT, jpeg

pytestmark = [pytest.mark.server, pytest.mark.slow]

FULL_MESSAGE = "The server has run out of storage space"


@pytest.fixture
def small_disk(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here (root only): {mounted.stderr.decode().strip()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def _manage(env: dict, *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True
    )


def _fill(disk: Path) -> Path:
    """Write until the disk refuses a single page more."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        for size in (1 << 20, 1 << 12):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError:
                pass
    return filler


def _counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        tables = ("painting_round", "painting_picture", "painting_participant", "django_session")
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def _media(disk: Path) -> set[Path]:
    return {p for p in (disk / "media").rglob("*") if p.is_file()}


def test_a_full_disk_answers_507_writes_nothing_and_recovers(small_disk, start_server, app_env):
    db, media = small_disk / "db.sqlite3", small_disk / "media"
    env = {
        **app_env,
        "DATABASE_URL": "",
        "XAI_DB_PATH": str(db),
        "XAI_MEDIA_ROOT": str(media),
        "XAI_MIN_FREE_BYTES": str(1 << 20),
    }
    _manage(env, "migrate", "--noinput")
    _manage(env, "load_gallery")
    _manage(env, "load_study", str(ROOT / "docs" / "example_study.json"))
    own = ("DATABASE_URL", "XAI_DB_PATH", "XAI_MEDIA_ROOT", "XAI_MIN_FREE_BYTES")
    server = start_server(**{name: env[name] for name in own})
    person = Session(server.url, "Coffee")
    mask = random_masks(person.size, 1)[0]
    assert httpx.get(server.url + "/healthz").status_code == 200

    filler = _fill(small_disk)
    before, files = _counts(db), _media(small_disk)

    classify = person.client.post(
        f"{person.base}rounds/",
        headers=person.headers,
        data={"fill": "mean", "strokes": "[]"},
        files={"mask": ("mask.png", mask, "image/png")},
    )
    assert classify.status_code == 507 and FULL_MESSAGE in classify.text
    photo = {"image": ("photo.jpg", jpeg((1600, 1200)), "image/jpeg")}
    upload = person.client.post(
        "/upload/", headers={"X-CSRFToken": person.headers["X-CSRFToken"]}, files=photo
    )
    assert upload.status_code == 507 and FULL_MESSAGE in upload.text, upload.text[-600:]
    newcomer = httpx.Client(base_url=server.url)
    newcomer.get("/study/masks-and-mugs/")
    consent = newcomer.post(
        "/study/masks-and-mugs/consent/",
        headers={"X-CSRFToken": newcomer.cookies["csrftoken"]},
        data={"agree": 1, "pid": "P-1", "screen_width": 1280, "screen_height": 800},
    )
    assert consent.status_code == 507 and FULL_MESSAGE in consent.text, consent.text[-900:]
    health = httpx.get(server.url + "/healthz")
    assert health.status_code == 503 and "storage" in health.text
    assert _counts(db) == before and _media(small_disk) == files

    filler.unlink()
    assert httpx.get(server.url + "/healthz").status_code == 200
    person.classify(mask)
    assert person.history().count("done") == 2
