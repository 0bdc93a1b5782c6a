"""Stored files go with their rows, whatever the order of events: a withdrawal while the worker
is busy with the participant's rounds, a deletion in admin, a cascade."""

import io
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from PIL import Image

from painting import services
from painting.masking import Fill
from painting.models import Exploration, Participant, Picture, Round
from tests.helpers import (
    classify,
    files_of,
    join_study,
    jpeg,
    make_study,
    mask_png,
    start,
    study_step,
    upload,
    wait_finished,
)


def wait_until(condition, timeout=90, what="the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"{what} did not happen within {timeout}s")


def test_deleting_a_participant_in_admin_deletes_their_files(client, staff, gallery, on_commit):
    study = make_study(gallery)
    join_study(client, study, on_commit)
    exploration = study_step(client, study, 1, on_commit)
    classify(client, exploration, on_commit, mask_png((600, 400), (0, 0, 100, 100)))
    assert len(files_of(settings.MEDIA_ROOT, exploration.pk)) >= 3  # mask, thumbnail, heatmap
    participant = Participant.objects.get()

    data = {"action": "delete_selected", "_selected_action": [participant.pk], "post": "yes"}
    with on_commit(execute=True):
        response = staff.post("/admin/painting/participant/", data)
    assert response.status_code == 302
    assert not Participant.objects.exists() and not Round.objects.exists()
    assert not files_of(settings.MEDIA_ROOT, exploration.pk)
    picture = gallery["coffee"]  # round 0 showed the gallery's own files: they stay
    assert picture.file.storage.exists(picture.file.name)
    assert picture.thumbnail.storage.exists(picture.thumbnail.name)


def test_deleting_an_upload_deletes_its_files_and_its_explorations(client, gallery, on_commit):
    upload(client, jpeg(), capture=on_commit)
    picture = Picture.objects.get(is_gallery=False)
    exploration = start(client, picture, on_commit)
    mask = mask_png((picture.width, picture.height), (0, 0, 9, 9))
    classify(client, exploration, on_commit, mask)
    own = [Path(settings.MEDIA_ROOT, f.name) for f in (picture.file, picture.thumbnail)]
    assert all(p.exists() for p in own) and files_of(settings.MEDIA_ROOT, exploration.pk)

    with on_commit(execute=True):
        picture.delete()
    assert not any(p.exists() for p in own)
    assert not files_of(settings.MEDIA_ROOT, exploration.pk)
    coffee = gallery["coffee"]
    assert coffee.file.storage.exists(coffee.file.name)


def test_a_round_for_an_exploration_deleted_meanwhile_leaves_no_mask(gallery, on_commit):
    exploration = Exploration.objects.create(
        visitor="v1", picture=gallery["coffee"], model_name="efficientnet-lite2"
    )
    Exploration.objects.filter(pk=exploration.pk).delete()  # withdrawn in another tab
    mask = Image.open(io.BytesIO(mask_png((600, 400), (0, 0, 50, 50))))
    with pytest.raises(Exploration.DoesNotExist), on_commit(execute=True):
        services.submit_round(exploration, mask, Fill.MEAN, [])
    assert not files_of(settings.MEDIA_ROOT, exploration.pk)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_withdrawing_while_the_worker_runs_the_rounds_leaves_no_files(real_worker, gallery):
    browser = Client()
    study = make_study(gallery)
    join_study(browser, study, None)
    exploration = study_step(browser, study, 1, None)
    assert wait_finished(exploration.rounds.get().pk).status == Round.Status.DONE
    wait_until(
        lambda: Exploration.objects.get(pk=exploration.pk).saliency, what="the model's heatmap"
    )
    for i in range(12):  # without HTMX the view does not wait for the answers
        mask = mask_png((600, 400), (0, 0, 40 + 30 * i, 300))
        classify(browser, exploration, None, mask, htmx=False)
    taken = exploration.rounds.filter(index__gt=0).exclude(status=Round.Status.PENDING)
    wait_until(taken.exists, what="the worker taking the rounds")

    response = browser.post(f"/study/{study.slug}/withdraw/")
    assert response.status_code == 200
    assert not Exploration.objects.filter(pk=exploration.pk).exists()
    # The worker finishes what it holds, then answers a round sent after the withdrawal.
    after = start(Client(), gallery["chelsea"])
    wait_finished(after.rounds.get().pk)
    assert not files_of(settings.MEDIA_ROOT, exploration.pk)
