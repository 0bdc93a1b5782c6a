"""The image summary, its human importance map and its alignment, pooled over every
exploration of a photo or over one study (or free play) and one of its conditions, and saying
which pool is shown."""

import io

import numpy as np
import pytest
from django.test import Client
from PIL import Image

from painting.models import Participant
from tests.helpers import classify, join_study, make_study, mask_png, start, study_step

pytestmark = pytest.mark.django_db

LEFT = (0, 0, 300, 400)  # the left half of the 600×400 photo painted
RIGHT = (300, 0, 600, 400)


def kept_png(staff, picture, **query):
    response = staff.get(f"/review/images/{picture.pk}/kept.png", query)
    assert response.status_code == 200
    return np.asarray(Image.open(io.BytesIO(response.content)))[..., 3]  # the overlay's alpha


def test_the_summary_pools_by_study_and_condition(staff, gallery, on_commit):
    coffee = gallery["coffee"]
    study = make_study(
        gallery,
        slugs=("coffee",),
        conditions=[{"name": "left-painters"}, {"name": "right-painters"}],
        max_consents_per_address=0,
    )
    for pid in ("A", "B"):
        browser = Client()
        join_study(browser, study, on_commit, pid=pid)
        exploration = study_step(browser, study, 1, on_commit)
        left = Participant.objects.get(external_id=pid).condition.name == "left-painters"
        classify(browser, exploration, on_commit, mask_png((600, 400), LEFT if left else RIGHT))
    free = Client()
    free_play = start(free, coffee, on_commit)
    classify(free, free_play, on_commit, mask_png((600, 400), LEFT))

    everything = staff.get(f"/review/images/{coffee.pk}/")
    assert "Every exploration of this photo" in everything.content.decode()
    assert len(everything.context["explorations"]) == 3

    only_left = staff.get(
        f"/review/images/{coffee.pk}/", {"study": study.slug, "condition": "left-painters"}
    )
    page = only_left.content.decode()
    assert "condition “left-painters” only" in page
    assert len(only_left.context["explorations"]) == 1
    # The importance map is the same pool's: its URL carries the query.
    assert f"kept.png?study={study.slug}&amp;condition=left-painters" in page
    left_map = kept_png(staff, coffee, study=study.slug, condition="left-painters")
    right_map = kept_png(staff, coffee, study=study.slug, condition="right-painters")
    # Kept (warm, opaque) on the right for those who painted the left, and the reverse.
    assert left_map[200, 550] > left_map[200, 50] and right_map[200, 50] > right_map[200, 550]

    free_only = staff.get(f"/review/images/{coffee.pk}/", {"study": "free"})
    assert "Free play only" in free_only.content.decode()
    assert [e.pk for e in free_only.context["explorations"]] == [free_play.pk]
    whole_study = staff.get(f"/review/images/{coffee.pk}/", {"study": study.slug})
    assert len(whole_study.context["explorations"]) == 2
    # The form offers the studies that explored the photo, and the chosen study's conditions.
    assert f'<option value="{study.slug}" selected>' in whole_study.content.decode()
    assert '<option value="right-painters">' in whole_study.content.decode()


@pytest.mark.parametrize(
    "query",
    [
        {"study": "no-such-study"},
        {"condition": "left-painters"},
        {"study": "free", "condition": "x"},
        {"study": "\x00" * 300},
    ],
)
def test_a_pool_that_does_not_exist_is_a_clear_400(staff, gallery, query):
    for path in ("", "kept.png"):
        response = staff.get(f"/review/images/{gallery['coffee'].pk}/{path}", query)
        assert response.status_code == 400
        assert response["Content-Type"].startswith("text/plain")


def test_another_studys_condition_is_said_not_refused(staff, gallery):
    study = make_study(gallery, slugs=("coffee",), conditions=[{"name": "a"}])
    response = staff.get(
        f"/review/images/{gallery['coffee'].pk}/", {"study": study.slug, "condition": "zzz"}
    )
    assert response.status_code == 200
    assert "It has no condition “zzz”" in response.content.decode()
