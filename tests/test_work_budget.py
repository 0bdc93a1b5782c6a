"""Rounds cost what their fill and picture cost the worker: budgets of estimated worker seconds
per visitor and per address (painting.costs, ratelimit.charge), and batches shared fairly per
address, least busy first, in slices a cheap round does not wait behind."""

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from painting import costs, pipeline, ratelimit
from painting.models import Exploration, Picture, Round
from tests.helpers import (
    HTMX,
    classify,
    jpeg,
    mask_png,
    mask_upload,
    new_exploration,
    pending_rounds,
    start,
    upload,
)

HALF = mask_png((600, 400), (0, 0, 420, 280))  # about half of Coffee painted


def test_round_costs_grow_with_pixels_and_the_fills_work():
    small_mean = costs.round_seconds(600, 400, "mean", 0.5)
    large_road = costs.round_seconds(1024, 1024, "road", 0.5)
    assert large_road > 4 * small_mean
    assert costs.round_seconds(1024, 1024, "road", 0.0) == costs.ROUND_SECONDS  # the original
    # A detector's round runs its model at two scales.
    detect = costs.round_seconds(600, 400, "mean", 0.5, "detect")
    assert detect == pytest.approx(small_mean + costs.DETECT_EXTRA_SECONDS)


def test_dear_rounds_are_refused_by_their_worker_seconds_not_their_count(
    client, gallery, on_commit, settings
):
    exploration = start(client, gallery["coffee"], on_commit)
    other = Client()
    theirs = start(other, gallery["coffee"], on_commit)
    cache.clear()  # the explorations were started a minute ago
    settings.XAI_WORKER_SECONDS_PER_MINUTE = 0.3  # 3 ROAD rounds, 6 mean rounds of Coffee
    answers = [classify(client, exploration, on_commit, HALF, fill="road") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert "0.3 seconds of the classifier" in answers[-1].content.decode()
    assert exploration.rounds.count() == 4  # round 0 and three; the refused one wrote nothing
    # The count limit (60 a minute) was never near: a new visitor's cheap rounds pass.
    cheap = [classify(other, theirs, on_commit, HALF).status_code for _ in range(4)]
    assert cheap == [200] * 4


def test_many_sessions_from_one_address_share_its_budget(gallery, on_commit, settings):
    browsers = [Client() for _ in range(4)]  # a client that takes a fresh cookie every round
    explorations = [start(browser, gallery["coffee"], on_commit) for browser in browsers]
    cache.clear()  # the explorations were started a minute ago
    settings.XAI_WORKER_SECONDS_PER_MINUTE_PER_ADDRESS = 0.3
    statuses = [
        classify(browser, exploration, on_commit, HALF, fill="road")
        for browser, exploration in zip(browsers, explorations, strict=True)
    ]
    assert [s.status_code for s in statuses] == [200, 200, 200, 429]
    assert "Your network asked for" in statuses[-1].content.decode()


def test_the_explorations_client_is_the_hashed_address_of_its_latest_round(
    client, gallery, on_commit
):
    exploration = start(client, gallery["coffee"], on_commit)
    first = Exploration.objects.get(pk=exploration.pk).client
    assert len(first) == 16 and "127.0.0.1" not in first
    with on_commit(execute=True):
        client.post(
            reverse("painting:classify", args=[exploration.pk]),
            {"mask": mask_upload(HALF), "fill": "mean", "strokes": "[]"},
            headers=HTMX,
            REMOTE_ADDR="10.1.2.3",
        )
    assert Exploration.objects.get(pk=exploration.pk).client not in ("", first)


def explorations_from(gallery, model_name: str, *pairs: tuple[str, str]) -> list[Exploration]:
    return [
        Exploration.objects.create(
            visitor=visitor, client=client, picture=gallery["coffee"], model_name=model_name
        )
        for visitor, client in pairs
    ]


def test_a_batch_takes_one_round_per_address_not_per_session(gallery):
    model_name = new_exploration(gallery).model_name
    a1, a2, b = explorations_from(
        gallery, model_name, ("a1", "flood"), ("a2", "flood"), ("b", "other")
    )
    flood = pending_rounds(a1, 2) + pending_rounds(a2, 2)
    [theirs] = pending_rounds(b, 1)  # queued last
    claimed = pipeline.claim_rounds(flood[0].pk, limit=8)
    assert claimed == [flood[0], theirs]  # not a2's too: the same address as a1


def test_the_least_busy_address_joins_the_batch_first(gallery):
    model_name = new_exploration(gallery).model_name
    busy, busier, quiet = explorations_from(
        gallery, model_name, ("v1", "busy"), ("v2", "busier"), ("v3", "quiet")
    )
    ratelimit.charge("v2", "busier", 5.0)
    ratelimit.charge("v3", "quiet", 0.1)
    [own] = pending_rounds(busy, 1)
    [older] = pending_rounds(busier, 1)
    [newer] = pending_rounds(quiet, 1)
    assert pipeline.claim_rounds(own.pk, limit=2) == [own, newer]
    assert Round.objects.get(pk=older.pk).status == Round.Status.PENDING


def test_a_batch_holds_a_bounded_amount_of_work_and_answers_cheap_rounds_first(gallery, settings):
    settings.XAI_BATCH_SECONDS = 0.03  # one Coffee round (~0.028 s) a slice
    model_name = new_exploration(gallery).model_name
    dear, cheap = explorations_from(gallery, model_name, ("v1", "flood"), ("v2", "quiet"))
    ratelimit.charge("v1", "flood", 5.0)
    [own] = pending_rounds(dear, 1)
    [theirs] = pending_rounds(cheap, 1)
    claimed = pipeline.claim_rounds(own.pk, limit=8)
    assert [[r.pk for r in s] for s in pipeline.slices(claimed)] == [[theirs.pk], [own.pk]]


def test_the_least_busy_addresss_round_is_a_slice_of_its_own(gallery):
    """Cheap rounds all fit in one slice's budget; the least busy address's is answered
    first, by a model call of its own, not after the strangers' images in the same call."""
    model_name = new_exploration(gallery).model_name
    pairs = (("v1", "flood1"), ("v2", "flood2"), ("v3", "quiet"))
    first, second, quiet = explorations_from(gallery, model_name, *pairs)
    ratelimit.charge("v1", "flood1", 3.0)
    ratelimit.charge("v2", "flood2", 2.0)
    [own] = pending_rounds(first, 1)
    [theirs] = pending_rounds(second, 1)
    [mine] = pending_rounds(quiet, 1)
    claimed = pipeline.claim_rounds(own.pk, limit=8)
    assert len(claimed) == 3
    assert [[r.pk for r in s] for s in pipeline.slices(claimed)] == [
        [mine.pk],
        [theirs.pk, own.pk],
    ]


def test_a_slice_is_answered_before_the_next_one_is_composed(gallery, settings):
    settings.XAI_BATCH_SECONDS = 0.03
    model_name = new_exploration(gallery).model_name
    dear, cheap = explorations_from(gallery, model_name, ("v1", "flood"), ("v2", "quiet"))
    ratelimit.charge("v1", "flood", 5.0)
    [own] = pending_rounds(dear, 1)
    [theirs] = pending_rounds(cheap, 1)
    pipeline.run_rounds(own.pk, batch_size=8)
    own.refresh_from_db()
    theirs.refresh_from_db()
    assert own.status == theirs.status == Round.Status.DONE
    assert theirs.finished_at < own.finished_at and own.batch_size == theirs.batch_size == 1


def test_starting_explorations_is_charged_too(client, gallery, on_commit, settings):
    settings.XAI_WORKER_SECONDS_PER_MINUTE = 3 * costs.GALLERY_EXPLORATION_SECONDS
    for _ in range(3):
        start(client, gallery["coffee"], on_commit, fresh="1")
    url = reverse("painting:explore-picture", args=[gallery["coffee"].pk])
    refused = client.post(url, {"fresh": "1"}, headers=HTMX)
    assert refused.status_code == 429 and "seconds of the classifier" in refused.content.decode()
    assert Exploration.objects.count() == 3


def test_the_queue_is_bounded_per_address_and_in_all(gallery, on_commit, settings):
    settings.XAI_MAX_PENDING_ROUNDS_PER_ADDRESS = 3
    browsers = [Client() for _ in range(3)]
    with on_commit(execute=False):  # nothing is classified: the rounds 0 stay queued
        for browser in browsers[:3]:
            start(browser, gallery["coffee"])
        refused = Client().post(
            reverse("painting:explore-picture", args=[gallery["coffee"].pk]), headers=HTMX
        )
        assert refused.status_code == 429
        assert "Your network has as many rounds waiting" in refused.content.decode()
        settings.XAI_MAX_PENDING_ROUNDS_TOTAL = 3
        elsewhere = Client(REMOTE_ADDR="10.7.7.7").post(
            reverse("painting:explore-picture", args=[gallery["coffee"].pk]), headers=HTMX
        )
        assert elsewhere.status_code == 429
        assert "busy with many people" in elsewhere.content.decode()
    assert Round.objects.count() == 3


def test_the_queue_a_classify_weighs_is_counted_in_one_query(gallery, on_commit):
    """A Classify weighs the queue twice (before reading the mask, and in the transaction that
    saves the round): the visitor's, the address's and everyone's, in one query each time."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from painting import selectors, services

    with on_commit(execute=False):  # nothing is classified: the rounds 0 stay queued
        mine = start(Client(), gallery["coffee"])
        start(Client(), gallery["coffee"])  # another visitor, from the same address
        Client(REMOTE_ADDR="10.7.7.7").post(  # someone elsewhere
            reverse("painting:explore-picture", args=[gallery["coffee"].pk]), headers=HTMX
        )
    with CaptureQueriesContext(connection) as queries:
        queued = selectors.queued_rounds(mine.visitor, mine.client)
        services.refuse_if_busy(mine.visitor, 5, mine.client)
    assert (queued.visitor, queued.address, queued.total) == (1, 2, 3)
    assert len(queries.captured_queries) == 2


def test_the_work_a_page_needs_goes_first_for_the_least_busy_address(settings):
    settings.XAI_WORKER_SECONDS_PER_MINUTE = 100  # one visitor's budget is not the point
    ratelimit.charge("v1", "busy", settings.XAI_WORKER_SECONDS_PER_MINUTE_PER_ADDRESS / 2)
    assert costs.priority_of("busy") > costs.priority_of("quiet") == costs.priority_of("")


def test_uploads_are_charged_their_region_map_and_exploration(client, db, settings):
    settings.XAI_WORKER_SECONDS_PER_MINUTE = 2 * costs.UPLOAD_SECONDS
    statuses = [upload(client, jpeg((64, 48))).status_code for _ in range(3)]
    assert statuses == [302, 302, 429]
    assert Picture.objects.count() == 2


def test_past_everyones_budget_the_dearest_rounds_are_shed_and_cheap_ones_still_pass(
    gallery, on_commit, settings, monkeypatch
):
    """Three addresses, each far within its own budget, ask for ROAD on large uploads: past
    everyone's budget the third is refused; a cheap round (the mean fill on a gallery photo)
    from a fourth still passes, and so does starting an exploration, which a page needs."""
    browsers = [Client(REMOTE_ADDR=f"10.0.0.{n}") for n in range(1, 5)]
    large = mask_png((1000, 1000), (0, 0, 700, 700))  # about half painted
    dear = []
    for browser in browsers[:3]:
        upload(browser, jpeg((1000, 1000)))
        dear.append(Exploration.objects.latest("created_at"))
    cheap = start(browsers[3], gallery["coffee"], on_commit)
    cache.clear()
    monkeypatch.setattr(ratelimit.time, "time", lambda: 1_000_000.0)  # within one window
    round_seconds = costs.round_seconds(1000, 1000, "road", 0.49)
    assert round_seconds > ratelimit.CHEAP_SECONDS
    # Two of them fit in a window of everyone's budget (ALL_WINDOW_SECONDS of it).
    budget = 2.5 * round_seconds
    settings.XAI_WORKER_SECONDS_PER_MINUTE_TOTAL = budget * 60 / ratelimit.ALL_WINDOW_SECONDS
    answers = [
        classify(browser, exploration, on_commit, large, fill="road")
        for browser, exploration in zip(browsers, dear, strict=False)
    ]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert ratelimit.BUSY_MESSAGE in answers[-1].content.decode()
    assert dear[2].rounds.count() == 1  # its original only: the refused round wrote nothing
    # While everyone's budget is spent, dear rounds are refused before their masks are read.
    unread = classify(browsers[2], dear[2], on_commit, b"not a PNG", fill="road")
    assert unread.status_code == 429 and ratelimit.BUSY_MESSAGE in unread.content.decode()
    assert classify(browsers[3], cheap, on_commit, HALF).status_code == 200
    assert start(browsers[3], gallery["chelsea"], on_commit).picture.slug == "chelsea"
    # The next window takes dear rounds again.
    monkeypatch.setattr(ratelimit.time, "time", lambda: 1_000_000.0 + ratelimit.ALL_WINDOW_SECONDS)
    assert classify(browsers[2], dear[2], on_commit, large, fill="road").status_code == 200
