"""Helpers for browser tests: what a hand does on the canvas, a phone's context, screenshots."""

import os
from pathlib import Path

from playwright.sync_api import Page, expect

# browser.new_context(**PHONE): a 390×844 touch phone.
PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True}


def shot(page: Page, name: str, *, full_page: bool = True) -> None:
    """Keep a screenshot of the whole page (or of the first screen) as {name}-{width}.png where
    XAI_SCREENSHOT_DIR says, to look at it; without it, none. A phone's whole page is drawn
    without its touch emulation: it shows the keyboard hints ([P], [E]…) that the phone hides
    (the first screen, full_page=False, shows what the phone does)."""
    if folder := os.environ.get("XAI_SCREENSHOT_DIR"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        size = page.viewport_size["width"]
        page.screenshot(path=f"{folder}/{name}-{size}.png", full_page=full_page)


def stroke(page: Page, points, *, steps=12):
    # The canvas takes strokes once its modules have run (the page's HTML may show an answer
    # before that), and once the last round's mask is back on it.
    expect(page.locator("[data-stage][data-ready=true]")).to_be_attached()
    box = page.locator("canvas[data-mask]").bounding_box()
    at = [(box["x"] + box["width"] * x, box["y"] + box["height"] * y) for x, y in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for x, y in at[1:]:
        page.mouse.move(x, y, steps=steps)
    page.mouse.up()


def open_more(page: Page) -> None:
    """Zoom, the edits and the model's view are folded under "More" until asked for."""
    more = page.locator("details[data-more]")
    if more.get_attribute("open") is None:
        more.locator("summary").click()
