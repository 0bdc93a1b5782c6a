"""In a real browser, on a phone (390×844, touch) and a desktop: staff preview a study as a
pilot from the dashboard, and a newcomer to a full study reads its full page."""

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from playwright.sync_api import Page, expect

from painting.models import Participant
from tests.helpers import join_study, make_study

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}


def fits_the_width(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("size", SIZES)
def test_a_newcomer_to_a_full_study_reads_that_it_is_full(live_server, gallery, page, size):
    study = make_study(gallery, participants_per_condition=1)
    join_study(Client(), study, None, pid="FIRST")
    page.set_viewport_size(SIZES[size])
    page.goto(f"{live_server.url}/study/{study.slug}/?PROLIFIC_PID=LATE")
    expect(page.locator("[data-study-full]")).to_contain_text("This study is full")
    expect(page.get_by_text("please return the study there")).to_be_in_viewport()
    expect(page.get_by_role("button")).to_have_count(0)  # nothing to agree or decline
    assert fits_the_width(page)
    assert Participant.objects.count() == 1


@pytest.mark.parametrize("size", SIZES)
def test_staff_preview_a_study_as_a_pilot_from_the_dashboard(live_server, gallery, page, size):
    study = make_study(gallery, is_open=False)  # before launch
    staff = Client()
    staff.force_login(User.objects.create_user("r", password="pw-for-tests", is_staff=True))
    page.context.add_cookies(
        [{"name": "sessionid", "value": staff.cookies["sessionid"].value, "url": live_server.url}]
    )
    page.set_viewport_size(SIZES[size])
    page.goto(f"{live_server.url}/review/studies/{study.slug}/")
    with page.context.expect_page() as opened:
        page.get_by_role("link", name="Preview as a participant").click()
    preview = opened.value
    preview.set_viewport_size(SIZES[size])
    expect(preview.locator("[data-pilot]")).to_contain_text("Pilot run")
    assert fits_the_width(preview)
    preview.get_by_label("I have read the above").check()
    preview.get_by_role("button", name="Start").click()
    expect(preview).to_have_url(re.compile(r"/e/[0-9a-f-]+/$"))
    pilot = Participant.objects.get()
    assert pilot.pilot and pilot.external_id.startswith("PILOT-")
    page.reload()
    expect(page.locator("[data-pilots]")).to_have_attribute("data-pilots", "1")
    expect(page.locator('[data-condition="all"] td').first).to_have_text("0")  # not counted
