"""Between-subject conditions (balanced assignment, parts of the page left out and refused),
the image order (fixed or seeded per participant) and the practice image."""

import random
from datetime import timedelta

import numpy as np
import pytest
from django.test import Client
from django.utils import timezone

from painting.masking import Fill
from painting.models import Condition, Participant, Round
from painting.studies import queries, rules
from tests.helpers import (
    HTMX,
    admin_study_form,
    join_study,
    make_study,
    mask_png,
    mask_upload,
    study_step,
)

EVERYTHING = {"name": "full"}
NOTHING_EXTRA = {
    "name": "bare",
    "show_model_view": False,
    "show_agreement": False,
    "show_deltas": False,
    "show_analysis": False,
    "show_edits": False,
    "fills": ["mean"],
}


def answered(round_: Round, index: int = 967, probability: float = 0.6) -> Round:
    """A round answered as the worker answers it, without running the model."""
    probabilities = np.full(1000, (1 - probability) / 999, np.float32)
    probabilities[index] = probability
    Round.objects.filter(pk=round_.pk).update(
        status=Round.Status.DONE,
        model_name="efficientnet-lite2",
        top=[{"index": index, "label": "espresso", "probability": probability}],
        probabilities=probabilities.tobytes(),
        kept_important=0.4,
        kept_iou=0.3,
    )
    round_.refresh_from_db()
    return round_


def with_a_round(exploration) -> Round:
    """Round 0 answered, and a finished masked round 1."""
    answered(exploration.rounds.get(index=0))
    return answered(Round.objects.create(exploration=exploration, index=1, fill="mean"), 504, 0.3)


def participant_in(study, condition: str, **fields) -> Participant:
    return Participant.objects.create(
        study=study,
        code=rules.new_code(),
        consent_version="1",
        condition=Condition.objects.get(study=study, name=condition),
        **fields,
    )


def test_assignment_keeps_the_conditions_balanced(gallery):
    study = make_study(gallery, conditions=[{"name": "a"}, {"name": "b"}, {"name": "c"}])
    for n in range(1, 10):
        rules.consent(study, f"P-{n}", visitor=f"v{n}")
        counts = [c.participants.count() for c in study.conditions.all()]
        assert max(counts) - min(counts) <= 1, counts


def test_ties_are_broken_at_random_among_the_least_filled_only(gallery, monkeypatch):
    study = make_study(gallery, conditions=[{"name": "a"}, {"name": "b"}, {"name": "c"}])
    participant_in(study, "a")
    offered = []

    def choice(self, candidates):
        offered.append(sorted(c.name for c in candidates))
        return candidates[-1]

    monkeypatch.setattr(random.SystemRandom, "choice", choice)
    assert rules.consent(study, "P-1", visitor="v1").condition.name == "c"
    assert offered == [["b", "c"]]


def test_abandoned_slots_are_given_back_after_the_timeout(gallery, settings):
    settings.XAI_STUDY_SLOT_TIMEOUT_MINUTES = 60
    study = make_study(gallery, conditions=[{"name": "a"}, {"name": "b"}])
    now = timezone.now()
    participant_in(study, "a", finished_at=now - timedelta(days=2))  # finished: always counts
    left = participant_in(study, "b", consented_at=now - timedelta(minutes=61))
    # b's only participant left 61 minutes ago: b is empty again, so b is least filled.
    assert rules.assign_condition(study).name == "b"

    # A round 59 minutes ago: still active, holding b's slot: now a tie.
    exploration = left.explorations.create(
        visitor="v-left", picture=gallery["coffee"], model_name="efficientnet-lite2"
    )
    Round.objects.create(
        exploration=exploration, index=0, fill="mean", created_at=now - timedelta(minutes=59)
    )
    assert {rules.assign_condition(study).name for _ in range(40)} == {"a", "b"}

    # Screened out: counted as a finished participant is, however long ago they were active
    # (failing a check on purpose must not free a slot): still a tie.
    Round.objects.filter(exploration=exploration).update(created_at=now - timedelta(days=1))
    Participant.objects.filter(pk=left.pk).update(screened_out_at=now - timedelta(days=1))
    assert {rules.assign_condition(study).name for _ in range(40)} == {"a", "b"}


