import json
import os

from django.test import Client

from painting import studies
from painting.models import Exploration, Participant, Picture, Round
from tests.helpers import (
    HTMX,
    classify,
    join_study,
    jpeg,
    make_study,
    mask_png,
    mask_upload,
    start,
    study_step,
    upload,
)


def test_nothing_is_stored_before_consent(client, gallery):
    study = make_study(gallery)
    page = client.get(f"/study/{study.slug}/?pid=PROLIFIC-42")
    body = page.content.decode()
    assert page.status_code == 200 and "We record how you paint" in body
    assert 'value="PROLIFIC-42"' in body and "version 2026-11" in body
    refused = client.post(f"/study/{study.slug}/consent/", {"pid": "PROLIFIC-42"})
    assert refused.status_code == 400 and "tick the box" in refused.content.decode()
    assert not Participant.objects.exists() and not Exploration.objects.exists()
    assert client.get(f"/study/{study.slug}/step/1/").status_code == 404


def test_consent_records_version_time_and_recruiter_id(client, gallery, on_commit):
    study = make_study(gallery)
    join_study(client, study, on_commit, pid="PROLIFIC-42")
    participant = Participant.objects.get()
    assert participant.consent_version == "2026-11" and participant.external_id == "PROLIFIC-42"
    assert len(participant.code) == 8 and participant.consented_at
    assert client.get(f"/study/{study.slug}/").status_code == 302  # already in


def test_a_recruiter_id_with_a_nul_character_is_kept_without_it(client, gallery, on_commit):
    join_study(client, make_study(gallery), on_commit, pid="PROLIFIC\x00-42")
    assert Participant.objects.get().external_id == "PROLIFIC-42"


def test_the_images_come_in_order_and_the_page_shows_the_step(client, gallery, on_commit):
    study = make_study(gallery)
    join_study(client, study, on_commit)
    first = study_step(client, study, 1, on_commit)
    second = study_step(client, study, 2, on_commit)
    assert (first.picture.slug, second.picture.slug) == ("coffee", "chelsea")
    assert study_step(client, study, 1, on_commit) == first  # coming back resumes
    page = client.get(f"/e/{first.pk}/").content.decode()
    assert "image 1 of 2" in page and f"/study/{study.slug}/step/2/" in page
    last = client.get(f"/e/{second.pk}/").content.decode()
    assert "image 2 of 2" in last and f"/study/{study.slug}/finish/" in last
    assert "Start over" not in last
    assert client.get(f"/study/{study.slug}/step/3/").status_code == 404


def test_the_prediction_is_required_and_recorded_with_the_round(client, gallery, on_commit):
    study = make_study(gallery, ask_prediction=True)
    join_study(client, study, on_commit)
    exploration = study_step(client, study, 1, on_commit)
    assert (
        "What do you expect the model to say now?"
        in client.get(f"/e/{exploration.pk}/").content.decode()
    )
    mask = mask_png((600, 400), (100, 100, 300, 300))
    missing = classify(client, exploration, on_commit, mask)
    assert missing.status_code == 400 and "Write what you expect" in missing.content.decode()
    with on_commit(execute=True):
        client.post(
            f"/e/{exploration.pk}/rounds/",
            {
                "mask": mask_upload(mask),
                "fill": "mean",
                "prediction": "cup",
                "strokes": json.dumps([{"type": "classify", "t": 900}]),
                "previous_latency_ms": "180",
            },
            headers=HTMX,
        )
    round_ = exploration.rounds.get(index=1)
    assert round_.prediction == "cup" and round_.status == Round.Status.DONE
    assert exploration.rounds.get(index=0).client_latency_ms == 180


def test_finishing_records_the_closing_answer(client, gallery, on_commit):
    study = make_study(gallery, question="What did you learn?")
    join_study(client, study, on_commit)
    page = client.get(f"/study/{study.slug}/finish/").content.decode()
    assert "What did you learn?" in page
    done = client.post(f"/study/{study.slug}/finish/", {"answer": "It looks at the crema."})
    assert "Thank you" in done.content.decode()
    participant = Participant.objects.get()
    assert participant.finished_at and participant.closing_answer == "It looks at the crema."
    assert participant.code in done.content.decode()


def test_withdrawing_deletes_the_participants_data_and_files(client, gallery, on_commit):
    study = make_study(gallery)
    join_study(client, study, on_commit)
    exploration = study_step(client, study, 1, on_commit)
    classify(client, exploration, on_commit, mask_png((600, 400), (0, 0, 100, 100)))
    round_ = exploration.rounds.get(index=1)
    mask_path = round_.mask.path
    other = Client()
    join_study(other, study, on_commit)
    other_exploration = study_step(other, study, 1, on_commit)

    response = client.post(f"/study/{study.slug}/withdraw/")
    assert response.status_code == 200 and "deleted" in response.content.decode()
    assert Participant.objects.count() == 1  # only the other participant is left
    assert not Round.objects.filter(exploration=exploration).exists()
    assert not os.path.exists(mask_path)
    assert gallery["coffee"].file.storage.exists(gallery["coffee"].file.name)  # shared image stays
    assert Exploration.objects.filter(pk=other_exploration.pk).exists()
    assert client.get(f"/study/{study.slug}/finish/").status_code == 404


def test_free_play_never_reopens_a_study_exploration(client, gallery, on_commit):
    study = make_study(gallery)
    join_study(client, study, on_commit)
    in_study = study_step(client, study, 1, on_commit)  # coffee
    free = start(client, gallery["coffee"], on_commit)
    assert free != in_study and free.participant is None


def test_studies_only_use_gallery_photos(client, staff, db, on_commit):
    upload(client, jpeg(), capture=on_commit)
    private = Picture.objects.get()
    form = staff.get("/admin/painting/study/add/").content.decode()
    assert str(private.pk) not in form  # admin does not offer a visitor's upload
    study = make_study({"coffee": private}, slugs=("coffee",))  # as if forced in anyway
    join_study(client, study, on_commit)
    assert studies.image_count(study) == 0
    assert client.get(f"/study/{study.slug}/step/1/").status_code == 404
