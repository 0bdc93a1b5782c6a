"""The canvas beyond the brush, in a real browser: a brush outline you can see and size from the
keyboard, zoom and pan (Ctrl+wheel, buttons, Space+drag, the Pan tool, a two-finger pinch) that
never paints and keeps painting exact at any zoom, keyboard-only painting and where the focus
goes, axe-core, Region taps and an edit the model is sent, and the Live switch."""

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from painting import masking
from painting.gallery import PHOTOS
from painting.models import Exploration
from tests.e2e.browser import open_more, stroke
from tests.e2e.test_painting import CANVAS_SHARE

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# The canvas's alpha at a picture pixel, and the painted share.
ALPHA_AT = """([x, y]) => {
  const c = document.querySelector("canvas[data-mask]");
  return c.getContext("2d").getImageData(Math.floor(x), Math.floor(y), 1, 1).data[3];
}"""
PAINTED = "() => document.querySelector('[data-painted-output]').value"


def open_image(page: Page, url: str, name: str = "Coffee") -> None:
    page.goto(url)
    page.get_by_role("button", name=re.compile(name)).click()
    expect(page.locator("#result.done")).to_be_visible(timeout=30_000)
    expect(page.locator("[data-stage][data-ready=true]")).to_be_attached()


def picture_point(page: Page, x: float, y: float) -> list[float]:
    """The picture pixel under the page point (x, y), through whatever zoom is on."""
    return page.evaluate(
        """([x, y]) => {
          const c = document.querySelector("canvas[data-mask]");
          const r = c.getBoundingClientRect();
          return [(x - r.left) * c.width / r.width, (y - r.top) * c.height / r.height];
        }""",
        [x, y],
    )


def zoom(page: Page) -> float:
    return float(page.locator("[data-stage]").get_attribute("data-zoom"))


def test_the_brush_outline_and_its_sizes_per_tool(live_server, real_worker, gallery, page: Page):
    open_image(page, live_server.url)
    box = page.locator("canvas[data-mask]").bounding_box()
    cursor = page.locator("[data-brush-cursor]")
    expect(cursor).to_be_hidden()
    page.mouse.move(box["x"] + 200, box["y"] + 150)
    expect(cursor).to_be_visible()
    outline = cursor.bounding_box()
    assert outline["width"] == pytest.approx(32, abs=1)  # the brush's diameter on screen
    assert outline["x"] + outline["width"] / 2 == pytest.approx(box["x"] + 200, abs=1)
    assert outline["y"] + outline["height"] / 2 == pytest.approx(box["y"] + 150, abs=1)

    page.keyboard.press("]")
    expect(page.locator("[data-brush-output]")).to_have_text("48")
    assert cursor.bounding_box()["width"] == pytest.approx(48, abs=1)
    page.keyboard.press("e")  # erase keeps its own size
    expect(page.locator("[data-brush-output]")).to_have_text("32")
    page.keyboard.press("[")
    page.keyboard.press("[")
    expect(page.locator("[data-brush-output]")).to_have_text("16")
    assert cursor.bounding_box()["width"] == pytest.approx(16, abs=1)
    expect(cursor).to_have_class(re.compile("erase"))
    page.keyboard.press("p")
    expect(page.locator("[data-brush-output]")).to_have_text("48")

    # The paint size is what a stroke paints with, and both sizes outlive a reload.
    stroke(page, [(0.5, 0.5), (0.5, 0.5)])
    page.reload()
    expect(page.locator("[data-brush-output]")).to_have_text("48")
    page.keyboard.press("e")
    expect(page.locator("[data-brush-output]")).to_have_text("16")
    page.mouse.move(box["x"] + 5, box["y"] - 40)  # off the canvas: no outline
    expect(cursor).to_be_hidden()


