"""A simulated browser session against the running app, for benchmarks and load tests."""

from __future__ import annotations

import io
import random
import re
import time

import httpx
from PIL import Image, ImageDraw

HTMX = {"HX-Request": "true"}


def random_masks(size: tuple[int, int], count: int, seed: int = 0) -> list[bytes]:
    rng = random.Random(seed)
    masks = []
    for _ in range(count):
        mask = Image.new("L", size, 0)
        w, h = size
        x0, y0 = rng.randrange(w // 2), rng.randrange(h // 2)
        ImageDraw.Draw(mask).rectangle(
            (x0, y0, x0 + rng.randrange(20, w // 2), y0 + rng.randrange(20, h // 2)), fill=255
        )
        buffer = io.BytesIO()
        mask.save(buffer, format="PNG")
        masks.append(buffer.getvalue())
    return masks


class Session:
    """One browser: its own cookies, one exploration of the chosen gallery photo (or of the
    JPEG it uploads, or of the first image of the study it joins)."""

    def __init__(
        self,
        url: str,
        title: str = "",
        headers: dict | None = None,
        *,
        upload: bytes | None = None,
        study: str = "",
        address: str = "",
        model_view: bool = True,
        task: str = "",
    ):
        # address: a local address to connect from (127.0.x.y), which a proxy in front passes
        # on as the client's.
        transport = httpx.HTTPTransport(local_address=address) if address else None
        self.client = httpx.Client(base_url=url, timeout=120, headers=headers, transport=transport)
        home = self.client.get("/").text
        token = self.client.cookies["csrftoken"]
        self.headers = {**HTMX, "X-CSRFToken": token}
        csrf = {"X-CSRFToken": token}
        if task:  # "detect": an object detector's boxes (docs/detection.md), no model's view
            chosen = self.client.post("/task/", headers=csrf, data={"task": task})
            if chosen.status_code != 302:
                raise RuntimeError(f"task refused ({chosen.status_code}): {chosen.text[:300]}")
            model_view = False
        if upload is not None:
            photo = {"image": ("photo.jpg", upload, "image/jpeg")}
            page = self.client.post("/upload/", headers=csrf, files=photo, follow_redirects=True)
        elif study:
            consent = self.client.post(f"/study/{study}/consent/", headers=csrf, data={"agree": 1})
            if consent.status_code != 302:
                raise RuntimeError(f"consent refused ({consent.status_code}): {consent.text[:300]}")
            page = self.client.get(f"/study/{study}/step/1/", follow_redirects=True)
        else:
            form = next(f for f in home.split("<form")[1:] if f">{title}<" in f)
            explore = re.search(r'action="([^"]+/explore/)"', form).group(1)
            page = self.client.post(explore, headers=csrf, follow_redirects=True)
        page.raise_for_status()
        self.base = str(page.url.path)
        self.page = page
        match = re.search(r'<canvas data-mask width="(\d+)" height="(\d+)"', page.text)
        self.size = (int(match.group(1)), int(match.group(2)))
        self.finish(page.text)
        if model_view:
            self.wait_for_model_view()

    def wait_for_model_view(self, timeout: float = 30) -> None:
        """A person looks at the picture before painting; meanwhile the analysis worker draws
        the model's view. Waiting for it keeps that one-off work out of the timed rounds."""
        deadline = time.monotonic() + timeout
        while self.client.get(f"{self.base}saliency.png").status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("the model's view never appeared: is the analysis worker up?")
            time.sleep(0.1)

    def finish(self, html: str) -> str:
        """Follow the result's long poll until the round is done or failed."""
        while 'class="result pending"' in html:
            poll = re.search(r'hx-get="([^"]+)"', html.split('class="result pending"')[1]).group(1)
            html = self.client.get(poll.replace("&amp;", "&"), headers=self.headers).text
        if 'class="result done"' not in html:
            raise RuntimeError("round failed: " + html[:300])
        return html

    def classify(self, mask: bytes, strokes: str = "[]") -> float:
        started = time.perf_counter()
        response = self.client.post(
            f"{self.base}rounds/",
            headers=self.headers,
            data={"fill": "mean", "strokes": strokes},
            files={"mask": ("mask.png", mask, "image/png")},
        )
        response.raise_for_status()
        self.last_html = self.finish(response.text)
        return time.perf_counter() - started

    def history(self) -> list[str]:
        """The status of each round in this session's history strip, as the page shows it."""
        page = self.client.get(self.base).text
        return re.findall(r'class="history-item (\w+)"', page)


def loopback_address(number: int) -> str:
    """The number-th simulated client's own loopback address, 127.10.0.1 onwards: Linux routes
    all of 127/8 to loopback, and nginx passes each on as a different client's ($remote_addr)."""
    return f"127.{10 + number // 62500}.{number // 250 % 250}.{1 + number % 250}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
