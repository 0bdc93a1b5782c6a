"""Many processes: two gunicorn processes (WEB_CONCURRENCY=2) in front of a real worker. A
Classify waits in whichever web process took it, and the worker's answer wakes it over Redis
pub/sub at once, not at the fallback re-read of the database (every second)."""

from __future__ import annotations

import re
import statistics
import threading
import time
from datetime import datetime

import pytest

from benchmarks.session import Session, random_masks
from painting.models import Round

pytestmark = [pytest.mark.worker, pytest.mark.server, pytest.mark.django_db(transaction=True)]

SESSIONS, ROUNDS = 8, 4
# The access log names the process that served each request.
ACCESS_LOG = "--access-logformat '%(p)s \"%(r)s\" %(s)s'"


@pytest.fixture
def two_web_processes(start_server, real_worker, redis_url):
    server = start_server(
        proxy=False,
        XAI_EAGER="0",
        REDIS_URL=redis_url,
        WEB_CONCURRENCY="2",
        XAI_WEB_THREADS="16",
        GUNICORN_CMD_ARGS=ACCESS_LOG,
    )
    yield server
    server.stop()


def test_classify_through_two_web_processes_is_woken_at_once(two_web_processes, gallery):
    sessions = [Session(two_web_processes.url, "Coffee") for _ in range(SESSIONS)]
    masks = random_masks(sessions[0].size, SESSIONS * ROUNDS)
    answered: list[tuple[str, int, float]] = []  # exploration, index, when the answer arrived
    errors: list[BaseException] = []

    def paint(index: int) -> None:
        session = sessions[index]
        # A new connection each time, so that both processes get requests of every session.
        session.headers["Connection"] = "close"
        try:
            for n in range(ROUNDS):
                session.classify(masks[index * ROUNDS + n])
                arrived = time.time()
                shown = int(re.search(r'data-round-index="(\d+)"', session.last_html).group(1))
                answered.append((session.base.strip("/").split("/")[-1], shown, arrived))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=paint, args=(i,)) for i in range(SESSIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert len(answered) == SESSIONS * ROUNDS

    # From the worker's commit to the answer in the browser, for every round.
    finished = {
        (str(e), i): f
        for e, i, f in Round.objects.filter(index__gt=0).values_list(
            "exploration_id", "index", "finished_at"
        )
    }
    delays = sorted(arrived - finished[(e, i)].timestamp() for e, i, arrived in answered)
    served_by = set(
        re.findall(r'^<(\d+)> "POST /e/[^ ]+/rounds/', two_web_processes.log_path.read_text(), re.M)
    )
    print(
        f"{len(delays)} rounds through {len(served_by)} web processes: answer arrived "
        f"{statistics.median(delays) * 1000:.0f} ms (median), {delays[-1] * 1000:.0f} ms (max) "
        f"after the worker's commit; {datetime.now():%H:%M:%S}"
    )
    assert len(served_by) == 2
    assert set(Round.objects.values_list("status", flat=True)) == {Round.Status.DONE}
    # Woken by the fallback re-read instead, answers would arrive 0-1 s late, 0.5 s mid-way.
    assert statistics.median(delays) < 0.2 and delays[-1] < 0.8