def test_ctrl_wheel_zooms_around_the_pointer_and_painting_stays_exact(
    live_server, real_worker, gallery, page: Page
):
    open_image(page, live_server.url)
    open_more(page)  # the zoom buttons, used below: opened first, as it moves the picture
    box = page.locator("canvas[data-mask]").bounding_box()
    at = (box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.4)
    before = picture_point(page, *at)
    page.mouse.move(*at)
    page.keyboard.down("Control")
    page.mouse.wheel(0, -300)
    page.keyboard.up("Control")
    page.wait_for_function("Number(document.querySelector('[data-stage]').dataset.zoom) > 1.5")
    assert picture_point(page, *at) == pytest.approx(before, abs=1)  # the same pixel under it
    expect(page.locator("[data-zoom-output]")).to_have_text(re.compile(r"^1[5-9]\d%$"))
    assert page.evaluate(PAINTED) == "0.0%"  # zooming never paints
    # The stage keeps its place and size on the page: the picture grows inside it.
    assert page.locator("[data-stage]").bounding_box()["width"] == pytest.approx(box["width"])

    # A dot at the zoomed view lands on the picture pixel under the pointer, brush scaled down.
    spot = (box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.6)
    target = picture_point(page, *spot)
    page.mouse.move(*spot)
    page.mouse.down()
    page.mouse.up()
    assert page.evaluate(ALPHA_AT, target) == 255
    brush = page.evaluate(
        "() => { const c = document.querySelector('canvas[data-mask]');"
        " return 32 * c.width / c.getBoundingClientRect().width; }"
    )
    assert page.evaluate(ALPHA_AT, [target[0] + brush * 0.4, target[1]]) == 255
    assert page.evaluate(ALPHA_AT, [target[0] + brush * 0.6, target[1]]) == 0

    # Space+drag pans without painting; so does the Pan tool.
    painted = page.evaluate(PAINTED)
    page.mouse.move(*spot)
    page.keyboard.down(" ")
    page.mouse.down()
    page.mouse.move(spot[0] + 60, spot[1] + 40, steps=5)
    page.mouse.up()
    page.keyboard.up(" ")
    assert picture_point(page, *spot)[0] < target[0] - 10
    assert page.evaluate(PAINTED) == painted
    page.get_by_role("radio", name=re.compile("^Pan")).check()
    moved = picture_point(page, *spot)
    stroke(page, [(0.5, 0.5), (0.3, 0.5)])
    assert picture_point(page, *spot)[0] > moved[0] + 10
    assert page.evaluate(PAINTED) == painted

    page.get_by_role("button", name="Fit").click()
    assert zoom(page) == 1
    assert picture_point(page, box["x"], box["y"]) == pytest.approx([0, 0], abs=0.5)
    page.get_by_role("button", name="Zoom in").click()
    assert zoom(page) == pytest.approx(1.5)
    page.get_by_role("button", name="Zoom out").click()
    assert zoom(page) == 1

    page.get_by_role("radio", name=re.compile("^Paint")).check()
    page.get_by_role("button", name="Classify").click()
    expect(page.locator('#result.done[data-round-index="1"]')).to_be_visible(timeout=30_000)
    log = Exploration.objects.get().rounds.get(index=1).strokes
    assert [e["type"] for e in log if e["type"] in ("stroke", "view")].count("stroke") == 1
    views = [e for e in log if e["type"] == "view"]
    assert views and views[-1]["zoom"] == 1 and max(e["zoom"] for e in views) > 1.5


def touch(cdp, kind: str, points) -> None:
    points = [{"x": x, "y": y, "id": i} for i, (x, y) in enumerate(points)]
    cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})


@pytest.fixture
def phone(browser):
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        has_touch=True,
        is_mobile=True,
        device_scale_factor=3,
    )
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, errors


