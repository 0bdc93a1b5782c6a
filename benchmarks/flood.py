"""A flooding client: Classify without pause and ask for an analysis of every answer, from one
address, to see what the limits leave for everyone else.

    .venv/bin/python benchmarks/flood.py [--url URL] [--seconds 30] [--sessions 1]

Run it beside `benchmarks/e2e_latency.py --sessions 1` against `make run` and compare that
visitor's latency with and without the flood. Each session is one cookie jar with several
connections; more sessions play a client that drops its cookie. Prints the answers' status
codes as JSON when done.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.session import HTMX, random_masks

BACK_OFF = 0.25  # after a 429: a flood, not a busy loop that only measures the web server


class Flood:
    def __init__(self, url: str, headers: dict, classify: int = 6, analyse: int = 2):
        self.url, self.headers = url, headers
        self.connections = (classify, analyse)
        self.stop = threading.Event()
        self.statuses: Counter = Counter()
        self.lock = threading.Lock()

    def session(self) -> None:
        """One cookie jar: start an exploration of Coffee, then flood it."""
        client = httpx.Client(base_url=self.url, timeout=60, headers=self.headers)
        home = client.get("/").text
        headers = {**HTMX, "X-CSRFToken": client.cookies["csrftoken"]}
        form = next(f for f in home.split("<form")[1:] if ">Coffee<" in f)
        explore = re.search(r'action="([^"]+/explore/)"', form).group(1)
        base = client.post(explore, headers=headers).headers["HX-Redirect"]
        masks = random_masks((600, 400), 8)  # Coffee's size
        classify, analyse = self.connections
        answered: list[str] = []  # this session's rounds, to ask analyses of
        session = (client, headers, answered)
        threads = [
            threading.Thread(target=self.classify, args=(*session, base, masks[n % 8]))
            for n in range(classify)
        ] + [threading.Thread(target=self.analyse, args=session) for _ in range(analyse)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def classify(self, client, headers: dict, answered: list, base: str, mask: bytes) -> None:
        while not self.stop.is_set():
            response = client.post(
                f"{base}rounds/",
                headers=headers,
                data={"fill": "mean", "strokes": "[]"},
                files={"mask": ("mask.png", mask, "image/png")},
            )
            with self.lock:
                self.statuses[response.status_code] += 1
                answered.extend(re.findall(r'hx-post="([^"]+/analysis/)"', response.text))
            if response.status_code == 429:
                time.sleep(BACK_OFF)

    def analyse(self, client: httpx.Client, headers: dict, answered: list) -> None:
        while not self.stop.is_set():
            with self.lock:
                url = answered.pop() if answered else None
            if url is None:
                time.sleep(0.1)
                continue
            response = client.post(url, headers=headers)
            with self.lock:
                self.statuses[f"analysis {response.status_code}"] += 1
            if response.status_code == 429:
                time.sleep(BACK_OFF)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--sessions", type=int, default=1)
    parser.add_argument("--forwarded-for", default="", help="X-Forwarded-For, as a proxy sets")
    args = parser.parse_args()
    headers = {"X-Forwarded-For": args.forwarded_for} if args.forwarded_for else {}
    flood = Flood(args.url, headers)
    sessions = [threading.Thread(target=flood.session) for _ in range(args.sessions)]
    for thread in sessions:
        thread.start()
    time.sleep(args.seconds)
    flood.stop.set()
    for thread in sessions:
        thread.join()
    print(json.dumps(dict(flood.statuses)))


if __name__ == "__main__":
    main()