def test_the_condition_is_stored_on_the_participant(client, gallery):
    study = make_study(gallery, conditions=[NOTHING_EXTRA])
    join_study(client, study, None)
    assert Participant.objects.get().condition.name == "bare"


def test_without_conditions_everything_is_shown(client, gallery):
    study = make_study(gallery)
    join_study(client, study, None)
    exploration = study_step(client, study, 1, None)
    with_a_round(exploration)
    page = client.get(f"/e/{exploration.pk}/").text
    assert Participant.objects.get().condition is None
    assert "Show the model's view" in page and "data-saliency" in page
    assert "vs. original" in page and "data-agreement" in page
    assert "Compare fills and deletion curves" in page
    fills = page.split('<select name="fill"', 1)[1].split("</select>", 1)[0]
    assert fills.count("<option value=") == len(Fill)  # every fill, the edits too


def parts_in(html: str) -> set[str]:
    markers = {
        "model view": "data-saliency",
        "deltas": "vs. previous round",
        "agreement": "data-agreement",
        "analysis": "Compare fills and deletion curves",
        "blur": '<option value="blur"',
        "edits": "data-rotate",
    }
    return {part for part, marker in markers.items() if marker in html}


def test_parts_a_condition_leaves_out_are_absent_from_the_html(gallery):
    study = make_study(gallery, conditions=[NOTHING_EXTRA, EVERYTHING])
    seen = {}
    for _ in range(2):  # the second participant gets the other condition
        browser = Client()
        join_study(browser, study, None)
        exploration = study_step(browser, study, 1, None)
        round_ = with_a_round(exploration)
        page = browser.get(f"/e/{exploration.pk}/").text
        result = browser.get(f"/e/{exploration.pk}/rounds/{round_.pk}/", headers=HTMX).text
        seen[exploration.participant.condition.name] = (parts_in(page), parts_in(result))
    assert seen["bare"] == (set(), set())
    assert seen["full"] == (
        {"model view", "deltas", "agreement", "analysis", "blur", "edits"},
        {"deltas", "agreement", "analysis"},
    )


def test_actions_a_condition_leaves_out_are_refused(client, gallery, staff):
    study = make_study(gallery, conditions=[NOTHING_EXTRA])
    join_study(client, study, None)
    exploration = study_step(client, study, 1, None)
    round_ = with_a_round(exploration)
    base = f"/e/{exploration.pk}/rounds/{round_.pk}"

    for method in (client.post, client.get):
        response = method(f"{base}/analysis/", headers=HTMX)
        assert response.status_code == 403 and "not part of the study" in response.text
    round_.refresh_from_db()
    assert round_.analysis_status == Round.AnalysisStatus.NONE
    assert client.get(f"/e/{exploration.pk}/saliency.png").status_code == 403
    assert staff.get(f"/e/{exploration.pk}/saliency.png").status_code != 403  # staff look

    def classify(fill: str):
        data = {"mask": mask_upload(mask_png((600, 400), (0, 0, 50, 50))), "fill": fill}
        return client.post(f"/e/{exploration.pk}/rounds/", data, headers=HTMX)

    refused = classify("blur")
    assert refused.status_code == 400 and "That fill is not offered here" in refused.text
    assert exploration.rounds.count() == 2  # nothing written
    assert classify("mean").status_code == 200 and exploration.rounds.count() == 3


def test_a_random_order_is_a_function_of_the_stored_seed(gallery):
    slugs = ("coffee", "chelsea", "astronaut", "rocket", "camera")
    study = make_study(gallery, slugs=slugs, order="random", min_rounds=0)
    orders = {}
    for n in range(8):
        browser = Client(REMOTE_ADDR=f"198.51.100.{n + 1}")  # eight people, eight addresses
        join_study(browser, study, None, pid=f"P-{n}")
        participant = Participant.objects.get(external_id=f"P-{n}")
        assert participant.order_seed is not None
        expected = [e.picture.slug for e in queries.steps_for(participant)]
        shown = [study_step(browser, study, k, None).picture.slug for k in (1, 2, 3, 4, 5)]
        assert shown == expected and sorted(shown) == sorted(slugs)
        # The seed alone decides it: the same seed gives the same order.
        entries = list(queries.steps_of(study))
        again = queries.order_of(list(reversed(entries)), participant.order_seed)
        assert [e.picture.slug for e in again] == expected
        orders[participant.order_seed] = tuple(shown)
    assert len(set(orders.values())) > 1  # not everybody gets one order