def test_two_fingers_pinch_and_pan_on_a_phone_and_never_paint(
    live_server, real_worker, gallery, phone: Page
):
    open_image(phone, live_server.url)
    box = phone.locator("canvas[data-mask]").bounding_box()
    assert box["width"] >= 360  # the canvas uses the phone's width
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    middle = picture_point(phone, cx, cy)
    cdp = phone.context.new_cdp_session(phone)

    # One finger lands first (and paints a dot for a moment), the second turns it into a pinch.
    touch(cdp, "touchStart", [(cx - 20, cy)])
    touch(cdp, "touchStart", [(cx - 20, cy), (cx + 20, cy)])
    for step in range(1, 11):
        touch(cdp, "touchMove", [(cx - 20 - 6 * step, cy), (cx + 20 + 6 * step, cy)])
    touch(cdp, "touchEnd", [])
    assert zoom(phone) == pytest.approx(4, abs=0.1)
    assert picture_point(phone, cx, cy) == pytest.approx(middle, abs=2)  # around the fingers
    assert phone.evaluate(PAINTED) == "0.0%"

    # Two fingers moving together pan.
    touch(cdp, "touchStart", [(cx - 30, cy), (cx + 30, cy)])
    for step in range(1, 6):
        touch(cdp, "touchMove", [(cx - 30 + 10 * step, cy), (cx + 30 + 10 * step, cy)])
    touch(cdp, "touchEnd", [])
    assert picture_point(phone, cx, cy)[0] < middle[0] - 10
    assert zoom(phone) == pytest.approx(4, abs=0.1)
    assert phone.evaluate(PAINTED) == "0.0%"

    # One finger still paints.
    phone.touchscreen.tap(cx, cy)
    assert phone.evaluate(ALPHA_AT, picture_point(phone, cx, cy)) == 255

    # Classify: the new result comes into view below the canvas, with the focus.
    phone.get_by_role("button", name="Classify").click()
    result = phone.locator('#result.done[data-round-index="1"]')
    expect(result).to_be_visible(timeout=30_000)
    expect(result).to_be_focused()
    expect(result).to_be_in_viewport()


def tab_to(page: Page, selector: str, limit: int = 80) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_keyboard_only_paint_classify_and_where_the_focus_goes(
    live_server, real_worker, gallery, page: Page
):
    open_image(page, live_server.url)
    tab_to(page, "canvas[data-mask]")
    cursor = page.locator("[data-brush-cursor]")
    expect(cursor).to_be_visible()  # the keyboard brush, at the middle of the picture
    width = page.evaluate("() => document.querySelector('canvas[data-mask]').width")
    height = page.evaluate("() => document.querySelector('canvas[data-mask]').height")
    step = page.evaluate(
        "() => { const c = document.querySelector('canvas[data-mask]');"
        " return Math.round(8 * c.width / c.getBoundingClientRect().width); }"
    )
    middle = [round(width / 2), round(height / 2)]
    page.keyboard.press("ArrowUp")  # moving without Space paints nothing
    assert page.evaluate(PAINTED) == "0.0%"
    page.keyboard.press("ArrowDown")

    page.keyboard.down(" ")
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    page.keyboard.up(" ")
    assert page.evaluate(ALPHA_AT, middle) == 255
    assert page.evaluate(ALPHA_AT, [middle[0] + 10 * step - 1, middle[1]]) == 255
    assert page.evaluate(ALPHA_AT, [middle[0], middle[1] - 6 * step]) == 0
    painted = float(page.evaluate(PAINTED).rstrip("%"))
    assert painted > 0

    # Shift+Space erases along the way back.
    page.keyboard.down("Shift")
    page.keyboard.down(" ")
    page.keyboard.up("Shift")
    for _ in range(4):
        page.keyboard.press("ArrowLeft")
    page.keyboard.up(" ")
    assert page.evaluate(ALPHA_AT, [middle[0] + 8 * step, middle[1]]) == 0
    assert page.evaluate(ALPHA_AT, [middle[0] + step, middle[1]]) == 255
    assert 0 < float(page.evaluate(PAINTED).rstrip("%")) < painted

    tab_to(page, "button[type=submit].primary")
    page.keyboard.press("Enter")
    result = page.locator('#result.done[data-round-index="1"]')
    expect(result).to_be_visible(timeout=30_000)
    expect(result).to_be_focused()
    top1 = result.locator("[data-top1]").inner_text()
    expect(page.locator("[data-announce]")).to_contain_text(top1)
    expect(page.locator("[data-announce]")).to_contain_text("Round 1")
    current = page.locator("#history-list [aria-current=true]")
    expect(current).to_have_count(1)
    expect(current).to_contain_text("#1")  # the round on screen, marked in the history

    log = Exploration.objects.get().rounds.get(index=1).strokes
    strokes = [e for e in log if e["type"] == "stroke"]
    assert [(e["tool"], e["pointer"], len(e["points"])) for e in strokes] == [
        ("paint", "keyboard", 11),
        ("erase", "keyboard", 5),
    ]

    # Restoring a past round puts the focus on the canvas, to paint on from there.
    page.locator("#history-list li").nth(0).get_by_role("button").focus()
    page.keyboard.press("Enter")
    expect(page.locator("canvas[data-mask]")).to_be_focused()
    expect(page.locator("[data-painted-output]")).to_have_text("0.0%")
    expect(page.locator("[data-announce]")).to_contain_text("Original")
    expect(current).to_contain_text("Original")


