"""The red team's heavy requests against the web process, while another visitor classifies:
masked: a flood of masked.png GETs (32 keep-alive connections of one browser, no conditional
headers) of a 1024² upload's rounds; logs: 64 browsers on 8 addresses sending Classify with
dense 2 MB brush logs (or --log-points points); pages: 4 connections reading the page of an
exploration with 20 rounds of such logs. Prints, as JSON, the answers' status codes, the
explore page's time, the other visitor's Classify p50/p95, and the web process's memory (RSS
of gunicorn's processes together: before, at its highest, after).

    .venv/bin/python benchmarks/heavy_reads.py [--url URL] [--seconds 20]
        [--load masked,logs,pages] [--connections 32] [--sessions 64] [--rounds 20]
        [--log-points N] [--web-pid PID]

Run it against `make run` (nginx in front: each client connects from its own loopback address,
127.0.1.x for the load, 127.0.2.1 for the other visitor, and nginx forwards it). --web-pid is
gunicorn's master (or a process above it); without it, the one gunicorn serving xaiproject on
this machine, if there is exactly one.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import re
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
from PIL import Image

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.session import Session, percentile, random_masks

LOAD_ADDRESS, OTHER_ADDRESS = "127.0.1.{}", "127.0.2.1"
LOG_BYTES = 2 * 1024 * 1024 - 4096  # just under the byte cap, as the red team sent


def upload_photo(side: int = 1024) -> bytes:
    """A photo-like JPEG: smooth gradients and noise, which compresses as a photo does."""
    rng = random.Random(1)
    small = Image.new("RGB", (32, 32))
    small.putdata([tuple(rng.randrange(256) for _ in range(3)) for _ in range(32 * 32)])
    image = small.resize((side, side), Image.Resampling.BICUBIC)
    image = Image.blend(image, Image.effect_noise((side, side), 40).convert("RGB"), 0.25)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def dense_log(size: int, points: int | None = None) -> str:
    """canvas.js's log of strokes of [x, y, t] points: `points` of them, or as many as fit
    in `size` bytes."""
    count = points or size // len(POINT)
    while True:
        strokes = []
        for start in range(0, count, 500):
            samples = POINT * min(500, count - start)
            strokes.append(
                f'{{"type":"stroke","tool":"paint","size":24,"points":[{samples[:-1]}]}}'
            )
        log = "[" + ",".join(strokes) + ',{"type":"classify","t":1}]'
        if points or len(log) <= size:
            return log
        count -= (len(log) - size) // len(POINT) + 1


POINT = "[512.25,384.75,123456],"


# --- the web process's memory --------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def web_pids(root: int | None) -> list[int]:
    """gunicorn's processes: under `root`, or the one gunicorn serving xaiproject here."""
    if root is None:
        masters = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                text = cmdline.read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "gunicorn" in text and "xaiproject.wsgi" in text:
                masters.append(int(cmdline.parent.name))
        masters = [p for p in masters if not any(p in _children(m) for m in masters)]
        if len(masters) != 1:
            return []
        root = masters[0]
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo += _children(pid)
    return [p for p in pids if "gunicorn" in _read(f"/proc/{p}/cmdline")]


def _read(path: str) -> str:
    try:
        return Path(path).read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def rss_mb(pids: list[int]) -> float:
    """The processes' resident memory together, in MB."""
    total = 0
    for pid in pids:
        match = re.search(r"VmRSS:\s+(\d+) kB", _read(f"/proc/{pid}/status"))
        total += int(match.group(1)) if match else 0
    return round(total / 1024, 1)


class MemoryWatch(threading.Thread):
    def __init__(self, pids: list[int]):
        super().__init__(daemon=True)
        self.pids, self.peak, self.stopping = pids, 0.0, threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.1):
            self.peak = max(self.peak, rss_mb(self.pids))


# --- the loads -----------------------------------------------------------------------------


