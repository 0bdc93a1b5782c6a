"""Understanding tests (understanding.py): the study file's tests, the trials' material and
pages, the answers (hostile ones refused with nothing written), the flow around the images,
static explanation viewing, trials.csv and the dashboard's scores."""

from __future__ import annotations

import io
import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pandas
import pytest
from django.test import Client
from PIL import Image

from painting.inference.classifier import load_classifier
from painting.models import Study, TrialAnswer
from painting.studies import files as study_files
from painting.studies.export import archive as exports
from painting.studies.understanding import stats as understanding_stats
from painting.studies.understanding import trials as understanding
from tests.helpers import join_study, make_study, photo

PREPARE_TASK = "painting.tasks.prepare_study_tests"  # its name since before it moved

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def tiny(tiny_model_name):
    return load_classifier(tiny_model_name, "torch")


def _top(tiny, slug, k=5):
    return [p.label for p in tiny.classify([photo(slug)], k=k)[0].top]


@pytest.fixture
def tested(gallery, tiny, tiny_model_name, settings):
    """A study of one image whose tests have one trial of each kind, and a distinction the
    (tiny) model gets wrong; prepared with the tiny model."""
    from painting.studies.understanding import prepare as understanding_prepare

    coffee, chelsea = _top(tiny, "coffee"), _top(tiny, "chelsea")
    wrong = next(c for c in understanding.class_names() if c not in chelsea)
    study = make_study(gallery, slugs=("coffee",), min_rounds=0)
    study.tests, problems = understanding.check_tests(
        {
            "pre": [
                {"kind": "distinction", "image": "coffee", "true_class": coffee[0]},
                {"kind": "agreement", "image": "chelsea", "true_class": wrong},
            ],
            "post": [
                {"kind": "distinction", "image": "chelsea", "true_class": wrong},
                {
                    "kind": "simulation",
                    "image": "coffee",
                    "mask": {"left": 0.25, "top": 0.25, "width": 0.5, "height": 0.5},
                    "fill": "black",
                },
            ],
        }
    )
    assert problems == []
    study.save()
    understanding_prepare.prepare(study, tiny_model_name)
    return study


def _answer(client, study, phase, number, **data):
    return client.post(f"/study/{study.slug}/test/{phase}/{number}/", data)


# --- The study file ---------------------------------------------------------------------------


def test_the_example_study_loads_with_ten_trials_each_half_right(gallery):
    data = json.loads((ROOT / "docs/understanding_study.json").read_text())
    study, created = study_files.load(data)
    assert created and len(study.tests["pre"]) == len(study.tests["post"]) == 10
    assert {c.name: c.static_viewing for c in study.conditions.all()} == {
        "painting": False,
        "static-gradcam": True,
        "both": False,
    }
    again = study_files.dump(study)
    assert again["tests"]["pre"][0] == {
        "kind": "distinction",
        "image": "coffee",
        "true_class": "espresso",
    }
    assert study_files.load(again)[0].tests == study.tests


def test_a_bad_tests_block_is_refused_with_every_problem_and_nothing_written(gallery):
    data = json.loads((ROOT / "docs/understanding_study.json").read_text())
    data["tests"]["pre"] = [
        {"kind": "distinction", "image": "coffee", "true_class": "expresso"},
        {"kind": "agreement", "image": "not-in-gallery", "true_class": "espresso"},
        {
            "kind": "simulation",
            "image": "coffee",
            "mask": {"left": 0.8, "top": 0, "width": 0.5, "height": 0.2},
        },  # fmt: skip
        {
            "kind": "simulation",
            "image": "coffee",
            "mask": {"left": -1, "top": 0, "width": 1, "height": 1},
        },  # fmt: skip
        {"kind": "agreement", "image": "astronaut"},  # not in the file's true_classes
        {"kind": "quiz", "image": "coffee"},
    ]
    with pytest.raises(study_files.StudyFileError) as error:
        study_files.load(data)
    text = str(error.value)
    for expected in (
        "tests.pre[1]: unknown class 'expresso'",
        "tests.pre[2]: unknown image 'not-in-gallery'",
        "tests.pre[3].mask: out of bounds",
        "tests.pre[4].mask: out of bounds",
        "tests.pre[5]: agreement trials need the image's true_class",
        "tests.pre[6]: kind must be one of",
    ):
        assert expected in text, text
    assert not Study.objects.exists()


