"""A person in a real browser: pick an image, paint, classify, look back at the history."""

import re

import pytest
from playwright.sync_api import Page, expect

from painting.inference import registry
from painting.masking import REMOVING_FILLS
from painting.models import Exploration, Round
from tests.e2e.browser import open_more, stroke

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def painted(page: Page) -> float:
    return float(page.locator("[data-painted-output]").inner_text().rstrip("%"))


def test_paint_classify_and_review(live_server, real_worker, gallery, page: Page):
    page.goto(live_server.url)
    page.get_by_role("button", name=re.compile("Coffee")).click()

    result = page.locator("#result.done")
    expect(result).to_be_visible(timeout=30_000)
    expect(result.locator("[data-top1]")).to_have_text(re.compile("espresso|cup|coffee mug"))
    expect(result.locator("[data-confidence]")).to_have_text(re.compile(r"^\d+\.\d%$"))
    expect(result.locator(".bars li")).to_have_count(5)
    expect(page.locator("[data-crop-guide]")).to_be_visible()  # what the model's crop keeps

    # Paint, undo, redo.
    stroke(page, [(0.3, 0.2), (0.5, 0.5), (0.7, 0.8)])
    first = painted(page)
    assert first > 1
    page.get_by_role("button", name="Undo").click()
    assert painted(page) == 0
    page.keyboard.press("Control+Shift+Z")
    assert painted(page) == first

    page.get_by_role("button", name="Classify").click()
    expect(page.locator('#result.done[data-round-index="1"]')).to_be_visible(timeout=30_000)
    expect(page.locator("#result")).to_contain_text("vs. original")
    expect(page.locator("#history-list li")).to_have_count(2)
    # Its thumbnail shows with the answer, written by the worker yet or not (views.round_file).
    thumbnail = page.locator("#history-list li").nth(1).locator("img")
    expect(thumbnail).to_be_visible()
    loaded = "img => img.complete && img.naturalWidth > 0"
    page.wait_for_function(loaded, arg=thumbnail.element_handle())

    exploration = Exploration.objects.get()
    round1 = exploration.rounds.get(index=1)
    assert round1.status == Round.Status.DONE
    assert round1.masked_fraction * 100 == pytest.approx(
        first, abs=0.3
    )  # the mask that was painted
    assert [e["type"] for e in round1.strokes] == ["stroke", "undo", "redo", "classify"]
    first_stroke = round1.strokes[0]
    assert first_stroke["pointer"] == "mouse" and len(first_stroke["points"]) > 5
    times = [t for _x, _y, t in first_stroke["points"]]
    assert times == sorted(times) and times[-1] <= first_stroke["t"]  # ms since the round began

    # Erase part of it, switch the fill, paint with a finger, classify again.
    page.keyboard.press("e")
    stroke(page, [(0.45, 0.45), (0.55, 0.55)])
    assert painted(page) < first
    page.keyboard.press("p")
    box = page.locator("canvas[data-mask]").bounding_box()
    page.touchscreen.tap(box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.9)
    page.get_by_label("Masked area becomes").select_option("blur")
    page.get_by_role("button", name="Classify").click()
    expect(page.locator('#result.done[data-round-index="2"]')).to_be_visible(timeout=30_000)
    round2 = exploration.rounds.get(index=2)
    assert round2.fill == "blur"
    assert {"mouse", "touch"} <= {e.get("pointer") for e in round2.strokes if e["type"] == "stroke"}

    # The history restores a past round's result and mask.
    page.locator("#history-list li").nth(0).get_by_role("button").click()
    expect(page.locator("#result")).to_contain_text("Original image")
    expect(page.locator("[data-painted-output]")).to_have_text("0.0%")
    page.locator("#history-list li").nth(1).get_by_role("button").click()
    expect(page.locator('#result[data-round-index="1"]')).to_be_visible()
    expect(page.locator("[data-painted-output]")).to_have_text(re.compile(r"^[1-9]"))

    # Reload: everything is still there.
    page.reload()
    expect(page.locator("#history-list li")).to_have_count(3)
    expect(page.locator('#result.done[data-round-index="2"]')).to_be_visible()


