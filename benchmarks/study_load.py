"""Participants per box (issue 25, target 4): N simulated participants take a real study over
HTTP, each from its own loopback address, and N steps up until a step fails.

    .venv/bin/python benchmarks/study_load.py [--url URL] [--steps 50,100,200,400,500]
        [--images 2] [--rounds 3] [--period 10] [--cpu-session SID]

Each participant: the consent page and consent, then for each image its step (the explore page,
the original's answer), one Classify every --period seconds ± 30 % (POST → the result done, its
round index the one expected), Next, and at the end Finish. Arrivals are spread over the first
period. A participant connects from its own 127.x.y.z (Linux routes all of 127/8 to loopback), so
nginx's $remote_addr, which the app takes as the client's address, differs for each: the
per-address limits count each participant apart, as they would in a real study.

A step passes when the Classify p95 is under 1 s and nothing is lost: every round answered, in
order, every image's history holding them all done, every consent, step and Finish accepted.
Prints one line per step and `largest passing N: <n>`. The study (slug load-test) is created or
updated first with `manage.py load_study` on the app's own database (the same XAI_VAR_DIR /
DATABASE_URL as the server), with --images images, unless --no-load.

The load generator runs on asyncio (one thread): its own CPU per second is printed with each step,
as it shares the cores with the app.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.cpu_accounting import Window, breakdown
from benchmarks.session import HTMX, loopback_address, percentile, random_masks

ROOT = Path(__file__).resolve().parent.parent

SLUG = "load-test"
# A study as a researcher would run one, without what a simulated participant cannot do (the
# quiz, a screen check, an attention check): the model's view shown, one fill.
STUDY = {
    "slug": SLUG,
    "name": "Load test",
    "consent": "A simulated participant for the load benchmark.",
    "consent_version": "load-1",
    "instructions": "Paint, then Classify.",
    "closing_question": "What did the classifier look at?",
    "order": "fixed",
    "min_rounds_per_image": 1,
    "allow_missing_id": True,
    "is_open": True,
    "images": ["coffee", "chelsea", "rocket", "camera"],
    "conditions": [
        {
            "name": "with-model-view",
            "show_model_view": True,
            "show_agreement": True,
            "show_deltas": True,
            "show_analysis": False,
            "fills": ["mean"],
        }
    ],
}


@dataclass
class Step:
    participants: int
    latencies: list[float] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    wall: float = 0.0
    own_cpu: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def p95(self) -> float:
        return percentile(self.latencies, 0.95) if self.latencies else float("inf")

    @property
    def passed(self) -> bool:
        return bool(self.latencies) and not self.lost and self.p95 < 1.0

    def summary(self) -> str:
        p50 = percentile(self.latencies, 0.5) * 1000 if self.latencies else float("nan")
        return (
            f"N={self.participants}: {len(self.latencies)} rounds in {self.wall:.0f} s "
            f"({len(self.latencies) / self.wall:.1f} rounds/s), Classify p50 {p50:.0f} ms, "
            f"p95 {self.p95 * 1000:.0f} ms, {len(self.lost)} lost; load generator "
            f"{self.own_cpu / self.wall * 100:.0f}% of a core: "
            + ("pass" if self.passed else "FAIL")
        )


class Participant:
    def __init__(self, url: str, number: int, step: Step, args: argparse.Namespace):
        transport = httpx.AsyncHTTPTransport(local_address=loopback_address(number))
        self.client = httpx.AsyncClient(base_url=url, transport=transport, timeout=60)
        self.number, self.step, self.args = number, step, args
        self.rng = random.Random(number)

    def lose(self, what: str) -> None:
        self.step.lost.append(f"participant {self.number}: {what}")

    async def take_part(self, delay: float, masks: dict) -> None:
        async with self.client:
            try:
                await asyncio.sleep(delay)
                await self._take_part(masks)
            except Exception as exc:  # a load test reports every failure, whatever it is
                self.lose(repr(exc))

    async def _take_part(self, masks: dict) -> None:
        client, period = self.client, self.args.period
        await client.get(f"/study/{SLUG}/")
        token = {"X-CSRFToken": client.cookies["csrftoken"]}
        consent = await client.post(f"/study/{SLUG}/consent/", headers=token, data={"agree": 1})
        if consent.status_code != 302:
            return self.lose(f"consent refused ({consent.status_code})")
        headers = {**HTMX, **token}
        for image in range(1, self.args.images + 1):
            page = await client.get(f"/study/{SLUG}/step/{image}/", follow_redirects=True)
            if page.status_code != 200:
                return self.lose(f"step {image} answered {page.status_code}")
            base = page.url.path
            size = re.search(r'<canvas data-mask width="(\d+)" height="(\d+)"', page.text)
            size = (int(size.group(1)), int(size.group(2)))
            if size not in masks:
                masks[size] = random_masks(size, 8)
            await self._done(page.text, headers)  # the original's answer
            for expected in range(1, self.args.rounds + 1):
                await asyncio.sleep(period * self.rng.uniform(0.7, 1.3))
                mask = self.rng.choice(masks[size])
                started = time.perf_counter()
                response = await client.post(
                    f"{base}rounds/",
                    headers=headers,
                    data={"fill": "mean", "strokes": "[]"},
                    files={"mask": ("mask.png", mask, "image/png")},
                )
                if response.status_code != 200:
                    return self.lose(f"Classify answered {response.status_code}")
                html = await self._done(response.text, headers)
                self.step.latencies.append(time.perf_counter() - started)
                shown = re.search(r'data-round-index="(\d+)"', html or "")
                if not shown or int(shown.group(1)) != expected:
                    return self.lose(f"showed round {shown and shown.group(1)} for {expected}")
            history = re.findall(r'class="history-item (\w+)"', (await client.get(base)).text)
            if history != ["done"] * (self.args.rounds + 1):
                return self.lose(f"image {image}'s history is {history}")
        finish = await client.post(
            f"/study/{SLUG}/finish/", headers=token, data={"answer": "The cup."}
        )
        if finish.status_code not in (200, 302):
            self.lose(f"Finish answered {finish.status_code}")

    async def _done(self, html: str, headers: dict) -> str | None:
        """Follow the result's long poll; the done result, or None (a failure, noted)."""
        while 'class="result pending"' in html:
            poll = re.search(r'hx-get="([^"]+)"', html.split('class="result pending"')[1]).group(1)
            html = (await self.client.get(poll.replace("&amp;", "&"), headers=headers)).text
        if 'class="result done"' not in html:
            self.lose("a round failed: " + re.sub(r"\s+", " ", html)[:200])
            return None
        return html


