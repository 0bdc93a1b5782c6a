"""Load test: many simultaneous sessions, each doing several rounds, against the running app.

    .venv/bin/python benchmarks/load_test.py [--url URL] [--sessions 20] [--rounds 10]
        [--own-addresses] [--cpu-session SID [--model-cpu-ms 21.8]]

Checks that every round ends done, in order, in its own session's exploration (none lost, none
mixed up), and reports p50/p95 latency, rounds/s and errors. Exits non-zero on any error.
With --cpu-session (the app's session id: `setsid scripts/run.sh`), also the app's CPU per round
over the rounds (the sessions already open), per part (benchmarks/cpu_accounting.py), once the
broker at REDIS_URL (the app's) holds no task either.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.cpu_accounting import Window, breakdown
from benchmarks.session import Session, loopback_address, percentile, random_masks


@dataclass
class Report:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wall: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # seconds per part of the app

    def summary(self) -> str:
        if not self.latencies:
            return f"no round finished; errors: {self.errors[:5]}"
        rate = len(self.latencies) / self.wall
        p50, p95 = (percentile(self.latencies, q) * 1000 for q in (0.5, 0.95))
        return (
            f"{len(self.latencies)} rounds in {self.wall:.1f} s ({rate:.1f} rounds/s), "
            f"p50 {p50:.0f} ms, p95 {p95:.0f} ms, {len(self.errors)} errors"
        )


def run(
    url: str,
    sessions: int = 20,
    rounds: int = 10,
    title: str = "Coffee",
    cpu_window: Window | None = None,
    own_addresses: bool = False,
) -> Report:
    clients = [
        Session(url, title, address=loopback_address(i) if own_addresses else "")
        for i in range(sessions)
    ]
    masks = random_masks(clients[0].size, 16)
    report = Report()
    lock = threading.Lock()

    def work(index: int) -> None:
        session = clients[index]
        for expected in range(1, rounds + 1):
            try:
                took = session.classify(masks[(index + expected) % len(masks)])
            except Exception as exc:  # a load test reports every failure, whatever it is
                with lock:
                    report.errors.append(f"session {index} round {expected}: {exc!r}")
                continue
            shown = re.search(r'data-round-index="(\d+)"', session.last_html)
            problem = None
            if not shown or int(shown.group(1)) != expected:
                problem = f"showed round {shown and shown.group(1)}, expected {expected}"
            elif session.base not in session.last_html:
                problem = "the result links to another exploration"
            with lock:
                report.latencies.append(took)
                if problem:
                    report.errors.append(f"session {index}: {problem}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(sessions)]
    if cpu_window:
        cpu_window.start()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report.wall = time.perf_counter() - started
    if cpu_window:
        report.cpu = cpu_window.stop()
    for index, session in enumerate(clients):
        statuses = session.history()
        if statuses != ["done"] * (rounds + 1):
            report.errors.append(f"session {index}: history is {statuses}")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument(
        "--own-addresses",
        action="store_true",
        help="each session from its own 127.x.y.z, as different people (batches take one "
        "round per address: XAI_BATCH_PER_ADDRESS)",
    )
    parser.add_argument("--cpu-session", type=int, help="the app's session id, for its CPU")
    parser.add_argument("--model-cpu-ms", type=float, help="the model's own CPU per image")
    args = parser.parse_args()
    broker = os.environ.get("REDIS_URL", "")  # the app's, where it was started alike
    window = Window(args.cpu_session, broker) if args.cpu_session else None
    report = run(
        args.url, args.sessions, args.rounds, cpu_window=window, own_addresses=args.own_addresses
    )
    print(report.summary())
    if report.cpu and report.latencies:
        print(breakdown(report.cpu, len(report.latencies), args.model_cpu_ms))
    for error in report.errors[:20]:
        print("  ", error)
    sys.exit(1 if report.errors else 0)


if __name__ == "__main__":
    main()
