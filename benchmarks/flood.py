"""Floods against a running app, and what they leave for another visitor: that visitor's
Classify p50/p95 (a gallery photo, the mean fill, a round every 0.2 s) during each flood.

    .venv/bin/python benchmarks/flood.py --url http://127.0.0.1:8000 --scenario all

with the app as `make run` serves it (nginx in front: each flooding address is a loopback
address of its own, 127.0.x.y, which nginx passes on as the client's). Scenarios (--scenario,
repeatable; `all` = quiet, road, addresses, analyses):

- quiet: no flood, the baseline.
- road: one address, 8 sessions, each on its own 1024×1024 upload, Classify with the ROAD fill
  (the dearest) on 2 connections per session, without pause.
- addresses: 24 addresses, one session each on its own 1024×1024 upload, the same, each held
  by its own per-address limits.
- analyses: 12 addresses asking for "Compare fills" of every round and every explanation
  method of fresh explorations, without pause; there the new visitor also uploads a photo and
  times its Region map and Grad-CAM (the work a page needs).
- mean: the first flood (one address, Classify on 6 connections and analyses on 2).

Prints one JSON line per scenario: the visitor's rounds and p50/p95 in ms, the flood's answers
by status, and for `analyses` the seconds to the Region map and Grad-CAM. A new flood waits
--settle seconds after the last for the queues to drain (the budgets' minute to pass).
--forwarded-for ADDRESS sends that X-Forwarded-For instead (a server that trusts it, as the
Django test server does with BEHIND_PROXY).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
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
from benchmarks.session import HTMX, Session, percentile, random_masks

BACK_OFF = 0.25  # after a 429: a flood, not a busy loop that only measures the web server
VISITOR = "127.0.0.2"
METHODS = ("gradcampp", "hirescam", "eigencam", "scorecam")
SCENARIOS = ("quiet", "road", "addresses", "analyses")
UPLOAD_PATIENCE = 120


def photo(seed: int, side: int = 1024) -> bytes:
    image = Image.effect_noise((side, side), 40 + seed % 20).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def refusal_of(response: httpx.Response) -> str:
    """A 429's reason in a few words ("429 You asked for close"), or ''."""
    if response.status_code != 429:
        return ""
    message = re.search(r'role="alert">([^<]+)<', response.text)
    return "429 " + " ".join(message.group(1).split()[:5]) if message else "429"


