"""The explanation method menu in a real browser: the overlay follows the chosen method (one
the worker did not compute unasked is computed when picked), and the round's alignment table
marks its row. Tasks run in the live server (eager)."""

import re

import pytest
from playwright.sync_api import Page, expect

from painting.models import Exploration
from tests.e2e.browser import open_more, stroke

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_choosing_a_method_swaps_the_overlay_and_marks_its_scores(
    live_server, gallery, settings, page: Page
):
    settings.XAI_EXPLANATION_METHODS = ["gradcam"]  # as shipped
    page.set_default_timeout(120_000)  # the answer and the maps come inside the requests
    page.goto(live_server.url)
    page.get_by_role("button", name=re.compile("Coffee")).click()
    expect(page.locator("#result.done")).to_be_visible(timeout=60_000)
    assert list(Exploration.objects.get().explanations) == ["gradcam"]

    menu = page.get_by_label("Explanation method")
    expect(menu.locator("option")).to_have_text(
        ["Grad-CAM", "Grad-CAM++", "HiResCAM", "Score-CAM", "EigenCAM"]
    )
    open_more(page)
    page.get_by_label("Show the model's view").check()
    overlay = page.locator("[data-saliency]")
    expect(overlay).to_have_js_property("naturalWidth", 600)
    assert overlay.evaluate("img => img.src").endswith("/explanations/gradcam.png")
    menu.select_option(label="EigenCAM")  # computed now, inside the overlay's request
    assert overlay.evaluate("img => img.src").endswith("/explanations/eigencam.png")
    # expect() keeps its own 5 s, which a busy machine's EigenCAM can take (6 s seen).
    expect(overlay).to_have_js_property("naturalWidth", 600, timeout=60_000)
    assert sorted(Exploration.objects.get().explanations) == ["eigencam", "gradcam"]

    stroke(page, [(0.4, 0.3), (0.6, 0.6)])
    page.get_by_role("button", name="Classify").click()
    expect(page.locator("#result.done[data-round-index='1']")).to_be_visible(timeout=60_000)
    # The scores came after the answer (another task): the round as shown on reopening it.
    page.locator("#history-list li").last.locator("button").click()
    table = page.locator("[data-alignment]")
    table.locator("summary").click()
    expect(table.locator("tr[data-method]")).to_have_count(2)
    expect(table.locator("tr.chosen")).to_have_attribute("data-method", "eigencam")
    menu.select_option(label="Grad-CAM")
    expect(table.locator("tr.chosen")).to_have_attribute("data-method", "gradcam")
