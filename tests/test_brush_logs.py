"""Brush logs (Round.strokes, up to 2 MB each) stay out of every page: their size and counts
live in columns of their own, a round's log is capped by points as well as bytes, and late
events respect both caps."""

import importlib
import json

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from painting import brush_log
from painting.models import Round
from tests.helpers import classify, mask_png, start


def dense_log(points: int, strokes: int = 1) -> list:
    """canvas.js's log: strokes of [x, y, t] points, then a classify event."""
    per = points // strokes
    log = [
        {
            "type": "stroke",
            "tool": "paint",
            "size": 24,
            "points": [[i % 600, i % 400, s * per + i] for i in range(per)],
        }
        for s in range(strokes)
    ]
    return [*log, {"type": "classify", "t": points}]


def _classified(client, gallery, on_commit, log) -> Round:
    exploration = start(client, gallery["coffee"], on_commit)
    mask = mask_png((600, 400), (0, 0, 99, 99))
    response = classify(client, exploration, on_commit, mask, strokes=json.dumps(log))
    assert response.status_code == 200, response.content[:300]
    return exploration.rounds.get(index=1)


def _log_selected(queries) -> list[str]:
    return [q["sql"] for q in queries if '"strokes"' in q["sql"]]


def test_the_explore_page_never_selects_a_log(client, gallery, on_commit):
    round_ = _classified(client, gallery, on_commit, dense_log(20_000, strokes=4))
    url = reverse("painting:explore", args=[round_.exploration_id])
    with CaptureQueriesContext(connection) as queries:
        page = client.get(url)
    assert page.status_code == 200 and "Round 1" in page.content.decode()
    assert _log_selected(queries.captured_queries) == []


def test_the_replay_shows_each_logs_counts_without_selecting_it(staff, client, gallery, on_commit):
    round_ = _classified(client, gallery, on_commit, dense_log(3000, strokes=3))
    with CaptureQueriesContext(connection) as queries:
        page = staff.get(f"/review/e/{round_.exploration_id}/")
    body = page.content.decode()
    assert page.status_code == 200
    assert "Brush log: 4 events, 3000 points" in body
    assert _log_selected(queries.captured_queries) == []


def test_a_rounds_log_size_and_counts_are_stored_with_it(client, gallery, on_commit):
    log = dense_log(900, strokes=3)
    round_ = _classified(client, gallery, on_commit, log)
    assert (round_.log_events, round_.log_points) == (4, 900)
    assert round_.log_bytes == len(json.dumps(log)) and round_.log_bytes > 10_000
    assert round_.strokes == log  # asked for, it is still there


@pytest.mark.parametrize(
    "log, message",
    [
        # Points: refused from a count of its arrays, before it is parsed.
        ([{"type": "stroke", "points": [[1, 2, 3]] * brush_log.MAX_POINTS}], "more than 50,000"),
        # Events without arrays: refused once parsed, with their count.
        ([{"type": "blur", "t": 1}] * (brush_log.MAX_POINTS + 1), "has 50,001 points and events"),
    ],
)
def test_a_log_over_the_point_cap_gets_a_clear_400_and_writes_nothing(
    client, gallery, on_commit, log, message
):
    exploration = start(client, gallery["coffee"], on_commit)
    text = json.dumps(log, separators=(",", ":"))
    assert len(text) < brush_log.MAX_BYTES  # under the byte cap
    response = classify(client, exploration, on_commit, mask_png((600, 400)), strokes=text)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert list(exploration.rounds.values_list("index", flat=True)) == [0]


def test_a_log_at_the_cap_is_stored_as_it_was_sent(client, gallery, on_commit):
    events = [{"type": "classify", "t": 1}]
    log = [{"type": "stroke", "points": [[1, 2, 3]] * (brush_log.MAX_POINTS - 2)}, *events]
    round_ = _classified(client, gallery, on_commit, log)
    assert (round_.log_events, round_.log_points) == (2, brush_log.MAX_POINTS - 2)
    stored = Round.objects.values_list("strokes", flat=True).get(pk=round_.pk)
    assert stored == log


def test_late_events_past_a_full_log_get_400_and_change_nothing(client, gallery, on_commit):
    round_ = _classified(client, gallery, on_commit, dense_log(100))
    Round.objects.filter(pk=round_.pk).update(log_points=brush_log.MAX_POINTS)
    url = reverse("painting:late-events", args=[round_.exploration_id])
    response = client.post(url, {"events": json.dumps([{"type": "blur", "t": 5}])})
    assert response.status_code == 400 and "log is full" in response.content.decode()
    assert Round.objects.get(pk=round_.pk).strokes == dense_log(100)


def test_late_events_update_the_counts(client, gallery, on_commit):
    round_ = _classified(client, gallery, on_commit, dense_log(100))
    url = reverse("painting:late-events", args=[round_.exploration_id])
    assert client.post(url, {"events": json.dumps([{"type": "blur", "t": 5}])}).status_code == 204
    after = Round.objects.get(pk=round_.pk)
    assert (after.log_events, after.log_points) == (3, 100)
    assert after.log_bytes == len(json.dumps(after.strokes))
    assert after.stored_bytes - round_.stored_bytes == after.log_bytes - round_.log_bytes


def test_the_migration_measures_existing_logs(client, gallery, on_commit):
    log = dense_log(500, strokes=2)
    round_ = _classified(client, gallery, on_commit, log)
    Round.objects.update(log_bytes=0, log_events=0, log_points=0)  # as before the migration
    migration = importlib.import_module("painting.migrations.0018_round_log_size")
    migration.measure_logs(apps, None)
    after = Round.objects.get(pk=round_.pk)
    assert (after.log_bytes, after.log_events, after.log_points) == (len(json.dumps(log)), 3, 500)
    original = Round.objects.get(exploration=round_.exploration, index=0)
    assert (original.log_bytes, original.log_events, original.log_points) == (2, 0, 0)
