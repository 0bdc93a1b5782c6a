"""In a real browser: the consent page refuses a small window, and the explore page logs
focus, blur and tab switches with the brush log and counts the image's time down."""

import re

import pytest
from playwright.sync_api import Page, expect

from painting.models import Participant, Round
from tests.e2e.browser import stroke
from tests.helpers import make_study

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_small_windows_are_refused_and_attention_is_logged(
    live_server, real_worker, gallery, page: Page
):
    study = make_study(
        gallery, min_screen_width=1000, min_screen_height=600, time_limit_per_image_s=600
    )
    page.set_viewport_size({"width": 800, "height": 900})
    page.goto(f"{live_server.url}/study/{study.slug}/?PROLIFIC_PID=P-5")
    expect(page.get_by_text("yours is 800 × 900")).to_be_visible()
    expect(page.get_by_role("button", name="Start")).to_be_disabled()
    page.set_viewport_size({"width": 1280, "height": 900})
    expect(page.get_by_text("yours is 800 × 900")).to_be_hidden()
    page.get_by_label("I have read the above").check()
    page.get_by_role("button", name="Start").click()

    expect(page.locator("#result.done")).to_be_visible(timeout=30_000)
    expect(page.locator("[data-time-left]")).to_have_text(re.compile(r"^(9:5\d|10:00)$"))
    page.evaluate(
        """() => {
          const state = (value) =>
            Object.defineProperty(document, "visibilityState", {value, configurable: true});
          window.dispatchEvent(new Event("blur"));
          state("hidden");
          document.dispatchEvent(new Event("visibilitychange"));
          state("visible");
          document.dispatchEvent(new Event("visibilitychange"));
          window.dispatchEvent(new Event("focus"));
        }"""
    )
    stroke(page, [(0.2, 0.2), (0.6, 0.6)])
    page.get_by_role("button", name="Classify").click()
    expect(page.locator('#result.done[data-round-index="1"]')).to_be_visible(timeout=30_000)

    participant = Participant.objects.get()
    assert participant.external_id == "P-5"
    log = Round.objects.get(exploration__participant=participant, index=1).strokes
    types = [e["type"] for e in log]
    assert types[types.index("blur") :][:4] == ["blur", "hidden", "visible", "focus"]
    assert all(isinstance(e["t"], int) for e in log)
