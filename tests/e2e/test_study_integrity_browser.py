"""In a real browser, what a participant does (issue 23): Back after Next finds the earlier
image closed; Withdraw asks first, then says what to do on the platform, and the link says
"you withdrew"; when an image's time is up the tools are disabled; an attention check shows
its frame, and a Classify with nothing painted is answered with a message.
XAI_SCREENSHOT_DIR=folder keeps screenshots at 390×844 (touch) and desktop."""

import pytest
from playwright.sync_api import Page, expect

from painting.models import CheckAnswer, Participant, Round, StudyImage
from tests.e2e.browser import PHONE, shot, stroke
from tests.helpers import make_study

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def at(canvas: dict, x: float, y: float) -> tuple[float, float]:
    """A point on the page as shares of the canvas (what stroke() takes)."""
    return ((x - canvas["x"]) / canvas["width"], (y - canvas["y"]) / canvas["height"])


def consent(page: Page, url: str) -> None:
    page.goto(url)
    page.get_by_label("I have read the above").check()
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#result.done")).to_be_visible(timeout=30_000)


def test_back_after_next_finds_the_earlier_image_closed(
    live_server, real_worker, gallery, page: Page
):
    study = make_study(gallery, allow_missing_id=False)
    consent(page, f"{live_server.url}/study/{study.slug}/?PROLIFIC_PID=P-1")
    stroke(page, [(0.2, 0.2), (0.6, 0.6)])
    page.get_by_role("button", name="Classify").click()
    expect(page.locator('#result.done[data-round-index="1"]')).to_be_visible(timeout=30_000)
    page.get_by_role("link", name="Next image").click()
    expect(page.get_by_text("image 2 of 2")).to_be_visible()

    page.go_back()
    expect(page.get_by_text("image 1 of 2")).to_be_visible()
    expect(page.get_by_text("You have gone on to a later image").first).to_be_visible()
    expect(page.get_by_role("button", name="Classify")).to_have_count(0)
    expect(page.locator('input[data-tool][value="paint"]')).to_be_disabled()
    shot(page, "closed-image")
    painted = page.locator("[data-painted-output]").text_content()
    stroke(page, [(0.7, 0.7), (0.9, 0.9)])  # paints nothing: the tools are closed
    page.wait_for_timeout(300)
    assert page.locator("[data-painted-output]").text_content() == painted
    participant = Participant.objects.get()
    first = participant.explorations.get(picture=gallery["coffee"])
    assert first.rounds.count() == 2
    page.go_forward()
    expect(page.get_by_role("button", name="Classify")).to_be_enabled()


def test_withdraw_asks_first_and_the_link_then_says_so(live_server, real_worker, gallery, browser):
    study = make_study(gallery, allow_missing_id=False, min_rounds=2)
    link = f"{live_server.url}/study/{study.slug}/?PROLIFIC_PID=P-2"
    for options in (PHONE, {"viewport": {"width": 1280, "height": 900}, "has_touch": True}):
        context = browser.new_context(**options)
        page = context.new_page()
        consent(page, link.replace("P-2", f"P-{options['viewport']['width']}"))
        shot(page, "study-bar-withdraw")
        page.get_by_role("link", name="Withdraw", exact=True).click()
        expect(page.get_by_role("heading", name="Withdraw from the study?")).to_be_visible()
        shot(page, "withdraw-confirm")
        page.get_by_role("link", name="No, go back to the study").click()
        expect(page.locator("#result.done")).to_be_visible(timeout=30_000)
        assert Participant.objects.count() == 1

        page.get_by_role("link", name="Withdraw", exact=True).click()
        page.get_by_role("button", name="Yes, withdraw and delete my data").click()
        expect(page.get_by_text("You have withdrawn")).to_be_visible()
        expect(page.get_by_text("return your submission")).to_be_visible()
        shot(page, "withdrawn")
        assert not Participant.objects.exists() and not Round.objects.exists()
        page.goto(link.replace("P-2", f"P-{options['viewport']['width']}"))
        expect(page.get_by_text("You withdrew from this study")).to_be_visible()
        expect(page.get_by_label("I have read the above")).to_have_count(0)
        context.close()