# --- Material and pages -----------------------------------------------------------------------


def test_distinction_heatmaps_are_the_top4_or_top3_and_truth_on_one_scale(
    tested, tiny, client, on_commit
):
    from painting.studies.understanding import prepare as understanding_prepare

    join_study(client, tested, on_commit)
    participant = tested.participants.get()
    trials = tested.test_material["trials"]
    right, wrong = trials["pre-1"], trials["post-1"]
    assert right["model_right"] is True and right["classes"] == _top(tiny, "coffee", 4)
    truth = tested.tests["post"][0]["true_class"]
    assert wrong["model_right"] is False and wrong["classes"] == [*_top(tiny, "chelsea", 3), truth]

    # One normalisation: the stored maps are the raw maps over their common maximum.
    labels = understanding.class_names()
    for made, slug in ((right, "coffee"), (wrong, "chelsea")):
        raw = [
            understanding_prepare.raw_map(tiny, photo(slug), labels.index(c), "gradcam")[0]
            for c in made["classes"]
        ]
        top = max(r.max() for r in raw)
        assert made["scale"] == pytest.approx(top, rel=0.1)  # upsampled: peaks move a little
        stored = [np.asarray(Image.open(_path(made["maps"][c]))) for c in made["classes"]]
        assert max(s.max() for s in stored) >= 250  # the strongest reaches the top
        # Each keeps its size against the strongest (a map scaled alone would reach 255).
        for r, s in zip(raw, stored, strict=True):
            assert s.max() / 255 == pytest.approx(r.max() / top, abs=0.06)
        assert min(s.max() for s in stored) < 0.9 * 255

    # The page shows the four pictures, in the participant's order, names hidden.
    page = client.get(f"/study/{tested.slug}/test/pre/1/")
    assert page.status_code == 200
    html = page.content.decode()
    shown = understanding.trial_for(participant, "pre", 1)
    assert sorted(shown.options) == sorted(right["classes"])
    for name in right["classes"]:
        assert name not in html
    for index, name in enumerate(shown.options):
        served = client.get(f"/study/{tested.slug}/test/pre/1/{index}.png")
        assert b"".join(served.streaming_content) == Path(_path(right["images"][name])).read_bytes()
    assert client.get(f"/study/{tested.slug}/test/pre/1/4.png").status_code == 404
    assert Client().get(f"/study/{tested.slug}/test/pre/1/0.png").status_code == 404  # not theirs


def _path(name: str) -> str:
    from django.core.files.storage import default_storage

    return default_storage.path(name)


