"""In a real browser: the consent page refuses a small window, the explore page logs focus,
blur and tab switches with the brush log (those after the last Classify sent as the page is
left) and counts the image's time down, and attention checks are answered."""

import io
import re
import time
import zipfile

import pandas
import pytest
from playwright.sync_api import Page, expect

from painting.models import CheckAnswer, Participant, Round, StudyImage
from painting.studies.export import archive as exports
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
    # Neither Start nor "I do not agree" (a decline would be counted): rotate or go larger.
    expect(page.get_by_role("button", name="Start")).to_be_hidden()
    expect(page.get_by_role("button", name="I do not agree")).to_be_hidden()
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


def late_attention(page: Page, *types: str) -> None:
    """The window or tab loses and gets back the focus, as in the test above."""
    script = """(types) => {
      for (const type of types) {
        if (type === "blur" || type === "focus") {
          window.dispatchEvent(new Event(type));
          continue;
        }
        Object.defineProperty(document, "visibilityState", {value: type, configurable: true});
        document.dispatchEvent(new Event("visibilitychange"));
      }
    }"""
    page.evaluate(script, list(types))


def wait_for(condition, what: str, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_check_is_answered_and_late_events_reach_the_export(
    live_server, real_worker, gallery, page: Page
):
    study = make_study(gallery, slugs=("coffee", "chelsea"))
    StudyImage.objects.filter(study=study, picture=gallery["chelsea"]).update(
        is_attention_check=True, check_max_outside=0.25
    )
    page.goto(f"{live_server.url}/study/{study.slug}/?PROLIFIC_PID=P-7")
    page.get_by_label("I have read the above").check()
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#result.done")).to_be_visible(timeout=30_000)
    stroke(page, [(0.2, 0.2), (0.6, 0.6)])
    page.get_by_role("button", name="Classify").click()
    expect(page.locator('#result.done[data-round-index="1"]')).to_be_visible(timeout=30_000)
    late_attention(page, "blur", "focus")  # after the image's last Classify
    page.get_by_role("link", name="Next image").click()

    # The check: the square is drawn over the image, with the instruction; Finish waits.
    expect(page.locator("#result.done")).to_be_visible(timeout=30_000)
    instruction = (
        "Cover the red square with paint; stay inside its red dashed frame. Then press Classify."
    )
    expect(page.locator("[data-check-instruction]")).to_have_text(instruction)
    expect(page.locator("#result .hint")).to_have_text(instruction)  # not the usual hint
    target = page.locator(".check-target").bounding_box()
    canvas = page.locator("canvas[data-mask]").bounding_box()
    assert abs(target["x"] - (canvas["x"] + 0.35 * canvas["width"])) < 2
    assert abs(target["width"] - 0.3 * canvas["width"]) < 2
    expect(page.get_by_role("button", name="Finish")).to_be_disabled()
    page.locator("[data-brush-size]").fill("120")
    stroke(page, [(0.4, 0.5), (0.6, 0.5)])
    page.get_by_role("button", name="Classify").click()
    expect(page.locator('#result.done[data-round-index="1"]')).to_be_visible(timeout=30_000)
    expect(page.locator("[data-check-answered]")).to_be_visible()
    late_attention(page, "hidden", "visible")
    page.get_by_role("link", name="Finish").click()
    expect(page.get_by_role("button", name="Finish")).to_be_visible()

    participant = Participant.objects.get()
    answer = CheckAnswer.objects.get(participant=participant)
    assert answer.passed and answer.covered > 0.9

    def late_types(slug):
        latest = Round.objects.get(
            exploration__participant=participant, exploration__picture__slug=slug, index=1
        )
        return [e["type"] for e in latest.strokes if e.get("sent") == "leave"]

    wait_for(lambda: late_types("coffee") and late_types("chelsea"), "no events sent on leaving")
    assert late_types("coffee") == ["blur", "focus"]
    assert late_types("chelsea") == ["hidden", "visible"]

    out = io.BytesIO()
    exports.write_study_zip(study, out)
    archive = zipfile.ZipFile(out)
    events = pandas.read_csv(io.BytesIO(archive.read("events.csv")))
    late = events[events["sent_on_leave"] == 1]
    assert list(late["type"]) == ["blur", "focus", "hidden", "visible"]
    assert set(late["round_index"]) == {1} and set(late["external_id"]) == {"P-7"}
    people = pandas.read_csv(io.BytesIO(archive.read("participants.csv")))
    assert list(people["checks_passed"]) == [1] and list(people["blur_events"]) == [1]


def test_a_failed_check_sends_the_participant_to_the_screened_out_url(
    live_server, real_worker, gallery, page: Page
):
    done = "https://app.prolific.com/submissions/complete"
    study = make_study(
        gallery,
        slugs=("coffee",),
        screen_out_on_failed_check=True,
        screen_out_after_failed_checks=1,
        screened_out_url=done,
        screened_out_code="SCRN0UT1",
    )
    StudyImage.objects.filter(study=study).update(is_attention_check=True)
    page.route(f"{done}**", lambda route: route.fulfill(body="Screened out"))
    page.goto(f"{live_server.url}/study/{study.slug}/?PROLIFIC_PID=P-8")
    page.get_by_label("I have read the above").check()
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#result.done")).to_be_visible(timeout=30_000)
    # The answer is in the page's HTML: the canvas takes strokes once its modules have run.
    expect(page.locator("[data-stage][data-ready=true]")).to_be_attached()
    stroke(page, [(0.05, 0.05), (0.2, 0.1)])  # nowhere near the square
    page.get_by_role("button", name="Classify").click()
    expect(page).to_have_url(f"{done}?cc=SCRN0UT1")
    participant = Participant.objects.get()
    assert participant.screened_out_at and participant.explorations.count() == 1  # the check's
    assert not CheckAnswer.objects.get().passed
