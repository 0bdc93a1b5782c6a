"""Several explanation methods per exploration, computed on the (eager) analysis worker, and the
alignment of each round, exploration and image with each: stored, shown, refused where a study
fixes the method."""

import pytest
from django.test import Client

from painting.inference import gradcam
from painting.inference.methods import METHODS
from painting.models import Exploration
from tests.helpers import (
    HTMX,
    classify,
    join_study,
    make_study,
    mask_png,
    start,
    study_step,
)

ALL = list(METHODS)
CHEAP = ["gradcam", "hirescam", "eigencam"]  # one forward (and backward) pass each
CUP = (180, 60, 430, 300)  # over the espresso cup of the 600×400 coffee photo
CORNER = (125, 310, 195, 375)  # a corner inside the model's crop (x 125–475, y 25–375)


@pytest.fixture
def every_method(settings):
    settings.XAI_EXPLANATION_METHODS = ALL


@pytest.mark.real_model  # the cup is what the real model looks at
@pytest.mark.slow
def test_every_method_is_stored_and_each_round_is_scored_against_each(
    client, gallery, on_commit, every_method
):
    exploration = start(client, gallery["coffee"], on_commit)
    classify(client, exploration, on_commit, mask_png((600, 400), CUP))
    classify(client, exploration, on_commit, mask_png((600, 400), CORNER))
    exploration.refresh_from_db()
    assert sorted(exploration.explanations) == sorted(ALL)
    assert exploration.explanations["gradcam"] == exploration.saliency.name
    over_cup, corner = exploration.rounds.get(index=1), exploration.rounds.get(index=2)
    for method in ALL:
        assert over_cup.alignment[method]["relevance_mass"] < 0.9
        assert corner.alignment[method]["relevance_mass"] > 0.95  # kept all that matters
    assert over_cup.alignment["gradcam"]["spearman"] < corner.alignment["gradcam"]["spearman"]
    assert sorted(exploration.alignment) == sorted(ALL)  # the mean of both masks

    for method in ALL:
        overlay = client.get(f"/e/{exploration.pk}/explanations/{method}.png")
        assert overlay.status_code == 200 and overlay["Content-Type"] == "image/png"
        assert Client().get(f"/e/{exploration.pk}/explanations/{method}.png").status_code == 404
    for hostile in ("nope", "GRADCAM", "gradcam%00", "..%2Fsaliency"):
        assert client.get(f"/e/{exploration.pk}/explanations/{hostile}.png").status_code == 404

    page = client.get(f"/e/{exploration.pk}/").content.decode()
    assert page.count("data-method=") >= 2 * len(ALL)  # the menu, and the table's rows
    assert "data-saliency-method" in page and "data-alignment" in page
    fragment = client.get(f"/e/{exploration.pk}/rounds/{corner.pk}/", headers=HTMX)
    assert "Relevance mass" in fragment.content.decode()


@pytest.mark.slow
def test_a_second_exploration_of_the_photo_copies_the_maps(
    client, gallery, on_commit, settings, monkeypatch
):
    settings.XAI_EXPLANATION_METHODS = CHEAP
    first = start(client, gallery["coffee"], on_commit)

    def not_again(*args, **kwargs):
        raise AssertionError("computed again")

    monkeypatch.setattr(gradcam, "explanation_map", not_again)
    second = start(Client(), gallery["coffee"], on_commit)
    first.refresh_from_db()
    second.refresh_from_db()
    assert sorted(second.explanations) == sorted(CHEAP)
    for method in CHEAP:
        a, b = first.explanations[method], second.explanations[method]
        assert a != b and str(second.pk) in b  # in its own folder: it goes with it
        with (
            open(first.saliency.storage.path(a), "rb") as f,
            open(second.saliency.storage.path(b), "rb") as g,
        ):
            assert f.read() == g.read()


def test_a_study_condition_fixes_the_method(client, gallery, on_commit, settings):
    settings.XAI_EXPLANATION_METHODS = ["gradcam"]
    study = make_study(gallery, conditions=[{"name": "eigen", "explanation_method": "eigencam"}])
    join_study(client, study, on_commit)
    exploration = study_step(client, study, 1, on_commit)
    exploration.refresh_from_db()
    # Computed for the condition although the worker's list has only Grad-CAM.
    assert sorted(exploration.explanations) == ["eigencam", "gradcam"]
    page = client.get(f"/e/{exploration.pk}/").content.decode()
    assert "data-saliency-method" not in page and "by EigenCAM" in page
    assert f"/e/{exploration.pk}/explanations/eigencam.png" in page
    assert client.get(f"/e/{exploration.pk}/explanations/eigencam.png").status_code == 200
    for other in (
        f"/e/{exploration.pk}/explanations/gradcam.png",
        f"/e/{exploration.pk}/saliency.png",
    ):
        refused = client.get(other)
        assert refused.status_code == 403 and "not part of the study" in refused.content.decode()


