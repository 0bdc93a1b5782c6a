"""purge gives a large deletion's space back: SQLite never shrinks its file by itself, so after
a purge that freed more than XAI_VACUUM_MIN_FREE_MB it runs VACUUM (and truncates the WAL)."""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from painting import retention
from painting.models import Exploration, Round
from tests.helpers import new_exploration

pytestmark = pytest.mark.django_db(transaction=True)  # VACUUM runs outside any transaction


def database_bytes() -> int:
    path = Path(connection.settings_dict["NAME"])
    return sum(os.path.getsize(p) for p in (path, Path(f"{path}-wal")) if p.exists())


def old_free_play_with_logs(gallery, megabytes: int) -> None:
    """Free play untouched for a year, with `megabytes` of brush logs."""
    exploration = new_exploration(gallery)
    log = [{"type": "note", "text": "x" * (2**20 - 100)}]
    for index in range(1, megabytes + 1):
        Round.objects.create(exploration=exploration, index=index, fill="mean", strokes=log)
    Exploration.objects.filter(pk=exploration.pk).update(
        updated_at=timezone.now() - timedelta(days=365)
    )


def test_a_large_purge_gives_the_space_back(gallery, settings, capsys):
    settings.XAI_VACUUM_MIN_FREE_MB = 8
    old_free_play_with_logs(gallery, 24)
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = database_bytes()
    call_command("purge", "--older-than", "30")
    assert "MB of the database given back" in capsys.readouterr().out
    assert Round.objects.filter(index__gte=1).count() == 0
    assert database_bytes() < before - 20 * 2**20


def test_a_small_purge_leaves_the_file_alone(gallery, settings):
    settings.XAI_VACUUM_MIN_FREE_MB = 64
    old_free_play_with_logs(gallery, 2)
    purged = retention.purge(timedelta(days=30))
    assert purged.explorations == 1 and purged.reclaimed_bytes == 0


def test_inside_a_transaction_it_does_nothing(gallery, settings, django_db_blocker):
    from django.db import transaction

    with transaction.atomic():
        assert retention.reclaim_space(min_free_bytes=0) == 0
