"""The web side's rules: waiting for answers, asking for analyses, and what a dead broker does."""

import io
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import DatabaseError
from django.utils import timezone
from PIL import Image

from painting import services
from painting.dispatch import ANALYSIS_QUEUE_DOWN_MESSAGE
from painting.masking import Fill
from painting.models import Round
from tests.helpers import (
    classify,
    free_port,
    mask_png,
    new_exploration,
    pending_rounds,
    start,
    use_broker,
)
from xaiproject.celery import app as celery_app


@contextmanager
def dead_broker():
    celery_app.conf.task_always_eager = False
    use_broker(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    try:
        yield
    finally:
        use_broker(django_settings.CELERY_BROKER_URL)
        celery_app.conf.task_always_eager = True


def test_a_request_waiting_on_a_lost_round_fails_that_round_and_no_other(gallery, settings):
    mine, other = pending_rounds(new_exploration(gallery), 2)
    long_ago = timezone.now() - timedelta(seconds=settings.XAI_ROUND_STALE_SECONDS + 1)
    Round.objects.filter(pk__in=[mine.pk, other.pk]).update(created_at=long_ago)
    mine.refresh_from_db()
    waited = services.wait_for_round(mine, timeout=0.05)
    assert waited.status == Round.Status.FAILED and "No classifier answered" in waited.error
    assert Round.objects.get(pk=other.pk).status == Round.Status.PENDING  # the sweeper's job


def test_a_round_still_within_its_time_is_left_waiting(gallery):
    [round_] = pending_rounds(new_exploration(gallery), 1)
    assert services.wait_for_round(round_, timeout=0.05).status == Round.Status.PENDING


def test_an_analysis_in_flight_is_not_asked_for_twice(client, gallery, on_commit):
    exploration = start(client, gallery["coffee"], on_commit)
    classify(client, exploration, on_commit, mask_png((600, 400), (0, 0, 100, 100)))
    round_ = exploration.rounds.get(index=1)
    with on_commit(execute=False) as sent:
        asked = services.request_analysis(round_)
        again = services.request_analysis(asked)
    assert len(sent) == 1  # one dispatch, though asked twice
    assert again.analysis_status == Round.AnalysisStatus.PENDING and again.analysis_in_flight


def test_a_dead_broker_fails_the_analysis_with_a_message(client, gallery, on_commit):
    exploration = start(client, gallery["coffee"], on_commit)
    classify(client, exploration, on_commit, mask_png((600, 400), (0, 0, 100, 100)))
    round_ = exploration.rounds.get(index=1)
    with dead_broker(), on_commit(execute=True):
        services.request_analysis(round_)
    round_.refresh_from_db()
    assert round_.analysis_status == Round.AnalysisStatus.FAILED
    assert round_.analysis["error"] == ANALYSIS_QUEUE_DOWN_MESSAGE
    assert round_.status == Round.Status.DONE  # the round itself stands


def media_files(settings) -> set[Path]:
    return {path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()}


def test_a_round_the_database_refuses_leaves_no_mask_file(gallery, settings):
    exploration = new_exploration(gallery)
    mask = Image.open(io.BytesIO(mask_png((600, 400), (0, 0, 60, 40))))
    before = media_files(settings)
    # The database refuses the Infinity that json writes (SQLite's JSON_VALID, PostgreSQL's json)
    with pytest.raises(DatabaseError):
        services._create_round(exploration, mask=mask, fill=Fill.MEAN, strokes=[float("inf")])
    assert media_files(settings) == before
