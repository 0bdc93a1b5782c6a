"""One client floods Classify and analyses while another visitor classifies: the limits, the
per-visitor queue and fair batches keep the other visitor's rounds fast. Real processes: the
flooding client (benchmarks/flood.py), the live server, an inference and an analysis worker
over a real Redis, with the app's configured limits."""

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from benchmarks.session import Session, percentile, random_masks
from painting.models import Round
from tests.helpers import RedisServer, use_broker
from xaiproject.celery import app as celery_app

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent
FLOODER, VISITOR = "203.0.113.7", "198.51.100.2"  # as the proxy forwards them
FLOOD_SECONDS = 10


@pytest.fixture
def production_shape(tmp_path, start_worker, settings):
    """Its own Redis, an inference and an analysis worker as `make run` starts them, and the web
    side behind a proxy that sets X-Forwarded-For."""
    server = RedisServer(tmp_path).start()
    settings.XAI_POLL_WAIT_SECONDS = 10
    settings.BEHIND_PROXY = True
    celery_app.conf.task_always_eager = False
    use_broker(server.url)
    # One thread each: this machine's cores also run the web side and the flooding client.
    analysis = {"XAI_BACKEND": "torch", "XAI_TORCH_THREADS": "1", "XAI_WORKER_NICE": "10"}
    inference = {"XAI_TORCH_THREADS": "1"}
    with ThreadPoolExecutor(2) as pool:  # both start at once: a worker takes seconds to load
        workers = list(
            pool.map(
                lambda args: start_worker(server.url, args[0], **args[1]),
                [("inference", inference), ("analysis", analysis)],
            )
        )
    yield server
    for worker in workers:  # before the test's rows are flushed under them
        worker.stop()
    celery_app.conf.task_always_eager = True
    server.stop()
    use_broker(settings.CELERY_BROKER_URL)


def test_a_flooding_client_does_not_slow_another_visitors_rounds(
    live_server, production_shape, gallery
):
    visitor = Session(live_server.url, "Chelsea the cat", headers={"X-Forwarded-For": VISITOR})
    masks = random_masks(visitor.size, 16)
    flood = subprocess.Popen(
        [sys.executable, "benchmarks/flood.py", "--url", live_server.url]
        + ["--seconds", str(FLOOD_SECONDS + 1), "--forwarded-for", FLOODER],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(1)  # the flood is under way
    latencies = []
    deadline = time.monotonic() + FLOOD_SECONDS
    while time.monotonic() < deadline:
        latencies.append(visitor.classify(masks[len(latencies) % len(masks)]))
        time.sleep(0.2)  # a person looks at the answer and paints again
    statuses = json.loads(flood.communicate(timeout=60)[0])
    p50, p95 = (percentile(latencies, q) for q in (0.5, 0.95))
    print(
        f"\nother visitor: {len(latencies)} rounds, p50 {p50 * 1000:.0f} ms, "
        f"p95 {p95 * 1000:.0f} ms; the flood's answers: {statuses}"
    )
    flooded = Round.objects.exclude(exploration__picture__slug="chelsea").count()
    assert statuses.get("429", 0) > statuses.get("200", 0) and flooded > 1, "no flood"
    assert p95 < 1.0
    assert visitor.history() == ["done"] * (len(latencies) + 1)
