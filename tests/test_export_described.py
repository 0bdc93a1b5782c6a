"""The export describes itself: the study file, the app's version and the models with their
weights' sha256; each participant's duration, pilot flag, speed flag and check shares; every
event type (region included) and the superpixel id in the codebook; bonus.csv for Prolific."""

import io
import json
import zipfile
from datetime import timedelta

import pandas
import pytest
from django.test import Client

from painting.models import CheckAnswer, Exploration, Participant, Round, StudyImage
from painting.studies import files as study_files
from painting.studies.export.archive import write_study_zip
from painting.studies.export.columns import EVENT_COLUMNS
from tests.helpers import HTMX, join_study, make_study, mask_png, mask_upload, study_step

pytestmark = pytest.mark.django_db

REGION = {"type": "region", "tool": "paint", "segment": 17, "pointer": "touch", "x": 40, "y": 50}


def play(browser, study, step, on_commit, events=()):
    exploration = study_step(browser, study, step, on_commit)
    with on_commit(execute=True):
        browser.post(
            f"/e/{exploration.pk}/rounds/",
            {
                "mask": mask_upload(mask_png((600, 400), (0, 0, 100, 100))),
                "fill": "mean",
                "strokes": json.dumps([*events, {"type": "classify", "t": 800}]),
            },
            headers=HTMX,
        )
    return exploration


def export(study) -> zipfile.ZipFile:
    out = io.BytesIO()
    write_study_zip(study, out)
    return zipfile.ZipFile(out)


def test_the_export_describes_itself(gallery, on_commit):
    study = make_study(
        gallery,
        slugs=("coffee", "chelsea"),
        min_seconds_per_image=30,
        bonus_per_finished="0.50",
        bonus_per_passed_check="0.25",
        max_consents_per_address=0,
        conditions=[{"name": "only"}],
    )
    StudyImage.objects.filter(study=study, picture=gallery["chelsea"]).update(
        is_attention_check=True
    )
    # A participant who finishes quickly and passes the check; one still going.
    fast = Client()
    join_study(fast, study, on_commit, pid="FAST-1")
    first = play(fast, study, 1, on_commit, [REGION])
    study_step(fast, study, 2, on_commit)
    runner = Participant.objects.get(external_id="FAST-1")
    CheckAnswer.objects.create(
        participant=runner, picture=gallery["chelsea"], passed=True, covered=0.93, outside=0.02
    )
    assert fast.post(f"/study/{study.slug}/finish/", {"answer": "ok"}).status_code == 200
    # Its first image took 12 s, its finish 95 s after consent.
    Exploration.objects.filter(participant=runner, picture=gallery["chelsea"]).update(
        created_at=first.created_at + timedelta(seconds=12)
    )
    Participant.objects.filter(pk=runner.pk).update(
        finished_at=runner.consented_at + timedelta(seconds=95)
    )
    join_study(Client(), study, on_commit, pid="SLOW-2")

    archive = export(study)
    names = set(archive.namelist())
    assert {"study.json", "provenance.json", "bonus.csv"} <= names

    assert json.loads(archive.read("study.json")) == json.loads(json.dumps(study_files.dump(study)))
    provenance = json.loads(archive.read("provenance.json"))
    assert provenance["app_version"].startswith(("git ", "package "))
    used = Round.objects.filter(exploration=first, index=0).get()
    assert provenance["models"] == [
        {
            "model": used.model_name,
            "title": provenance["models"][0]["title"],
            "weights_sha256": used.weights_sha256,
            "preprocessing": provenance["models"][0]["preprocessing"],
        }
    ]
    assert len(used.weights_sha256) == 64

    people = pandas.read_csv(io.BytesIO(archive.read("participants.csv"))).set_index("external_id")
    assert people.loc["FAST-1", "duration_s"] == 95
    assert people.loc["FAST-1", "too_fast"] == 1  # 12 s on an image, below 30
    assert people.loc["SLOW-2", "too_fast"] == 0
    assert pandas.isna(people.loc["SLOW-2", "duration_s"])
    assert people.loc["FAST-1", "check_covered"] == 0.93
    assert people.loc["FAST-1", "check_outside"] == 0.02
    assert set(people["pilot"]) == {0}

    # Prolific's bulk bonus: id,amount lines, no header; 0.50 + one passed check at 0.25.
    assert archive.read("bonus.csv").decode() == "FAST-1,0.75\n"

    events = pandas.read_csv(io.BytesIO(archive.read("events.csv")))
    region = events[events["type"] == "region"].iloc[0]
    assert region["segment"] == 17 and region["tool"] == "paint" and region["x"] == 40
    readme = archive.read("README.txt").decode()
    assert "region (a tap of the Region tool" in readme and "  segment:" in readme
    assert "segment" in EVENT_COLUMNS and "bonus.csv" in readme and "provenance.json" in readme
    for name in ("duration_s", "too_fast", "check_covered", "check_outside", "pilot"):
        assert f"  {name}:" in readme


def test_pilots_are_marked_in_every_file_and_get_no_bonus(gallery, on_commit, staff):
    from tests.test_pilots import join_as_pilot, pilot_token

    study = make_study(gallery, slugs=("coffee",), bonus_per_finished="1")
    client, pilot = join_as_pilot(study, pilot_token(staff, study))
    play(client, study, 1, on_commit, [REGION])
    client.post(f"/study/{study.slug}/finish/", {"answer": "ok"})

    archive = export(study)
    for name in ("rounds.csv", "events.csv", "participants.csv", "alignment.csv", "images.csv"):
        table = pandas.read_csv(io.BytesIO(archive.read(name)))
        assert "pilot" in table.columns, name
        assert set(table["pilot"]) <= {1}, name
    lines = archive.read("events.jsonl").decode().splitlines()
    assert {json.loads(line)["pilot"] for line in lines} == {1}
    assert archive.read("bonus.csv") == b""
    assert pandas.isna(
        pandas.read_csv(io.BytesIO(archive.read("participants.csv")))["too_fast"]
    ).all()  # no minimum set: no flag


def test_no_bonus_rule_no_bonus_file(gallery, on_commit):
    study = make_study(gallery, slugs=("coffee",))
    assert "bonus.csv" not in export(study).namelist()
