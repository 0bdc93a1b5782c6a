"""manage.py purge: free play and uploads go after a while, study data never, orphans go."""

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.sessions.models import Session
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from painting.models import Exploration, Picture
from tests.helpers import (
    classify,
    join_study,
    jpeg,
    make_study,
    mask_png,
    start,
    study_step,
    upload,
)

pytestmark = pytest.mark.slow


def files_of(exploration: Exploration) -> list[str]:
    names = [r.mask.name for r in exploration.rounds.all() if r.mask]
    names += [r.thumbnail.name for r in exploration.rounds.all() if r.index]
    return names


def age_everything(media_root: Path, days: float) -> None:
    past = time.time() - days * 86400
    for path in media_root.rglob("*"):
        os.utime(path, (past, past))


def test_purge_deletes_old_free_play_and_uploads_and_never_study_data(
    gallery, on_commit, media_root
):
    visitor, participant, newcomer = Client(), Client(), Client()
    old = start(visitor, gallery["coffee"], on_commit)
    classify(visitor, old, on_commit, mask_png((600, 400), (0, 0, 100, 100)))
    upload(visitor, jpeg(), capture=on_commit)
    uploaded = Picture.objects.get(is_gallery=False)
    study = make_study(gallery)
    join_study(participant, study, on_commit)
    studied = study_step(participant, study, 1, on_commit)
    classify(participant, studied, on_commit, mask_png((600, 400), (0, 0, 200, 200)))
    long_ago = timezone.now() - timedelta(days=90)
    Exploration.objects.update(updated_at=long_ago)
    Picture.objects.filter(is_gallery=False).update(created_at=long_ago)
    fresh = start(newcomer, gallery["chelsea"], on_commit)
    classify(newcomer, fresh, on_commit, mask_png((451, 300), (0, 0, 50, 50)))
    Session.objects.create(session_key="x" * 32, session_data="", expire_date=long_ago)
    old_files, study_files, fresh_files = files_of(old), files_of(studied), files_of(fresh)
    upload_files = [uploaded.file.name, uploaded.thumbnail.name]
    age_everything(media_root, days=90)
    stray = default_storage.save("rounds/stray.png", ContentFile(b"left by a crash"))
    os.utime(media_root / stray, (time.time() - 86400 * 2,) * 2)
    young_stray = default_storage.save("rounds/being-written.png", ContentFile(b"in flight"))

    call_command("purge", "--older-than", "30")

    assert not Exploration.objects.filter(pk=old.pk).exists()
    assert not Picture.objects.filter(pk=uploaded.pk).exists()
    assert Exploration.objects.filter(pk__in=[studied.pk, fresh.pk]).count() == 2
    assert studied.rounds.count() == 2 and fresh.rounds.count() == 2
    assert not any(default_storage.exists(n) for n in old_files + upload_files)
    assert all(default_storage.exists(n) for n in study_files + fresh_files)
    assert all(default_storage.exists(p.file.name) for p in Picture.objects.filter(is_gallery=True))
    assert not default_storage.exists(stray)
    assert default_storage.exists(young_stray)
    assert not Session.objects.filter(session_key="x" * 32).exists()
