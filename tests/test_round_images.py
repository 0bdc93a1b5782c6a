"""A masked round's picture (masked.png) is composed on request, never stored: a browser that
has it gets 304 for its ETag, one visitor composes one at a time, a process a few, and a
visitor or an address a bounded number a minute (429 with Retry-After, never a queue)."""

import threading

import pytest
from django.urls import reverse

from painting import services
from tests.helpers import classify, mask_png, start


@pytest.fixture
def masked_round(client, gallery, on_commit):
    exploration = start(client, gallery["coffee"], on_commit)
    classify(client, exploration, on_commit, mask_png((600, 400), (0, 0, 299, 399)))
    return exploration.rounds.get(index=1)


def url_of(round_, name="masked.png") -> str:
    return reverse("painting:round-file", args=[round_.exploration_id, round_.pk, name])


def test_a_browser_that_has_it_gets_304_for_its_etag(client, masked_round):
    first = client.get(url_of(masked_round))
    assert first.status_code == 200 and first["Content-Type"] == "image/png"
    assert first["ETag"] and "immutable" in first["Cache-Control"]
    again = client.get(url_of(masked_round), headers={"If-None-Match": first["ETag"]})
    assert again.status_code == 304 and again.content == b""
    other = client.get(url_of(masked_round), headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200 and other.content == first.content


def test_one_visitor_composes_one_at_a_time_and_a_process_a_few(
    client, masked_round, settings, monkeypatch
):
    started, go_on = threading.Event(), threading.Event()
    real = services.originals.masked_image_of

    def slow(round_):
        started.set()
        go_on.wait(10)
        return real(round_)

    monkeypatch.setattr(services.originals, "masked_image_of", slow)
    visitor = client.session["visitor"]
    real(masked_round)  # its rows and original read here: the thread has no test transaction
    answers = []
    first = threading.Thread(
        target=lambda: answers.append(services.masked_png(masked_round, visitor))
    )
    first.start()
    others = settings.XAI_PREVIEW_CONCURRENCY - 1
    try:
        assert started.wait(10)
        refused = client.get(url_of(masked_round))  # the same visitor
        assert refused.status_code == 429 and refused["Retry-After"] == "1"
        assert "Your previous image is still being made" in refused.content.decode()
        for _ in range(others):
            assert services._COMPOSING.acquire(blocking=False)
        with pytest.raises(services.Busy, match="making other images right now"):
            services.masked_png(masked_round, "another visitor")
    finally:
        for _ in range(others):
            services._COMPOSING.release()
        go_on.set()
        first.join(10)
    assert answers[0].startswith(b"\x89PNG")
    monkeypatch.setattr(services.originals, "masked_image_of", real)
    assert client.get(url_of(masked_round)).status_code == 200  # every slot given back


def test_a_visitor_composes_a_bounded_number_a_minute(client, masked_round, settings):
    settings.XAI_RATE_LIMITS = {**settings.XAI_RATE_LIMITS, "image": (3, 60)}
    answers = [client.get(url_of(masked_round)).status_code for _ in range(5)]
    assert answers == [200, 200, 200, 429, 429]
    etag = f'"{masked_round.pk}-masked.png"'
    assert client.get(url_of(masked_round), headers={"If-None-Match": etag}).status_code == 304
