"""benchmarks/study_load.py: simulated participants take a real study through the live server
and the real worker, each from its own loopback address, and nothing is lost."""

import argparse
import asyncio
import ipaddress
from concurrent.futures import ThreadPoolExecutor

import pytest

from benchmarks import study_load
from benchmarks.session import loopback_address
from painting.models import Exploration, Participant
from painting.studies import files as study_files

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_each_simulated_client_has_its_own_loopback_address():
    addresses = [loopback_address(n) for n in range(70_000)]
    assert len(set(addresses)) == len(addresses)
    assert all(ipaddress.ip_address(a) in ipaddress.ip_network("127.0.0.0/8") for a in addresses)
    assert "127.0.0.1" not in addresses  # the load generator's own


def test_participants_take_the_study_from_their_own_addresses(live_server, real_worker, gallery):
    study_files.load({**study_load.STUDY, "images": study_load.STUDY["images"][:2]})
    args = argparse.Namespace(images=2, rounds=2, period=0.2, cpu_session=None)
    # In a thread of its own: the browser tests' Playwright may hold this thread's event loop.
    with ThreadPoolExecutor(1) as pool:
        step = pool.submit(asyncio.run, study_load.run_step(live_server.url, 3, 0, args)).result()
    assert step.lost == []
    assert len(step.latencies) == 3 * 2 * 2  # every Classify answered (no timing asserted)
    participants = Participant.objects.filter(study__slug=study_load.SLUG)
    assert participants.count() == 3 and all(p.finished_at for p in participants)
    explorations = Exploration.objects.filter(participant__in=participants)
    assert explorations.count() == 3 * 2
    assert len({e.client for e in explorations}) == 3  # each participant counted apart
