import pytest
from django.test import Client
from django.urls import reverse

from painting.models import Exploration, Round
from tests.helpers import HTMX, classify, mask_png, start


@pytest.mark.slow
@pytest.mark.real_model
def test_picking_an_image_classifies_the_unmasked_original(client, gallery, on_commit):
    exploration = start(client, gallery["coffee"], on_commit)
    original = exploration.rounds.get()
    assert original.index == 0 and original.status == Round.Status.DONE
    assert original.top[0]["label"] == "espresso"
    assert original.model_name == "efficientnet-lite2"
    assert original.weights_sha256.startswith("9656183e")
    assert not original.mask and original.masked_fraction == 0


@pytest.mark.slow
@pytest.mark.real_model
def test_the_page_shows_the_canvas_the_result_and_the_history(client, gallery, on_commit):
    exploration = start(client, gallery["coffee"], on_commit)
    body = client.get(reverse("painting:explore", args=[exploration.pk])).content.decode()
    assert '<canvas data-mask width="600" height="400"' in body
    assert 'id="result" class="result done"' in body
    assert "espresso" in body and "%" in body
    assert 'id="history-list"' in body and "Original" in body
    assert "EfficientNet-Lite2" in body
    assert "Rachel Michetti" in body and "CC0" in body


def test_picking_the_same_image_again_resumes_and_fresh_starts_over(client, gallery, on_commit):
    first = start(client, gallery["coffee"], on_commit)
    assert start(client, gallery["coffee"], on_commit) == first
    fresh = start(client, gallery["coffee"], on_commit, fresh="1")
    assert fresh != first and Exploration.objects.count() == 2


def test_htmx_picks_redirect_on_the_client(client, gallery, on_commit):
    with on_commit(execute=True):
        response = client.post(
            reverse("painting:explore-picture", args=[gallery["coffee"].pk]), headers=HTMX
        )
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/e/")


def test_another_browser_gets_404_everywhere(client, gallery, on_commit):
    exploration = start(client, gallery["coffee"], on_commit)
    original = exploration.rounds.get()
    other = Client()
    other.get(reverse("painting:home"))
    classify(client, exploration, on_commit, mask_png((600, 400), (0, 0, 99, 99)))
    painted = exploration.rounds.get(index=1)
    urls = [
        reverse("painting:explore", args=[exploration.pk]),
        reverse("painting:round", args=[exploration.pk, original.pk]),
        reverse("painting:saliency", args=[exploration.pk]),
        reverse("painting:analysis", args=[exploration.pk, painted.pk]),
    ] + [
        reverse("painting:round-file", args=[exploration.pk, round_.pk, name])
        for round_ in (original, painted)
        for name in ("masked.png", "thumb.jpg", "mask.png")
    ]
    for url in urls:
        assert other.get(url, headers=HTMX).status_code == 404, url
    for url in (
        reverse("painting:classify", args=[exploration.pk]),
        reverse("painting:retry", args=[exploration.pk, original.pk]),
        reverse("painting:analysis", args=[exploration.pk, painted.pk]),
    ):
        assert other.post(url, headers=HTMX).status_code == 404, url
    assert client.get(reverse("painting:saliency", args=[exploration.pk])).status_code == 200


def test_unknown_ids_are_404(client, gallery):
    missing = "00000000-0000-0000-0000-000000000000"
    assert client.get(f"/e/{missing}/").status_code == 404
    assert client.post(f"/pictures/{missing}/explore/").status_code == 404
    assert client.get("/e/not-a-uuid/").status_code == 404


def test_get_is_not_allowed_where_state_changes(client, gallery):
    assert (
        client.get(reverse("painting:explore-picture", args=[gallery["coffee"].pk])).status_code
        == 405
    )


def test_the_canvas_and_the_fill_start_from_the_latest_round(client, gallery, on_commit):
    exploration = start(client, gallery["coffee"], on_commit)
    page = client.get(reverse("painting:explore", args=[exploration.pk])).content.decode()
    assert 'data-initial-mask=""' in page  # the original has no mask
    assert '<option value="mean" selected>' in page
    classify(client, exploration, on_commit, mask_png((600, 400), (0, 0, 99, 99)), fill="blur")
    latest = exploration.rounds.get(index=1)
    page = client.get(reverse("painting:explore", args=[exploration.pk])).content.decode()
    mask_url = reverse("painting:round-file", args=[exploration.pk, latest.pk, "mask.png"])
    assert f'data-initial-mask="{mask_url}"' in page
    assert '<option value="blur" selected>' in page and '"mean" selected' not in page