def test_axe_finds_nothing_on_the_home_and_explore_pages(
    live_server, real_worker, gallery, page: Page
):
    from axe_playwright_python.sync_playwright import Axe

    page.goto(live_server.url)
    found = Axe().run(page)
    assert found.violations_count == 0, found.generate_report()
    page.get_by_role("button", name=re.compile("Coffee")).click()
    expect(page.locator("#result.done")).to_be_visible(timeout=30_000)
    found = Axe().run(page)
    assert found.violations_count == 0, found.generate_report()


def test_a_tap_paints_a_whole_region_and_a_second_tap_clears_it(
    live_server, real_worker, gallery, page: Page
):
    from painting import segments

    open_image(page, live_server.url)
    coffee = gallery["coffee"]
    with coffee.segments.open("rb") as f:
        labels = segments.decode(f.read())
    page.keyboard.press("r")
    expect(page.locator("[data-stage]")).to_have_attribute(
        "data-regions", str(coffee.segment_count)
    )
    expect(page.locator("[data-boundaries]")).to_be_visible()  # shown while the tool is on

    box = page.locator("canvas[data-mask]").bounding_box()
    at = (box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.45)
    x, y = (int(v) for v in picture_point(page, *at))
    segment = int(labels[y, x])
    size = int((labels == segment).sum())
    page.mouse.click(*at)
    # Exactly the segment's pixels: its share of the picture, and its far pixels too.
    assert page.evaluate(CANVAS_SHARE) * labels.size == pytest.approx(size, abs=0.5)
    ys, xs = (labels == segment).nonzero()
    far = max(range(len(xs)), key=lambda i: abs(xs[i] - x) + abs(ys[i] - y))
    assert page.evaluate(ALPHA_AT, [int(xs[far]), int(ys[far])]) == 255
    page.mouse.click(*at)
    assert page.evaluate(PAINTED) == "0.0%"
    page.mouse.click(*at)
    page.keyboard.press("p")  # a brush stroke joins the same mask
    expect(page.locator("[data-boundaries]")).to_be_hidden()
    stroke(page, [(0.05, 0.1), (0.1, 0.2)])
    shown = page.evaluate(PAINTED)

    # An edit, not a mask: the region is sent darker, and the model sees exactly that.
    page.get_by_label("Masked area becomes").select_option("darken")
    page.get_by_role("button", name="Classify").click()
    expect(page.locator('#result.done[data-round-index="1"]')).to_be_visible(timeout=30_000)
    round1 = Exploration.objects.get().rounds.get(index=1)
    assert f"{round1.masked_fraction * 100:.1f}%" == shown
    assert round1.fill == "darken"
    seen = page.request.get(
        f"{live_server.url}/e/{round1.exploration_id}/rounds/{round1.pk}/masked.png"
    )
    seen = np.asarray(Image.open(io.BytesIO(seen.body())).convert("RGB")).astype(int)
    with coffee.file.open("rb") as f:
        original = np.asarray(Image.open(f).convert("RGB")).astype(int)
    assert (seen[y, x] == original[y, x] // 2).all()
    assert (seen[int(ys[far]), int(xs[far])] == original[int(ys[far]), int(xs[far])] // 2).all()
    taps = [(e["tool"], e["segment"]) for e in round1.strokes if e["type"] == "region"]
    assert taps == [("paint", segment), ("erase", segment), ("paint", segment)]
    assert "stroke" in [e["type"] for e in round1.strokes]


def test_an_uploads_regions_arrive_from_the_worker_and_a_tap_paints_one(
    live_server, real_worker, page: Page, tmp_path
):
    from painting.models import Picture

    photo = tmp_path / "cat.jpg"
    chelsea = next(p for p in PHOTOS if p.slug == "chelsea").open()
    chelsea.convert("RGB").resize((480, 320)).save(photo)
    page.goto(live_server.url)
    page.get_by_label("Your image").set_input_files(str(photo))
    page.get_by_role("button", name="Upload and explore").click()
    expect(page.locator("#result.done")).to_be_visible(timeout=30_000)
    # The page asked before the worker had the map (503) and asks again until it is there.
    expect(page.locator("[data-stage]")).to_have_attribute(
        "data-regions", re.compile(r"^[1-9][0-9]+$"), timeout=30_000
    )
    upload = Picture.objects.get(is_gallery=False)
    assert page.locator("[data-stage]").get_attribute("data-regions") == str(upload.segment_count)
    page.keyboard.press("r")
    box = page.locator("canvas[data-mask]").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    assert page.evaluate(PAINTED) != "0.0%"


def test_live_a_stroke_alone_classifies_one_round_in_flight_and_the_latest_wins(
    live_server, real_worker, gallery, page: Page
):
    open_image(page, live_server.url)
    page.get_by_label("Live").check()
    held = []
    classify_post = re.compile(r"/e/[^/]+/rounds/$")
    page.route(classify_post, lambda route: held.append(route))  # the first waits here
    stroke(page, [(0.2, 0.2), (0.3, 0.3)])
    page.wait_for_timeout(200)
    assert len(held) == 1  # the stroke alone sent it
    stroke(page, [(0.6, 0.6), (0.7, 0.7)])
    stroke(page, [(0.1, 0.8), (0.2, 0.9)])
    page.wait_for_timeout(300)
    assert len(held) == 1  # nothing more while one is in flight
    held[0].continue_()
    page.unroute(classify_post)

    expect(page.locator('#result.done[data-round-index="2"]')).to_be_visible(timeout=30_000)
    page.wait_for_timeout(300)
    rounds = list(Exploration.objects.get().rounds.order_by("index"))
    assert [r.live for r in rounds] == [False, True, True]  # the two later strokes: one round
    count = [[e["type"] for e in r.strokes].count("stroke") for r in rounds[1:]]
    assert count == [1, 2], [r.strokes for r in rounds]
    assert f"{rounds[2].masked_fraction * 100:.1f}%" == page.evaluate(PAINTED)
    expect(page.locator('#result[data-round-index="2"]')).to_be_visible()  # not overwritten


def canvas_pixels(canvas) -> np.ndarray:
    """A canvas's RGBA pixels, as the page drew them."""
    data_url = canvas.evaluate("c => c.toDataURL('image/png')")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",")[1]))))


