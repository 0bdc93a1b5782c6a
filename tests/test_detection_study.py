"""The detect task in a study: chosen per condition or per image (the image's wins), in the
study file, and its detections.csv in the export."""

import csv
import io
import zipfile

import pytest
from django.test import Client

from painting.models import Task
from painting.studies import files as study_files
from painting.studies.export.archive import write_study_zip
from painting.studies.export.detections import COLUMNS
from tests.helpers import HTMX, join_study, make_study, mask_png, mask_upload, study_step

pytestmark = pytest.mark.real_model


def test_a_condition_detects_and_the_export_has_its_detections(gallery, on_commit):
    study = make_study(
        gallery, slugs=("grace-hopper", "coffee"), conditions=[{"name": "boxes", "task": "detect"}]
    )
    browser = Client()
    join_study(browser, study, on_commit)
    exploration = study_step(browser, study, 1, on_commit)
    assert exploration.task == Task.DETECT and exploration.model_name == "yolov3-tiny"
    original = exploration.rounds.get(index=0)
    tie_id = 1 + [d["label"] for d in original.detections].index("tie")
    with on_commit(execute=True):
        browser.post(
            f"/e/{exploration.pk}/follow/", {"object": tie_id, "round": original.pk}, headers=HTMX
        )
        browser.post(
            f"/e/{exploration.pk}/rounds/",
            {"mask": mask_upload(mask_png((512, 600), (0, 0, 100, 100))), "fill": "mean"},
            headers=HTMX,
        )
    out = io.BytesIO()
    write_study_zip(study, out)
    archive = zipfile.ZipFile(out)
    rows = list(csv.DictReader(io.TextIOWrapper(archive.open("detections.csv"), "utf-8")))
    assert list(rows[0]) == list(COLUMNS)
    assert {r["round_index"] for r in rows} == {"0", "1"}
    followed = [r for r in rows if r["followed"] == "1"]
    assert followed and {r["label"] for r in followed} == {"tie"}
    assert {r["object_id"] for r in followed} == {str(tie_id)}
    assert len(rows) == sum(len(r.detections) for r in exploration.rounds.all())
    assert "detections.csv: the detect task" in archive.read("README.txt").decode()


def test_an_image_s_task_wins_and_the_study_file_keeps_it(gallery, on_commit):
    data = {
        "slug": "boxes",
        "name": "Boxes",
        "consent": "Yes.",
        "allow_missing_id": True,
        "min_rounds_per_image": 0,
        "images": [{"image": "grace-hopper", "task": "detect"}, "coffee"],
        "conditions": [{"name": "plain", "task": "classify"}],
    }
    study, _ = study_files.load(data)
    assert study_files.dump(study)["images"][0] == {"image": "grace-hopper", "task": "detect"}
    assert study_files.dump(study)["conditions"][0]["task"] == "classify"
    browser = Client()
    join_study(browser, study, on_commit)
    assert study_step(browser, study, 1, on_commit).task == Task.DETECT
    assert study_step(browser, study, 2, on_commit).task == Task.CLASSIFY


def test_a_study_file_with_an_unknown_task_is_refused_whole(gallery):
    data = {
        "slug": "boxes",
        "name": "Boxes",
        "consent": "Yes.",
        "images": [{"image": "grace-hopper", "task": "segment"}],
        "conditions": [
            {"name": "x", "task": 3},
            {"name": "y", "task": "detect", "static_viewing": True},
        ],
    }
    with pytest.raises(study_files.StudyFileError) as error:
        study_files.load(data)
    assert len([p for p in error.value.problems if "task must be one of" in p]) == 2
    assert any("static viewing shows a classifier's map" in p for p in error.value.problems)
