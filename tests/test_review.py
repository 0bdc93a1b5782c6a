"""Staff review: admin screens, replay, image summary, importance map; nobody else gets in."""

import io
import tracemalloc

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from PIL import Image

from painting import review
from painting.models import Exploration, Round
from tests.helpers import classify, join_study, make_study, mask_png, start, study_step


@pytest.fixture
def explored(client, gallery, on_commit):
    exploration = start(client, gallery["coffee"], on_commit)
    classify(client, exploration, on_commit, mask_png((600, 400), (0, 0, 299, 399)))
    classify(
        client, exploration, on_commit, mask_png((600, 400), (150, 50, 450, 350)), fill="black"
    )
    return exploration


def review_urls(exploration):
    picture = exploration.picture_id
    return [
        f"/review/e/{exploration.pk}/",
        f"/review/images/{picture}/",
        f"/review/images/{picture}/kept.png",
        "/admin/painting/exploration/",
        f"/admin/painting/exploration/{exploration.pk}/change/",
    ]


def test_visitors_and_non_staff_users_get_no_access(client, explored):
    ordinary = Client()
    ordinary.force_login(User.objects.create_user("someone", password="pw-for-tests"))
    for browser in (client, ordinary, Client()):
        for url in review_urls(explored):
            response = browser.get(url)
            assert response.status_code == 302 and "/admin/login/" in response.url, url


def test_staff_replay_shows_every_round_and_the_confidence_chart(staff, explored):
    page = staff.get(f"/review/e/{explored.pk}/")
    body = page.content.decode()
    assert page.status_code == 200
    assert body.count("data-step hidden") == 3  # one figure per round
    assert "<polyline" in body and "Black" in body and "Original image" in body
    for round_ in explored.rounds.all():
        assert f"/rounds/{round_.pk}/masked.png" in body
        assert staff.get(f"/e/{explored.pk}/rounds/{round_.pk}/masked.png").status_code == 200
        if round_.mask:
            mask = staff.get(f"/e/{explored.pk}/rounds/{round_.pk}/mask.png")
            assert mask.status_code == 200 and mask["Content-Type"] == "image/png"
    # Staff look; they do not paint in someone else's exploration.
    assert (
        staff.post(f"/e/{explored.pk}/rounds/", headers={"HX-Request": "true"}).status_code == 404
    )


@pytest.mark.slow
@pytest.mark.real_model
def test_staff_admin_lists_explorations_with_classes_and_shows_rounds_inline(staff, explored):
    listing = staff.get("/admin/painting/exploration/").content.decode()
    assert "espresso" in listing and "visitor " in listing and "replay" in listing
    assert explored.visitor not in listing  # never the full id, let alone the session key
    change = staff.get(f"/admin/painting/exploration/{explored.pk}/change/").content.decode()
    assert change.count("/thumb.jpg") == 3 and change.count("/mask.png") == 2
    assert 'type="file"' not in change and "Save" not in change  # a record, not a form
    changed = staff.get("/admin/painting/exploration/?outcome=changed").content.decode()
    same = staff.get("/admin/painting/exploration/?outcome=same").content.decode()
    assert (f"/{explored.pk}/change/" in changed) != (f"/{explored.pk}/change/" in same)


def test_admin_finds_a_participant_by_code(staff, client, gallery, on_commit):
    study = make_study(gallery)
    join_study(client, study, on_commit)
    exploration = study_step(client, study, 1, on_commit)
    code = exploration.participant.code
    found = staff.get(f"/admin/painting/exploration/?q={code}").content.decode()
    assert f"/{exploration.pk}/change/" in found and code in found


def test_the_importance_map_averages_what_people_kept(staff, explored, gallery, on_commit):
    kept, count = review.kept_fraction_map(gallery["coffee"])
    assert count == 1 and kept.shape == (171, 256)  # summed at a bounded resolution
    # Round 1 painted the left half, round 2 a centre box: the right edge was always kept.
    assert kept[85, 252] == 1.0
    assert kept[4, 4] == 0.5  # painted in one of two rounds
    assert kept[85, 85] == 0.0  # painted in both
    png = staff.get(f"/review/images/{gallery['coffee'].pk}/kept.png")
    overlay = np.asarray(Image.open(io.BytesIO(png.content)))
    assert overlay.shape == (400, 600, 4) and overlay[200, 590, 3] > overlay[200, 200, 3]
    summary = staff.get(f"/review/images/{gallery['coffee'].pk}/").content.decode()
    assert "1 exploration" in summary and f"/review/e/{explored.pk}/" in summary


@pytest.mark.slow
def test_the_importance_map_uses_bounded_memory_however_many_people_explored(gallery):
    picture = gallery["coffee"]
    name = default_storage.save("rounds/shared-mask.png", ContentFile(mask_png((600, 400))))

    def peak_with(explorations: int) -> int:
        made = Exploration.objects.bulk_create(
            Exploration(visitor=f"v{i}", picture=picture, model_name="m")
            for i in range(explorations)
        )
        Round.objects.bulk_create(
            Round(exploration=e, index=1, fill="mean", mask=name, status=Round.Status.DONE)
            for e in made
        )
        tracemalloc.start()
        _kept, counted = review.kept_fraction_map(picture)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert counted == Exploration.objects.filter(picture=picture).count()
        return peak

    small, large = peak_with(100), peak_with(1900)
    assert large < 20 * 1024 * 1024 and large < small * 1.5, (small, large)
