"""20 simultaneous browser sessions × 10 rounds through the live server and the real worker."""

import pytest

from benchmarks.load_test import run
from painting.models import Round

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_twenty_sessions_of_ten_rounds_lose_and_mix_up_nothing(live_server, real_worker, gallery):
    report = run(live_server.url, sessions=20, rounds=10)
    print(report.summary())
    assert report.errors == []
    assert len(report.latencies) == 200
    assert Round.objects.filter(status=Round.Status.DONE).count() == 20 * 11
    assert not Round.objects.exclude(status=Round.Status.DONE).exists()
