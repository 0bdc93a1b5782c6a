"""Failing parts, for real: Redis stopped and started, a worker killed mid-task, a worker slower
than its time limit. Nothing is lost and no round stays pending."""

import io
import os
import signal
import time

import pytest
from django.db import transaction
from django.urls import reverse
from PIL import Image

from painting import services
from painting.dispatch import QUEUE_DOWN_MESSAGE
from painting.masking import Fill
from painting.models import Round
from tests.helpers import HTMX, RedisServer, classify, mask_png, start, use_broker, wait_finished
from xaiproject.celery import app as celery_app

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def own_broker(tmp_path, settings):
    """A Redis server of this test's own, with this process publishing to it."""
    server = RedisServer(tmp_path).start()
    settings.XAI_POLL_WAIT_SECONDS = 10
    celery_app.conf.task_always_eager = False
    use_broker(server.url)
    yield server
    server.stop()
    use_broker(settings.CELERY_BROKER_URL)


def masks(count: int, size=(600, 400)) -> list[Image.Image]:
    return [
        Image.open(io.BytesIO(mask_png(size, (i * 7 % 300, 0, 100 + i * 7 % 300, 300))))
        for i in range(count)
    ]


def test_redis_down_at_submit_fails_the_round_and_retry_works_once_it_is_back(
    own_broker, start_worker, gallery, client
):
    start_worker(own_broker.url)
    exploration = start(client, gallery["coffee"])
    assert wait_finished(exploration.rounds.get().pk).status == Round.Status.DONE

    own_broker.stop()
    response = classify(client, exploration, None, mask_png((600, 400), (0, 0, 200, 200)))
    assert response.status_code == 200 and QUEUE_DOWN_MESSAGE in response.content.decode()
    failed = exploration.rounds.get(index=1)
    assert failed.status == Round.Status.FAILED and failed.mask  # the mask is kept for the retry

    own_broker.start()
    retried = client.post(reverse("painting:retry", args=[exploration.pk, failed.pk]), headers=HTMX)
    assert retried.status_code == 200
    assert wait_finished(failed.pk).status == Round.Status.DONE
    assert exploration.rounds.filter(status=Round.Status.DONE).count() == 2


def test_a_worker_killed_mid_task_loses_no_round(own_broker, start_worker, gallery, client):
    worker = start_worker(own_broker.url, XAI_MAX_BATCH="2")
    exploration = start(client, gallery["hubble"])
    wait_finished(exploration.rounds.get().pk)
    rounds = [
        services.submit_round(exploration, mask, Fill.INPAINT, [])
        for mask in masks(12, size=(1000, 872))
    ]
    deadline = time.monotonic() + 30
    while not Round.objects.filter(status=Round.Status.RUNNING).exists():
        assert time.monotonic() < deadline, "no round started"
        time.sleep(0.005)
    [child] = worker.pool_children()
    os.kill(child, signal.SIGKILL)  # the process running the task dies without a word

    finished = [wait_finished(r.pk, timeout=120) for r in rounds]
    assert [r.status for r in finished] == [Round.Status.DONE] * len(rounds)
    assert (
        b"WorkerLostError" in worker.log_path.read_bytes()
        or b"SIGKILL" in worker.log_path.read_bytes()
    )


def test_a_round_slower_than_the_time_limit_fails_with_a_message(
    own_broker, start_worker, gallery, client
):
    one_big_batch = {  # one visitor's rounds are otherwise taken a few at a time (fairness)
        "XAI_MAX_BATCH": "64",
        "XAI_BATCH_PER_VISITOR": "64",
        "XAI_BATCH_PER_ADDRESS": "64",
        "XAI_BATCH_SECONDS": "1000",
    }
    start_worker(
        own_broker.url, XAI_TASK_SOFT_TIME_LIMIT="1", XAI_TORCH_THREADS="1", **one_big_batch
    )
    exploration = start(client, gallery["hubble"])
    wait_finished(exploration.rounds.get().pk)
    with transaction.atomic():  # all queued at once: the first task takes them as one batch
        rounds = [
            services.submit_round(exploration, mask, Fill.INPAINT, [])
            for mask in masks(48, size=(1000, 872))
        ]
    finished = [wait_finished(r.pk, timeout=120) for r in rounds]
    failed = [r for r in finished if r.status == Round.Status.FAILED]
    assert failed, "the batch finished within the limit: make it larger"
    assert all("took longer than 1 seconds" in r.error for r in failed)
    assert all(r.status in (Round.Status.DONE, Round.Status.FAILED) for r in finished)
