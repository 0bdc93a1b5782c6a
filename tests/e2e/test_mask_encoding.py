"""The mask PNG is encoded while the canvas rests, so Classify sends it ready: what is sent is
always the canvas as it is at the click, never an encode of an older canvas. Tasks run in the
live server (eager)."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import stroke

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The file the form sent against the canvas encoded now, the way Classify did before: the same
# bytes, and the same pixels once decoded.
SENT_IS_THE_CANVAS = """async () => {
  const canvas = document.querySelector("canvas[data-mask]");
  const out = document.createElement("canvas");
  out.width = canvas.width;
  out.height = canvas.height;
  const octx = out.getContext("2d");
  octx.drawImage(canvas, 0, 0);
  octx.globalCompositeOperation = "source-in";
  octx.fillStyle = "#fff";
  octx.fillRect(0, 0, out.width, out.height);
  const base64 = out.toDataURL("image/png").split(",")[1];
  const fresh = new Blob([Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))]);
  const sent = document.querySelector("[data-mask-input]").files[0];
  const pixels = async (blob) => {
    const bitmap = await createImageBitmap(blob);
    const c = new OffscreenCanvas(bitmap.width, bitmap.height).getContext("2d");
    c.drawImage(bitmap, 0, 0);
    return c.getImageData(0, 0, bitmap.width, bitmap.height).data;
  };
  const [a, b] = [await pixels(sent), await pixels(fresh)];
  const bytes = async (blob) => new Uint8Array(await blob.arrayBuffer()).join();
  return {
    samePixels: a.length === b.length && a.every((v, i) => v === b[i]),
    sameBytes: (await bytes(sent)) === (await bytes(fresh)),
    painted: a.some((v, i) => i % 4 === 3 && v > 0),
  };
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
    assert page.evaluate(SENT_IS_THE_CANVAS) == {
        "samePixels": True,
        "sameBytes": True,
        "painted": True,
    }

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
    assert page.evaluate(SENT_IS_THE_CANVAS)["samePixels"]
