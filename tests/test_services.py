"""The round lifecycle in the worker: batching, failures, archiving."""

import io
from pathlib import Path

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from PIL import Image

from painting import services
from painting.masking import Fill
from painting.models import Exploration, Round
from tests.conftest import mask_png


def pending_rounds(exploration: Exploration, count: int) -> list[Round]:
    """Rounds saved as pending whose dispatch never runs (the test transaction never commits)."""
    masks = [
        Image.open(io.BytesIO(mask_png((600, 400), (0, 0, 60 * i, 40 * i))))
        for i in range(1, count + 1)
    ]
    with transaction.atomic():
        return [
            services._create_round(exploration, mask=m, fill=Fill.MEAN, strokes=[]) for m in masks
        ]


def new_exploration(gallery, model_name="efficientnet-lite2") -> Exploration:
    return Exploration.objects.create(
        visitor="v1", picture=gallery["coffee"], model_name=model_name
    )


def test_waiting_rounds_are_classified_together_in_one_batch(gallery):
    rounds = pending_rounds(new_exploration(gallery), 3)
    services.run_rounds(rounds[0].pk, batch_size=8)
    finished = list(Round.objects.filter(pk__in=[r.pk for r in rounds]))
    assert {r.status for r in finished} == {Round.Status.DONE}
    assert {r.batch_size for r in finished} == {3}
    # Their own messages arrive later and find nothing left to do.
    services.run_rounds(rounds[2].pk, batch_size=8)
    assert Round.objects.get(pk=rounds[2].pk).batch_size == 3


def test_a_batch_answers_exactly_as_rounds_one_by_one(gallery):
    batched = pending_rounds(new_exploration(gallery), 3)
    services.run_rounds(batched[0].pk, batch_size=8)
    single = pending_rounds(new_exploration(gallery), 3)
    for round_ in single:
        services.run_rounds(round_.pk, batch_size=1)
    for a, b in zip(batched, single, strict=True):
        a.refresh_from_db()
        b.refresh_from_db()
        assert [p["index"] for p in a.top] == [p["index"] for p in b.top]
        assert b.batch_size == 1


def test_the_batch_size_is_respected(gallery):
    rounds = pending_rounds(new_exploration(gallery), 4)
    services.run_rounds(rounds[0].pk, batch_size=2)
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
    services.run_rounds(round_.pk)
    round_.refresh_from_db()
    assert round_.status == Round.Status.FAILED
    assert "The classifier failed on this round (UnidentifiedImageError)" in round_.error
    assert "Retry" in round_.error


def test_missing_weights_fail_the_round_with_how_to_fix_it(gallery, monkeypatch, tmp_path):
    monkeypatch.setenv("XAI_WEIGHTS", str(tmp_path / "none.pth"))
    [round_] = pending_rounds(new_exploration(gallery, model_name="resnet50"), 1)
    services.run_rounds(round_.pk)
    round_.refresh_from_db()
    assert round_.status == Round.Status.FAILED and "install_weights" in round_.error


def test_the_masked_image_is_archived_when_idle_and_matches_what_the_model_saw(gallery):
    [round_] = pending_rounds(new_exploration(gallery), 1)
    services.run_rounds(round_.pk)
    assert services.archive_masked_images() == 1
    round_.refresh_from_db()
    assert round_.masked_image and round_.thumbnail
    with round_.masked_image.open("rb") as f:
        stored = np.asarray(Image.open(f).convert("RGB"))
    assert (stored == np.asarray(services.masked_image_of(round_))).all()


def test_archiving_waits_while_rounds_are_queued(gallery):
    first, second = pending_rounds(new_exploration(gallery), 2)
    services.run_rounds(first.pk, batch_size=1)
    assert services.archive_masked_images() == 0  # the second round is still waiting
    first.refresh_from_db()
    assert first.status == Round.Status.DONE and not first.masked_image
    services.run_rounds(second.pk, batch_size=1)
    assert services.archive_masked_images() == 2
    first.refresh_from_db()
    assert first.masked_image


def media_files(settings) -> set[Path]:
    return {path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()}


def test_a_round_the_database_refuses_leaves_no_mask_file(gallery, settings):
    exploration = new_exploration(gallery)
    mask = Image.open(io.BytesIO(mask_png((600, 400), (0, 0, 60, 40))))
    before = media_files(settings)
    with pytest.raises(IntegrityError):  # SQLite's JSON_VALID refuses the Infinity json writes
        services._create_round(exploration, mask=mask, fill=Fill.MEAN, strokes=[float("inf")])
    assert media_files(settings) == before
