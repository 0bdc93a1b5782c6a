"""A round the Live switch sent by itself is marked live, in the data and in the export."""

import pytest
from django.urls import reverse

from tests.helpers import HTMX, mask_png, mask_upload, start


def post(client, exploration, on_commit, **data):
    with on_commit(execute=True):
        return client.post(
            reverse("painting:classify", args=[exploration.pk]),
            {"mask": mask_upload(mask_png((600, 400), (0, 0, 50, 50))), "fill": "mean", **data},
            headers=HTMX,
        )


def test_a_live_round_is_marked_live_and_a_click_is_not(client, gallery, on_commit):
    exploration = start(client, gallery["coffee"], on_commit)
    assert post(client, exploration, on_commit, live="1").status_code == 200
    assert post(client, exploration, on_commit, live="").status_code == 200
    assert post(client, exploration, on_commit).status_code == 200
    assert [r.live for r in exploration.rounds.order_by("index")] == [False, True, False, False]


@pytest.mark.parametrize("live", ["yes", "true", "0", "1; drop", "\u0000"])
def test_a_bogus_live_value_is_a_clear_400_and_writes_nothing(client, gallery, on_commit, live):
    exploration = start(client, gallery["coffee"], on_commit)
    response = post(client, exploration, on_commit, live=live)
    assert response.status_code == 400
    assert "live must be 1 or empty" in response.content.decode()
    assert exploration.rounds.count() == 1


def test_an_edit_is_what_the_model_is_sent_and_what_the_replay_shows(
    client, gallery, on_commit, staff
):
    import io

    import numpy as np
    from PIL import Image

    exploration = start(client, gallery["coffee"], on_commit)
    assert post(client, exploration, on_commit, fill="grey").status_code == 200
    round_ = exploration.rounds.get(index=1)
    assert round_.fill == "grey"
    seen = client.get(f"/e/{exploration.pk}/rounds/{round_.pk}/masked.png")
    pixels = np.asarray(Image.open(io.BytesIO(seen.content)).convert("RGB")).astype(int)
    inside, outside = pixels[20, 20], pixels[300, 400]
    assert inside[0] == inside[1] == inside[2]  # grey where painted
    with exploration.picture.file.open("rb") as f:
        original = np.asarray(Image.open(f).convert("RGB")).astype(int)
    assert (outside == original[300, 400]).all()
    replay = staff.get(f"/review/e/{exploration.pk}/").content.decode()
    assert "Grey (its colour removed)" in replay and f"{round_.pk}/masked.png" in replay


def test_a_bogus_edit_kind_is_a_clear_400_and_writes_nothing(client, gallery, on_commit):
    exploration = start(client, gallery["coffee"], on_commit)
    response = post(client, exploration, on_commit, fill="rotate; rm -rf")
    assert response.status_code == 400
    assert "That fill is not offered here" in response.content.decode()
    assert exploration.rounds.count() == 1
