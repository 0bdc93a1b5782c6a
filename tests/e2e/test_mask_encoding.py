"""The mask PNG is encoded while the canvas rests, so Classify sends it ready: what is sent is
always the canvas as it is at the click, never an encode of an older canvas. Tasks run in the
live server (eager)."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import stroke

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The file the form sent, decoded, against the canvas now: the mask is white where the canvas
# is painted, with the canvas's own alpha (its antialiased edges too), at the same size.
SENT_IS_THE_CANVAS = """async () => {
  const canvas = document.querySelector("canvas[data-mask]");
  const now = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const bitmap = await createImageBitmap(document.querySelector("[data-mask-input]").files[0]);
  const c = new OffscreenCanvas(bitmap.width, bitmap.height).getContext("2d");
  c.drawImage(bitmap, 0, 0);
  const sent = c.getImageData(0, 0, bitmap.width, bitmap.height).data;
  let same = sent.length === now.length;
  for (let i = 0; same && i < sent.length; i += 4) {
    const white = sent[i] === 255 && sent[i + 1] === 255 && sent[i + 2] === 255;
    same = sent[i + 3] === now[i + 3] && (now[i + 3] === 0 || white);
  }
  return { same: same, painted: now.some((v, i) => i % 4 === 3 && v > 0) };
}"""


def test_classify_sends_the_canvas_as_it_is_at_the_click(live_server, gallery, page: Page):
    page.set_default_timeout(60_000)
    page.goto(live_server.url)
    page.get_by_role("button", name=re.compile("Coffee")).click()
    expect(page.locator("#result.done")).to_be_visible()
    stage = page.locator(".stage")
    share = page.locator("[data-painted-output]")

    stroke(page, [(0.2, 0.2), (0.4, 0.5)])
    expect(stage).to_have_attribute("data-mask-encoded", "true")  # encoded while it rested
    first = share.inner_text()
    page.get_by_role("button", name="Classify").click()
    expect(page.locator("#result.done[data-round-index='1']")).to_contain_text(f"{first} painted")
    assert page.evaluate(SENT_IS_THE_CANVAS) == {"same": True, "painted": True}

    # A second stroke, encoded; then Undo and Classify in one go, before the canvas rests:
    # the encode of the second stroke must not be sent.
    stroke(page, [(0.6, 0.6), (0.8, 0.8)])
    expect(stage).to_have_attribute("data-mask-encoded", "true")
    assert share.inner_text() != first
    encoded_before_click = page.evaluate(
        """() => {
          document.querySelector("[data-undo]").click();
          const encoded = document.querySelector(".stage").dataset.maskEncoded;
          document.querySelector("form[data-classify-form] button[type=submit]").click();
          return encoded ?? null;
        }"""
    )
    assert encoded_before_click is None  # the undo dropped the second stroke's encode
    expect(page.locator("#result.done[data-round-index='2']")).to_contain_text(f"{first} painted")
    assert page.evaluate(SENT_IS_THE_CANVAS) == {"same": True, "painted": True}
