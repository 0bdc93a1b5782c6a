"""Participants take docs/understanding_study.json in a real browser, one in each condition
(painting, static Grad-CAM, both): ten questions, the image, ten questions, Finish. One of them
on a phone-sized touch screen.

For time, the study keeps one of its four images with one round needed, and its test material is
prepared with the tiny test network (the worker classifies the rounds with the real model)."""

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from painting.models import Participant, Study, TrialAnswer
from painting.studies import files as study_files
from painting.studies.understanding import prepare as understanding_prepare
from tests.e2e.browser import PHONE, shot, stroke

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _patient_expect():
    """A page waits on the live server, which shares two busy cores with the worker."""
    expect.set_options(timeout=20_000)
    yield
    expect.set_options(timeout=5_000)  # Playwright's default


def _answer_trials(page: Page, phase: str, count: int, *, shots: bool = False):
    for number in range(1, count + 1):
        expect(page).to_have_url(re.compile(rf"/test/{phase}/{number}/$"))
        expect(page.get_by_text(f"{number} of {count}")).to_be_visible()
        next_button = page.get_by_role("button", name="Next")
        expect(next_button).to_be_disabled()  # until every question has an answer
        groups = page.locator("fieldset.trial-question")
        for index in range(groups.count()):
            group = groups.nth(index)
            group.locator("input[name^=q]").nth(index % 2).check()
            if group.locator("input[name^=c]").count():
                expect(next_button).to_be_disabled()
                group.locator("input[name^=c]").nth(2).check()
        if shots and number == 1:
            shot(page, f"trial-{phase}-{number}")
        expect(next_button).to_be_enabled()
        next_button.click()


def test_participants_take_the_example_study_in_each_condition(
    live_server, real_worker, gallery, browser, tiny_model_name
):
    data = json.loads((ROOT / "docs/understanding_study.json").read_text())
    study, _ = study_files.load(data)
    study.images.exclude(picture=gallery["coffee"]).delete()
    Study.objects.filter(pk=study.pk).update(min_rounds_per_image=1)
    study.refresh_from_db()
    understanding_prepare.prepare(study, tiny_model_name)

    seen = {}
    for person in range(3):
        context = browser.new_context(**(PHONE if person == 1 else {"has_touch": True}))
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda error, errors=errors: errors.append(str(error)))
        page.goto(f"{live_server.url}/study/{study.slug}/?PROLIFIC_PID=P{person}")
        page.get_by_label("I have read the above").check()
        page.get_by_role("button", name="Start").click()
        _answer_trials(page, "pre", 10, shots=person == 1)

        participant = Participant.objects.get(external_id=f"P{person}")
        condition = participant.condition.name
        if condition == "static-gradcam":
            expect(page.locator("[data-static-view]")).to_be_visible()
            expect(page.locator("canvas[data-mask]")).to_have_count(0)
            answer = study.test_material["images"][str(gallery["coffee"].pk)]["answer"]
            expect(page.locator("[data-model-answer]")).to_have_text(answer)
            page.get_by_role("link", name="Next").click()
        else:
            expect(page.locator("#result.done")).to_be_visible(timeout=60_000)
            stroke(page, [(0.2, 0.2), (0.6, 0.6)])
            page.get_by_role("button", name="Classify").click()
            expect(page.locator('#result.done[data-round-index="1"]')).to_be_visible(timeout=60_000)
            page.get_by_role("link", name="Finish").click()
        _answer_trials(page, "post", 10)
        page.get_by_role("button", name="Finish").click()
        expect(page.get_by_text("Thank you")).to_be_visible()
        context.close()
        assert not errors, errors
        seen[condition] = participant

    assert set(seen) == {"painting", "static-gradcam", "both"}
    for participant in seen.values():
        answers = TrialAnswer.objects.filter(participant=participant)
        assert answers.filter(phase="pre").count() == answers.filter(phase="post").count() == 10
        assert all(ms and ms > 0 for ms in answers.values_list("response_ms", flat=True))
        participant.refresh_from_db()
        assert participant.finished_at
    painted = TrialAnswer.objects.filter(participant=seen["painting"]).first()
    assert painted.options and painted.answer_1 in painted.options