def test_another_browser_cannot_open_my_exploration(
    live_server, real_worker, gallery, page: Page, browser
):
    page.goto(live_server.url)
    page.get_by_role("button", name=re.compile("Chelsea")).click()
    expect(page.locator("#result.done")).to_be_visible(timeout=30_000)
    url = page.url
    stranger = browser.new_context()
    response = stranger.new_page().goto(url)
    assert response.status == 404
    stranger.close()


def test_a_bad_mask_shows_a_message_and_keeps_the_rounds(
    live_server, real_worker, gallery, page: Page
):
    page.goto(live_server.url)
    page.get_by_role("button", name=re.compile("Coffee")).click()
    expect(page.locator("#result.done")).to_be_visible(timeout=30_000)
    # A canvas of the wrong size, as a stale page after the image changed would send.
    page.evaluate("document.querySelector('canvas[data-mask]').width = 10")
    page.get_by_role("button", name="Classify").click()
    expect(page.locator("#messages")).to_contain_text("reload the page and paint again")
    expect(page.locator("#history-list li")).to_have_count(1)
    assert Round.objects.count() == 1


# The RGB of the overlay's most opaque pixel.
STRONGEST_PIXEL = """img => {
  const c = document.createElement("canvas");
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  let best = 3;
  for (let i = 3; i < d.length; i += 4) if (d[i] > d[best]) best = i;
  return [d[best - 3], d[best - 2], d[best - 1]];
}"""


def test_the_model_view_agreement_and_analysis(live_server, real_worker, gallery, page: Page):
    import time

    page.goto(live_server.url)
    page.get_by_role("button", name=re.compile("Coffee")).click()
    expect(page.locator("#result.done")).to_be_visible(timeout=30_000)
    exploration = Exploration.objects.get()
    deadline = time.monotonic() + 30
    while not Exploration.objects.get().saliency:  # the worker computes it after round 0
        assert time.monotonic() < deadline
        time.sleep(0.05)

    open_more(page)
    page.get_by_label("Show the model's view").check()
    overlay = page.locator("[data-saliency]")
    expect(overlay).to_be_visible()
    page.wait_for_function("document.querySelector('[data-saliency]').naturalWidth === 600")
    page.get_by_label("Opacity of the model's view").fill("30")
    assert overlay.evaluate("img => img.style.opacity") == "0.3"
    # In viridis, not the paint's red: the most important pixel is yellow-green; with its scale.
    r, g, b = overlay.evaluate(STRONGEST_PIXEL)
    assert g > 150 and b < 120 and (r, g, b) != (255, 45, 85), (r, g, b)
    expect(page.locator("[data-heatmap-scale]")).to_be_visible()
    expect(page.locator("[data-heatmap-scale]")).to_have_text(re.compile(r"low\s+high importance"))
    page.get_by_label("Show the model's view").uncheck()
    expect(overlay).to_be_hidden()

    stroke(page, [(0.02, 0.1), (0.05, 0.9)])  # the table's edge, outside what the model sees
    page.get_by_role("button", name="Classify").click()
    expect(page.locator("[data-agreement]")).to_contain_text("You kept 100%", timeout=30_000)
    expect(page.locator("[data-iou-hint]")).to_contain_text("intersection over union")
    page.get_by_role("button", name="Compare fills and deletion curves").click()
    expect(page.locator(".analysis svg.chart")).to_be_visible(timeout=90_000)
    expect(page.locator("[data-user-curve]")).to_be_attached()
    # Every other removing fill (one row each), and the one this round used.
    expect(page.locator(".fills tr")).to_have_count(len(REMOVING_FILLS))
    assert exploration.rounds.get(index=1).analysis_status == "done"
    # Legible at 1×: axis titles, and tick labels at least 11 CSS pixels tall.
    expect(page.locator(".analysis [data-x-title]")).to_contain_text("Share of the painted")
    expect(page.locator(".analysis [data-y-title]")).to_contain_text("Probability")
    assert page.locator(".analysis .chart .tick").first.bounding_box()["height"] >= 11

    # The Continue tile says which model and when.
    page.goto(live_server.url)
    meta = page.locator("[data-continue-meta]")
    expect(meta).to_contain_text(registry.title_of(exploration.model_name))
    expect(meta).to_contain_text("2 rounds")
    expect(meta).to_contain_text(re.compile(r"minutes? ago"))


