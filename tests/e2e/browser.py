"""Helpers for browser tests: what a hand does on the canvas."""

from playwright.sync_api import Page, expect


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
