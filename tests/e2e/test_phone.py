"""On a phone (390×844, touch): the photo and Classify on the first screen, the answer beside
the picture, no keyboard hints, and a window too small is told so without counting a decline.
The onboarding pages (instructions, quiz) on a phone and on a desktop."""

import re

import pytest
from playwright.sync_api import Page, expect

from painting.models import Participant, Study
from tests.e2e.browser import PHONE, shot, stroke
from tests.helpers import make_study

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture
def phone(browser):
    context = browser.new_context(**PHONE)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, errors


def on_screen(page: Page, selector: str) -> bool:
    box = page.locator(selector).first.bounding_box()
    height = page.viewport_size["height"]
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height


def first_screen_and_answer(page: Page, name: str) -> None:
    """The photo starts in the top half and Classify is on the first screen; after Classify
    the answer and the whole picture are on one screen."""
    expect(page.locator("#result.done")).to_be_visible(timeout=30_000)
    assert page.evaluate("window.scrollY") == 0
    canvas = page.locator("canvas[data-mask]").bounding_box()
    assert canvas["y"] < page.viewport_size["height"] / 2, canvas
    assert on_screen(page, "button[type=submit]:text('Classify')")
    shot(page, f"{name}-first-screen", full_page=False)
    stroke(page, [(0.2, 0.3), (0.6, 0.7)])
    page.get_by_role("button", name="Classify").click()
    expect(page.locator('#result.done[data-round-index="1"]')).to_be_visible(timeout=30_000)
    page.wait_for_timeout(400)  # any scroll the answer makes
    assert on_screen(page, "[data-stage]"), page.locator("[data-stage]").bounding_box()
    assert on_screen(page, "#result [data-top1]"), page.locator("#result").bounding_box()
    shot(page, f"{name}-after-classify", full_page=False)


def test_free_play_on_a_phone(live_server, real_worker, gallery, phone: Page):
    phone.goto(f"{live_server.url}/")
    phone.locator(".tile").first.click()
    first_screen_and_answer(phone, "free-play")


def test_free_play_on_a_desktop(live_server, real_worker, gallery, browser):
    context = browser.new_context(viewport=DESKTOP)
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/")
        page.get_by_role("button", name=re.compile("Chelsea")).click()
        first_screen_and_answer(page, "desktop-free-play")
    finally:
        context.close()


def test_a_study_on_a_phone(live_server, real_worker, gallery, phone: Page):
    plain = {"name": "plain", "show_analysis": False, "show_edits": False, "fills": ["mean"]}
    study = make_study(gallery, slugs=("coffee",), conditions=[plain])
    phone.goto(f"{live_server.url}/study/{study.slug}/?PROLIFIC_PID=phone-1")
    shot(phone, "consent")
    phone.get_by_label("I have read the above").check()
    phone.get_by_role("button", name="Start").click()
    first_screen_and_answer(phone, "study")
    page = phone.locator("main").inner_text()
    assert [t for t in ("IoU", "ImageNet", "efficientnet", "Crop", "Rotate") if t in page] == []


def test_no_keyboard_hints_on_touch(live_server, real_worker, gallery, phone: Page):
    phone.goto(f"{live_server.url}/")
    phone.locator(".tile").first.click()
    expect(phone.locator("#result.done")).to_be_visible(timeout=30_000)
    phone.locator("summary").filter(has_text="More").click()  # zoom and edits, folded
    for hint in phone.locator("kbd, [data-keys-hint]").all():
        expect(hint).to_be_hidden()
    phone.locator(".tools label").filter(has_text="Region").click()
    expect(phone.locator("[data-tool-hint]")).to_contain_text("Tap a region")


def test_a_window_too_small_is_told_to_rotate_and_counts_nothing(live_server, gallery, phone: Page):
    study = make_study(gallery, slugs=("coffee",), min_screen_width=800, min_screen_height=500)
    phone.goto(f"{live_server.url}/study/{study.slug}/?PROLIFIC_PID=phone-2")
    expect(phone.locator("[data-screen-too-small]")).to_contain_text("rotate")
    shot(phone, "consent-window-too-small")
    expect(phone.get_by_role("button", name="I do not agree")).to_be_hidden()
    expect(phone.get_by_role("button", name="Start")).to_be_hidden()
    assert Study.objects.get(pk=study.pk).declined_count == 0


@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_consent_then_instructions_then_the_quiz_until_right(
    live_server, real_worker, gallery, browser, device
):
    touch = device == "phone"
    context = browser.new_context(**PHONE) if touch else browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    try:
        study = make_study(
            gallery,
            slugs=("camera", "coffee"),
            practice=("camera",),
            instruction_pages=[
                {"title": "What you will do", "text": "Paint over what does not matter."},
                {
                    "title": "Paint, then Classify",
                    "text": "Then press Classify.",
                    "image": "/static/painting/instructions/paint.svg",
                },
            ],
            quiz=[
                {
                    "question": "What do you paint over?",
                    "options": ["What matters", "What does not matter"],
                    "answer": 1,
                }
            ],
        )
        page.goto(f"{live_server.url}/study/{study.slug}/?PROLIFIC_PID={device}-3")
        shot(page, f"{device}-consent")
        page.get_by_label("I have read the above").check()
        page.get_by_role("button", name="Start").click()
        expect(page.get_by_role("heading", name="What you will do")).to_be_visible()
        shot(page, f"{device}-instructions-1")
        page.get_by_role("link", name="Next").click()
        expect(page.locator("img.intro-image")).to_have_js_property("naturalWidth", 320)
        shot(page, f"{device}-instructions-2")
        page.get_by_role("link", name="To the questions").click()
        page.get_by_label("What matters", exact=True).check()
        page.get_by_role("button", name="Check my answers").click()
        expect(page.locator("[data-quiz-wrong]")).to_contain_text("question 1")
        shot(page, f"{device}-quiz-wrong")
        page.get_by_label("What does not matter").check()
        page.get_by_role("button", name="Check my answers").click()

        # The practice image: Next opens after one Classify.
        expect(page.locator("#result.done")).to_be_visible(timeout=30_000)
        expect(page.locator("[data-next-hint]")).to_contain_text("Try it once")
        shot(page, f"{device}-study-practice")
        assert on_screen(page, "button[type=submit]:text('Classify')")
        stroke(page, [(0.2, 0.3), (0.6, 0.7)])
        page.get_by_role("button", name="Classify").click()
        expect(page.get_by_role("link", name="Next image")).to_be_visible(timeout=30_000)
        attempts = Participant.objects.get().quiz_attempts.values_list("correct", flat=True)
        assert list(attempts) == [False, True]
    finally:
        context.close()
