import io
import json
from pathlib import Path

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image

from painting import forms, timing
from painting.dispatch import QUEUE_DOWN_MESSAGE
from painting.masking import IMAGENET_MEAN_RGB
from painting.models import Round
from painting.templatetags.painting_format import percent, points
from tests.helpers import HTMX, classify, free_port, mask_png, png_header_only, start, use_broker

STROKES = json.dumps(
    [
        {
            "type": "stroke",
            "tool": "paint",
            "size": 30,
            "pointer": "pen",
            "points": [[10, 10, 0], [200, 150, 48]],
        },
        {"type": "classify"},
    ]
)


def test_it_classifies_the_masked_image_and_keeps_everything(client, gallery, on_commit):
    exploration = start(client, gallery["coffee"], on_commit)
    response = classify(
        client, exploration, on_commit, mask_png((600, 400), (100, 50, 499, 349)), strokes=STROKES
    )
    assert response.status_code == 200
    body = response.content.decode()
    round_ = exploration.rounds.get(index=1)
    assert 'id="result"' in body
    assert (
        f'<ol hx-swap-oob="beforeend:#history-list">\n          <li id="round-{round_.pk}"' in body
    )

    assert round_.status == Round.Status.DONE
    assert round_.fill == "mean" and round_.strokes == json.loads(STROKES)
    assert round_.masked_fraction == round(400 * 300 / (600 * 400), 6)
    masked = client.get(f"/e/{exploration.pk}/rounds/{round_.pk}/masked.png")  # not archived yet
    seen = np.asarray(Image.open(io.BytesIO(masked.content)).convert("RGB"))
    assert tuple(seen[200, 300]) == IMAGENET_MEAN_RGB  # painted: the fill
    with exploration.picture.file.open("rb") as f:
        original = np.asarray(Image.open(f).convert("RGB"))
    assert (seen[10, 10] == original[10, 10]).all()  # not painted: untouched
    with round_.mask.open("rb") as f:
        assert Image.open(f).size == (600, 400)


@pytest.mark.slow
@pytest.mark.real_model
def test_the_result_compares_with_the_original_and_the_previous_round(client, gallery, on_commit):
    exploration = start(client, gallery["coffee"], on_commit)
    classify(client, exploration, on_commit, mask_png((600, 400), (0, 0, 100, 100)))
    response = classify(
        client, exploration, on_commit, mask_png((600, 400), (150, 30, 450, 330)), fill="black"
    )
    round_ = exploration.rounds.get(index=2)
    page = client.get(reverse("painting:round", args=[exploration.pk, round_.pk]), headers=HTMX)
    body = page.content.decode()
    assert "Round 2" in body and "Black" in body
    assert "“espresso” now" in body and "vs. original" in body and "vs. previous round" in body
    original, previous = exploration.rounds.get(index=0), exploration.rounds.get(index=1)
    espresso = original.top[0]["index"]
    now = round_.probability_of(espresso)
    assert f"<dd>{percent(now)}</dd>" in body
    assert points(now - original.top[0]["probability"]) in body
    assert points(now - previous.probability_of(espresso)) in body
    assert response.status_code == 200


def test_without_htmx_it_redirects_back_to_the_page(client, gallery, on_commit):
    exploration = start(client, gallery["coffee"], on_commit)
    response = classify(
        client, exploration, on_commit, mask_png((600, 400), (0, 0, 10, 10)), htmx=False
    )
    assert response.status_code == 302 and response.url == f"/e/{exploration.pk}/"


def test_bad_masks_get_a_clear_message_and_save_nothing(client, gallery, on_commit):
    exploration = start(client, gallery["coffee"], on_commit)
    cases = {
        "wrong size": (mask_png((400, 600), (0, 0, 5, 5)), "The mask is 400×600 pixels"),
        "not a png": (b"\xff\xd8\xff\xe0 jpeg-ish", "The mask must be a PNG image"),
        "empty file": (b"", "No mask was sent"),
    }
    for mask, message in cases.values():
        response = classify(client, exploration, on_commit, mask)
        assert response.status_code == 400
        assert message in response.content.decode()
        assert response["HX-Retarget"] == "#messages"
    response = classify(client, exploration, on_commit, mask_png((600, 400)), strokes="{not json")
    assert response.status_code == 400 and "not valid JSON" in response.content.decode()
    assert exploration.rounds.count() == 1


