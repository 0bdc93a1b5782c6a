"""What connections sending their bodies at 1 byte/s do to everyone else.

    .venv/bin/python benchmarks/slow_bodies.py [--slow 100] [--timeout 3]

Serves a scratch copy of the app twice, as `make run` does (nginx in front of gunicorn) and as
gunicorn alone, opens --slow such connections to each, and prints p50/p95 of another visitor's
page loads (GET /) and Classify rounds, counting a request that times out as --timeout seconds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.session import Session, percentile, random_masks
from tests.servers import ROOT, SlowBodies, WebServer


@dataclass
class Report:
    pages: list[float] = field(default_factory=list)
    rounds: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    still_waiting: int = 0  # slow connections the server still held at the end

    def summary(self) -> str:
        def line(name: str, values: list[float]) -> str:
            p50, p95 = (percentile(values, q) * 1000 for q in (0.5, 0.95))
            return f"{name}: p50 {p50:.0f} ms, p95 {p95:.0f} ms"

        return (
            f"{line('GET /', self.pages)}; {line('Classify', self.rounds)}; "
            f"{len(self.failures)} failed; {self.still_waiting} slow connections held"
        )


def _timed(report: Report, request: Callable[[], object], timeout: float) -> float:
    started = time.perf_counter()
    try:
        request()
    except httpx.HTTPError as exc:
        report.failures.append(repr(exc))
        return timeout
    return time.perf_counter() - started


def measure(url: str, slow: int = 100, pages: int = 20, rounds: int = 10, timeout: float = 5):
    """Another visitor's page loads and Classify rounds while `slow` connections trickle."""
    visitor = Session(url, "Coffee")
    masks = random_masks(visitor.size, rounds)
    visitor.classify(masks[0])  # the model is loaded before the clock starts
    visitor.client.timeout = httpx.Timeout(timeout)
    report = Report()
    with SlowBodies(url, slow) as slow_bodies:
        time.sleep(2)  # every slow connection has sent its headers and the first bytes
        for _ in range(pages):
            page = _timed(report, lambda: visitor.client.get("/").raise_for_status(), timeout)
            report.pages.append(page)
        for mask in masks:
            report.rounds.append(_timed(report, lambda mask=mask: visitor.classify(mask), timeout))
        report.still_waiting = sum(answer is None for answer in slow_bodies.answers())
    return report


def scratch_app(workdir: Path) -> dict[str, str]:
    """A database with the gallery, in workdir: what `make run` prepares in var/."""
    env = {**os.environ, "XAI_VAR_DIR": str(workdir), "XAI_EAGER": "1"}
    env.pop("XAI_DB_PATH", None)
    for command in (["migrate", "--noinput", "-v0"], ["load_gallery"]):
        python = [sys.executable, "manage.py", *command]
        subprocess.run(python, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return {
        "XAI_DB_PATH": str(workdir / "db.sqlite3"),
        "XAI_MEDIA_ROOT": str(workdir / "media"),
        "XAI_COMPILED_DIR": os.environ.get("XAI_COMPILED_DIR", str(ROOT / "var" / "compiled")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow", type=int, default=100, help="slow connections")
    parser.add_argument("--timeout", type=float, default=3, help="seconds before a request fails")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        data = scratch_app(Path(scratch))
        for proxy, name in ((True, "nginx + gunicorn"), (False, "gunicorn alone")):
            workdir = Path(tempfile.mkdtemp(dir=scratch))
            server = WebServer(workdir, proxy=proxy, XAI_EAGER="1", **data).start()
            try:
                report = measure(server.url, slow=args.slow, timeout=args.timeout)
            finally:
                server.stop()
            print(f"{name}, {args.slow} slow bodies: {report.summary()}", flush=True)


if __name__ == "__main__":
    main()
