"""Floods against the app as `make run` serves it (nginx in front of gunicorn, an inference, an
analysis and an optional-work worker over a real Redis, the configured limits): each is held
back, and another visitor goes on. The flooding clients and that visitor are
benchmarks/flood.py, each flooding address a loopback address of its own (127.0.x.y), as nginx
sees it."""

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.helpers import RedisServer, stop_at_once

pytestmark = [pytest.mark.worker, pytest.mark.server, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent
FLOOD_SECONDS = 10

# As scripts/run.sh starts them (one thread for inference: the floods' clients need a core).
WORKERS = [
    ("inference", {"XAI_TORCH_THREADS": "1"}),
    ("analysis", {"XAI_BACKEND": "torch", "XAI_TORCH_THREADS": "1", "XAI_WORKER_NICE": "10"}),
    ("optional", {"XAI_BACKEND": "torch", "XAI_TORCH_THREADS": "1", "XAI_WORKER_NICE": "19"}),
]


@pytest.fixture
def make_run(tmp_path, start_worker, start_server):
    redis = RedisServer(tmp_path).start()
    with ThreadPoolExecutor(len(WORKERS)) as pool:  # at once: a worker takes seconds to load
        workers = list(pool.map(lambda w: start_worker(redis.url, w[0], **w[1]), WORKERS))
    server = start_server(XAI_EAGER="0", REDIS_URL=redis.url)
    yield server
    stop_at_once(server, *workers, redis)


def flood(url: str, *scenarios: str) -> list[dict]:
    command = [sys.executable, "benchmarks/flood.py", "--url", url, "--settle", "5"]
    command += ["--seconds", str(FLOOD_SECONDS)]
    for scenario in scenarios:
        command += ["--scenario", scenario]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_floods_are_held_back_and_one_address_cannot_slow_another_visitor(make_run, gallery):
    """One address with 8 sessions of ROAD on 1024×1024 uploads; 24 addresses each within its
    own limits; 12 addresses asking for analyses and every explanation method. Each flood is
    held back, and the visitor's rounds, model's view and Region map come. One address keeps
    the visitor's p95 under a second (~0.1–0.2 s here). Under the many-address floods the p95
    is the benchmark's figure (benchmarks/flood.py, docs/benchmarks.md): on these 2 cores,
    shared with the flood's own clients, it lies around a second, too close for a test."""
    measured = flood(make_run.url, "quiet", "road", "addresses", "analyses")  # quiet: warm-up
    results = {r["scenario"]: r for r in measured if r["scenario"] != "quiet"}
    print("\n" + "\n".join(json.dumps(r) for r in results.values()))
    for name, result in results.items():
        statuses = result["flood"]
        refused = sum(n for status, n in statuses.items() if "429" in status)
        assert refused > 0, f"{name}: the flood was never held back: {statuses}"
        assert result["visitor_rounds"] > 0 and result["p95_ms"] is not None, f"{name}: {result}"
        assert result["visitor_gradcam_s"] is not None, f"{name}: no model's view: {result}"
    assert results["road"]["p95_ms"] < 1000, results["road"]
    analyses = results["analyses"]
    assert analyses["region_map_s"] is not None and analyses["gradcam_s"] is not None