def test_choosing_another_classifier(live_server, real_worker, gallery, page: Page):
    page.goto(live_server.url)
    page.get_by_label("Answers come from").select_option("efficientnet-lite0")
    page.get_by_role("button", name="Use this model").click()
    expect(page.get_by_label("Answers come from")).to_have_value("efficientnet-lite0")
    page.get_by_role("button", name=re.compile("Chelsea")).click()
    expect(page.locator("#result.done")).to_contain_text("efficientnet-lite0", timeout=30_000)
    expect(page.get_by_text("EfficientNet-Lite0 (ImageNet-1k)")).to_be_visible()
    assert Exploration.objects.get().model_name == "efficientnet-lite0"


def test_a_refused_classify_keeps_its_brush_log(
    live_server, real_worker, gallery, page: Page, settings
):
    settings.XAI_RATE_LIMITS = {**settings.XAI_RATE_LIMITS, "classify": (1, 60)}
    page.goto(live_server.url)
    page.get_by_role("button", name=re.compile("Coffee")).click()
    expect(page.locator("#result.done")).to_be_visible(timeout=30_000)
    stroke(page, [(0.1, 0.1), (0.2, 0.2)])
    page.get_by_role("button", name="Classify").click()
    expect(page.locator('#result.done[data-round-index="1"]')).to_be_visible(timeout=30_000)

    stroke(page, [(0.7, 0.7), (0.8, 0.8)])
    page.get_by_role("button", name="Classify").click()
    expect(page.locator("#messages")).to_contain_text("more than 1 rounds in 60 seconds")
    settings.XAI_RATE_LIMITS = {**settings.XAI_RATE_LIMITS, "classify": (100, 60)}
    page.get_by_role("button", name="Classify").click()
    expect(page.locator('#result.done[data-round-index="2"]')).to_be_visible(timeout=30_000)
    second = Exploration.objects.get().rounds.get(index=2)
    assert [e["type"] for e in second.strokes] == ["stroke", "classify", "classify"]


def test_clear_resets_the_painted_share(live_server, real_worker, gallery, page: Page):
    page.goto(live_server.url)
    page.get_by_role("button", name=re.compile("Coffee")).click()
    expect(page.locator("#result.done")).to_be_visible(timeout=30_000)
    stroke(page, [(0.2, 0.2), (0.8, 0.8)])
    before = painted(page)
    assert before > 1
    page.get_by_role("button", name="Clear").click()
    expect(page.locator("[data-painted-output]")).to_have_text("0.0%")
    page.get_by_role("button", name="Undo").click()
    assert painted(page) == before


CANVAS_SHARE = """() => {
  const c = document.querySelector("canvas[data-mask]");
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let on = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i] >= 128) on++;
  return on / (c.width * c.height);
}"""


def test_a_reload_keeps_the_mask_and_the_fill_of_the_round_on_screen(
    live_server, real_worker, gallery, page: Page
):
    page.goto(live_server.url)
    page.get_by_role("button", name=re.compile("Coffee")).click()
    expect(page.locator("#result.done")).to_be_visible(timeout=30_000)
    stroke(page, [(0.3, 0.3), (0.6, 0.7)])
    page.get_by_label("Masked area becomes").select_option("blur")
    page.get_by_role("button", name="Classify").click()
    expect(page.locator('#result.done[data-round-index="1"]')).to_be_visible(timeout=30_000)
    exploration = Exploration.objects.get()
    round1 = exploration.rounds.get(index=1)
    shown = f"{round1.masked_fraction * 100:.1f}%"
    expect(page.locator("#result")).to_contain_text(f"{shown} painted")

    page.reload()
    expect(page.locator("[data-stage][data-ready=true]")).to_be_attached()
    expect(page.locator("[data-painted-output]")).to_have_text(shown)
    assert page.evaluate(CANVAS_SHARE) == pytest.approx(round1.masked_fraction, abs=1e-6)
    expect(page.get_by_label("Masked area becomes")).to_have_value("blur")
    expect(page.get_by_role("button", name="Undo")).to_be_disabled()  # the start, not a step

    page.get_by_role("button", name="Classify").click()
    expect(page.locator('#result.done[data-round-index="2"]')).to_be_visible(timeout=30_000)
    round2 = exploration.rounds.get(index=2)
    assert round2.masked_fraction == round1.masked_fraction and round2.fill == "blur"
    mask_url = f"/e/{exploration.pk}/rounds/{round1.pk}/mask.png"
    assert [e["type"] for e in round2.strokes] == ["restore", "classify"]
    assert round2.strokes[0]["mask"] == mask_url and round2.strokes[0]["source"] == "load"


