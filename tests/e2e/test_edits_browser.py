"""Edits of the whole picture in a real browser: crop by dragging, rotate, flip; the preview
shows the edited picture, the model gets exactly it, the result and the staff replay say so."""

import io

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.test import Client
from PIL import Image
from playwright.sync_api import Page, expect

from painting.models import Exploration
from tests.e2e.browser import open_more, stroke
from tests.e2e.test_canvas_view import canvas_pixels, open_image

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def drag(page: Page, start, end) -> None:
    box = page.locator("canvas[data-mask]").bounding_box()
    at = [(box["x"] + box["width"] * x, box["y"] + box["height"] * y) for x, y in (start, end)]
    page.mouse.move(*at[0])
    page.mouse.down()
    page.mouse.move(*at[1], steps=8)
    page.mouse.up()


def test_rotate_crop_and_classify_the_model_gets_what_the_preview_shows(
    live_server, real_worker, gallery, page: Page, browser
):
    open_image(page, live_server.url)
    edits = page.locator("[data-edits-output]")
    expect(edits).to_have_text("No edits")
    stroke(page, [(0.3, 0.3), (0.6, 0.5)])  # paint first: the mask stays in the original's pixels

    page.get_by_label("Crop").check()
    drag(page, (0.25, 0.2), (0.75, 0.8))  # on the 600×400 coffee photo: 300×240 at (150, 80)
    expect(edits).to_have_text("Edits: Cropped to 300×240 at (150, 80)")
    expect(page.locator("[data-edit-crop]")).to_be_visible()
    assert page.evaluate("document.querySelector('[data-painted-output]').value") != "0.0%"
    open_more(page)
    page.get_by_role("button", name="Rotate ↻").click()
    page.get_by_role("button", name="Flip ↔").click()  # mirrors the turned picture
    text = "Edits: Cropped to 300×240 at (150, 80), flipped left–right, rotated 270° clockwise"
    expect(edits).to_have_text(text)

    # The preview (darken is computed in the page) shows the edited picture: taller than wide.
    page.get_by_label("Masked area becomes").select_option("darken")
    page.get_by_label("Preview what the model sees").check()
    preview = page.locator("canvas[data-preview]")
    expect(preview).to_have_attribute("data-source", "page")
    shown = canvas_pixels(preview)
    assert shown.shape[:2] == (300, 240)
    expect(page.locator("[data-edit-crop]")).to_be_hidden()  # the preview is cropped already
    expect(page.locator("[data-crop-guide]")).to_be_hidden()

    page.get_by_role("button", name="Classify").click()
    expect(page.locator('#result.done[data-round-index="1"]')).to_be_visible(timeout=30_000)
    expect(page.locator("#result [data-round-edits]")).to_have_text(text[len("Edits: ") :])
    round1 = Exploration.objects.get().rounds.get(index=1)
    assert (round1.crop_left, round1.crop_top, round1.crop_width, round1.crop_height) == (
        150,
        80,
        300,
        240,
    )
    assert round1.flip_horizontal and not round1.flip_vertical and round1.rotation == 270
    assert [e["edit"] for e in round1.strokes if e["type"] == "edit"] == [
        "crop",
        "rotate",
        "flip_horizontal",
    ]
    seen = page.request.get(
        f"{live_server.url}/e/{round1.exploration_id}/rounds/{round1.pk}/masked.png"
    )
    seen = np.asarray(Image.open(io.BytesIO(seen.body())).convert("RGB"))
    assert np.array_equal(shown[..., :3], seen)  # every pixel, as the model was shown it

    # Blur comes from the server, edited the same way.
    page.get_by_label("Masked area becomes").select_option("blur")
    expect(preview).to_have_attribute("data-source", "server")
    expect(preview).to_have_attribute("data-fill", "blur")
    assert canvas_pixels(preview).shape[:2] == (300, 240)

    # A reload keeps the latest round's edits; Reset removes them.
    page.reload()
    expect(page.locator("[data-stage][data-ready=true]")).to_be_attached()
    expect(edits).to_have_text(text)
    open_more(page)
    page.get_by_role("button", name="Reset edits").click()
    expect(edits).to_have_text("No edits")
    expect(page.locator("[data-edit-crop]")).to_be_hidden()
    # Restoring round 1 from the history brings its edits back with its mask.
    page.locator(f"#round-{round1.pk} button").click()
    expect(edits).to_have_text(text)
    expect(page.locator("[data-edit-crop]")).to_be_visible()

    # The staff replay shows the round's edits, with the picture the model got.
    staff = Client()
    staff.force_login(User.objects.create_user("r", password="pw-for-tests", is_staff=True))
    context = browser.new_context()
    context.add_cookies(
        [{"name": "sessionid", "value": staff.cookies["sessionid"].value, "url": live_server.url}]
    )
    review = context.new_page()
    review.goto(f"{live_server.url}/review/e/{round1.exploration_id}/")
    review.keyboard.press("ArrowRight")
    step = review.locator("figure[data-step]").nth(1)
    expect(step).to_be_visible()
    expect(step.locator("[data-round-edits]")).to_have_text(text)
    picture = step.locator("img").first
    expect(picture).to_have_js_property("complete", True)
    assert picture.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [240, 300]
    context.close()
