"""A real Celery worker process over a real Redis classifies rounds saved by the web side."""

import io

import pytest
from django.test import Client
from django.urls import reverse
from PIL import Image

from painting import services
from painting.masking import Fill
from painting.models import Round
from tests.helpers import HTMX, mask_png, start, wait_finished

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_the_worker_classifies_the_original_and_a_masked_round(real_worker, gallery):
    exploration = start(Client(), gallery["coffee"])
    original = wait_finished(exploration.rounds.get().pk)
    assert original.status == Round.Status.DONE, original.error
    assert original.top[0]["label"] in {"espresso", "cup", "coffee mug"}
    assert original.inference_ms > 0 and original.weights_sha256

    mask = Image.open(io.BytesIO(mask_png((600, 400), (120, 40, 480, 360))))
    round_ = services.submit_round(exploration, mask, Fill.BLACK, [])
    done = wait_finished(round_.pk)
    assert done.status == Round.Status.DONE
    assert done.top != original.top  # blacking out the cup changes the answer
    assert done.probability_of(original.top[0]["index"]) < original.top[0]["probability"]


def test_the_long_poll_answers_as_soon_as_the_worker_is_done(real_worker, gallery):
    client = Client()
    exploration = start(client, gallery["chelsea"])
    original = exploration.rounds.get()
    response = client.get(
        reverse("painting:round", args=[exploration.pk, original.pk]) + "?wait=1", headers=HTMX
    )
    assert 'class="result done"' in response.content.decode()
