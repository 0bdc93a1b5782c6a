"""The server's preview of what the model would be shown, for the fills the page cannot compute
itself: the same pixels as the round it would become, owner only, CSRF, rate limited, bounded,
and nothing written."""

import io
import threading

import numpy as np
import pytest
from django.test import Client
from django.urls import reverse
from PIL import Image

from painting import pipeline, services
from painting.edits import NONE
from painting.models import Round
from tests.helpers import HTMX, classify, files_of, free_port, mask_png, mask_upload, start

SIZE = (600, 400)
MASK = mask_png(SIZE, (120, 60, 420, 300))


def ask(client, exploration, mask: bytes = MASK, fill="blur", **headers):
    return client.post(
        reverse("painting:preview", args=[exploration.pk]),
        {"mask": mask_upload(mask), "fill": fill},
        headers={**HTMX, **headers},
    )


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def stored_state(media_root, exploration) -> tuple:
    """What a preview must leave as it was: the rows and the files."""
    return (
        Round.objects.count(),
        list(exploration.rounds.values_list("pk", "status", "fill", "mask")),
        sorted(map(str, files_of(media_root, exploration.pk))),
    )


@pytest.mark.parametrize("fill", ["blur", "inpaint", "road"])
def test_it_is_the_picture_the_model_is_then_shown(client, gallery, on_commit, fill):
    exploration = start(client, gallery["coffee"], on_commit)
    preview = ask(client, exploration, fill=fill)
    assert preview.status_code == 200, preview.content[:300]
    assert preview["Content-Type"] == "image/png" and preview["Cache-Control"] == "no-store"
    shown = pixels(preview.content)

    classify(client, exploration, on_commit, MASK, fill=fill)
    round_ = exploration.rounds.get(index=1)
    assert round_.status == Round.Status.DONE and round_.fill == fill
    # What the worker composed for the model, and the reviewer's masked.png: the same pixels.
    _, [seen] = pipeline._compose_each([round_])
    assert np.array_equal(shown, np.asarray(seen))
    masked = client.get(
        reverse("painting:round-file", args=[exploration.pk, round_.pk, "masked.png"])
    )
    assert np.array_equal(shown, pixels(masked.content))
    with exploration.picture.file.open("rb") as f:
        original = np.asarray(Image.open(f).convert("RGB"))
    assert np.array_equal(shown[350, 550], original[350, 550])  # not painted: untouched
    assert not np.array_equal(shown[180, 270], original[180, 270])  # painted: filled


def test_it_writes_nothing(client, gallery, on_commit, media_root):
    exploration = start(client, gallery["coffee"], on_commit)
    before = stored_state(media_root, exploration)
    for fill in ["blur", "inpaint", "road", "mean"]:
        assert ask(client, exploration, fill=fill).status_code == 200
    assert stored_state(media_root, exploration) == before


def test_it_is_the_owners_only(client, gallery, on_commit, staff, media_root):
    exploration = start(client, gallery["coffee"], on_commit)
    stranger = Client()
    start(stranger, gallery["coffee"], on_commit)  # a session, with its own exploration
    before = stored_state(media_root, exploration)
    assert ask(Client(), exploration).status_code == 404  # no session at all
    assert ask(stranger, exploration).status_code == 404
    assert ask(staff, exploration).status_code == 404  # staff look; they do not paint
    assert client.get(reverse("painting:preview", args=[exploration.pk])).status_code == 405
    assert stored_state(media_root, exploration) == before


def test_it_needs_the_csrf_token(gallery, on_commit):
    browser = Client(enforce_csrf_checks=True)
    token = browser.get(reverse("painting:home")).cookies["csrftoken"].value
    with on_commit(execute=True):
        made = browser.post(
            reverse("painting:explore-picture", args=[gallery["coffee"].pk]),
            headers={"X-CSRFToken": token},
        )
    exploration_id = made.url.strip("/").split("/")[-1]
    url = reverse("painting:preview", args=[exploration_id])
    data = {"fill": "blur"}
    refused = browser.post(url, {**data, "mask": mask_upload(MASK)}, headers=HTMX)
    assert refused.status_code == 403
    accepted = browser.post(
        url, {**data, "mask": mask_upload(MASK)}, headers={**HTMX, "X-CSRFToken": token}
    )
    assert accepted.status_code == 200