def test_when_the_image_time_is_up_the_tools_and_the_prediction_are_disabled(
    live_server, real_worker, gallery, page: Page
):
    study = make_study(gallery, time_limit_per_image_s=4, ask_prediction=True)
    consent(page, f"{live_server.url}/study/{study.slug}/?PROLIFIC_PID=P-3")
    prediction = page.get_by_label("What do you expect the model to say now?")
    expect(prediction).to_be_enabled()
    # At zero the page asks the server again, which closes the image.
    expect(page.get_by_text("The time for this image is up").first).to_be_visible(timeout=15_000)
    expect(prediction).to_be_disabled()
    expect(page.locator('input[data-tool][value="paint"]')).to_be_disabled()
    expect(page.locator("[data-brush-size]")).to_be_disabled()
    expect(page.get_by_role("button", name="Classify")).to_have_count(0)
    expect(page.get_by_role("link", name="Next image")).to_be_visible()
    shot(page, "image-time-up")


def test_a_check_shows_its_frame_and_an_empty_classify_gets_a_message(
    live_server, real_worker, gallery, browser
):
    study = make_study(gallery, slugs=("chelsea",), allow_missing_id=False)
    StudyImage.objects.filter(study=study).update(is_attention_check=True)
    for number, options in enumerate(
        (PHONE, {"viewport": {"width": 1280, "height": 900}, "has_touch": True})
    ):
        context = browser.new_context(**options)
        page = context.new_page()
        consent(page, f"{live_server.url}/study/{study.slug}/?PROLIFIC_PID=C-{number}")
        expect(page.locator("[data-check-rule]")).to_contain_text("no paint outside the red dashed")
        frame = page.locator(".check-frame").bounding_box()
        square = page.locator(".check-target").bounding_box()
        assert frame["x"] < square["x"] and frame["width"] > square["width"] + 4
        page.get_by_role("button", name="Classify").click()
        expect(page.get_by_text("Nothing is painted yet, so there is no answer")).to_be_visible()
        shot(page, "check-empty")
        assert not CheckAnswer.objects.filter(participant__external_id=f"C-{number}").exists()
        # A big brush that spills over the square but stays inside the frame passes: two
        # rows, each 0.6 of the square's height wide.
        brush = 0.6 * square["height"]
        page.locator("[data-brush-size]").fill(str(round(brush)))
        page.locator(".check-target").scroll_into_view_if_needed()
        square = page.locator(".check-target").bounding_box()
        canvas = page.locator("canvas[data-mask]").bounding_box()

        left = square["x"] + brush / 2 - 0.05 * square["height"]
        right = square["x"] + square["width"] - brush / 2 + 0.05 * square["height"]
        for row in (0.25, 0.75):
            y = square["y"] + row * square["height"]
            stroke(page, [at(canvas, left, y), at(canvas, right, y)])
        page.get_by_role("button", name="Classify").click()
        expect(page.locator("[data-check-answered]")).to_be_visible(timeout=30_000)
        answer = CheckAnswer.objects.get(participant__external_id=f"C-{number}")
        assert answer.passed and answer.outside > 0, (answer.covered, answer.outside)
        context.close()


def test_a_test_link_and_the_study_time_up_get_clear_pages(live_server, gallery, browser):
    from datetime import timedelta

    from django.utils import timezone

    study = make_study(gallery, allow_missing_id=False, time_limit_s=60)
    for number, options in enumerate(
        (PHONE, {"viewport": {"width": 1280, "height": 900}, "has_touch": True})
    ):
        context = browser.new_context(**options)
        page = context.new_page()
        page.goto(f"{live_server.url}/study/{study.slug}/?PROLIFIC_PID={{{{%PROLIFIC_PID%}}}}")
        expect(page.get_by_text("it is a test link")).to_be_visible()
        expect(page.get_by_label("I have read the above")).to_have_count(0)
        shot(page, "test-link")
        assert not Participant.objects.filter(external_id__contains="%").exists()

        page.goto(f"{live_server.url}/study/{study.slug}/?PROLIFIC_PID=T-{number}")
        page.get_by_label("I have read the above").check()
        page.get_by_role("button", name="Start").click()
        expect(page.locator("[data-stage]")).to_be_attached()  # consented: the first image
        Participant.objects.filter(external_id=f"T-{number}").update(
            consented_at=timezone.now() - timedelta(seconds=61)
        )
        page.reload()  # the explore page sends them to Finish, which says why
        expect(page.get_by_text("The time for this study is up, so it ends here")).to_be_visible()
        expect(page.get_by_role("button", name="Finish")).to_be_visible()
        shot(page, "study-time-up")
        context.close()
