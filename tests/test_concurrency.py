"""The database's rules when many processes write at once, proved with threads (each has its
own database connection, as each web thread and worker process does). CI runs this module on
SQLite and on PostgreSQL: SQLite serialises writers, PostgreSQL relies on row locks."""

from __future__ import annotations

import io
import threading
from collections import Counter

import pytest
from django.db import connections
from PIL import Image

from painting import dispatch, pipeline, services
from painting.masking import Fill
from painting.models import Exploration, Round
from painting.studies import rules
from tests.helpers import make_study, mask_png, new_exploration

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _no_dispatch(monkeypatch):
    """Rounds are saved and stay pending: no worker (nor eager task) takes them."""
    monkeypatch.setattr(dispatch, "enqueue_round", lambda round_id: None)


def at_once(count: int, work) -> list:
    """work(i) in count threads released together; their results, in order."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


def masks(count: int) -> list[Image.Image]:
    return [
        Image.open(io.BytesIO(mask_png((600, 400), (0, 0, 20 + 10 * i, 20 + 10 * i))))
        for i in range(count)
    ]


def test_concurrent_classify_clicks_on_one_exploration_get_distinct_indexes(gallery):
    exploration = new_exploration(gallery)
    painted = masks(12)
    rounds = at_once(12, lambda i: services.submit_round(exploration, painted[i], Fill.MEAN, []))
    assert sorted(r.index for r in rounds) == list(range(12))
    assert exploration.rounds.count() == 12


def test_a_burst_of_clicks_on_next_makes_one_exploration_of_the_step(gallery):
    participant = rules.consent(make_study(gallery))
    explorations = at_once(8, lambda i: rules.exploration_for_step(participant, "v1", 1).pk)
    assert len(set(explorations)) == 1 and Exploration.objects.count() == 1


def test_concurrent_claimers_never_take_the_same_round(gallery):
    exploration = new_exploration(gallery)
    rounds = [services.submit_round(exploration, m, Fill.MEAN, []) for m in masks(16)]
    # Each round's own message, all at once, in batches of up to 4.
    claims = at_once(16, lambda i: [r.pk for r in pipeline.claim_rounds(rounds[i].pk, 4)])
    taken = Counter(pk for claim in claims for pk in claim)
    assert max(taken.values()) == 1, "a round was claimed twice"
    assert set(taken) == {r.pk for r in rounds}  # and none was left behind
    assert set(Round.objects.values_list("status", flat=True)) == {Round.Status.RUNNING}


def test_a_redelivered_message_takes_back_its_crashed_batch_and_nothing_else(gallery):
    exploration = new_exploration(gallery)
    rounds = [services.submit_round(exploration, m, Fill.MEAN, []) for m in masks(5)]
    batch = pipeline.claim_rounds(rounds[0].pk, 3)
    other_batch = pipeline.claim_rounds(rounds[3].pk, 2)
    assert len(batch) == 3 and len(other_batch) == 2

    # A batch-mate's own message, while the batch is running: someone else has it.
    assert pipeline.claim_rounds(rounds[1].pk, 8) == []
    # The worker died and its message came back: its batch, not the other worker's.
    again = pipeline.claim_rounds(rounds[0].pk, 8, redelivered=True)
    assert {r.pk for r in again} == {r.pk for r in batch}
