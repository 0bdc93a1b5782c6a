"""What is kept and for how long: anonymous free play is deleted after a while, study data
never; files that no row names any more are removed. Safe to run at any time (e.g. from cron)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.files.storage import default_storage
from django.db import connection, models
from django.utils import timezone

from .models import Exploration, Picture, StudyExport
from .storage import stored_files

# A file younger than this may belong to a row that is still being written.
ORPHAN_GRACE = timedelta(hours=1)


@dataclass(frozen=True)
class Purged:
    explorations: int
    uploads: int
    sessions: int
    exports: int
    files: int
    reclaimed_bytes: int = 0  # given back to the file system by VACUUM (SQLite)


def purge(older_than: timedelta, now: datetime | None = None) -> Purged:
    """Delete free-play explorations and uploads untouched for `older_than`, expired sessions,
    study exports older than XAI_EXPORT_KEEP_HOURS, and files no row refers to. Participants'
    explorations and gallery pictures stay."""
    now = now or timezone.now()
    cutoff = now - older_than
    stale = Exploration.objects.filter(participant__isnull=True, updated_at__lt=cutoff)
    explorations = stale.count()
    stale.delete()
    uploads = Picture.objects.filter(
        is_gallery=False, created_at__lt=cutoff, explorations__isnull=True
    )
    upload_count = uploads.count()
    uploads.delete()
    sessions, _ = Session.objects.filter(expire_date__lt=now).delete()
    exports = StudyExport.objects.filter(
        created_at__lt=now - timedelta(hours=settings.XAI_EXPORT_KEEP_HOURS)
    )
    export_count = exports.count()
    exports.delete()  # their files go with them (files.py)
    files = delete_orphaned_files(now)
    return Purged(explorations, upload_count, sessions, export_count, files, reclaim_space())


def reclaim_space(min_free_bytes: int | None = None) -> int:
    """Give the space deleted rows held back to the file system, where the database keeps it:
    SQLite reuses the pages a delete frees but never shrinks its file, so after a purge that
    freed at least XAI_VACUUM_MIN_FREE_MB, VACUUM rewrites it (it holds the write lock for a
    second or so per 100 MB), and the WAL is truncated. The bytes given back, else 0.

    PostgreSQL needs nothing here: autovacuum makes dead rows' space reusable by new ones, so
    the database stops growing; only VACUUM FULL, which locks each table while it rewrites it,
    gives the space back to the operating system (README, "Quotas and purging")."""
    if min_free_bytes is None:
        min_free_bytes = settings.XAI_VACUUM_MIN_FREE_MB * 2**20
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        return 0  # VACUUM cannot run inside a transaction
    with connection.cursor() as cursor:
        page_size = cursor.execute("PRAGMA page_size").fetchone()[0]
        free = cursor.execute("PRAGMA freelist_count").fetchone()[0] * page_size
        if free < min_free_bytes:
            return 0
        before = cursor.execute("PRAGMA page_count").fetchone()[0] * page_size
        cursor.execute("VACUUM")
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        after = cursor.execute("PRAGMA page_count").fetchone()[0] * page_size
    return max(0, before - after)


# Where rows name stored files besides their file fields (which referenced_files finds by
# itself): a JSON field and how to read the names out of its value. A test fails when a JSON
# field outside this list holds the name of a stored file.
FILE_NAMES_IN_JSON: dict[tuple[type[models.Model], str], Callable[[object], Iterable[str]]] = {
    (Exploration, "explanations"): lambda methods: methods.values(),  # {method: map's name}
}


def referenced_files() -> set[str]:
    """Every stored file's name that a row names: each file field of the app's models, and the
    names inside FILE_NAMES_IN_JSON."""
    names = set()
    for model in apps.get_app_config("painting").get_models():
        fields = [f.name for f in model._meta.concrete_fields if isinstance(f, models.FileField)]
        if fields:
            for row in model.objects.values_list(*fields).iterator(chunk_size=2000):
                names.update(name for name in row if name)
    for (model, field), names_in in FILE_NAMES_IN_JSON.items():
        for value in model.objects.values_list(field, flat=True).iterator(chunk_size=2000):
            names.update(name for name in names_in(value or {}) if name)
    return names


def delete_orphaned_files(now: datetime | None = None) -> int:
    """Remove stored files that no row names (left by a crash, a race or a deleted row)."""
    now = now or timezone.now()
    referenced = referenced_files()
    deleted = 0
    for name, modified in stored_files(default_storage):
        if name in referenced or now - modified < ORPHAN_GRACE:
            continue
        default_storage.delete(name)
        deleted += 1
    return deleted
