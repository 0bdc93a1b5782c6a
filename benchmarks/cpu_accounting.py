"""CPU time of a running app's processes, from /proc: what a window of work cost each part.

    window = Window(session=sid)     # every process of that session (setsid scripts/run.sh)
    window.start(); ...the load...; usage = window.stop()
    print(breakdown(usage, rounds=160, model_ms=21.8))

    .venv/bin/python benchmarks/cpu_accounting.py --session SID --seconds 10   # what it burns idle

Each process counts utime+stime (/proc/<pid>/stat) under its part of the app: web (gunicorn),
proxy (nginx), redis, each Celery worker by its queue (-Q; a pool process is its parent's), and
other (the scripts around them). A process that ends inside the window is counted in full by
its parent's cutime+cstime, less what it had used before the window. Linux only.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
GENERATOR = "load generator"
PARTS = ("web", "proxy", "redis", "inference", "analysis", "optional", "exports", "other")


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    session: int
    started: int  # ticks after boot: with the pid, a process's identity (pids are reused)
    cpu: float  # its own user + system seconds
    reaped: float  # its waited-for children's user + system seconds
    part: str = "other"


def parse_stat(text: str) -> tuple[int, int, int, float, float]:
    """(ppid, session, started, cpu s, reaped children's cpu s) from a /proc/<pid>/stat line.
    The command name sits in parentheses and may hold spaces and parentheses itself."""
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state) of proc(5).
    ppid, session = int(fields[1]), int(fields[3])
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return ppid, session, int(fields[19]), (utime + stime) / TICK, (cutime + cstime) / TICK


def part_of(argv: list[str]) -> str | None:
    """Which part of the app a command line is; None when it does not say (a pool process
    renamed by setproctitle takes its parent's)."""
    line = " ".join(argv)
    names = {Path(a).name for a in argv[:3]}
    if "gunicorn" in line and ("gunicorn" in names or "xaiproject.wsgi" in line):
        return "web"
    if line.startswith("nginx") or "nginx" in names:
        return "proxy"
    if "redis-server" in line:
        return "redis"
    if "celery" in names or "[celeryd" in line:
        queue = re.search(r"(?:-Q|--queues)[ =](\w+)", line)
        if queue and queue.group(1) in PARTS:
            return queue.group(1)
        named = re.search(r"\b(inference|analysis|optional|exports)[@-]", line)
        return named.group(1) if named else None
    return None


def _read(pid: int) -> tuple[str, list[str]] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:  # gone meanwhile
        return None
    return stat, [a.decode(errors="replace") for a in argv if a]


def snapshot(session: int) -> dict[tuple[int, int], Proc]:
    """Every live process of that session, keyed by (pid, start)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or (read := _read(int(entry.name))) is None:
            continue
        stat, argv = read
        ppid, sid, started, cpu, reaped = parse_stat(stat)
        if sid == session:
            found[int(entry.name)] = (Proc(int(entry.name), ppid, sid, started, cpu, reaped), argv)
    parts: dict[int, str] = {}

    def part(pid: int) -> str:
        if pid not in parts:
            proc, argv = found[pid]
            parts[pid] = part_of(argv) or (part(proc.ppid) if proc.ppid in found else "other")
        return parts[pid]

    return {
        (pid, proc.started): Proc(**{**proc.__dict__, "part": part(pid)})
        for pid, (proc, _) in found.items()
    }


def usage(before: dict, after: dict) -> dict[str, float]:
    """CPU seconds per part between two snapshots."""
    spent: dict[str, float] = defaultdict(float)
    for key, proc in after.items():
        old = before.get(key)
        spent[proc.part] += proc.cpu + proc.reaped - (old.cpu + old.reaped if old else 0.0)
    for key, old in before.items():
        if key in after:
            continue
        # Reaped by a parent of ours, whose cutime now holds all of it, the window only part. A
        # process whose parent is not ours took its window's CPU with it (not counted).
        parent = next((p for k, p in after.items() if k[0] == old.ppid), None)
        if parent is not None:
            spent[parent.part] -= old.cpu + old.reaped
    return dict(spent)


def breakdown(spent: dict[str, float], rounds: int, model_ms: float | None = None) -> str:
    """ms of CPU per round, per part and in all, less the model's own when given."""
    app = {part: s for part, s in spent.items() if part != GENERATOR}
    total = sum(app.values()) * 1000 / rounds
    lines = [f"app CPU per round over {rounds} rounds: {total:.1f} ms"]
    for part in PARTS:
        if part in app:
            lines.append(f"  {part:<10} {app[part] * 1000 / rounds:7.1f} ms")
    if GENERATOR in spent:
        lines.append(f"  ({GENERATOR}, not counted: {spent[GENERATOR] * 1000 / rounds:.1f} ms)")
    if model_ms is not None:
        lines.append(f"model alone, 1 thread: {model_ms:.1f} ms of CPU per image")
        lines.append(f"overhead per round (target 3, <= 10): {total - model_ms:.1f} ms")
    return "\n".join(lines)


def queued(redis_url: str) -> int:
    """Celery messages waiting in the broker's queues (Redis lists) or taken and not yet done
    (kombu's unacked hash)."""
    import redis

    broker = redis.Redis.from_url(redis_url, socket_timeout=5)
    waiting = broker.hlen("unacked")
    for key in broker.scan_iter(count=1000):
        if broker.type(key) == b"list":
            waiting += broker.llen(key)
    return waiting


class Window:
    """The app's CPU over a stretch of work, and this process's own (the load generator's).
    With the broker's URL, the window closes only once no task is waiting or running either:
    a worker at a low priority (os.nice) may be starved of CPU, not done, while others run."""

    def __init__(self, session: int, redis_url: str = ""):
        self.session, self.redis_url = session, redis_url

    def start(self) -> None:
        self.before = snapshot(self.session)
        self.own = time.process_time()

    def stop(self, settle: float = 30.0) -> dict[str, float]:
        """CPU seconds per part, "load generator" included, once the app has gone quiet (the
        work a round leaves behind, an alignment score, counts), or after `settle` seconds."""
        own = time.process_time() - self.own
        deadline = time.monotonic() + settle
        last = snapshot(self.session)
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = snapshot(self.session)
            busy = sum(usage(last, now).values())
            last = now
            if busy < 0.05 and not (self.redis_url and queued(self.redis_url)):
                break  # under a tenth of a core, and no task left
        return {**usage(self.before, last), GENERATOR: own}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--session", type=int, required=True, help="the app's session id")
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    before = snapshot(args.session)
    time.sleep(args.seconds)
    spent = usage(before, snapshot(args.session))
    for part, seconds in sorted(spent.items()):
        print(f"{part:<10} {seconds * 1000 / args.seconds:7.1f} ms per second")


if __name__ == "__main__":
    main()
