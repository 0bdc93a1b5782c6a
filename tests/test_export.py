"""The study export, read back."""

import csv
import io
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from django.core.management import call_command
from django.test import Client
from PIL import Image

from painting.models import Exploration, Participant, Round
from painting.studies import queries, rules
from painting.studies.export.archive import write_study_zip
from painting.studies.export.columns import (
    ALIGNMENT_COLUMNS,
    EVENT_COLUMNS,
    IMAGE_COLUMNS,
    PARTICIPANT_COLUMNS,
    ROUND_COLUMNS,
)
from tests.helpers import (
    HTMX,
    ROOT,
    database_env,
    join_study,
    make_study,
    mask_png,
    mask_upload,
    pending_rounds,
    study_step,
)

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


@pytest.mark.slow
@pytest.mark.real_model
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


def test_participant_text_cannot_become_a_spreadsheet_formula(gallery, on_commit):
    study = make_study(gallery)
    join_study(Client(), study, on_commit, pid='=HYPERLINK("http://evil/","x")')
    out = io.BytesIO()
    write_study_zip(study, out)
    [row] = csv.DictReader(io.StringIO(read(out.getvalue()).read("participants.csv").decode()))
    assert row["external_id"] == '\'=HYPERLINK("http://evil/","x")'


def rows_of(archive: zipfile.ZipFile, name: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(archive.read(name).decode())))


def test_a_mask_deleted_while_the_export_runs_is_left_out(gallery, on_commit):
    study, exploration = run_study(gallery, on_commit)
    gone = exploration.rounds.get(index=1).mask

    class WithdrawnMeanwhile(io.BytesIO):
        """The ZIP's file. Once the export has begun, the mask's file goes, as it does when
        another process commits a withdrawal while this one reads rows listed before it."""

        def write(self, data):
            gone.storage.delete(gone.name)
            return super().write(data)

    out = WithdrawnMeanwhile()
    write_study_zip(study, out)
    archive = read(out.getvalue())
    assert archive.testzip() is None
    rounds = rows_of(archive, "rounds.csv")
    assert [r["round_index"] for r in rounds] == ["0", "1", "2"]
    assert rounds[1]["mask_file"] == "missing" and rounds[2]["mask_file"] in archive.namelist()
    assert len([n for n in archive.namelist() if n.startswith("masks/")]) == 1
    assert len(archive.read("events.jsonl").decode().splitlines()) == 3


def test_rounds_still_waiting_are_left_out_and_the_readme_says_so(gallery, on_commit):
    study, exploration = run_study(gallery, on_commit)
    pending_rounds(exploration, 2)
    out = io.BytesIO()
    write_study_zip(study, out)
    archive = read(out.getvalue())
    assert [r["status"] for r in rows_of(archive, "rounds.csv")] == ["done"] * 3
    assert rows_of(archive, "participants.csv")[0]["rounds"] == "3"
    assert "pending or running) are left out" in archive.read("README.txt").decode()


EXPORT_IN_A_FRESH_PROCESS = """
import io, json, sys, time
import django
django.setup()
from django.core.management import call_command
from painting.management.commands import export_study  # noqa: F401  imported before measuring
from painting.models import Study
Study.objects.count()
def kilobytes(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # the peak (VmHWM) starts again from the current size
before = kilobytes("VmRSS")
started = time.perf_counter()
call_command("export_study", sys.argv[1], sys.argv[2], stdout=io.StringIO())
seconds = time.perf_counter() - started
growth = kilobytes("VmHWM") - before
print(json.dumps({"seconds": seconds, "peak_growth_mb": growth / 1024}))
"""