def test_the_road_fill_is_accepted_and_a_fresh_process_rebuilds_exactly_what_the_model_saw(
    client, gallery, on_commit
):
    import subprocess
    import sys

    exploration = start(client, gallery["coffee"], on_commit)
    mask = mask_png((600, 400), (180, 60, 430, 300))
    response = classify(client, exploration, on_commit, mask, fill="road")
    round_ = exploration.rounds.get(index=1)
    assert response.status_code == 200 and round_.status == Round.Status.DONE
    assert round_.fill == "road"
    seen = client.get(f"/e/{exploration.pk}/rounds/{round_.pk}/masked.png").content
    pixels = np.asarray(Image.open(io.BytesIO(seen)).convert("RGB"))
    with exploration.picture.file.open("rb") as f:
        original = np.asarray(Image.open(f).convert("RGB"))
    assert (pixels[350, 550] == original[350, 550]).all()  # not painted: untouched
    assert np.abs(pixels[180, 300].astype(int) - original[180, 300]).max() > 0
    # The replay is another process: compose from the stored original, mask and fill there.
    with exploration.picture.file.open("rb") as f:
        picture = f.read()
    script = (
        "import io, sys; from PIL import Image; from painting.masking import Fill, compose\n"
        "picture, mask = sys.stdin.buffer.read().split(b'--mask--')\n"
        "out = compose(Image.open(io.BytesIO(picture)).convert('RGB'),"
        " Image.open(io.BytesIO(mask)), Fill.ROAD)\n"
        "sys.stdout.buffer.write(out.tobytes())"
    )
    replay = subprocess.run(
        [sys.executable, "-c", script],
        input=picture + b"--mask--" + mask,
        capture_output=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    ).stdout
    assert replay == pixels.tobytes()


def test_an_unknown_fill_is_refused(client, gallery, on_commit):
    exploration = start(client, gallery["coffee"], on_commit)
    response = classify(client, exploration, on_commit, mask_png((600, 400)), fill="glitter")
    assert response.status_code == 400
    assert exploration.rounds.count() == 1


