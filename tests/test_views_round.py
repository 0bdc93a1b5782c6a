from datetime import timedelta

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from painting.models import Round
from tests.helpers import HTMX, classify, mask_png, start


def test_a_finished_round_is_returned_at_once(client, gallery, on_commit):
    exploration = start(client, gallery["chelsea"], on_commit)
    original = exploration.rounds.get()
    response = client.get(
        reverse("painting:round", args=[exploration.pk, original.pk]) + "?wait=1", headers=HTMX
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert 'class="result done"' in body and "Original image" in body
    assert original.top[0]["label"] in body
    assert f'<li id="round-{original.pk}" hx-swap-oob="true">' in body  # its history entry


def test_without_htmx_it_redirects_to_the_exploration(client, gallery, on_commit):
    exploration = start(client, gallery["chelsea"], on_commit)
    response = client.get(
        reverse("painting:round", args=[exploration.pk, exploration.rounds.get().pk])
    )
    assert response.status_code == 302


def test_a_round_nobody_answers_is_failed_instead_of_pending_forever(
    client, gallery, settings, on_commit
):
    exploration = start(client, gallery["chelsea"], on_commit)
    original = exploration.rounds.get()
    Round.objects.filter(pk=original.pk).update(
        status=Round.Status.PENDING, created_at=timezone.now() - timedelta(hours=1)
    )
    settings.XAI_POLL_WAIT_SECONDS = 0.1
    response = client.get(
        reverse("painting:round", args=[exploration.pk, original.pk]) + "?wait=1", headers=HTMX
    )
    assert "No classifier answered this round in time" in response.content.decode()
    assert "Retry" in response.content.decode()
    original.refresh_from_db()
    assert original.status == Round.Status.FAILED


def test_a_pending_round_keeps_polling(client, gallery, settings, on_commit):
    exploration = start(client, gallery["chelsea"], on_commit)
    original = exploration.rounds.get()
    Round.objects.filter(pk=original.pk).update(status=Round.Status.PENDING)
    settings.XAI_POLL_WAIT_SECONDS = 0.05
    body = client.get(
        reverse("painting:round", args=[exploration.pk, original.pk]) + "?wait=1", headers=HTMX
    ).content.decode()
    assert 'class="result pending"' in body and 'hx-trigger="load"' in body


def test_round_files_are_served_to_their_owner_only(client, gallery, on_commit):
    exploration = start(client, gallery["coffee"], on_commit)
    classify(client, exploration, on_commit, mask_png((600, 400), (0, 0, 50, 50)))
    round_ = exploration.rounds.get(index=1)
    for name, content_type in (
        ("mask.png", "image/png"),
        ("masked.png", "image/png"),
        ("thumb.jpg", "image/jpeg"),
    ):
        url = reverse("painting:round-file", args=[exploration.pk, round_.pk, name])
        response = client.get(url)
        assert response.status_code == 200 and response["Content-Type"] == content_type
        assert "private" in response["Cache-Control"]
        assert Client().get(url).status_code == 404
    assert (
        client.get(
            reverse("painting:round-file", args=[exploration.pk, round_.pk, "x.exe"])
        ).status_code
        == 404
    )
    original = exploration.rounds.get(index=0)
    assert (
        client.get(
            reverse("painting:round-file", args=[exploration.pk, original.pk, "mask.png"])
        ).status_code
        == 404
    )


def test_a_thumbnail_not_written_yet_is_composed_the_same_way(client, gallery, on_commit):
    """The worker writes the history thumbnail after the answer; asked for before, it is made
    from what the model saw, byte for byte the same."""
    exploration = start(client, gallery["coffee"], on_commit)
    classify(client, exploration, on_commit, mask_png((600, 400), (0, 0, 300, 200)))
    round_ = exploration.rounds.get(index=1)
    url = reverse("painting:round-file", args=[exploration.pk, round_.pk, "thumb.jpg"])
    stored = b"".join(client.get(url).streaming_content)
    Round.objects.filter(pk=round_.pk).update(thumbnail="")
    composed = client.get(url)
    assert composed.status_code == 200 and composed["Content-Type"] == "image/jpeg"
    assert composed.content == stored
    assert Client().get(url).status_code == 404  # still its owner's only
    Round.objects.filter(pk=round_.pk).update(status=Round.Status.PENDING)
    assert client.get(url).status_code == 404  # nothing to show before the answer
