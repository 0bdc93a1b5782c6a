"""The page's key bindings in a real browser (canvas/keyboard.js's table): Ctrl+Z and Ctrl+Y
undo and redo from anywhere but a text field, the letters choose tools, and a menu with the
focus keeps its keys."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import stroke
from tests.e2e.test_canvas_view import PAINTED, open_image

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

CHOSEN = "() => document.querySelector('[data-tool]:checked').value"


def test_the_keys_undo_redo_and_choose_tools_but_not_in_a_menu(
    live_server, real_worker, gallery, page: Page
):
    open_image(page, live_server.url)
    stroke(page, [(0.3, 0.3), (0.6, 0.6)])
    painted = page.evaluate(PAINTED)
    assert painted != "0.0%"
    page.keyboard.press("Control+z")
    expect(page.locator("[data-painted-output]")).to_have_text("0.0%")
    expect(page.get_by_role("button", name="Redo")).to_be_enabled()
    page.keyboard.press("Control+y")
    expect(page.locator("[data-painted-output]")).to_have_text(painted)

    for key, tool in [("h", "pan"), ("r", "region"), ("c", "crop"), ("E", "erase"), ("p", "paint")]:
        page.keyboard.press(key)
        assert page.evaluate(CHOSEN) == tool, key
    page.keyboard.press("h")
    expect(page.locator("[data-stage]")).to_have_class(re.compile("pan-tool"))
    page.keyboard.press("Alt+p")  # not a tool's key with Alt
    assert page.evaluate(CHOSEN) == "pan"
    page.keyboard.press("p")

    # The fill menu has the focus: its keys are its own (no tool, no size, no undo).
    size = page.locator("[data-brush-output]").text_content()
    page.get_by_label("Masked area becomes").focus()
    for key in ["e", "h", "]", "Control+z"]:
        page.keyboard.press(key)
    assert page.evaluate(CHOSEN) == "paint"
    expect(page.locator("[data-brush-output]")).to_have_text(size)
    expect(page.locator("[data-painted-output]")).to_have_text(painted)