def test_a_fixed_order_has_no_seed_and_follows_the_positions(client, gallery):
    study = make_study(gallery, slugs=("rocket", "coffee", "chelsea"), min_rounds=0)
    join_study(client, study, None)
    assert Participant.objects.get().order_seed is None
    shown = [study_step(client, study, k, None).picture.slug for k in (1, 2, 3)]
    assert shown == ["rocket", "coffee", "chelsea"]


def test_the_practice_image_comes_first_and_needs_one_classify(client, gallery):
    study = make_study(
        gallery,
        slugs=("coffee", "chelsea", "camera"),
        practice=("camera",),
        order="random",
        min_rounds=2,
    )
    join_study(client, study, None)
    practice = study_step(client, study, 1, None)
    assert practice.picture.slug == "camera"
    page = client.get(f"/e/{practice.pk}/").text
    assert "practice image" in page and "Try it once on the practice image" in page
    assert f'href="/study/{study.slug}/step/2/"' not in page
    # Not by typing the next step, nor by coming back to the study's link.
    refused = client.get(f"/study/{study.slug}/step/2/")
    assert refused.status_code == 409 and "Back to practice image" in refused.text
    back = client.get(f"/study/{study.slug}/")
    assert back.status_code == 302 and back.url == f"/study/{study.slug}/step/1/"
    with_a_round(practice)
    page = client.get(f"/e/{practice.pk}/").text
    assert f'href="/study/{study.slug}/step/2/"' in page
    first = study_step(client, study, 2, None)
    page = client.get(f"/e/{first.pk}/").text
    assert "image 1 of 2" in page and "Image 1 needs 2 rounds of your own" in page
    with_a_round(first)  # "needs 2 rounds" counts down
    page = client.get(f"/e/{first.pk}/").text
    assert "Image 1 needs 1 more round of your own" in page
    refused = client.get(f"/study/{study.slug}/step/3/")
    assert refused.status_code == 409 and "Back to image 1" in refused.text
    assert queries.image_count(study) == 3


@pytest.mark.parametrize("fill", ["", "pink", "MEAN", "mean\x00"])
def test_a_hostile_fill_is_a_400_and_writes_nothing(client, gallery, fill):
    study = make_study(gallery, conditions=[NOTHING_EXTRA])
    join_study(client, study, None)
    exploration = study_step(client, study, 1, None)
    data = {"mask": mask_upload(mask_png((600, 400), (0, 0, 50, 50))), "fill": fill}
    response = client.post(f"/e/{exploration.pk}/rounds/", data, headers=HTMX)
    assert response.status_code == 400 and exploration.rounds.count() == 1


@pytest.mark.parametrize(
    "edit", [{"rotation": "90"}, {"flip_horizontal": "1"}, {"crop": "0,0,300,200"}]
)
def test_edits_a_condition_leaves_out_are_a_400_and_write_nothing(client, gallery, edit):
    study = make_study(gallery, conditions=[NOTHING_EXTRA])
    join_study(client, study, None)
    exploration = study_step(client, study, 1, None)
    page = client.get(f"/e/{exploration.pk}/").text
    assert 'value="crop"' not in page and "Rotate" not in page
    mask = mask_png((600, 400), (0, 0, 50, 50))
    for url in (f"/e/{exploration.pk}/rounds/", f"/e/{exploration.pk}/preview/"):
        data = {"mask": mask_upload(mask), "fill": "mean", **edit}
        response = client.post(url, data, headers=HTMX)
        assert response.status_code == 400 and "not part of this study" in response.text
    assert exploration.rounds.count() == 1
    plain = {"mask": mask_upload(mask), "fill": "mean", "rotation": "0", "crop": ""}
    assert client.post(f"/e/{exploration.pk}/rounds/", plain, headers=HTMX).status_code == 200


