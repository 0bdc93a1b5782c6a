from django.test import Client
from django.urls import reverse

from painting.models import Round
from tests.helpers import HTMX, classify, mask_png, start


def _classified(client, gallery, on_commit) -> Round:
    exploration = start(client, gallery["coffee"], on_commit)
    classify(client, exploration, on_commit, mask_png((600, 400), (0, 0, 100, 100)))
    return exploration.rounds.get(index=1)


def _url(round_: Round) -> str:
    return reverse("painting:latency", args=[round_.exploration_id, round_.pk])


def test_it_records_the_latency_once(client, gallery, on_commit):
    round_ = _classified(client, gallery, on_commit)
    assert client.post(_url(round_), {"ms": "420.5"}, headers=HTMX).status_code == 204
    assert client.post(_url(round_), {"ms": "9000"}, headers=HTMX).status_code == 204
    round_.refresh_from_db()
    assert round_.client_latency_ms == 420.5  # the first report stands


def test_it_rejects_what_is_not_a_bounded_number(client, gallery, on_commit):
    round_ = _classified(client, gallery, on_commit)
    for value in ("-1", "3600001", "1e12", "abc", "nan", "inf", "-inf", "1e400", ""):
        response = client.post(_url(round_), {"ms": value}, headers=HTMX)
        assert response.status_code == 400, value
    assert client.post(_url(round_), {}, headers=HTMX).status_code == 400
    round_.refresh_from_db()
    assert round_.client_latency_ms is None


def test_it_requires_owner(client, gallery, on_commit):
    round_ = _classified(client, gallery, on_commit)
    stranger = Client()
    start(stranger, gallery["coffee"], on_commit)  # a visitor of its own
    assert stranger.post(_url(round_), {"ms": "100"}).status_code == 404
    assert Client().post(_url(round_), {"ms": "100"}).status_code == 404
    round_.refresh_from_db()
    assert round_.client_latency_ms is None


def test_it_rejects_get(client, gallery, on_commit):
    round_ = _classified(client, gallery, on_commit)
    assert client.get(_url(round_)).status_code == 405


def test_it_ignores_the_original_and_unfinished_rounds(client, gallery, on_commit):
    round_ = _classified(client, gallery, on_commit)
    original = round_.exploration.rounds.get(index=0)
    Round.objects.filter(pk=round_.pk).update(status=Round.Status.PENDING)
    for target in (original, round_):
        assert client.post(_url(target), {"ms": "100"}).status_code == 204
        target.refresh_from_db()
        assert target.client_latency_ms is None
