"""In real browsers: someone who knows a participant's platform id may open their link, but
cannot withdraw them or learn their code; the participant sees their code on every page.
XAI_SCREENSHOT_DIR=folder keeps screenshots of the pages at 390×844 (touch) and desktop."""

import pytest
from playwright.sync_api import Page, expect

from painting.models import AddressTally, Exploration, Participant
from tests.e2e.browser import PHONE, shot
from tests.helpers import make_study

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

PID = "5f8d0c6a1b2c3d4e5f6a7b8c"


def test_a_stranger_with_the_id_cannot_withdraw_in_a_browser(
    live_server, real_worker, gallery, page: Page, browser
):
    study = make_study(gallery, min_rounds=0)
    page.goto(f"{live_server.url}/study/{study.slug}/?PROLIFIC_PID={PID}")
    shot(page, "consent")
    page.get_by_label("I have read the above").check()
    page.get_by_role("button", name="Start").click()
    participant = Participant.objects.get()
    expect(page.locator("[data-participant-code]")).to_have_text(participant.code)
    expect(page.locator("#result.done")).to_be_visible(timeout=30_000)
    shot(page, "study-bar")

    phone = browser.new_context(**PHONE)
    attacker = phone.new_page()
    attacker.goto(f"{live_server.url}/study/{study.slug}/?PROLIFIC_PID={PID}")
    expect(attacker.get_by_text("image 2 of 2")).to_be_visible()  # it may go on...
    expect(attacker.locator("[data-participant-code]")).to_have_count(0)  # ...not see the code
    explored = Exploration.objects.filter(participant=participant).count()  # 2: theirs and its
    attacker.goto(f"{live_server.url}/study/{study.slug}/finish/")
    attacker.get_by_role("link", name="Withdraw from the study").click()
    expect(attacker.get_by_label("Participant code")).to_be_visible()
    shot(attacker, "withdraw-code")
    attacker.get_by_label("Participant code").fill("ABCD2345")
    attacker.get_by_role("button", name="Withdraw and delete my data").click()
    expect(attacker.locator("[data-code-error]")).to_be_visible()
    shot(attacker, "withdraw-wrong-code")
    assert Participant.objects.filter(pk=participant.pk).exists()
    assert Exploration.objects.filter(participant=participant).count() == explored == 2

    # The participant's own browser, on a phone too, still has everything and its code.
    page.set_viewport_size(PHONE["viewport"])
    page.reload()
    expect(page.locator("[data-participant-code]")).to_have_text(participant.code)
    shot(page, "study-bar")
    page.goto(f"{live_server.url}/study/{study.slug}/finish/")
    expect(page.locator("[data-participant-code]")).to_have_text(participant.code)
    shot(page, "finish")
    phone.close()


def test_pages_of_a_forbidden_second_browser_and_of_a_full_address(
    live_server, real_worker, gallery, browser
):
    study = make_study(gallery, allow_resume_elsewhere=False, max_consents_per_address=1)
    for size in (PHONE, {"viewport": {"width": 1280, "height": 900}}):
        Participant.objects.all().delete()
        AddressTally.objects.all().delete()
        first = browser.new_context(**size).new_page()
        first.goto(f"{live_server.url}/study/{study.slug}/?PROLIFIC_PID={PID}")
        first.get_by_label("I have read the above").check()
        first.get_by_role("button", name="Start").click()
        code = Participant.objects.get().code

        second = browser.new_context(**size).new_page()
        second.goto(f"{live_server.url}/study/{study.slug}/?PROLIFIC_PID={PID}")
        expect(second.get_by_text("already taken part")).to_be_visible()
        shot(second, "took-part")
        second.get_by_label("Participant code").fill(code.lower())
        second.get_by_role("button", name="Go on here").click()
        expect(second.locator("[data-participant-code]")).to_have_text(code)

        # The cap: one new participant from this address (the test's 127.0.0.1) per study.
        third = browser.new_context(**size).new_page()
        third.goto(f"{live_server.url}/study/{study.slug}/?PROLIFIC_PID=someone-else")
        third.get_by_label("I have read the above").check()
        third.get_by_role("button", name="Start").click()
        expect(third.get_by_text("internet connection")).to_be_visible()
        shot(third, "too-many")
        assert Participant.objects.count() == 1
        for context in (first.context, second.context, third.context):
            context.close()