def test_hostile_input_gets_a_clear_400(client, gallery, on_commit, media_root):
    exploration = start(client, gallery["coffee"], on_commit)
    before = stored_state(media_root, exploration)
    cases = [
        (MASK, "sharpen", "That fill is not offered here: choose one of"),
        (MASK, "", "This field is required"),
        (mask_png((400, 600), (0, 0, 5, 5)), "blur", "The mask is 400×600 pixels"),
        (b"\xff\xd8\xff\xe0 jpeg-ish", "blur", "The mask must be a PNG image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "blur", "The mask must be a PNG image"),
        (b"", "road", "No mask was sent with this preview"),
    ]
    for mask, fill, message in cases:
        response = ask(client, exploration, mask, fill)
        assert response.status_code == 400, (fill, response.content[:200])
        assert message in response.content.decode(), response.content.decode()
        assert response["HX-Retarget"] == "#messages"
    no_mask = client.post(
        reverse("painting:preview", args=[exploration.pk]), {"fill": "blur"}, headers=HTMX
    )
    assert no_mask.status_code == 400
    assert "No mask was sent with this preview" in no_mask.content.decode()
    assert stored_state(media_root, exploration) == before


def test_a_study_condition_offers_only_its_fills(client, gallery, on_commit):
    from tests.helpers import join_study, make_study, study_step

    study = make_study(gallery, conditions=[{"name": "plain", "fills": ["mean"]}])
    join_study(client, study, on_commit)
    exploration = study_step(client, study, 1, on_commit)
    refused = ask(client, exploration, fill="blur")
    assert refused.status_code == 400
    assert "That fill is not offered here: choose one of ImageNet mean colour" in (
        refused.content.decode()
    )


def test_it_is_rate_limited_per_session_and_per_address(client, gallery, on_commit, settings):
    settings.XAI_RATE_LIMITS = {**settings.XAI_RATE_LIMITS, "preview": (2, 60)}
    exploration = start(client, gallery["coffee"], on_commit)
    assert [ask(client, exploration).status_code for _ in range(2)] == [200, 200]
    refused = ask(client, exploration)
    assert refused.status_code == 429
    assert "That is more than 2 previews in 60 seconds" in refused.content.decode()

    settings.XAI_ADDRESS_RATE_LIMITS = {**settings.XAI_ADDRESS_RATE_LIMITS, "preview": (3, 60)}
    other = Client()
    theirs = start(other, gallery["coffee"], on_commit)
    assert ask(other, theirs).status_code == 429  # the address sent three already
    assert "Your network sent more than 3 previews" in ask(other, theirs).content.decode()


def test_one_visitor_has_one_preview_in_progress_and_a_process_a_few(
    client, gallery, on_commit, settings, monkeypatch
):
    """A preview held in composing (a slow fill): the same visitor's next is refused, and once
    the process's other slots are taken too, everyone's is, with a 429 and a message."""
    exploration = start(client, gallery["coffee"], on_commit)
    picture, mask = exploration.picture, Image.open(io.BytesIO(MASK))
    started, go_on = threading.Event(), threading.Event()
    real = services.originals.seen_by_model

    def slow(*args):
        started.set()
        go_on.wait(10)
        return real(*args)

    monkeypatch.setattr(services.originals, "seen_by_model", slow)
    blur = services.masking.Fill.BLUR
    first = threading.Thread(target=services.preview_png, args=(picture, mask, blur, NONE, "v1"))
    first.start()
    others = settings.XAI_PREVIEW_CONCURRENCY - 1
    try:
        assert started.wait(10)
        with pytest.raises(services.Busy, match="Your previous preview is still being made"):
            services.preview_png(picture, mask, blur, NONE, "v1")
        for _ in range(others):
            assert services._COMPOSING.acquire(blocking=False)
        refused = ask(client, exploration)  # another visitor, while the process is full
        assert refused.status_code == 429
        assert "making other previews right now" in refused.content.decode()
    finally:
        for _ in range(others):
            services._COMPOSING.release()
        go_on.set()
        first.join(10)
    monkeypatch.setattr(services.originals, "seen_by_model", real)
    assert ask(client, exploration).status_code == 200  # every slot given back


def test_without_a_reachable_cache_a_preview_is_still_made(
    client, gallery, on_commit, settings, caplog
):
    exploration = start(client, gallery["coffee"], on_commit)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/1",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    assert ask(client, exploration).status_code == 200
    assert "previews are not counted" in caplog.text
