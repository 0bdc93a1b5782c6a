"""A participant completes a study in a real browser; staff replay it with the keyboard."""

import io
import re
import zipfile
from datetime import timedelta

import pandas
import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Page, expect

from painting.masking import Fill
from painting.models import Condition, Participant, Round
from painting.studies import rules
from painting.studies.export import archive as exports
from tests.e2e.browser import stroke
from tests.helpers import make_study, mask_png

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_participant_completes_a_study(live_server, real_worker, gallery, page: Page):
    study = make_study(gallery, ask_prediction=True, question="What did you learn?")
    page.goto(f"{live_server.url}/study/{study.slug}/?pid=EXT-7")
    expect(page.get_by_text("We record how you paint")).to_be_visible()
    page.get_by_role("button", name="Start").click()
    expect(page).to_have_url(re.compile(r"/study/masks/\?pid=EXT-7$"))  # tick the box first
    page.get_by_label("I have read the above").check()
    page.get_by_role("button", name="Start").click()

    for step in (1, 2):
        expect(page.get_by_text(f"image {step} of 2")).to_be_visible()
        expect(page.locator("#result.done")).to_be_visible(timeout=30_000)
        onward = "Next image" if step == 1 else "Finish"
        expect(page.get_by_role("button", name=onward)).to_be_disabled()  # no round yet
        stroke(page, [(0.2, 0.2), (0.6, 0.6)])
        page.get_by_label("What do you expect the model to say now?").fill(f"guess {step}")
        page.get_by_role("button", name="Classify").click()
        expect(page.locator('#result.done[data-round-index="1"]')).to_be_visible(timeout=30_000)
        page.get_by_role("link", name=onward).click()  # opened by the result, without a reload

    page.get_by_label("What did you learn?").fill("The cup's rim matters.")
    page.get_by_role("button", name="Finish").click()
    expect(page.get_by_text("Thank you")).to_be_visible()
    participant = Participant.objects.get()
    expect(page.locator("[data-participant-code]")).to_have_text(participant.code)
    assert participant.external_id == "EXT-7" and participant.finished_at
    assert participant.closing_answer == "The cup's rim matters."
    predictions = sorted(
        r.prediction for e in participant.explorations.all() for r in e.rounds.filter(index=1)
    )
    assert predictions == ["guess 1", "guess 2"]

    # Finished: an earlier image's page says so, and offers no Classify.
    first = participant.explorations.get(picture=gallery["coffee"])
    page.goto(f"{live_server.url}/e/{first.pk}/")
    expect(page.get_by_text("The study is over for you")).to_be_visible()
    expect(page.get_by_role("button", name="Classify")).to_have_count(0)
    assert Round.objects.filter(exploration__participant=participant).count() == 4


def test_next_waits_for_the_studys_minimum_of_rounds(live_server, real_worker, gallery, page: Page):
    import time

    study = make_study(gallery, slugs=("coffee",), min_rounds=2)
    page.goto(f"{live_server.url}/study/{study.slug}/")
    page.get_by_label("I have read the above").check()
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#result.done")).to_be_visible(timeout=30_000)
    hint = page.locator("[data-next-hint]")
    for index, needs in ((1, "2 rounds"), (2, "1 more round")):  # counts down
        expect(page.get_by_role("button", name="Finish")).to_be_disabled()
        expect(hint).to_have_text(re.compile(f"^Image 1 needs {needs} of your own"))
        stroke(page, [(0.1 * index, 0.2), (0.3 * index, 0.6)])
        page.get_by_role("button", name="Classify").click()
        expect(page.locator(f'#result.done[data-round-index="{index}"]')).to_be_visible(
            timeout=30_000
        )
    expect(page.get_by_role("link", name="Finish")).to_be_visible()
    expect(hint).to_have_count(0)
    # The latency of the image's last round is stored although no Classify follows it.
    deadline = time.monotonic() + 10
    while Round.objects.get(index=2).client_latency_ms is None:
        assert time.monotonic() < deadline, "no latency was reported for the last round"
        time.sleep(0.05)
    page.get_by_role("link", name="Finish").click()
    page.get_by_role("button", name="Finish").click()
    expect(page.get_by_text("Thank you")).to_be_visible()


def test_staff_replay_steps_with_the_arrow_keys(live_server, real_worker, gallery, page: Page):
    from tests.helpers import classify, start

    visitor = Client()
    exploration = start(visitor, gallery["coffee"])
    classify(visitor, exploration, None, mask_png((600, 400), (0, 0, 300, 400)))
    staff = Client()
    staff.force_login(User.objects.create_user("r", password="pw-for-tests", is_staff=True))
    page.context.add_cookies(
        [{"name": "sessionid", "value": staff.cookies["sessionid"].value, "url": live_server.url}]
    )
    page.goto(f"{live_server.url}/review/e/{exploration.pk}/")
    expect(page.locator("[data-position]")).to_have_text("1 / 2")
    expect(page.locator("figure[data-step]").nth(0)).to_be_visible()
    page.keyboard.press("ArrowRight")
    expect(page.locator("[data-position]")).to_have_text("2 / 2")
    expect(page.locator("figure[data-step]").nth(1)).to_contain_text("Round 1")
    page.keyboard.press("ArrowLeft")
    expect(page.locator("[data-position]")).to_have_text("1 / 2")


