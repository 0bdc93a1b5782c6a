"""Focus, blur and tab events logged after an image's last Classify, sent as the page is left:
appended to the latest round's brush log."""

import csv
import io
import json
import zipfile

from django.test import Client
from django.urls import reverse

from painting.models import Participant, Round
from painting.studies import rules
from painting.studies.export import archive as exports
from tests.helpers import classify, join_study, make_study, mask_png, start, study_step

LATE = [{"type": "blur", "t": 1200}, {"type": "hidden", "t": 1250}, {"type": "visible", "t": 9000}]


def _classified(client, gallery, on_commit):
    exploration = start(client, gallery["coffee"], on_commit)
    strokes = json.dumps([{"type": "classify", "t": 500}])
    classify(client, exploration, on_commit, mask_png((600, 400), (0, 0, 99, 99)), strokes=strokes)
    return exploration


def _send(client, exploration, events) -> int:
    url = reverse("painting:late-events", args=[exploration.pk])
    text = events if isinstance(events, str) else json.dumps(events)
    return client.post(url, {"events": text}).status_code


def test_it_appends_them_to_the_latest_round_marked_sent_on_leave(client, gallery, on_commit):
    exploration = _classified(client, gallery, on_commit)
    assert _send(client, exploration, LATE) == 204
    assert _send(client, exploration, [{"type": "focus", "t": 9100}]) == 204
    latest = exploration.rounds.get(index=1)
    assert latest.strokes == [
        {"type": "classify", "t": 500},
        *({**e, "sent": "leave"} for e in LATE),
        {"type": "focus", "t": 9100, "sent": "leave"},
    ]
    assert exploration.rounds.get(index=0).strokes == []


HOSTILE = [
    "not json",
    "NaN",
    "{}",
    "[]",
    json.dumps([{"type": "blur", "t": 1}] * 101),
    json.dumps([{"type": "stroke", "t": 1}]),
    json.dumps([{"type": "blur", "t": 1, "points": [[0, 0, 0]]}]),
    json.dumps([{"type": "blur"}]),
    json.dumps([{"type": "blur", "t": -1}]),
    json.dumps([{"type": "blur", "t": 1.5}]),
    json.dumps([{"type": "blur", "t": True}]),
    json.dumps([{"type": "blur", "t": 10**12}]),
    json.dumps([["blur", 1]]),
    "x" * 20_000,
    "",
    "[" * 3000 + "]" * 3000,
    '[{"type": "blur", "t": 1}, {"type": "\\ud800", "t": 1}]',
]


def test_it_refuses_anything_but_a_short_list_of_focus_events(client, gallery, on_commit, subtests):
    exploration = _classified(client, gallery, on_commit)  # one for all: each writes nothing
    for events in HOSTILE:
        with subtests.test(events=events[:60]):
            response = client.post(
                reverse("painting:late-events", args=[exploration.pk]), {"events": events}
            )
            assert response.status_code == 400
            assert "event" in response.content.decode().lower()
            assert exploration.rounds.get(index=1).strokes == [{"type": "classify", "t": 500}]


def test_it_requires_owner_post_and_the_csrf_token(client, gallery, on_commit):
    exploration = _classified(client, gallery, on_commit)
    stranger = Client()
    start(stranger, gallery["coffee"], on_commit)
    assert _send(stranger, exploration, LATE) == 404
    assert _send(Client(), exploration, LATE) == 404
    assert client.get(reverse("painting:late-events", args=[exploration.pk])).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.cookies = client.cookies
    assert _send(strict, exploration, LATE) == 403
    assert exploration.rounds.get(index=1).strokes == [{"type": "classify", "t": 500}]


def test_it_is_rate_limited(client, gallery, on_commit, settings):
    settings.XAI_RATE_LIMITS = {**settings.XAI_RATE_LIMITS, "events": (2, 60)}
    exploration = _classified(client, gallery, on_commit)
    assert [_send(client, exploration, LATE[:1]) for _ in range(3)] == [204, 204, 429]
    assert len(exploration.rounds.get(index=1).strokes) == 3


def test_a_finished_participant_sends_nothing_more(gallery, on_commit):
    study = make_study(gallery, min_rounds=0)
    browser = Client()
    join_study(browser, study, on_commit, pid="P-1")
    exploration = study_step(browser, study, 1, on_commit)
    rules.finish(Participant.objects.get())
    assert _send(browser, exploration, LATE) == 403
    assert exploration.rounds.get().strokes == []
    assert 'data-events-url="' not in browser.get(f"/e/{exploration.pk}/").content.decode()


def test_they_reach_events_csv_and_the_participants_counts(gallery, on_commit):
    study = make_study(gallery)
    browser = Client()
    join_study(browser, study, on_commit, pid="P-1")
    exploration = study_step(browser, study, 1, on_commit)
    page = browser.get(f"/e/{exploration.pk}/").content.decode()
    assert f'data-events-url="/e/{exploration.pk}/events/"' in page
    own = json.dumps([{"type": "blur", "t": 100}, {"type": "classify", "t": 500}])
    classify(browser, exploration, on_commit, mask_png((600, 400), (0, 0, 99, 99)), strokes=own)
    assert _send(browser, exploration, LATE) == 204

    out = io.BytesIO()
    exports.write_study_zip(study, out)
    archive = zipfile.ZipFile(out)
    rows = list(csv.DictReader(io.StringIO(archive.read("events.csv").decode())))
    late = [(r["round_index"], r["type"], r["t"]) for r in rows if r["sent_on_leave"] == "1"]
    assert late == [("1", "blur", "1200"), ("1", "hidden", "1250"), ("1", "visible", "9000")]
    assert {r["sent_on_leave"] for r in rows} == {"0", "1"}  # the round's own events: 0
    participants = list(csv.DictReader(io.StringIO(archive.read("participants.csv").decode())))
    assert (participants[0]["blur_events"], participants[0]["hidden_events"]) == ("2", "1")
    assert Round.objects.get(exploration=exploration, index=1).stored_bytes > 0