class Load:
    def __init__(self, url: str, connections: int, sessions: int, addresses: int = 8):
        self.url, self.connections, self.sessions = url, connections, sessions
        self.addresses = addresses
        self.stop = threading.Event()
        self.statuses: Counter = Counter()
        self.lock = threading.Lock()
        self.page_seconds: list[float] = []

    def count(self, what: str, status: int) -> None:
        with self.lock:
            self.statuses[f"{what} {status}"] += 1

    def masked(self, owner: Session, rounds: list[str]) -> list[threading.Thread]:
        """`connections` keep-alive connections of one browser, GETting masked.png in turn."""
        limits = httpx.Limits(max_connections=self.connections)
        transport = httpx.HTTPTransport(local_address=LOAD_ADDRESS.format(1), limits=limits)
        client = httpx.Client(
            base_url=self.url, cookies=owner.client.cookies, transport=transport, timeout=60
        )

        def get(n: int) -> None:
            while not self.stop.is_set():
                url = f"{owner.base}rounds/{rounds[n % len(rounds)]}/masked.png"
                self.count("masked.png", client.get(url).status_code)
                n += 1

        return [threading.Thread(target=get, args=(n,)) for n in range(self.connections)]

    def logs(self, log: str) -> list[threading.Thread]:
        """`sessions` browsers (on `addresses` addresses), each sending Classify with the log,
        again and again (after a 429, a quarter of a second later)."""

        def session(n: int) -> None:
            address = LOAD_ADDRESS.format(2 + n % self.addresses)
            try:
                browser = Session(self.url, "Coffee", address=address, model_view=False)
            except Exception as exc:  # refused at the door (a limit): counted, not fatal
                self.count(f"start {type(exc).__name__}", 0)
                return
            mask = random_masks(browser.size, 1, seed=n)[0]
            while not self.stop.is_set():
                status = classify_with(browser, mask, log)
                self.count("classify+log", status)
                if status == 429:
                    time.sleep(0.25)

        return [threading.Thread(target=session, args=(n,)) for n in range(self.sessions)]

    def pages(self, log: str, rounds: int, readers: int = 4) -> list[threading.Thread]:
        """One browser's exploration with `rounds` rounds of the log, its page read by
        `readers` connections at once, again and again."""
        browser = Session(self.url, "Coffee", address=LOAD_ADDRESS.format(10))
        masks = random_masks(browser.size, rounds, seed=3)
        for mask in masks:
            while (status := classify_with(browser, mask, log)) == 429:
                time.sleep(1)
            if status != 200:
                raise RuntimeError(f"a round with the log was refused: {status}")

        def read() -> None:
            while not self.stop.is_set():
                started = time.perf_counter()
                status = browser.client.get(browser.base).status_code
                with self.lock:
                    self.page_seconds.append(time.perf_counter() - started)
                self.count("explore page", status)

        return [threading.Thread(target=read) for _ in range(readers)]


def classify_with(browser: Session, mask: bytes, log: str) -> int:
    """Classify with the log; the status (200 once the round is answered)."""
    response = browser.client.post(
        f"{browser.base}rounds/",
        headers=browser.headers,
        data={"fill": "mean", "strokes": log},
        files={"mask": ("mask.png", mask, "image/png")},
    )
    if response.status_code == 200:
        browser.finish(response.text)
    return response.status_code


def masked_rounds(owner: Session, count: int) -> list[str]:
    for mask in random_masks(owner.size, count, seed=7):
        owner.classify(mask)
    page = owner.client.get(owner.base).text
    rounds = sorted(set(re.findall(r"/rounds/([0-9a-f-]{36})/thumb\.jpg", page)))
    # The masked ones (the original has no mask: its masked.png is the stored photo).
    return [r for r in rounds if owner.client.get(f"{owner.base}rounds/{r}/mask.png").is_success]


def run(args) -> dict:
    pids = web_pids(args.web_pid)
    loads = set(args.load.split(","))
    other = Session(args.url, "Chelsea the cat", address=OTHER_ADDRESS)
    other_masks = random_masks(other.size, 16)
    load = Load(args.url, args.connections, args.sessions, args.addresses)
    threads = []
    if "masked" in loads:
        owner = Session(args.url, upload=upload_photo(), address=LOAD_ADDRESS.format(1))
        threads += load.masked(owner, masked_rounds(owner, 4))
    log = dense_log(LOG_BYTES, args.log_points or None)
    if "logs" in loads:
        threads += load.logs(log)
    if "pages" in loads:
        threads += load.pages(log, args.rounds)
    before = rss_mb(pids)
    watch = MemoryWatch(pids)
    watch.start()
    for thread in threads:
        thread.start()
    time.sleep(args.warmup)
    latencies = []
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        latencies.append(other.classify(other_masks[len(latencies) % len(other_masks)]))
        time.sleep(0.2)  # a person looks at the answer and paints again
    load.stop.set()
    for thread in threads:
        thread.join(120)
    watch.stopping.set()
    pages = load.page_seconds
    return {
        "statuses": dict(load.statuses),
        "other_visitor": {
            "rounds": len(latencies),
            "p50_s": round(percentile(latencies, 0.5), 3),
            "p95_s": round(percentile(latencies, 0.95), 3),
            "history": other.history(),
        },
        "explore_page_s": {
            "count": len(pages),
            "p50": round(percentile(pages, 0.5), 3) if pages else None,
            "p95": round(percentile(pages, 0.95), 3) if pages else None,
        },
        "web_rss_mb": {
            "processes": len(pids),
            "before": before,
            "peak": max(watch.peak, before),
            "after": rss_mb(pids),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=2, help="load alone before timing")
    parser.add_argument("--load", default="masked,logs,pages", help="any of masked,logs,pages")
    parser.add_argument("--connections", type=int, default=32, help="masked.png connections")
    parser.add_argument("--sessions", type=int, default=64, help="browsers sending 2 MB logs")
    parser.add_argument(
        "--log-points", type=int, default=0, help="logs of this many points (0: 2 MB of them)"
    )
    parser.add_argument("--addresses", type=int, default=8, help="the log senders' addresses")
    parser.add_argument("--rounds", type=int, default=20, help="rounds of the page read")
    parser.add_argument("--web-pid", type=int, default=None)
    args = parser.parse_args()
    print(json.dumps(run(args)))
    sys.stdout.flush()
    os._exit(0)  # threads of a refused session may still wait on their sockets


if __name__ == "__main__":
    main()