PROLIFIC_DONE = "https://app.prolific.com/submissions/complete"


def open_study(page: Page, url: str) -> None:
    page.goto(url)
    page.get_by_label("I have read the above").check()
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#result.done")).to_be_visible(timeout=30_000)


def test_a_prolific_participant_in_a_condition_is_sent_back_with_the_code(
    live_server, real_worker, gallery, page: Page, browser
):
    study = make_study(
        gallery,
        slugs=("coffee",),
        completion_url=PROLIFIC_DONE,
        completion_code="C0MPLETE",
        conditions=[
            {
                "name": "bare",
                "show_model_view": False,
                "show_deltas": False,
                "show_analysis": False,
                "show_edits": False,
                "fills": ["mean"],
            },
            {"name": "full"},
        ],
    )
    # Someone in "full" is taking part right now, so the first participant gets "bare".
    holder = Participant.objects.create(
        study=study,
        code=rules.new_code(),
        consent_version="1",
        condition=Condition.objects.get(name="full"),
    )
    # Prolific itself is not reachable from here: its completion page is answered in the browser.
    page.route(f"{PROLIFIC_DONE}**", lambda route: route.fulfill(body="Submission complete"))
    ids = "PROLIFIC_PID=60a1b2c3d4e5f6a7b8c9d0e1&STUDY_ID=STUDY-9&SESSION_ID=SESSION-3"
    open_study(page, f"{live_server.url}/study/{study.slug}/?{ids}")

    # The condition's hidden parts are not on the page at all.
    expect(page.locator("[data-saliency-toggle], [data-saliency]")).to_have_count(0)
    expect(page.locator("select[name=fill] option")).to_have_count(1)
    expect(page.locator("[data-rotate], [data-tool][value=crop]")).to_have_count(0)
    page.keyboard.press("c")  # the Crop tool's key does nothing here
    stroke(page, [(0.2, 0.2), (0.6, 0.6)])
    page.get_by_role("button", name="Classify").click()
    expect(page.locator('#result.done[data-round-index="1"]')).to_be_visible(timeout=30_000)
    expect(page.locator("#result")).not_to_contain_text("vs. original")
    expect(page.get_by_role("button", name="Compare fills and deletion curves")).to_have_count(0)

    page.get_by_role("link", name="Finish").click()
    page.get_by_role("button", name="Finish").click()
    expect(page).to_have_url(f"{PROLIFIC_DONE}?cc=C0MPLETE")
    participant = Participant.objects.get(external_id="60a1b2c3d4e5f6a7b8c9d0e1")
    assert participant.finished_at and participant.condition.name == "bare"
    assert (participant.platform_study_id, participant.platform_session_id) == (
        "STUDY-9",
        "SESSION-3",
    )

    # Back on the image: no Classify, and one sent anyway is refused.
    exploration = participant.explorations.get()
    page.goto(f"{live_server.url}/e/{exploration.pk}/")
    expect(page.get_by_role("button", name="Classify")).to_have_count(0)
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    refused = page.request.post(
        f"{live_server.url}/e/{exploration.pk}/rounds/",
        multipart={
            "mask": {
                "name": "mask.png",
                "mimeType": "image/png",
                "buffer": mask_png((600, 400), (0, 0, 50, 50)),
            },
            "fill": "mean",
            "strokes": "[]",
        },
        headers={"X-CSRFToken": csrf, "HX-Request": "true"},
    )
    assert refused.status == 403 and "You have finished" in refused.text()
    assert exploration.rounds.count() == 2

    # The holder left two hours ago: their slot is given back, and "full" is the least filled.
    Participant.objects.filter(pk=holder.pk).update(
        consented_at=timezone.now() - timedelta(hours=2)
    )
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        other = context.new_page()
        open_study(other, f"{live_server.url}/study/{study.slug}/?PROLIFIC_PID=second-person")
        expect(other.locator("[data-saliency-toggle]")).to_have_count(1)
        # "full" offers every fill: the removing ones and the edits.
        expect(other.locator("select[name=fill] option")).to_have_count(len(Fill))
    finally:
        context.close()
    assert Participant.objects.get(external_id="second-person").condition.name == "full"

    # The export, read back with pandas as it is, has both, with their conditions and ids.
    out = io.BytesIO()
    exports.write_study_zip(study, out)
    archive = zipfile.ZipFile(out)
    rounds = pandas.read_csv(io.BytesIO(archive.read("rounds.csv")))
    columns = ["external_id", "condition", "platform_study_id"]
    people = set(rounds[columns].fillna("").itertuples(index=False, name=None))
    assert people == {
        ("60a1b2c3d4e5f6a7b8c9d0e1", "bare", "STUDY-9"),
        ("second-person", "full", ""),
    }
    finished = pandas.read_csv(io.BytesIO(archive.read("participants.csv")))
    by_id = finished.set_index("external_id")
    assert by_id.loc["60a1b2c3d4e5f6a7b8c9d0e1", "status"] == "finished"
    assert by_id.loc["60a1b2c3d4e5f6a7b8c9d0e1", "platform_session_id"] == "SESSION-3"