def test_the_preview_is_exactly_what_the_model_is_sent(
    live_server, real_worker, gallery, page: Page
):
    open_image(page, live_server.url)
    page.get_by_label("Masked area becomes").select_option("darken")
    stroke(page, [(0.3, 0.3), (0.6, 0.5)])
    preview = page.locator("canvas[data-preview]")
    expect(preview).to_be_hidden()
    page.get_by_label("Preview what the model sees").check()
    expect(preview).to_be_visible()
    expect(preview).to_have_attribute("data-fill", "darken")
    shown = canvas_pixels(preview)

    page.get_by_role("button", name="Classify").click()
    expect(page.locator('#result.done[data-round-index="1"]')).to_be_visible(timeout=30_000)
    round1 = Exploration.objects.get().rounds.get(index=1)
    seen = page.request.get(
        f"{live_server.url}/e/{round1.exploration_id}/rounds/{round1.pk}/masked.png"
    )
    seen = np.asarray(Image.open(io.BytesIO(seen.body())).convert("RGB"))
    assert shown.shape[:2] == seen.shape[:2]
    assert (shown[..., 3] == 255).all()
    # Every pixel, painted or not, as the server composed it.
    assert np.array_equal(shown[..., :3], seen)
    assert round1.masked_fraction > 0.01

    # The other fills computed here, against masking.compose with the round's mask.
    with round1.mask.open("rb") as f:
        mask = Image.open(f)
        mask.load()
    with round1.exploration.picture.file.open("rb") as f:
        original = Image.open(f).convert("RGB")
    for fill in ["brighten", "grey", "mean", "black"]:
        page.get_by_label("Masked area becomes").select_option(fill)
        expect(preview).to_have_attribute("data-fill", fill)
        shown = canvas_pixels(preview)
        expected = np.asarray(masking.compose(original, mask, masking.Fill(fill)))
        assert np.array_equal(shown[..., :3], expected), fill