def test_staff_set_up_conditions_practice_and_the_platform_in_admin(staff, gallery):
    form = staff.get("/admin/painting/study/add/").text
    for field in (
        "completion_url",
        "completion_code",
        "screened_out_url",
        "screened_out_code",
        "allow_resume_elsewhere",
        'name="order"',
        "images-0-is_practice",
        "conditions-TOTAL_FORMS",
        "conditions-__prefix__-show_analysis",
        "conditions-__prefix__-show_edits",
        "time_limit_per_image_s",
        "time_limit_s",
        "min_screen_width",
        "min_screen_height",
        'name="max_consents_per_address" value="3"',
    ):
        assert field in form, field
    data = admin_study_form(
        name="Admin study",
        slug="admin-study",
        consent_text="Agree?",
        consent_version="1",
        order="random",
        allow_resume_elsewhere=True,
        completion_url="https://app.prolific.com/submissions/complete",
        completion_code="ABC",
    )
    data |= {
        "images-TOTAL_FORMS": "1",
        "images-INITIAL_FORMS": "0",
        "images-0-position": "0",
        "images-0-picture": str(gallery["camera"].pk),
        "images-0-is_practice": "on",
        # The attention-check fields as the form fills them in (not a check here).
        "images-0-check_instruction": "Paint over the red square, then press Classify.",
        "images-0-check_left": "0.35",
        "images-0-check_top": "0.35",
        "images-0-check_width": "0.3",
        "images-0-check_height": "0.3",
        "images-0-check_min_covered": "0.8",
        "images-0-check_max_outside": "0.1",
        "conditions-TOTAL_FORMS": "1",
        "conditions-INITIAL_FORMS": "0",
        "conditions-0-name": "bare",
        "conditions-0-fills": ["mean", "blur"],
    }
    response = staff.post("/admin/painting/study/add/", data)
    assert response.status_code == 302
    condition = Condition.objects.get(study__slug="admin-study")
    assert condition.fills == ["mean", "blur"] and not condition.show_model_view
    assert queries.steps_of(condition.study).get().is_practice

    data["slug"], data["conditions-0-fills"] = "other", ["pink"]
    refused = staff.post("/admin/painting/study/add/", data)
    assert refused.status_code == 200 and "Select a valid choice" in refused.text
    assert not Condition.objects.filter(study__slug="other").exists()


PLAIN = {"name": "plain", "show_analysis": False, "fills": ["mean", "blur"]}
TECHNICAL = ["IoU", "AUC", "RISE", "ImageNet", "efficientnet", "EfficientNet"]


def test_a_participant_without_the_analysis_reads_plain_words(client, gallery):
    """No IoU, AUC, RISE, ImageNet mean colour or model name on their page (the agreement
    reading stays, in words); a condition with the analysis, and staff, keep the terms."""
    study = make_study(gallery, conditions=[PLAIN])
    join_study(client, study, None)
    exploration = study_step(client, study, 1, None)
    with_a_round(exploration)
    page = client.get(f"/e/{exploration.pk}/").text
    assert "data-agreement" in page and "Flat grey" in page and "Blurred" in page
    assert [term for term in TECHNICAL if term in page] == []

    full = make_study(gallery, slug="full", conditions=[{"name": "full"}])
    other = Client()
    join_study(other, full, None)
    exploration = study_step(other, full, 1, None)
    with_a_round(exploration)
    page = other.get(f"/e/{exploration.pk}/").text
    assert "IoU" in page and "ImageNet mean colour" in page


def test_the_fill_comparison_lists_only_the_conditions_fills(client, gallery):
    study = make_study(gallery, conditions=[{"name": "two", "fills": ["mean", "black"]}])
    join_study(client, study, None)
    exploration = study_step(client, study, 1, None)
    round_ = with_a_round(exploration)
    others = [
        {"fill": f, "label": "cup", "probability": 0.2, "original_probability": 0.1}
        for f in ("black", "blur", "inpaint", "road")
    ]
    curve = [0.5] * 11
    Round.objects.filter(pk=round_.pk).update(
        analysis_status=Round.AnalysisStatus.DONE,
        analysis={"fills": others, "user": curve, "model": curve, "painted_fraction": 0.2},
    )
    page = client.get(f"/e/{exploration.pk}/").text
    table = page[page.index('class="fills"') :]
    table = table[: table.index("</table>")]
    assert "Black" in table
    assert [name for name in ("Blur", "Inpaint", "ROAD") if name in table] == []
    fragment = client.get(f"/e/{exploration.pk}/rounds/{round_.pk}/analysis/").text
    assert "Black" in fragment and "Inpaint" not in fragment