def test_a_dead_broker_fails_the_round_with_a_message_and_retry_works(
    client, gallery, on_commit, settings
):
    from xaiproject.celery import app

    exploration = start(client, gallery["coffee"], on_commit)
    app.conf.task_always_eager = False
    use_broker(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    try:
        response = classify(client, exploration, on_commit, mask_png((600, 400), (0, 0, 300, 200)))
    finally:
        use_broker(settings.CELERY_BROKER_URL)
        app.conf.task_always_eager = True
    assert response.status_code == 200
    round_ = exploration.rounds.get(index=1)
    assert round_.status == Round.Status.FAILED and round_.error == QUEUE_DOWN_MESSAGE
    shown = client.get(reverse("painting:round", args=[exploration.pk, round_.pk]), headers=HTMX)
    assert "Retry" in shown.content.decode() and "could not be reached" in shown.content.decode()
    assert exploration.rounds.get(index=0).status == Round.Status.DONE  # saved rounds stay

    with on_commit(execute=True):
        retried = client.post(
            reverse("painting:retry", args=[exploration.pk, round_.pk]), headers=HTMX
        )
    assert retried.status_code == 200
    round_.refresh_from_db()
    assert round_.status == Round.Status.DONE and round_.error == ""


def media_files(settings) -> set[Path]:
    return set(Path(settings.MEDIA_ROOT).rglob("*"))


def test_a_hostile_brush_log_is_a_clear_400_and_writes_nothing(
    client, gallery, on_commit, settings, subtests
):
    exploration = start(client, gallery["coffee"], on_commit)
    before = media_files(settings)
    mask = mask_png((600, 400), (0, 0, 100, 100))
    for strokes, message in [
        ("[1e999]", "The brush log holds a number too large to store."),
        ('[{"type": "stroke", "points": [[10, 20, -1e400]]}]', "a number too large to store"),
        ("[Infinity]", "The brush log is not valid JSON."),
        ("[" * 5000 + "]" * 5000, "The brush log is nested more than 8 levels deep."),
        ("[" * 9 + "]" * 9, "nested more than 8 levels deep"),
        ('[{"a": ' * 3000 + "1" + "}]" * 3000, "nested more than 8 levels deep"),
        ('[{"type": "stroke", "tool": "\\ud800"}]', "contains a lone surrogate"),
        ('[{"type": "stroke", "\\udfff": 1}]', "contains a lone surrogate"),
        ('[{"type": "note", "text": "a\\u0000b"}]', "contains a NUL character"),
    ]:
        with subtests.test(strokes=strokes[:40]):
            response = classify(client, exploration, on_commit, mask, strokes=strokes)
            assert response.status_code == 400
            assert message in response.content.decode()
            assert exploration.rounds.count() == 1
            assert media_files(settings) == before


def test_brackets_inside_the_brush_log_strings_do_not_count_as_nesting(client, gallery, on_commit):
    exploration = start(client, gallery["coffee"], on_commit)
    strokes = json.dumps([{"type": "note", "text": "[[[[[[[[[[{{{{"}, {"type": "classify"}])
    response = classify(client, exploration, on_commit, mask_png((600, 400)), strokes=strokes)
    assert response.status_code == 200
    assert exploration.rounds.get(index=1).strokes == json.loads(strokes)


def test_a_refused_mask_writes_nothing(client, gallery, on_commit, settings):
    exploration = start(client, gallery["coffee"], on_commit)
    before = media_files(settings)
    for mask in (mask_png((601, 400)), b"not a png", png_header_only(50_000, 50_000)):
        assert classify(client, exploration, on_commit, mask).status_code == 400
    assert media_files(settings) == before


@pytest.mark.parametrize(
    "mask, message",
    [
        (
            mask_png((601, 400)),
            "The mask is 601×400 pixels but the image is 600×400; reload the page and paint again.",
        ),
        (
            png_header_only(50_000, 50_000),
            "The mask is far larger than the image (600×400 pixels); reload the page and paint "
            "again.",
        ),
        (
            png_header_only(10_000, 10_000),
            "The mask is far larger than the image (600×400 pixels); reload the page and paint "
            "again.",
        ),
        (b"GIF89a", "The mask must be a PNG image: That file is not an image we can read (PNG)."),
    ],
)
def test_a_refused_mask_says_why_in_the_image_s_terms(client, gallery, on_commit, mask, message):
    exploration = start(client, gallery["coffee"], on_commit)
    response = classify(client, exploration, on_commit, mask)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_an_oversized_mask_says_its_size_and_the_limit(client, gallery, on_commit, monkeypatch):
    monkeypatch.setattr(forms, "MAX_MASK_BYTES", 1024)
    exploration = start(client, gallery["coffee"], on_commit)
    response = classify(client, exploration, on_commit, b"x" * 1500)
    assert "The mask file is 1.47 KB; the limit is 1 KB." in response.content.decode()


def test_a_nul_character_in_the_brush_log_is_a_clear_400_not_a_500(client, gallery, on_commit):
    exploration = start(client, gallery["coffee"], on_commit)
    strokes = '[{"tool": "brush\\u0000"}]'  # valid JSON that PostgreSQL's jsonb cannot store
    response = classify(client, exploration, on_commit, mask_png((600, 400)), strokes=strokes)
    assert response.status_code == 400 and "brush log" in response.content.decode()
    assert exploration.rounds.count() == 1


def test_the_worker_keeps_its_stages_and_the_answer_can_say_where_the_time_went(
    client, gallery, on_commit, settings
):
    exploration = start(client, gallery["coffee"], on_commit)
    quiet = classify(client, exploration, on_commit, mask_png((600, 400), (0, 0, 100, 100)))
    assert "Server-Timing" not in quiet  # off unless asked for: it tells how busy workers are
    settings.XAI_SERVER_TIMING = True
    response = classify(client, exploration, on_commit, mask_png((600, 400), (0, 0, 200, 100)))
    round_ = exploration.rounds.get(index=2)
    assert round_.status == Round.Status.DONE
    assert {"claim", "compose", "preprocess", "model", "answered_at"} <= set(round_.stages)
    assert round_.inference_ms == pytest.approx(
        round_.stages["preprocess"] + round_.stages["model"], rel=1e-3
    )
    # Here the task runs once the request's transaction is captured and replayed (on_commit),
    # so the answer holds the web's own stages; the worker's join them where a worker answers
    # in time (timing.round_breakdown, test_timing.py; benchmarks/browser_latency.py).
    stages = timing.parse_server_timing(response["Server-Timing"])
    assert {"lookup", "ratelimit", "validate", "files", "db", "wait", "render"} <= set(stages)
    assert all(ms >= 0 for ms in stages.values())
