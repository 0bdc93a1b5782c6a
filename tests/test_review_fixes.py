"""Defects found in review, each pinned by a test."""

import csv
import io
import zipfile
from datetime import timedelta

from django.test import Client
from django.utils import timezone

from painting import model_view, services, studies
from painting.exports import study_zip
from painting.models import Exploration, Round
from tests.conftest import mask_png
from tests.helpers import HTMX, classify, join_study, make_study, start, study_step
from tests.test_services import new_exploration, pending_rounds


def test_participant_text_cannot_become_a_spreadsheet_formula(gallery, on_commit):
    study = make_study(gallery)
    join_study(Client(), study, on_commit, pid='=HYPERLINK("http://evil/","x")')
    archive = zipfile.ZipFile(io.BytesIO(study_zip(study)))
    [row] = csv.DictReader(io.StringIO(archive.read("participants.csv").decode()))
    assert row["external_id"] == '\'=HYPERLINK("http://evil/","x")'


def test_free_play_never_reopens_a_study_exploration(client, gallery, on_commit):
    study = make_study(gallery)
    join_study(client, study, on_commit)
    in_study = study_step(client, study, 1, on_commit)  # coffee
    free = start(client, gallery["coffee"], on_commit)
    assert free != in_study and free.participant is None


def test_nan_in_the_brush_log_is_a_clear_400_not_a_500(client, gallery, on_commit):
    exploration = start(client, gallery["coffee"], on_commit)
    response = classify(client, exploration, on_commit, mask_png((600, 400)), strokes="[NaN]")
    assert response.status_code == 400 and "not valid JSON" in response.content.decode()
    assert exploration.rounds.count() == 1


def test_a_reloaded_page_shows_the_analysis_as_it_was(client, gallery, on_commit):
    exploration = start(client, gallery["coffee"], on_commit)
    classify(client, exploration, on_commit, mask_png((600, 400), (170, 40, 440, 290)))
    round_ = exploration.rounds.get(index=1)
    with on_commit(execute=True):
        client.post(f"/e/{exploration.pk}/rounds/{round_.pk}/analysis/", headers=HTMX)
    round_.refresh_from_db()
    fresh = client.get(f"/e/{exploration.pk}/rounds/{round_.pk}/analysis/", headers=HTMX)
    for page in (
        client.get(f"/e/{exploration.pk}/").content.decode(),
        client.get(f"/e/{exploration.pk}/rounds/{round_.pk}/", headers=HTMX).content.decode(),
    ):
        assert 'viewBox="0 0 600 160"' in page and 'points=""' not in page
        assert ("data-fills-disagree" in page) == ("data-fills-disagree" in fresh.content.decode())


def test_a_lost_analysis_is_offered_again(client, gallery, on_commit, settings):
    exploration = start(client, gallery["coffee"], on_commit)
    classify(client, exploration, on_commit, mask_png((600, 400), (0, 0, 100, 100)))
    round_ = exploration.rounds.get(index=1)
    long_ago = (timezone.now() - timedelta(hours=1)).isoformat()
    Round.objects.filter(pk=round_.pk).update(
        analysis={"status": "pending", "requested_at": long_ago}
    )
    settings.XAI_POLL_WAIT_SECONDS = 0.05
    page = client.get(f"/e/{exploration.pk}/rounds/{round_.pk}/analysis/", headers=HTMX)
    assert "did not come back" in page.content.decode()
    assert "Compare fills and deletion curves" in page.content.decode()
    round_.refresh_from_db()
    assert model_view.request_analysis(round_).analysis["status"] in ("pending", "done")


def test_a_round_whose_mask_is_gone_fails_alone_not_its_batch(gallery):
    rounds = pending_rounds(new_exploration(gallery), 3)
    rounds[1].mask.storage.delete(rounds[1].mask.name)  # withdrawn while queued
    services.run_rounds(rounds[0].pk, batch_size=8)
    statuses = [Round.objects.get(pk=r.pk).status for r in rounds]
    assert statuses == [Round.Status.DONE, Round.Status.FAILED, Round.Status.DONE]


def test_studies_only_use_gallery_photos(client, db, on_commit):
    from tests.test_views_upload import jpeg, upload

    upload(client, jpeg(), capture=on_commit)
    private = Exploration.objects.get().picture
    from painting.models import StudyImage

    field = StudyImage._meta.get_field("picture")
    assert field.get_limit_choices_to() == {"is_gallery": True}
    assert not private.is_gallery
    study = make_study({"coffee": private}, slugs=("coffee",))  # as if an admin forced it
    join_study(client, study, on_commit)
    assert studies.image_count(study) == 0
    assert client.get(f"/study/{study.slug}/step/1/").status_code == 404