def test_the_server_previews_the_fills_the_page_cannot_compute(
    live_server, real_worker, gallery, page: Page
):
    """Blur is composed by the server, as for a round: once a stroke ends, not per move."""
    open_image(page, live_server.url)
    asked = []
    page.on("request", lambda r: r.url.endswith("/preview/") and asked.append(r.method))
    page.get_by_label("Preview what the model sees").check()
    page.get_by_label("Masked area becomes").select_option("blur")
    preview = page.locator("canvas[data-preview]")
    expect(preview).to_be_visible()
    expect(preview).to_have_attribute("data-source", "server")
    expect(preview).not_to_have_attribute("data-pending", "true")
    unpainted = canvas_pixels(preview)
    assert len(asked) == 1  # the toggle and the fill, together: one request

    box = page.locator("canvas[data-mask]").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
    page.mouse.down()
    for step in range(1, 21):
        page.mouse.move(
            box["x"] + box["width"] * (0.3 + step * 0.015),
            box["y"] + box["height"] * (0.3 + step * 0.01),
        )
    page.wait_for_timeout(400)
    assert len(asked) == 1  # nothing while the stroke goes on
    page.mouse.up()
    expect(preview).to_have_attribute("data-pending", "true")
    expect(preview).not_to_have_attribute("data-pending", "true")
    assert asked == ["POST", "POST"]
    expect(page.locator("[data-preview-note]")).to_be_hidden()
    shown = canvas_pixels(preview)
    assert not np.array_equal(shown, unpainted)

    page.get_by_role("button", name="Classify").click()
    expect(page.locator('#result.done[data-round-index="1"]')).to_be_visible(timeout=30_000)
    round1 = Exploration.objects.get().rounds.get(index=1)
    assert round1.fill == "blur" and round1.masked_fraction > 0.01
    seen = page.request.get(
        f"{live_server.url}/e/{round1.exploration_id}/rounds/{round1.pk}/masked.png"
    )
    seen = np.asarray(Image.open(io.BytesIO(seen.body())).convert("RGB"))
    assert (shown[..., 3] == 255).all()
    assert np.array_equal(shown[..., :3], seen)  # every pixel, as the model was shown it