def test_picking_another_method_in_the_menu_computes_it(client, gallery, on_commit):
    # Unasked, the worker computes Grad-CAM only (XAI_EXPLANATION_METHODS); the menu has all.
    exploration = start(client, gallery["coffee"], on_commit)
    classify(client, exploration, on_commit, mask_png((600, 400), CUP))
    exploration.refresh_from_db()
    assert list(exploration.explanations) == ["gradcam"]
    page = client.get(f"/e/{exploration.pk}/").content.decode()
    for method in ALL:
        assert f"/e/{exploration.pk}/explanations/{method}.png" in page

    url = f"/e/{exploration.pk}/explanations/eigencam.png"
    assert Client().get(url).status_code == 404  # not theirs: nothing is computed for them
    with on_commit(execute=True):  # the task runs after the response, like a busy worker
        asked = client.get(url)
    assert asked.status_code == 404 and "EigenCAM is not ready yet" in asked.content.decode()
    exploration.refresh_from_db()
    assert sorted(exploration.explanations) == ["eigencam", "gradcam"]
    assert sorted(exploration.rounds.get(index=1).alignment) == ["eigencam", "gradcam"]
    shown = client.get(url)
    assert shown.status_code == 200 and shown["Content-Type"] == "image/png"

    with on_commit(execute=True) as sent:  # asked once while it is on its way
        client.get(f"/e/{exploration.pk}/explanations/hirescam.png")
        client.get(f"/e/{exploration.pk}/explanations/hirescam.png")
    assert len(sent) == 1


def test_asking_for_methods_is_rate_limited(client, gallery, on_commit, settings):
    settings.XAI_RATE_LIMITS = {**settings.XAI_RATE_LIMITS, "analysis": (1, 60)}
    exploration = start(client, gallery["coffee"], on_commit)
    with on_commit(execute=False):
        assert client.get(f"/e/{exploration.pk}/explanations/hirescam.png").status_code == 404
        refused = client.get(f"/e/{exploration.pk}/explanations/eigencam.png")
    assert refused.status_code == 429 and "more than 1 analyses" in refused.content.decode()
    exploration.refresh_from_db()
    assert list(exploration.explanations) == ["gradcam"]


@pytest.mark.real_model  # the cup is what the real model looks at
@pytest.mark.slow
def test_the_image_summary_shows_methods_side_by_side_with_the_ceiling(
    client, staff, gallery, on_commit, settings
):
    settings.XAI_EXPLANATION_METHODS = CHEAP
    coffee = gallery["coffee"]
    people = [client, Client(), Client()]
    for n, person in enumerate(people):
        exploration = start(person, coffee, on_commit)
        # Strips from the left into the model's crop (x 125–475), each a little wider.
        classify(person, exploration, on_commit, mask_png((600, 400), (0, 0, 200 + 40 * n, 400)))
    page = staff.get(f"/review/images/{coffee.pk}/").content.decode()
    assert "data-image-alignment" in page and "from <span data-people>3</span> people" in page
    assert "Human ceiling (split-half Spearman): unknown" not in page
    for method in CHEAP:
        assert f'data-method="{method}"' in page
        url = f"/review/images/{coffee.pk}/explanations/efficientnet-lite2/{method}.png"
        assert url in page and staff.get(url).status_code == 200
        assert client.get(url).status_code == 302  # to the admin login: staff only
    assert page.count("data-alignment-score") == len(CHEAP)
    bad = f"/review/images/{coffee.pk}/explanations/efficientnet-lite2/nope.png"
    assert staff.get(bad).status_code == 404
    assert Exploration.objects.filter(picture=coffee).count() == 3


def test_the_image_summary_of_an_unexplored_image_says_so(staff, gallery):
    page = staff.get(f"/review/images/{gallery['chelsea'].pk}/").content.decode()
    assert "No model's view has been computed for this image yet." in page


@pytest.mark.real_model  # the cup is what the real model looks at
@pytest.mark.slow
def test_rise_deletion_and_insertion_in_the_persons_order_and_the_heatmaps(
    client, staff, gallery, on_commit
):
    exploration = start(client, gallery["coffee"], on_commit)
    # Painted over the cup: what this person kept (and deletes first) is the table around it.
    classify(client, exploration, on_commit, mask_png((600, 400), CUP))
    round_ = exploration.rounds.get(index=1)
    url = f"/e/{exploration.pk}/rounds/{round_.pk}/analysis/"
    with on_commit(execute=True):
        client.post(url, headers=HTMX)
    round_.refresh_from_db()
    rise = round_.analysis["rise"]
    original = exploration.rounds.get(index=0).top[0]["probability"]
    assert rise["method"] == "gradcam"
    for who in ("person", "heatmap"):
        deletion, insertion = rise[who]["deletion"], rise[who]["insertion"]
        assert len(deletion) == len(insertion) == 11
        assert deletion[0] == insertion[-1] == pytest.approx(original)
        assert 0 <= rise[who]["deletion_auc"] <= 1 and 0 <= rise[who]["insertion_auc"] <= 1
    # The heatmap's order takes the cup away first: the espresso goes sooner than in the
    # order of someone who kept everything but the cup, and comes back sooner on insertion.
    assert rise["heatmap"]["deletion_auc"] < rise["person"]["deletion_auc"]
    assert rise["heatmap"]["insertion_auc"] > rise["person"]["insertion_auc"]
    assert "Deletion AUC" in client.get(url, headers=HTMX).content.decode()
    summary = staff.get(f"/review/images/{exploration.picture_id}/").content.decode()
    assert "<span data-rise-rounds>1</span> analysed round" in summary