def test_simulation_offers_the_models_answer_and_three_of_its_top5(tested, client, on_commit):
    join_study(client, tested, on_commit)
    participant = tested.participants.get()
    made = tested.test_material["trials"]["post-2"]
    trial = understanding.trial_for(participant, "post", 2)
    assert made["model_answer"] == made["classes"][0] and made["model_answer"] in trial.options
    assert len(trial.options) == 4 and set(trial.options) <= set(made["classes"])
    masked = Image.open(_path(made["image"]))
    assert np.asarray(masked)[masked.height // 2, masked.width // 2].tolist() == [0, 0, 0]


def test_tests_saved_in_admin_are_prepared_by_the_task_sent_by_name(
    gallery, tiny_model_name, settings, on_commit
):
    """dispatch sends the material's task by its name (studies/understanding/tasks.py, which
    dispatch does not import): the app registers it, it goes to the analysis worker's queue,
    and it prepares the material."""
    from painting import dispatch
    from xaiproject.celery import app as celery_app

    assert PREPARE_TASK in celery_app.tasks
    assert celery_app.amqp.router.route({}, PREPARE_TASK)["queue"].name == "analysis"
    settings.XAI_MODEL = tiny_model_name
    study = make_study(gallery, slugs=("coffee",), min_rounds=0)
    pre = [{"kind": "agreement", "image": "coffee", "true_class": "espresso"}]
    study.tests, problems = understanding.check_tests({"pre": pre})
    assert problems == []
    study.save()
    with on_commit(execute=True):
        dispatch.enqueue_test_material(study.pk)
    study.refresh_from_db()
    assert study.test_material["model"] == tiny_model_name
    assert study.test_material["trials"]["pre-1"]["kind"] == "agreement"


# --- Answers and the flow ---------------------------------------------------------------------


def test_a_participant_answers_before_and_after_the_images(tested, client, on_commit):
    response = join_study(client, tested, on_commit)
    assert client.get(response.url).url.endswith("/test/pre/1/")  # the study starts with them
    assert client.get(f"/study/{tested.slug}/step/1/").url.endswith("/test/pre/1/")
    participant = tested.participants.get()
    distinction = understanding.trial_for(participant, "pre", 1)
    model_at = distinction.options.index(distinction.model_answer)
    wrong_at = (model_at + 1) % 4
    r = _answer(client, tested, "pre", 1, q1=model_at, c1=4, q2=wrong_at, c2=2, ms=5321)
    assert r.status_code == 302 and r.url.endswith("/test/pre/2/")
    # Back to the answered question (or ahead to the post test): sent on where they are.
    for page in ("pre/1", "post/1"):
        assert client.get(f"/study/{tested.slug}/test/{page}/").url == "/study/masks/step/1/"
    # Post before the images: refused.
    assert _answer(client, tested, "post", 1, q1=0, c1=1, q2=0, c2=1).status_code == 409
    r = _answer(client, tested, "pre", 2, q1=1, ms="junk")  # "somewhat sure it is incorrect"
    assert r.status_code == 302 and r.url.endswith("/step/1/")
    first, second = TrialAnswer.objects.order_by("number")
    assert (first.correct_1, first.correct_2, first.confidence_1, first.response_ms) == (
        True,
        distinction.options[wrong_at] == distinction.true_class,
        4,
        5321,
    )
    assert first.options == distinction.options and first.answer_1 == distinction.model_answer
    # The model is wrong on chelsea: "somewhat confident it is incorrect" is right.
    assert second.correct_1 is True and second.confidence_1 is None and second.response_ms is None

    # The image (min_rounds 0), then Finish sends them to the post test, then Finish.
    assert client.get(f"/study/{tested.slug}/finish/").url.endswith("/test/post/1/")
    for number in (1, 2):
        data = {"q1": 0, "c1": 3} | ({"q2": 1, "c2": 3} if number == 1 else {})
        r = _answer(client, tested, "post", number, **data)
        assert r.status_code == 302
    assert r.url.endswith("/finish/")
    assert client.post(f"/study/{tested.slug}/finish/", {"answer": ""}).status_code == 200
    assert TrialAnswer.objects.count() == 4
    # After the block, and after finishing: refused, nothing written.
    assert _answer(client, tested, "post", 2, q1=0, c1=3).status_code == 403


@pytest.mark.parametrize(
    "data, status",
    [
        ({"q1": 4, "c1": 3, "q2": 0, "c2": 3}, 400),  # an option not shown
        ({"q1": -1, "c1": 3, "q2": 0, "c2": 3}, 400),
        ({"q1": "espresso", "c1": 3, "q2": 0, "c2": 3}, 400),
        ({"q1": 0, "c1": 6, "q2": 0, "c2": 3}, 400),  # confidence out of range
        ({"q1": 0, "c1": 0, "q2": 0, "c2": 3}, 400),
        ({"q1": 0, "c1": 3}, 400),  # Q2 left out
        ({"q1": "0\x00", "c1": "3", "q2": "0", "c2": "3"}, 400),
    ],
)
def test_hostile_answers_are_refused_and_nothing_is_written(
    tested, client, on_commit, data, status
):
    join_study(client, tested, on_commit)
    response = _answer(client, tested, "pre", 1, **data)
    assert response.status_code == status
    assert not TrialAnswer.objects.exists()


def test_a_second_answer_another_browser_and_out_of_turn_are_refused(tested, client, on_commit):
    join_study(client, tested, on_commit)
    answer = {"q1": 0, "c1": 3, "q2": 0, "c2": 3}
    assert _answer(client, tested, "pre", 2, q1=1).status_code == 409  # not its turn yet
    assert _answer(client, tested, "pre", 1, **answer).status_code == 302
    assert _answer(client, tested, "pre", 1, **answer).status_code == 409  # a second answer
    assert _answer(client, tested, "pre", 3, q1=0).status_code == 404  # no such trial
    assert _answer(client, tested, "later", 1, q1=0).status_code == 404
    assert _answer(Client(), tested, "pre", 2, q1=0).status_code == 404  # not a participant
    assert TrialAnswer.objects.count() == 1
    # Stale material (the tests changed since prepare_tests): not shown, nothing recorded.
    tested.tests["pre"][1]["true_class"] = "tabby"
    tested.save()
    assert _answer(client, tested, "pre", 2, q1=0).status_code == 503
    assert TrialAnswer.objects.count() == 1


def test_answers_are_rate_limited(tested, client, on_commit, settings):
    settings.XAI_RATE_LIMITS = {**settings.XAI_RATE_LIMITS, "trial": (2, 60)}
    join_study(client, tested, on_commit)
    for _ in range(2):
        assert _answer(client, tested, "pre", 1, q1=9).status_code == 400
    assert _answer(client, tested, "pre", 1, q1=0, c1=3, q2=0, c2=3).status_code == 429
    assert not TrialAnswer.objects.exists()


def test_static_viewing_shows_the_models_answer_and_no_canvas(gallery, tiny_model_name, client,
                                                                on_commit):  # fmt: skip
    from painting.studies.understanding import prepare as understanding_prepare

    study = make_study(
        gallery, slugs=("coffee", "chelsea"), min_rounds=2,
        conditions=[{"name": "static", "static_viewing": True}],
    )  # fmt: skip
    study.tests, _ = understanding.check_tests({"post": [{"kind": "simulation", "image": "coffee",
        "mask": {"left": 0, "top": 0, "width": 0.5, "height": 0.5}}]})  # fmt: skip
    study.save()
    material = understanding_prepare.prepare(study, tiny_model_name)
    join_study(client, study, on_commit)
    assert client.get(f"/study/{study.slug}/step/2/").status_code == 409  # step 1 first
    page = client.get(f"/study/{study.slug}/step/1/")
    assert page.status_code == 200
    html = page.content.decode()
    answer = material["images"][str(gallery["coffee"].pk)]["answer"]
    assert answer in html and "data-canvas" not in html and "Classify" not in html
    image = client.get(f"/study/{study.slug}/step/1/view.png")
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert client.get(f"/study/{study.slug}/step/2/").status_code == 200  # no rounds needed
    assert client.get(f"/study/{study.slug}/finish/").url.endswith("/test/post/1/")


# --- Statistics, export, dashboard ------------------------------------------------------------


def test_the_t_distribution_matches_scipy():
    from scipy import stats

    for df in (1, 2, 3, 4, 7, 12, 29, 100):
        assert understanding_stats.t_quantile(0.975, df) == pytest.approx(
            stats.t.ppf(0.975, df), rel=1e-9
        )
        for t in (-3.2, -0.4, 0.0, 0.7, 2.1, 8.5):
            assert understanding_stats.t_cdf(t, df) == pytest.approx(stats.t.cdf(t, df), abs=1e-12)
            assert understanding_stats.t_two_sided_p(t, df) == pytest.approx(
                2 * stats.t.sf(abs(t), df), abs=1e-12
            )


def test_summaries_and_paired_differences_by_hand():
    # Three participants' accuracies 0.5, 0.75, 1.0 against chance 0.25: mean 0.75, SD 0.25,
    # t = (0.75 - 0.25) / (0.25 / sqrt 3) = 2 sqrt 3 = 3.4641, df 2.
    s = understanding_stats.summary([0.5, 0.75, 1.0], 0.25)
    assert (s.n, s.mean, s.sd) == (3, 0.75, 0.25) and s.t == pytest.approx(2 * math.sqrt(3))
    # Post - pre: 0.25, 0.5, 0.0: mean 0.25, SD 0.25, CI 0.25 ± 4.302653 × 0.25 / sqrt 3.
    d = understanding_stats.paired(
        {"a": 0.25, "b": 0.25, "c": 1.0}, {"a": 0.5, "b": 0.75, "c": 1.0}
    )
    half = 4.302652729749464 * 0.25 / math.sqrt(3)
    assert d.n == 3 and d.mean == pytest.approx(0.25)
    assert (d.low, d.high) == (pytest.approx(0.25 - half), pytest.approx(0.25 + half))


def _pilot(study, gallery):
    """Answers of three participants of one condition, written as record() writes them."""
    from painting.studies import rules

    rows = {
        # participant: [(phase, number, kind, model_right, correct_1, correct_2)]
        "P1": [("pre", 1, "agreement", True, 0, None), ("pre", 2, "agreement", False, 1, None),
               ("post", 1, "agreement", True, 1, None), ("post", 2, "agreement", False, 1, None)],
        "P2": [("pre", 1, "agreement", True, 1, None), ("pre", 2, "agreement", False, 0, None),
               ("post", 1, "agreement", True, 1, None), ("post", 2, "agreement", False, 0, None)],
        "P3": [("pre", 1, "agreement", True, 0, None), ("pre", 2, "agreement", False, 0, None),
               ("post", 1, "agreement", True, 1, None), ("post", 2, "agreement", False, 1, None)],
    }  # fmt: skip
    for code, answers in rows.items():
        participant = rules.consent(study, external_id=code)
        for phase, number, kind, model_right, c1, _c2 in answers:
            TrialAnswer.objects.create(
                participant=participant, phase=phase, number=number, kind=kind,
                picture=gallery["coffee"], true_class="espresso",
                model_answer="espresso" if model_right else "cup", model_right=model_right,
                options=list(understanding.AGREEMENT_SCALE),
                answer_1=understanding.AGREEMENT_SCALE[3 if c1 == model_right else 0],
                confidence_1=None, correct_1=bool(c1), response_ms=1000 * number,
            )  # fmt: skip


def test_trials_csv_and_the_dashboard_by_hand(gallery, staff):
    study = make_study(gallery, slugs=("coffee",), conditions=[{"name": "paint"}])
    study.tests = {"pre": [{}], "post": [{}]}  # any tests: the dashboard shows the scores
    study.save()
    _pilot(study, gallery)
    archive = io.BytesIO()
    exports.write_study_zip(study, archive)
    with zipfile.ZipFile(archive) as z:
        trials = pandas.read_csv(z.open("trials.csv"))
        readme = z.read("README.txt").decode()
    assert len(trials) == 12 and "trials.csv:" in readme and "response_ms:" in readme
    assert list(trials.phase[:2]) == ["pre", "pre"] and trials.correct_1.dtype == np.int64
    assert trials.groupby("phase").correct_1.mean().to_dict() == {"pre": 2 / 6, "post": 5 / 6}
    assert trials.chance.unique().tolist() == [0.5]
    assert trials.options[0].split(" | ") == list(understanding.AGREEMENT_SCALE)

    # Per participant (all predictions): pre 0.5, 0.5, 0 (mean 1/3, SD 0.288675);
    # post 1, 0.5, 1 (mean 5/6, SD 0.288675); post - pre 0.5, 0, 1: mean 0.5, SD 0.5,
    # CI 0.5 ± 4.302653 × 0.5 / sqrt 3 = -0.742 to 1.742; post vs chance t = (5/6 - 1/2) /
    # (0.288675 / sqrt 3) = 2.0, p = 0.1835.
    html = staff.get(f"/review/studies/{study.slug}/").content.decode()
    row = html.split('data-row="paint|agreement|all"')[1].split("</tr>")[0]
    assert "0.333 ± 0.289" in row and "0.833 ± 0.289" in row
    assert "t(2) = 2.00, p = 0.184" in row
    assert "0.500 (-0.742 to 1.742) n=3" in row
    right = html.split('data-row="paint|agreement|model right"')[1].split("</tr>")[0]
    assert "0.333 ± 0.577" in right and "1.000" in right  # pre 0, 1, 0; post 1, 1, 1
    assert "data-understanding-plot" in html and 'data-line="paint"' in html


def test_admin_refuses_bad_tests_with_every_problem_and_takes_stored_ones_back(tested):
    from django.forms import modelform_factory

    from painting.admin import StudyForm

    form_class = modelform_factory(Study, form=StudyForm, fields=["tests"])
    outside = {"left": 2, "top": 0, "width": 1, "height": 1}
    bad = {
        "pre": [
            {"kind": "agreement", "image": "coffee", "true_class": "expresso"},
            {"kind": "simulation", "image": "nowhere", "mask": outside},
        ]
    }
    form = form_class(data={"tests": json.dumps(bad)}, instance=tested)
    assert not form.is_valid()
    errors = " ".join(form.errors["tests"])
    assert "unknown class 'expresso'" in errors and "unknown image 'nowhere'" in errors
    assert "out of bounds" in errors
    tested.refresh_from_db()
    assert tested.tests["pre"][0]["kind"] == "distinction"  # unchanged
    again = form_class(data={"tests": json.dumps(tested.tests)}, instance=tested)
    assert again.is_valid(), again.errors
    assert again.cleaned_data["tests"] == tested.tests


def test_a_simulation_masks_by_a_mask_file(gallery, tiny_model_name, tmp_path):
    from painting.studies.understanding import prepare as understanding_prepare

    mask = Image.new("L", (300, 200), 0)
    mask.paste(255, (100, 50, 200, 150))  # the middle third of coffee (600 × 400)
    mask.save(tmp_path / "middle.png")
    Image.new("L", (200, 200), 255).save(tmp_path / "square.png")
    (tmp_path / "junk.png").write_bytes(b"not an image")
    data = json.loads((ROOT / "docs/understanding_study.json").read_text())
    trial = {"kind": "simulation", "image": "coffee", "fill": "black"}
    data["tests"] = {
        "pre": [trial | {"mask": "square.png"}, trial | {"mask": "junk.png"}],
        "post": [trial | {"mask": "missing.png"}],
    }
    with pytest.raises(study_files.StudyFileError) as error:
        study_files.load(data, base_dir=tmp_path)
    assert "tests.pre[1]: mask file out of bounds" in str(error.value)
    assert "tests.pre[2]: mask file 'junk.png' cannot be read" in str(error.value)
    assert "tests.post[1]: mask file 'missing.png' cannot be read" in str(error.value)
    assert not Study.objects.exists()

    data["tests"] = {"pre": [trial | {"mask": "middle.png"}]}
    study, _ = study_files.load(data, base_dir=tmp_path)
    assert set(study.tests["pre"][0]["mask"]) == {"png"}  # kept in the study, small
    assert study_files.load(study_files.dump(study))[0].tests == study.tests
    made = understanding_prepare.prepare(study, tiny_model_name)["trials"]["pre-1"]
    masked = np.asarray(Image.open(_path(made["image"])).convert("RGB"))
    height, width = masked.shape[:2]
    assert masked[height // 2, width // 2].tolist() == [0, 0, 0]
    assert masked[5, 5].tolist() != [0, 0, 0]


def test_a_study_of_tests_only_goes_from_pre_to_post_to_finish(tested, client, on_commit):
    tested.images.all().delete()
    join_study(client, tested, on_commit)
    answers = {"q1": 0, "c1": 2, "q2": 0, "c2": 2}
    assert _answer(client, tested, "pre", 1, **answers).url.endswith("/test/pre/2/")
    finish = _answer(client, tested, "pre", 2, q1=0).url
    assert finish.endswith("/finish/") and client.get(finish).url.endswith("/test/post/1/")


def test_screening_out_or_withdrawing_deletes_the_answers(tested, client, on_commit):
    from painting.studies import rules

    join_study(client, tested, on_commit)
    participant = tested.participants.get()
    _answer(client, tested, "pre", 1, q1=0, c1=2, q2=0, c2=2)
    assert TrialAnswer.objects.count() == 1
    rules.screen_out(participant)
    assert not TrialAnswer.objects.exists()
    other = Client()
    join_study(other, tested, on_commit, pid="OTHER")
    _answer(other, tested, "pre", 1, q1=0, c1=2, q2=0, c2=2)
    assert "Withdraw" in other.get(f"/study/{tested.slug}/test/pre/2/").content.decode()
    assert other.post(f"/study/{tested.slug}/withdraw/").status_code == 200
    assert not TrialAnswer.objects.exists()


@pytest.mark.slow
@pytest.mark.real_model
def test_the_example_study_has_five_photos_the_default_model_gets_right_and_five_wrong(gallery):
    from painting import originals
    from painting.inference import registry

    model = load_classifier(registry.default_model_name())
    data = json.loads((ROOT / "docs/understanding_study.json").read_text())
    truths = data["tests"]["true_classes"]
    right = set()
    for slug, truth in truths.items():
        picture = gallery[slug]
        image = originals.original_image(picture.pk, picture.sha256)
        if model.classify([image], k=1)[0].top[0].label == truth:
            right.add(slug)
    assert right == {"coffee", "clock", "camera", "palace", "rocket-close"}
    assert len(truths) == 10
    for phase in ("pre", "post"):
        assert {t["image"] for t in data["tests"][phase]} == set(truths)