class Flood:
    def __init__(self, url: str, forwarded_for: str = ""):
        self.url, self.forwarded_for = url, forwarded_for
        self.stop = threading.Event()
        self.statuses: Counter = Counter()
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def count(self, key) -> None:
        with self.lock:
            self.statuses[key] += 1

    def client(self, address: str) -> httpx.Client:
        if self.forwarded_for:
            return httpx.Client(
                base_url=self.url, timeout=60, headers={"X-Forwarded-For": self.forwarded_for}
            )
        transport = httpx.HTTPTransport(local_address=address) if address else None
        return httpx.Client(base_url=self.url, timeout=60, transport=transport)

    def open(self, address: str, *, upload: bytes | None = None, title: str = "Coffee"):
        """A session (one cookie jar) on its upload or a gallery photo: (client, headers, base,
        size), or None when the server refused it (its limits). An upload refused as too much
        work at once is tried again for up to UPLOAD_PATIENCE seconds: the flood is prepared
        before it begins, as an attacker would."""
        client = self.client(address)
        home = client.get("/").text
        csrf = {"X-CSRFToken": client.cookies["csrftoken"]}
        if upload is not None:
            files = {"image": ("photo.jpg", upload, "image/jpeg")}
            deadline = time.monotonic() + UPLOAD_PATIENCE
            while True:
                page = client.post("/upload/", headers=csrf, files=files, follow_redirects=True)
                if page.status_code != 429 or time.monotonic() > deadline:
                    break
                time.sleep(1)
        else:
            form = next(f for f in home.split("<form")[1:] if f">{title}<" in f)
            explore = re.search(r'action="([^"]+/explore/)"', form).group(1)
            page = client.post(explore, headers=csrf, data={"fresh": "1"}, follow_redirects=True)
        size = re.search(r'<canvas data-mask width="(\d+)" height="(\d+)"', page.text)
        if page.status_code != 200 or size is None:
            self.count(f"open {page.status_code}")
            return None
        base = str(page.url.path)
        return client, {**HTMX, **csrf}, base, (int(size.group(1)), int(size.group(2)))

    def start(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self.threads.append(thread)

    def classify_loop(self, session, fill: str, analyses: list | None = None) -> None:
        client, headers, base, size = session
        masks = random_masks(size, 8, seed=hash(base) % 1000)
        n = 0
        while not self.stop.is_set():
            response = client.post(
                f"{base}rounds/",
                headers=headers,
                data={"fill": fill, "strokes": "[]"},
                files={"mask": ("mask.png", masks[n % 8], "image/png")},
            )
            n += 1
            self.count(refusal_of(response) or response.status_code)
            if analyses is not None:
                with self.lock:
                    analyses.extend(re.findall(r'hx-post="([^"]+/analysis/)"', response.text))
            if response.status_code == 429:
                time.sleep(BACK_OFF)

    def analyse_loop(self, session, analyses: list) -> None:
        client, headers, _, _ = session
        while not self.stop.is_set():
            with self.lock:
                url = analyses.pop() if analyses else None
            if url is None:
                time.sleep(0.1)
                continue
            response = client.post(url, headers=headers)
            self.count(f"analysis {response.status_code}")
            if response.status_code == 429:
                time.sleep(BACK_OFF)

    def explanation_loop(self, address: str) -> None:
        """Fresh explorations of Coffee (one session: the home page read once), every
        explanation method of each."""
        client = self.client(address)
        home = client.get("/").text
        csrf = {"X-CSRFToken": client.cookies["csrftoken"]}
        form = next(f for f in home.split("<form")[1:] if ">Coffee<" in f)
        explore = re.search(r'action="([^"]+/explore/)"', form).group(1)
        while not self.stop.is_set():
            page = client.post(explore, headers=csrf, data={"fresh": "1"}, follow_redirects=True)
            if page.status_code != 200:
                self.count(f"open {page.status_code}")
                time.sleep(BACK_OFF)
                continue
            base = str(page.url.path)
            for method in METHODS:
                if self.stop.is_set():
                    break
                response = client.get(f"{base}explanations/{method}.png")
                self.count(f"explanation {response.status_code}")
                if response.status_code == 429:
                    time.sleep(BACK_OFF)

    # --- the scenarios ------------------------------------------------------------------------

    def road(self) -> None:
        sessions = [self.open("127.0.0.10", upload=photo(n)) for n in range(8)]
        for session in filter(None, sessions):
            for _ in range(2):
                self.start(self.classify_loop, session, "road")

    def addresses(self) -> None:
        sessions = [self.open(f"127.0.1.{n + 1}", upload=photo(n)) for n in range(24)]
        for session in filter(None, sessions):
            for _ in range(2):
                self.start(self.classify_loop, session, "road")

    def analyses(self) -> None:
        for n in range(12):
            address = f"127.0.2.{n + 1}"
            session = self.open(address)
            if session is None:
                continue
            found: list[str] = []
            self.start(self.classify_loop, session, "mean", found)
            self.start(self.analyse_loop, session, found)
            self.start(self.explanation_loop, address)

    def mean(self) -> None:
        session = self.open("127.0.0.11")
        found: list[str] = []
        for _ in range(6 if session else 0):
            self.start(self.classify_loop, session, "mean", found)
        for _ in range(2 if session else 0):
            self.start(self.analyse_loop, session, found)

    def quiet(self) -> None:
        pass

    def end(self) -> dict:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)
        return {str(k): v for k, v in sorted(self.statuses.items(), key=str)}


