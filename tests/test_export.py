"""The study export, read back."""

import csv
import io
import json
import zipfile

import numpy as np
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from PIL import Image

from painting.exports import PARTICIPANT_COLUMNS, ROUND_COLUMNS, study_zip
from painting.models import Round
from tests.helpers import HTMX, join_study, make_study, mask_png, mask_upload, study_step

STROKE = {
    "type": "stroke",
    "tool": "paint",
    "size": 24,
    "pointer": "pen",
    "points": [[10, 10, 0], [50, 60, 32]],
    "t": 400,
}


def run_study(gallery, on_commit):
    # One image, so that its two rounds complete the study and Finish is open.
    study = make_study(gallery, slugs=("coffee",), ask_prediction=True, question="Anything else?")
    browser = Client()
    join_study(browser, study, on_commit, pid="EXT-1")
    exploration = study_step(browser, study, 1, on_commit)
    for i, prediction in enumerate(["espresso", "cup"], start=1):
        with on_commit(execute=True):
            browser.post(
                f"/e/{exploration.pk}/rounds/",
                {
                    "mask": mask_upload(mask_png((600, 400), (0, 0, 100 * i, 100 * i))),
                    "fill": "blur",
                    "prediction": prediction,
                    "strokes": json.dumps([STROKE, {"type": "classify", "t": 800}]),
                },
                headers=HTMX,
            )
    browser.post(f"/study/{study.slug}/finish/", {"answer": "It likes the crema."})
    return study, exploration


def read(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))


def test_the_export_round_trips(gallery, on_commit, tmp_path):
    study, exploration = run_study(gallery, on_commit)
    out = tmp_path / "export.zip"
    call_command("export_study", study.slug, str(out), stdout=io.StringIO())
    archive = read(out.read_bytes())

    rounds = list(csv.DictReader(io.StringIO(archive.read("rounds.csv").decode())))
    assert list(rounds[0]) == list(ROUND_COLUMNS)
    assert [r["round_index"] for r in rounds] == ["0", "1", "2"]
    code = exploration.participant.code
    for row, round_ in zip(rounds, exploration.rounds.order_by("index"), strict=True):
        assert row["participant"] == code and row["study"] == "masks"
        assert row["image_sha256"] == gallery["coffee"].sha256
        assert (
            row["model"] == "efficientnet-lite2" and row["weights_sha256"] == round_.weights_sha256
        )
        assert json.loads(row["top5"]) == round_.top
        assert row["status"] == "done" and row["original_class"] == "espresso"
        assert float(row["masked_percent"]) == round(round_.masked_fraction * 100, 3)
        assert "center crop 260" in row["preprocessing"]
    assert [r["prediction"] for r in rounds] == ["", "espresso", "cup"]
    assert rounds[1]["fill"] == "blur" and float(rounds[1]["original_class_probability"]) > 0

    events = [json.loads(line) for line in archive.read("events.jsonl").decode().splitlines()]
    assert [e["round_index"] for e in events] == [0, 1, 2]
    assert events[1]["events"][0] == STROKE and events[1]["participant"] == code

    participants = list(csv.DictReader(io.StringIO(archive.read("participants.csv").decode())))
    assert list(participants[0]) == list(PARTICIPANT_COLUMNS)
    assert participants[0]["participant"] == code and participants[0]["external_id"] == "EXT-1"
    assert participants[0]["closing_answer"] == "It likes the crema."
    assert participants[0]["rounds"] == "3" and participants[0]["consent_version"] == "2026-11"

    for row in rounds[1:]:
        stored = Round.objects.get(exploration=exploration, index=int(row["round_index"]))
        mask = np.asarray(Image.open(io.BytesIO(archive.read(row["mask_file"]))))
        with stored.mask.open("rb") as f:
            assert (mask == np.asarray(Image.open(f))).all()

    readme = archive.read("README.txt").decode()
    for column in [*ROUND_COLUMNS, *PARTICIPANT_COLUMNS]:
        assert f"  {column}:" in readme


def test_staff_export_from_the_admin_and_nobody_else(gallery, on_commit):
    study, _ = run_study(gallery, on_commit)
    staff = Client()
    staff.force_login(
        User.objects.create_user("r", password="pw-for-tests", is_staff=True, is_superuser=True)
    )
    data = {"action": "export_studies", "_selected_action": [study.pk]}
    response = staff.post("/admin/painting/study/", data)
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert "rounds.csv" in read(response.content).namelist()
    assert Client().post("/admin/painting/study/", data).status_code == 302  # to the login


def test_participant_text_cannot_become_a_spreadsheet_formula(gallery, on_commit):
    study = make_study(gallery)
    join_study(Client(), study, on_commit, pid='=HYPERLINK("http://evil/","x")')
    archive = zipfile.ZipFile(io.BytesIO(study_zip(study)))
    [row] = csv.DictReader(io.StringIO(archive.read("participants.csv").decode()))
    assert row["external_id"] == '\'=HYPERLINK("http://evil/","x")'
