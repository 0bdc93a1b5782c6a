"""The worker side of a round: batching, failures, archiving."""

import numpy as np
from django.core.files.base import ContentFile
from PIL import Image

from painting import masking, originals, pipeline
from painting.models import Exploration, Round
from tests.helpers import new_exploration, pending_rounds


def test_waiting_rounds_are_classified_together_in_one_batch(gallery, settings):
    settings.XAI_BATCH_SECONDS = 0.12  # room for these rounds (XAI_BATCH_SECONDS)
    rounds = pending_rounds(new_exploration(gallery), 3)
    pipeline.run_rounds(rounds[0].pk, batch_size=8)
    finished = list(Round.objects.filter(pk__in=[r.pk for r in rounds]))
    assert {r.status for r in finished} == {Round.Status.DONE}
    assert {r.batch_size for r in finished} == {3}
    # Their own messages arrive later and find nothing left to do.
    pipeline.run_rounds(rounds[2].pk, batch_size=8)
    assert Round.objects.get(pk=rounds[2].pk).batch_size == 3


def test_a_batch_answers_exactly_as_rounds_one_by_one(gallery):
    batched = pending_rounds(new_exploration(gallery), 3)
    pipeline.run_rounds(batched[0].pk, batch_size=8)
    single = pending_rounds(new_exploration(gallery), 3)
    for round_ in single:
        pipeline.run_rounds(round_.pk, batch_size=1)
    for a, b in zip(batched, single, strict=True):
        a.refresh_from_db()
        b.refresh_from_db()
        assert [p["index"] for p in a.top] == [p["index"] for p in b.top]
        assert b.batch_size == 1


def test_the_batch_size_is_respected(gallery):
    rounds = pending_rounds(new_exploration(gallery), 4)
    pipeline.run_rounds(rounds[0].pk, batch_size=2)
    statuses = [Round.objects.get(pk=r.pk).status for r in rounds]
    assert statuses == [
        Round.Status.DONE,
        Round.Status.DONE,
        Round.Status.PENDING,
        Round.Status.PENDING,
    ]


def test_a_damaged_mask_fails_its_round_with_a_message(gallery):
    [round_] = pending_rounds(new_exploration(gallery), 1)
    round_.mask.save(round_.mask.name.rsplit("/", 1)[-1], ContentFile(b"not a png"), save=True)
    pipeline.run_rounds(round_.pk)
    round_.refresh_from_db()
    assert round_.status == Round.Status.FAILED
    assert "The classifier failed on this round (UnidentifiedImageError)" in round_.error
    assert "Retry" in round_.error


def test_missing_weights_fail_the_round_with_how_to_fix_it(gallery, monkeypatch, tmp_path):
    monkeypatch.setenv("XAI_WEIGHTS", str(tmp_path / "none.pth"))
    [round_] = pending_rounds(new_exploration(gallery, model_name="resnet50"), 1)
    pipeline.run_rounds(round_.pk)
    round_.refresh_from_db()
    assert round_.status == Round.Status.FAILED and "install_weights" in round_.error


def test_a_mask_is_stored_as_one_bit_per_pixel_and_rebuilds_what_the_model_saw(gallery):
    [round_] = pending_rounds(new_exploration(gallery), 1)
    pipeline.run_rounds(round_.pk)
    round_.refresh_from_db()
    with round_.mask.open("rb") as f:
        mask = Image.open(f)
        mask.load()
    assert mask.mode == "1" and round_.mask.size < 4096
    assert abs(masking.painted(mask).mean() - round_.masked_fraction) < 1e-9
    seen = originals.masked_image_of(round_)
    assert np.asarray(seen)[10, 10].tolist() == list(masking.IMAGENET_MEAN_RGB)  # painted
    assert round_.thumbnail and not round_.masked_image  # nothing big is stored per round


def test_a_round_whose_mask_is_gone_fails_alone_not_its_batch(gallery):
    rounds = pending_rounds(new_exploration(gallery), 3)
    rounds[1].mask.storage.delete(rounds[1].mask.name)  # withdrawn while queued
    pipeline.run_rounds(rounds[0].pk, batch_size=8)
    statuses = [Round.objects.get(pk=r.pk).status for r in rounds]
    assert statuses == [Round.Status.DONE, Round.Status.FAILED, Round.Status.DONE]


def test_one_visitors_queue_does_not_fill_the_batch_ahead_of_others(gallery, settings):
    settings.XAI_BATCH_PER_VISITOR = 2
    flood = pending_rounds(new_exploration(gallery), 6)
    other = Exploration.objects.create(
        visitor="v2", picture=gallery["chelsea"], model_name=flood[0].model_name
    )  # the same model: a batch holds one model's rounds
    [theirs] = pending_rounds(other, 1)  # queued last
    claimed = pipeline.claim_rounds(flood[0].pk, limit=4)
    assert claimed == [flood[0], flood[1], theirs]  # two each; not filled up with the flood


def test_a_lone_visitor_still_gets_full_batches(gallery, settings):
    settings.XAI_BATCH_PER_VISITOR = 1
    settings.XAI_BATCH_SECONDS = 0.12  # room for four of these rounds
    rounds = pending_rounds(new_exploration(gallery), 5)
    assert pipeline.claim_rounds(rounds[0].pk, limit=4) == rounds[:4]


def test_a_round_alone_in_the_queue_is_claimed_without_weighing_a_batch(gallery):
    """Most batches hold one round when the queue is short: its estimated cost and its
    address's share are looked up only to choose or order others (once, for the candidates)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    [round_] = pending_rounds(new_exploration(gallery), 1)
    with CaptureQueriesContext(connection) as queries:
        claimed = pipeline.claim_rounds(round_.pk, limit=8)
        cut = pipeline.slices(claimed)
    assert [[r.pk for r in s] for s in cut] == [[round_.pk]]
    assert claimed[0].status == Round.Status.RUNNING
    costs_read = [q for q in queries.captured_queries if "exploration__visitor" in q["sql"]]
    assert len(costs_read) == 1  # the other candidates (none): not its own, nor for the slices
