"""The detect task in a real browser: boxes over the photo, follow one by tapping its label,
paint over it and watch its score fall, its match shown; on a desktop and on a phone."""

import json
import re

import pytest
from playwright.sync_api import Page, expect

from painting.models import Exploration
from tests.e2e.browser import PHONE, shot, stroke

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def open_detect(page: Page, url: str) -> None:
    page.goto(url)
    page.get_by_label(re.compile("find the objects")).check()
    page.get_by_role("button", name="Use this task").click()
    page.get_by_role("button", name=re.compile("Grace Hopper")).click()
    expect(page.locator("#result.done")).to_be_visible(timeout=30_000)


def tie_box(page: Page) -> dict:
    data = json.loads(page.locator("#detection-data").text_content())
    return max((b for b in data["boxes"] if b["label"] == "tie"), key=lambda b: b["score"])


def test_paint_over_a_detected_tie_and_watch_its_score_fall(
    live_server, real_worker, gallery, page: Page
):
    open_detect(page, live_server.url)
    tie = tie_box(page)
    label = page.locator(f'.detection-box[data-box="{tie["id"]}"] .detection-label')
    expect(label).to_have_text(re.compile(rf"^tie {tie['score']:.2f}$"))
    expect(page.locator(".detection-box").first).to_be_visible()

    # The slider shows weaker boxes and hides them again, lines too, and keeps the threshold.
    page.locator("[data-threshold]").fill("0.1")
    shown = page.locator(".detection-box").count()
    assert shown > 2
    expect(page.locator("#result [data-object]:visible")).to_have_count(shown)
    page.locator("[data-threshold]").fill("0.45")
    expect(page.locator("[data-threshold-output]")).to_have_text("0.45")
    assert page.locator(".detection-box").count() < shown
    expect(label).to_be_visible()  # the tie (0.48) stays
    page.wait_for_function("() => !document.querySelector('.htmx-request')")

    # Tap its label: the result follows it.
    label.click()
    expect(page.locator("#result [data-followed]")).to_contain_text("Following tie")
    expect(page.locator(f'.detection-box.followed[data-box="{tie["id"]}"]')).to_be_visible()
    # Where the model looks for it (D-RISE, from the analysis worker; asked again until ready).
    page.get_by_label("Show where the model looks for it").check()
    overlay = page.locator("img[data-box-view]")
    expect(overlay).to_be_visible(timeout=60_000)
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=overlay.element_handle(), timeout=60_000
    )
    shot(page, "detect-original")

    # Paint over the tie (a big brush, back and forth over its box), then Detect.
    page.locator("[data-brush-size]").fill("60")
    x0, y0, x1, y1 = tie["box"]
    w, h = 512, 600
    for row in range(7):
        y = (y0 + (y1 - y0) * row / 6) / h
        stroke(page, [((x0 - 10) / w, y), ((x1 + 10) / w, y)])
    page.get_by_role("button", name="Detect").click()
    result = page.locator('#result.done[data-round-index="1"]')
    expect(result).to_be_visible(timeout=30_000)
    followed = result.locator("[data-followed]")
    expect(followed).to_contain_text(f"Original {tie['score']:.2f}")
    after = followed.locator("[data-followed-score]").inner_text()
    assert after == "gone" or float(after) < tie["score"] / 2
    # Its match shown: in the result's lines and in the history strip.
    line = result.locator(f'[data-object="{tie["id"]}"]')
    expect(line).to_have_text(re.compile(rf"tie( {tie['score']:.2f} → \d\.\d\d|: gone)"))
    expect(page.locator("#history-list li").nth(1)).to_contain_text("tie")
    # The view stays on while the same box is followed, and this round reads its agreement.
    expect(overlay).to_be_visible()
    expect(result.locator("[data-agreement]")).to_be_visible()
    shot(page, "detect-round1")

    exploration = Exploration.objects.get()
    assert exploration.detection_threshold == 0.45 and exploration.followed == tie["id"]
    assert exploration.rounds.get(index=1).masked_fraction > 0.02


def test_on_a_phone_the_boxes_show_and_a_tap_follows_one(
    live_server, real_worker, gallery, browser
):
    context = browser.new_context(**PHONE)
    page = context.new_page()
    try:
        open_detect(page, live_server.url)
        tie = tie_box(page)
        label = page.locator(f'.detection-box[data-box="{tie["id"]}"] .detection-label')
        label.tap()
        expect(page.locator("#result [data-followed]")).to_contain_text("Following tie")
        expect(page.get_by_role("button", name="Detect")).to_be_in_viewport()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["viewport"]["width"]  # nothing wider than the screen
        shot(page, "detect-followed")
        from axe_playwright_python.sync_playwright import Axe

        found = Axe().run(page)
        assert found.violations_count == 0, found.generate_report()
    finally:
        context.close()