async def run_step(url: str, participants: int, first: int, args) -> Step:
    step = Step(participants)
    masks: dict = {}
    rng = random.Random(participants)
    window = Window(args.cpu_session, os.environ.get("REDIS_URL", "")) if args.cpu_session else None
    if window:
        window.start()
    own, started = time.process_time(), time.perf_counter()
    await asyncio.gather(
        *(
            Participant(url, first + n, step, args).take_part(rng.uniform(0, args.period), masks)
            for n in range(participants)
        )
    )
    step.wall = time.perf_counter() - started
    step.own_cpu = time.process_time() - own
    if window:
        step.cpu = window.stop()
    return step


def load_study(images: int) -> None:
    """The study with its first `images` images (Finish needs every image's rounds)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as file:
        json.dump({**STUDY, "images": STUDY["images"][:images]}, file)
        file.flush()
        subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "load_study", file.name], check=True
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--steps", default="50,100,200,400,500")
    parser.add_argument("--images", type=int, default=2, help=f"of {len(STUDY['images'])}")
    parser.add_argument("--rounds", type=int, default=3, help="Classify per image")
    parser.add_argument("--period", type=float, default=10.0, help="seconds between Classify")
    parser.add_argument("--cpu-session", type=int, help="the app's session id, for its CPU")
    parser.add_argument("--no-load", action="store_true", help="the study is there already")
    args = parser.parse_args()
    if not 1 <= args.images <= len(STUDY["images"]):
        parser.error(f"--images is 1 to {len(STUDY['images'])}")
    if not args.no_load:
        load_study(args.images)
    largest, first = 0, 0
    for participants in (int(n) for n in args.steps.split(",")):
        step = asyncio.run(run_step(args.url, participants, first, args))
        first += participants  # new addresses: the study's per-address consent cap holds
        print(step.summary(), flush=True)
        for problem in step.lost[:5]:
            print("  ", problem)
        if step.cpu and step.latencies:
            print(breakdown(step.cpu, len(step.latencies)))
        if not step.passed:
            break
        largest = participants
    print(f"largest passing N: {largest}")


if __name__ == "__main__":
    main()
