import io
import json

import numpy as np
from django.urls import reverse
from PIL import Image

from painting.dispatch import QUEUE_DOWN_MESSAGE
from painting.masking import IMAGENET_MEAN_RGB
from painting.models import Round
from painting.templatetags.painting_format import percent, points
from tests.helpers import HTMX, classify, free_port, mask_png, start, use_broker

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


def test_nan_in_the_brush_log_is_a_clear_400_not_a_500(client, gallery, on_commit):
    exploration = start(client, gallery["coffee"], on_commit)
    response = classify(client, exploration, on_commit, mask_png((600, 400)), strokes="[NaN]")
    assert response.status_code == 400 and "not valid JSON" in response.content.decode()
    assert exploration.rounds.count() == 1


def test_a_nul_character_in_the_brush_log_is_a_clear_400_not_a_500(client, gallery, on_commit):
    exploration = start(client, gallery["coffee"], on_commit)
    strokes = '[{"tool": "brush\\u0000"}]'  # valid JSON that PostgreSQL's jsonb cannot store
    response = classify(client, exploration, on_commit, mask_png((600, 400)), strokes=strokes)
    assert response.status_code == 400 and "brush log" in response.content.decode()
    assert exploration.rounds.count() == 1