def needed_work_seconds(url: str, address: str) -> dict:
    """A new visitor uploads a photo: seconds until its Region map and Grad-CAM are there."""
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(base_url=url, timeout=60, transport=transport) as client:
        client.get("/")
        csrf = {"X-CSRFToken": client.cookies["csrftoken"]}
        started = time.monotonic()
        files = {"image": ("photo.jpg", photo(99, 640), "image/jpeg")}
        page = client.post("/upload/", headers=csrf, files=files, follow_redirects=True)
        page.raise_for_status()
        segments = re.search(r'data-segments="([^"]+)"', page.text).group(1)
        urls = {"region_map_s": segments, "gradcam_s": f"{page.url.path}saliency.png"}
        took: dict = {}
        while len(took) < len(urls) and time.monotonic() - started < 120:
            for name, path in urls.items():
                if name not in took and client.get(path).status_code == 200:
                    took[name] = round(time.monotonic() - started, 2)
            time.sleep(0.2)
        return {name: took.get(name) for name in urls}


def visitor_rounds(url: str, seconds: float, forwarded_for: str = "") -> tuple[list, float]:
    """Another visitor's Classify times (s) for `seconds`: Chelsea, a round every 0.2 s; and
    the seconds its model's view (Grad-CAM) took to appear, or None (not within 30 s more)."""
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else None
    address = "" if headers else VISITOR
    started = time.monotonic()
    visitor = Session(url, "Chelsea the cat", headers=headers, address=address, model_view=False)
    gradcam: list[float] = []

    def wait_for_gradcam() -> None:
        with contextlib.suppress(RuntimeError):
            visitor.wait_for_model_view(timeout=seconds + 30)
            gradcam.append(round(time.monotonic() - started, 2))

    waiter = threading.Thread(target=wait_for_gradcam, daemon=True)
    waiter.start()
    masks = random_masks(visitor.size, 16)
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        latencies.append(visitor.classify(masks[len(latencies) % len(masks)]))
        time.sleep(0.2)  # a person looks at the answer and paints again
    waiter.join(timeout=max(0.0, seconds + 30 - (time.monotonic() - started)))
    return latencies, (gradcam or [None])[0]


def run(url: str, scenario: str, seconds: float, forwarded_for: str = "") -> dict:
    flood = Flood(url, forwarded_for)
    getattr(flood, scenario)()
    time.sleep(2 if scenario != "quiet" else 0)  # the flood is under way
    needed = {}
    if scenario == "analyses" and not forwarded_for:
        holder: dict = {}
        waiter = threading.Thread(
            target=lambda: holder.update(needed_work_seconds(url, "127.0.0.3"))
        )
        waiter.start()
    latencies, gradcam = visitor_rounds(url, seconds, forwarded_for)
    if scenario == "analyses" and not forwarded_for:
        waiter.join(timeout=150)
        needed = holder
    statuses = flood.end()
    return {
        "scenario": scenario,
        "visitor_rounds": len(latencies),
        "p50_ms": round(percentile(latencies, 0.5) * 1000),
        "p95_ms": round(percentile(latencies, 0.95) * 1000),
        "visitor_gradcam_s": gradcam,
        **needed,
        "flood": statuses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--scenario", action="append", choices=[*SCENARIOS, "mean", "all"])
    parser.add_argument("--seconds", type=float, default=20, help="measured, per scenario")
    parser.add_argument("--settle", type=float, default=60, help="between scenarios")
    parser.add_argument("--forwarded-for", default="", help="X-Forwarded-For, as a proxy sets")
    args = parser.parse_args()
    chosen = args.scenario or ["all"]
    scenarios = [s for c in chosen for s in (SCENARIOS if c == "all" else [c])]
    for n, scenario in enumerate(scenarios):
        if n and scenarios[n - 1] != "quiet":
            time.sleep(args.settle)
        print(json.dumps(run(args.url, scenario, args.seconds, args.forwarded_for)), flush=True)


if __name__ == "__main__":
    main()