def test_the_latency_of_each_round_is_stored_once_its_result_shows(
    live_server, real_worker, gallery, page: Page
):
    import time

    page.goto(live_server.url)
    page.get_by_role("button", name=re.compile("Chelsea")).click()
    expect(page.locator("#result.done")).to_be_visible(timeout=30_000)
    stroke(page, [(0.1, 0.1), (0.4, 0.4)])
    page.get_by_role("button", name="Classify").click()
    expect(page.locator('#result.done[data-round-index="1"]')).to_be_visible(timeout=30_000)
    # The last round of the image: no Classify follows it, and its latency is stored anyway.
    deadline = time.monotonic() + 10
    while Round.objects.get(index=1).client_latency_ms is None:
        assert time.monotonic() < deadline, "no latency was reported"
        time.sleep(0.05)
    latency = Round.objects.get(index=1).client_latency_ms
    assert 0 < latency < 30_000 and Round.objects.get(index=0).client_latency_ms is None


def test_a_reload_keeps_the_strokes_not_yet_classified(
    live_server, real_worker, gallery, page: Page
):
    """The draft since the last round (its mask and its brush log) survives a reload of the
    same image, and goes with the next Classify; once classified, a reload has no draft."""
    page.goto(live_server.url)
    page.get_by_role("button", name=re.compile("Coffee")).click()
    expect(page.locator("#result.done")).to_be_visible(timeout=30_000)
    stroke(page, [(0.2, 0.2), (0.5, 0.5)])
    page.get_by_role("button", name="Classify").click()
    expect(page.locator('#result.done[data-round-index="1"]')).to_be_visible(timeout=30_000)
    stroke(page, [(0.6, 0.2), (0.8, 0.7)])  # not classified yet
    before = painted(page)
    share = page.evaluate(CANVAS_SHARE)

    page.reload()
    expect(page.locator("[data-stage][data-ready=true]")).to_be_attached()
    assert painted(page) == before
    assert page.evaluate(CANVAS_SHARE) == pytest.approx(share, abs=1e-4)
    page.get_by_role("button", name="Undo").click()  # back to round 1's mask
    round1 = Exploration.objects.get().rounds.get(index=1)
    assert painted(page) == pytest.approx(round1.masked_fraction * 100, abs=0.05)
    page.get_by_role("button", name="Redo").click()
    page.get_by_role("button", name="Classify").click()
    expect(page.locator('#result.done[data-round-index="2"]')).to_be_visible(timeout=30_000)
    round2 = Exploration.objects.get().rounds.get(index=2)
    assert round2.masked_fraction * 100 == pytest.approx(before, abs=0.3)
    types = [e["type"] for e in round2.strokes]
    assert types[0] == "stroke" and "restore" in types and types[-1] == "classify", types
    assert next(e for e in round2.strokes if e["type"] == "restore")["source"] == "draft"

    page.reload()  # classified: nothing to take back
    expect(page.locator("[data-stage][data-ready=true]")).to_be_attached()
    expect(page.get_by_role("button", name="Undo")).to_be_disabled()
    assert painted(page) == pytest.approx(round2.masked_fraction * 100, abs=0.05)