def brush_log(megabytes: float) -> list:
    """A long brush log, as the canvas sends it: strokes of points [x, y, ms]."""
    strokes, size = [], 2
    while size < megabytes * 1e6:
        i = len(strokes)
        points = [[(i * 7 + p) % 600, (i * 3 + p) % 400, i * 1000 + p * 8] for p in range(500)]
        strokes.append({**STROKE, "points": points, "t": i * 1000})
        size += len(json.dumps(strokes[-1])) + 2
    return strokes


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_heavy_brush_logs_export_in_bounded_memory(gallery, tmp_path, settings):
    study = make_study(gallery)
    exploration = Exploration.objects.create(
        visitor="v1",
        picture=gallery["coffee"],
        model_name="efficientnet-lite2",
        participant=rules.consent(study, visitor="v1"),
    )
    strokes = brush_log(1.9)  # a long session's worth of pen samples, per round
    for index in range(30):
        Round.objects.create(
            exploration=exploration,
            index=index,
            fill="mean",
            status=Round.Status.DONE,
            strokes=strokes,
            top=[{"index": 967, "label": "espresso", "probability": 0.5}],
        )
    out = tmp_path / "export.zip"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "xaiproject.settings",
        **database_env(),
        "XAI_MEDIA_ROOT": str(settings.MEDIA_ROOT),
    }
    result = subprocess.run(
        [sys.executable, "-c", EXPORT_IN_A_FRESH_PROCESS, study.slug, str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["peak_growth_mb"] < 300, figures
    archive = read(out.read_bytes())
    events = archive.open("events.jsonl")
    first = json.loads(events.readline())
    assert first["events"] == strokes and len(events.readlines()) == 29


def test_every_row_carries_the_platform_ids_and_the_condition(gallery):
    study = make_study(
        gallery,
        slugs=("camera", "coffee", "chelsea"),
        practice=("camera",),
        order="random",
        min_rounds=0,
        conditions=[{"name": "bare", "show_model_view": False, "fills": ["mean"]}],
    )
    browser = Client()
    ids = {"PROLIFIC_PID": "PP-1", "STUDY_ID": "ST-1", "SESSION_ID": "SE-1"}
    join_study(browser, study, None, **ids)
    practice = study_step(browser, study, 1, None)
    # The practice image opens Next after one round; it is gone again before the export.
    tried = Round.objects.create(exploration=practice, index=1, fill="mean", status="done")
    explorations = [practice, study_step(browser, study, 2, None)]
    tried.delete()
    Round.objects.filter(exploration__in=explorations).update(
        status=Round.Status.DONE, top=[{"index": 967, "label": "espresso", "probability": 0.5}]
    )
    declined = Client().post(f"/study/{study.slug}/consent/", {"decline": "1"})
    assert declined.status_code == 200
    study.refresh_from_db()
    out = io.BytesIO()
    write_study_zip(study, out)
    archive = read(out.getvalue())

    expected = {
        "external_id": "PP-1",
        "platform_study_id": "ST-1",
        "platform_session_id": "SE-1",
        "condition": "bare",
    }
    rounds = rows_of(archive, "rounds.csv")
    events = [json.loads(line) for line in archive.read("events.jsonl").decode().splitlines()]
    [participant] = rows_of(archive, "participants.csv")
    assert len(rounds) == len(events) == 2
    for row in [*rounds, *events, participant]:
        assert {key: row[key] for key in expected} == expected
    practice = {r["image_id"]: r["practice"] for r in rounds}
    assert practice == {str(gallery["camera"].pk): "1", str(gallery["coffee"].pk): "0"} or (
        practice == {str(gallery["camera"].pk): "1", str(gallery["chelsea"].pk): "0"}
    )
    assert sorted(e["practice"] for e in events) == [0, 1]

    stored = Participant.objects.get()
    assert participant["status"] == "in progress" and participant["rounds"] == "1"
    assert participant["order_seed"] == str(stored.order_seed)
    order = participant["image_order"].split()
    assert order[0] == str(gallery["camera"].pk)  # practice first
    assert order == [str(e.picture_id) for e in queries.steps_for(stored)]
    readme = archive.read("README.txt").decode()
    assert "Declined consent: 1" in readme and "practice: 1 for a round" in readme


def export_of(study) -> zipfile.ZipFile:
    out = io.BytesIO()
    write_study_zip(study, out)
    return read(out.getvalue())


def test_every_csv_column_is_in_the_codebook(gallery, on_commit):
    study, _ = run_study(gallery, on_commit)
    archive = export_of(study)
    readme = archive.read("README.txt").decode()
    columns_of = {
        "rounds.csv": ROUND_COLUMNS,
        "participants.csv": PARTICIPANT_COLUMNS,
        "events.csv": EVENT_COLUMNS,
        "alignment.csv": ALIGNMENT_COLUMNS,
        "images.csv": IMAGE_COLUMNS,
    }
    for name, columns in columns_of.items():
        header = next(csv.reader(io.StringIO(archive.read(name).decode())))
        assert header == list(columns)
        for column in header:
            assert f"  {column}:" in readme, (name, column)


def test_the_alignment_of_each_round_exploration_and_image_is_exported(gallery, on_commit):
    study, exploration = run_study(gallery, on_commit)
    archive = export_of(study)
    rounds = rows_of(archive, "rounds.csv")
    assert rounds[0]["kept_important"] == "" and 0 <= float(rounds[1]["kept_important"]) <= 1
    assert [r["explanation_shown"] for r in rounds] == ["", "", ""]  # no condition fixes it
    rows = rows_of(archive, "alignment.csv")
    # The tests compute Grad-CAM only: the exploration's row, then each masked round's.
    assert [(r["level"], r["round_index"], r["method"]) for r in rows] == [
        ("exploration", "", "gradcam"),
        ("round", "1", "gradcam"),
        ("round", "2", "gradcam"),
    ]
    stored = exploration.rounds.get(index=2).alignment["gradcam"]
    assert float(rows[2]["relevance_mass"]) == pytest.approx(stored["relevance_mass"])
    assert rows[2]["pointing_game"] in ("0", "1") and -1 <= float(rows[2]["spearman"]) <= 1
    [image] = rows_of(archive, "images.csv")
    assert image["image_id"] == str(exploration.picture_id) and image["method"] == "gradcam"
    # One person: no split halves, so no ceiling and no score; the correlation is there.
    assert image["people"] == "1" and image["human_ceiling"] == image["alignment_score"] == ""
    assert -1 <= float(image["spearman"]) <= 1


def test_events_csv_is_one_flat_row_per_event(gallery, on_commit):
    study, exploration = run_study(gallery, on_commit)
    rows = rows_of(export_of(study), "events.csv")
    # Round 0 has no log; rounds 1 and 2 each sent a stroke and a classify.
    assert [(r["round_index"], r["event_index"], r["type"]) for r in rows] == [
        ("1", "0", "stroke"),
        ("1", "1", "classify"),
        ("2", "0", "stroke"),
        ("2", "1", "classify"),
    ]
    stroke = rows[0]
    assert stroke["participant"] == exploration.participant.code and stroke["step"] == "1"
    assert (stroke["tool"], stroke["size"], stroke["pointer"], stroke["points"]) == (
        "paint",
        "24",
        "pen",
        "2",
    )
    assert (stroke["x"], stroke["y"], stroke["first_point_t"], stroke["last_point_t"]) == (
        "10",
        "10",
        "0",
        "32",
    )
    assert stroke["t"] == "400" and rows[1]["t"] == "800" and rows[1]["tool"] == ""


def test_focus_and_tab_switches_are_rows_and_counted_per_participant(gallery, on_commit):
    study, exploration = run_study(gallery, on_commit)
    attention = [
        {"type": t, "t": 10 * i}
        for i, t in enumerate(["blur", "hidden", "visible", "focus", "blur"])
    ]
    Round.objects.filter(exploration=exploration, index=1).update(strokes=attention)
    archive = export_of(study)
    rows = [r for r in rows_of(archive, "events.csv") if r["round_index"] == "1"]
    assert [(r["type"], r["t"]) for r in rows] == [(e["type"], str(e["t"])) for e in attention]
    [participant] = rows_of(archive, "participants.csv")
    assert (participant["blur_events"], participant["hidden_events"]) == ("2", "1")


def test_a_view_event_and_a_keyboard_stroke_are_rows(gallery, on_commit):
    study, exploration = run_study(gallery, on_commit)
    log = [
        {"type": "view", "t": 5, "zoom": 2.5, "x": 120, "y": 80},
        {
            "type": "stroke",
            "t": 9,
            "tool": "erase",
            "size": 8,
            "pointer": "keyboard",
            "points": [[300, 200, 6], [316, 200, 8]],
        },
        {"type": "view", "t": 12, "zoom": "big", "x": None},
    ]
    Round.objects.filter(exploration=exploration, index=1).update(strokes=log)
    rows = [r for r in rows_of(export_of(study), "events.csv") if r["round_index"] == "1"]
    assert [(r["type"], r["zoom"], r["x"], r["y"]) for r in rows] == [
        ("view", "2.5", "120", "80"),
        ("stroke", "", "300", "200"),
        ("view", "", "", ""),
    ]
    assert rows[1]["pointer"] == "keyboard"


def test_a_rounds_edits_are_columns_and_each_edit_an_event_row(gallery, on_commit):
    study, exploration = run_study(gallery, on_commit)
    Round.objects.filter(exploration=exploration, index=1).update(
        crop_left=10,
        crop_top=20,
        crop_width=300,
        crop_height=200,
        flip_vertical=True,
        rotation=270,
        strokes=[
            {"type": "edit", "t": 3, "edit": "crop", "crop": "10,20,300,200"},
            {"type": "edit", "t": 4, "edit": "rotate"},
        ],
    )
    archive = export_of(study)
    edits = ["crop_left", "crop_top", "crop_width", "crop_height"]
    edits += ["flip_horizontal", "flip_vertical", "rotation"]
    rounds = {r["round_index"]: r for r in rows_of(archive, "rounds.csv")}
    assert [rounds["1"][c] for c in edits] == ["10", "20", "300", "200", "0", "1", "270"]
    assert [rounds["2"][c] for c in edits] == ["", "", "", "", "0", "0", "0"]
    rows = [r for r in rows_of(archive, "events.csv") if r["round_index"] == "1"]
    assert [(r["type"], r["edit"], r["crop"]) for r in rows] == [
        ("edit", "crop", "10,20,300,200"),
        ("edit", "rotate", ""),
    ]
    assert "edits of the whole picture, applied after the fill" in (
        archive.read("README.txt").decode()
    )


def test_a_hostile_log_still_exports_flat_rows():
    from painting.studies.export.rows import _event_rows

    events = [
        "not an event",
        {"type": "stroke", "t": True, "points": [[1], "x", [2, 3, 4]], "size": "big"},
        {"type": ["odd"], "points": {"a": 1}},
        {"type": "blur", "t": 12.5},
    ]
    rows = list(_event_rows({"study": "s"}, events))
    assert [r["type"] for r in rows] == ["", "stroke", "", "blur"]
    assert rows[1]["t"] == "" and rows[1]["size"] == "" and rows[1]["points"] == 3
    assert rows[1]["x"] == 1 and rows[1]["y"] == "" and rows[1]["last_point_t"] == 4
    assert rows[2]["points"] == "" and rows[3]["t"] == 12.5
    assert list(_event_rows({}, {"not": "a list"})) == []


def test_the_csv_files_load_in_pandas_as_they_are(gallery, on_commit):
    pandas = pytest.importorskip("pandas")
    study, exploration = run_study(gallery, on_commit)
    Round.objects.filter(exploration=exploration, index=2).update(client_latency_ms=0.0)
    archive = export_of(study)

    def frame(name):
        return pandas.read_csv(io.BytesIO(archive.read(name)))

    rounds, participants, events = (
        frame(n) for n in ("rounds.csv", "participants.csv", "events.csv")
    )
    numeric = pandas.api.types.is_numeric_dtype
    for column in (
        "round_index",
        "step",
        "image_position",
        "masked_percent",
        "top1_probability",
        "ms_since_step_start",
        "time_on_step_s",
        "client_latency_ms",
        "server_latency_ms",
        "queue_ms",
        "inference_ms",
        "batch_size",
        "practice",
    ):
        assert numeric(rounds[column]), column
    assert list(rounds["round_index"]) == [0, 1, 2] and list(rounds["step"]) == [1, 1, 1]
    assert rounds["client_latency_ms"].isna()[0] and rounds["client_latency_ms"][2] == 0
    assert rounds["ms_since_previous_round"].isna()[0] and rounds["ms_since_previous_round"][1] >= 0
    assert rounds["error"].isna().all()  # empty is NaN
    assert (rounds["time_on_step_s"] >= 0).all()  # finished: the step has an end
    for column in ("participant", "external_id", "exploration", "image_id", "condition"):
        assert pandas.api.types.is_string_dtype(rounds[column]) or rounds[column].isna().all()
    assert rounds["participant"][0] == exploration.participant.code
    assert participants["participant"][0] == exploration.participant.code
    assert participants["rounds"][0] == 3 and participants["order_seed"].isna()[0]
    assert participants["external_id"][0] == "EXT-1"
    for column in ("t", "size", "points", "x", "y", "event_index", "step", "round_index"):
        assert numeric(events[column]), column
    assert events["size"].isna()[1] and events["size"][0] == 24
    assert list(events["type"]) == ["stroke", "classify"] * 2
    alignment, images = frame("alignment.csv"), frame("images.csv")
    for column in ("spearman", "iou_top10", "dice_top10", "relevance_mass", "relevance_rank"):
        assert numeric(alignment[column]) and numeric(images[column]), column
    assert numeric(rounds["kept_important"]) and numeric(images["people"])
    assert images["human_ceiling"].isna().all()  # one person


@pytest.mark.django_db
def test_a_participant_code_is_never_digits_only(monkeypatch):
    drawn = iter("23456789" + "A2345678")
    monkeypatch.setattr(rules.secrets, "choice", lambda _alphabet: next(drawn))
    assert rules.new_code() == "A2345678"


def test_text_stored_before_it_was_refused_exports_escaped(gallery, on_commit):
    """Rows stored before lone surrogates were refused at the door (SQLite took them; PostgreSQL
    never could) still export: the text is written with the surrogate escaped."""
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("only SQLite ever stored a lone surrogate")
    study, exploration = run_study(gallery, on_commit)
    hostile = {"type": "stroke", "tool": "\ud800", "points": [[1, 2, 3]], "t": 5}
    Round.objects.filter(exploration=exploration, index=1).update(strokes=[hostile])

    out = io.BytesIO()
    write_study_zip(study, out)

    archive = read(out.getvalue())
    events = list(csv.DictReader(io.StringIO(archive.read("events.csv").decode())))
    assert "\\ud800" in [row["tool"] for row in events]
    assert json.loads(archive.read("events.jsonl").splitlines()[1])["events"][0]["tool"] == "\ud800"
