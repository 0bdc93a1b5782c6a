import json

from django.test import Client

from painting.models import Exploration, Participant, Picture, Round, StudyImage
from painting.studies import queries, rules
from tests.helpers import (
    HTMX,
    classify,
    files_of,
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


def test_a_browser_is_one_participant_and_withdrawing_takes_all_it_gave(client, gallery, on_commit):
    study = make_study(gallery)
    join_study(client, study, on_commit, pid="P-1")
    exploration = study_step(client, study, 1, on_commit)
    classify(client, exploration, on_commit, mask_png((600, 400), (0, 0, 100, 100)))
    join_study(client, study, on_commit, pid="P-2")  # again: the back button, a second tab
    participant = Participant.objects.get()
    assert participant.external_id == "P-1" and participant.visitor
    assert study_step(client, study, 1, on_commit) == exploration  # the same rounds
    other = Client()
    join_study(other, study, on_commit)

    client.post(f"/study/{study.slug}/withdraw/")
    assert Participant.objects.count() == 1  # the other browser's
    assert not Exploration.objects.filter(visitor=exploration.visitor).exists()
    assert not Round.objects.filter(exploration__visitor=exploration.visitor).exists()


def test_withdrawing_also_takes_an_older_second_participant_of_the_browser(
    client, gallery, on_commit
):
    study = make_study(gallery)
    join_study(client, study, on_commit)
    exploration = study_step(client, study, 1, on_commit)
    # Made before participants knew their browser: no visitor id, only its explorations tell.
    older = rules.consent(study)
    with on_commit(execute=True):
        rules.exploration_for_step(older, exploration.visitor, 2)

    client.post(f"/study/{study.slug}/withdraw/")
    assert not Participant.objects.exists() and not Exploration.objects.exists()


def test_the_images_come_in_order_and_the_page_shows_the_step(client, gallery, on_commit):
    study = make_study(gallery)
    join_study(client, study, on_commit)
    first = study_step(client, study, 1, on_commit)
    classify(client, first, on_commit, mask_png((600, 400), (0, 0, 100, 100)))
    second = study_step(client, study, 2, on_commit)
    assert (first.picture.slug, second.picture.slug) == ("coffee", "chelsea")
    assert study_step(client, study, 1, on_commit) == first  # coming back resumes
    page = client.get(f"/e/{first.pk}/").content.decode()
    assert "image 1 of 2" in page and f"/study/{study.slug}/step/2/" in page
    last = client.get(f"/e/{second.pk}/").content.decode()
    assert "image 2 of 2" in last and ">Finish</button>" in last  # after a round: a link
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
            },
            headers=HTMX,
        )
    round_ = exploration.rounds.get(index=1)
    assert round_.prediction == "cup" and round_.status == Round.Status.DONE


def test_finishing_records_the_closing_answer(client, gallery, on_commit):
    study = make_study(gallery, question="What did you learn?", min_rounds=0)
    join_study(client, study, on_commit)
    page = client.get(f"/study/{study.slug}/finish/").content.decode()
    assert "What did you learn?" in page
    done = client.post(f"/study/{study.slug}/finish/", {"answer": "It looks at the crema."})
    assert "Thank you" in done.content.decode()
    participant = Participant.objects.get()
    assert participant.finished_at and participant.closing_answer == "It looks at the crema."
    assert participant.code in done.content.decode()


def test_a_second_finish_is_refused_and_changes_nothing(client, gallery, on_commit):
    study = make_study(gallery, question="What did you learn?", min_rounds=0)
    join_study(client, study, on_commit)
    done = client.post(f"/study/{study.slug}/finish/", {"answer": "It looks at the crema."})
    assert done.status_code == 200
    first = Participant.objects.get()
    assert first.finished_at is not None
    again = client.post(f"/study/{study.slug}/finish/", {"answer": "Something else."})
    assert again.status_code == 409 and "already finished" in again.content.decode()
    participant = Participant.objects.get()
    assert participant.closing_answer == "It looks at the crema."
    assert participant.finished_at == first.finished_at
    assert client.get(f"/study/{study.slug}/finish/").status_code == 200  # the code stays shown


def test_an_image_taken_out_of_the_study_still_opens_and_leads_on(client, gallery, on_commit):
    study = make_study(gallery, slugs=("coffee", "chelsea", "rocket"), min_rounds=0)
    join_study(client, study, on_commit)
    coffee = study_step(client, study, 1, on_commit)
    chelsea = study_step(client, study, 2, on_commit)
    StudyImage.objects.filter(study=study, picture=gallery["coffee"]).delete()

    page = client.get(f"/e/{coffee.pk}/")
    body = page.content.decode()
    assert page.status_code == 200 and "no longer part of the study" in body
    assert f'href="/study/{study.slug}/step/2/"' in body  # rocket, the first not yet explored
    assert "image 1 of 2" in client.get(f"/e/{chelsea.pk}/").content.decode()

    StudyImage.objects.filter(study=study, picture=gallery["rocket"]).delete()
    body = client.get(f"/e/{coffee.pk}/").content.decode()
    assert f'href="/study/{study.slug}/finish/"' in body  # nothing left to explore


def test_withdrawing_deletes_the_participants_data_and_files(client, gallery, on_commit, settings):
    study = make_study(gallery)
    join_study(client, study, on_commit)
    exploration = study_step(client, study, 1, on_commit)
    classify(client, exploration, on_commit, mask_png((600, 400), (0, 0, 100, 100)))
    exploration.refresh_from_db()
    assert exploration.saliency  # the model's heatmap, theirs too
    stored = files_of(settings.MEDIA_ROOT, exploration.pk)
    assert {"mask.png", "thumb.jpg", "saliency.png"} <= {p.name.split("-")[-1] for p in stored}
    other = Client()
    join_study(other, study, on_commit)
    other_exploration = study_step(other, study, 1, on_commit)

    with on_commit(execute=True):  # files go when the deletion commits
        response = client.post(f"/study/{study.slug}/withdraw/")
    assert response.status_code == 200 and "deleted" in response.content.decode()
    assert Participant.objects.count() == 1  # only the other participant is left
    assert not Round.objects.filter(exploration=exploration).exists()
    assert not files_of(settings.MEDIA_ROOT, exploration.pk)
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
    assert queries.image_count(study) == 0
    assert client.get(f"/study/{study.slug}/step/1/").status_code == 404


def test_next_opens_only_after_the_minimum_of_finished_masked_rounds(
    client, staff, gallery, on_commit
):
    assert 'name="min_rounds_per_image"' in staff.get("/admin/painting/study/add/").content.decode()
    study = make_study(gallery, min_rounds=2)
    join_study(client, study, on_commit)
    first = study_step(client, study, 1, on_commit)
    page = client.get(f"/e/{first.pk}/").content.decode()
    assert "Image 1 needs 2 rounds of your own (paint, then Classify) before you go on." in page
    assert f'href="/study/{study.slug}/step/2/"' not in page and "disabled" in page

    def refused(url: str) -> str:
        response = client.get(url)
        assert response.status_code == 409, url
        return response.content.decode()

    assert "Image 1 needs 2 rounds of your own" in refused(f"/study/{study.slug}/step/2/")
    assert "Image 1 needs 2" in refused(f"/study/{study.slug}/finish/")
    assert Exploration.objects.count() == 1  # the refused step made nothing

    classify(client, first, on_commit, mask_png((600, 400), (0, 0, 100, 100)))
    classify(client, first, on_commit, mask_png((600, 400), (0, 0, 200, 100)))
    Round.objects.filter(exploration=first, index=2).update(status=Round.Status.FAILED)
    refused(f"/study/{study.slug}/step/2/")  # the original and a failed round do not count

    classify(client, first, on_commit, mask_png((600, 400), (0, 0, 300, 100)))
    assert f'href="/study/{study.slug}/step/2/"' in client.get(f"/e/{first.pk}/").content.decode()
    second = study_step(client, study, 2, on_commit)
    assert "Image 2 needs 2" in refused(f"/study/{study.slug}/finish/")
    assert study_step(client, study, 1, on_commit) == first  # going back is always allowed
    size = (second.picture.width, second.picture.height)
    for right in (100, 200):
        classify(client, second, on_commit, mask_png(size, (0, 0, right, 100)))
    assert client.get(f"/study/{study.slug}/finish/").status_code == 200


def test_steps_cannot_be_skipped(client, gallery, on_commit):
    study = make_study(gallery, slugs=("coffee", "chelsea", "astronaut"))
    join_study(client, study, on_commit)
    study_step(client, study, 1, on_commit)
    response = client.get(f"/study/{study.slug}/step/3/")
    assert (
        response.status_code == 409 and f"/study/{study.slug}/step/1/" in response.content.decode()
    )


def test_the_study_bar_comes_with_each_result_and_opens_next(client, gallery, on_commit):
    study = make_study(gallery)
    join_study(client, study, on_commit)
    exploration = study_step(client, study, 1, on_commit)
    pending = classify(client, exploration, on_commit, mask_png((600, 400), (0, 0, 100, 100)))
    body = pending.content.decode()  # answered before the task ran (it runs on commit)
    assert '<nav id="study-bar"' in body and 'hx-swap-oob="true"' in body
    assert "Image 1 needs 1 round of your own" in body
    round_ = exploration.rounds.get(index=1)
    done = client.get(f"/e/{exploration.pk}/rounds/{round_.pk}/?wait=1", headers=HTMX)
    body = done.content.decode()
    assert 'class="result done"' in body and '<nav id="study-bar"' in body
    assert f'<a class="button primary" href="/study/{study.slug}/step/2/">Next image</a>' in body


def test_after_finishing_every_write_is_refused(client, gallery, on_commit):
    study = make_study(gallery, slugs=("coffee",))
    join_study(client, study, on_commit)
    exploration = study_step(client, study, 1, on_commit)
    classify(client, exploration, on_commit, mask_png((600, 400), (0, 0, 100, 100)))
    round_ = exploration.rounds.get(index=1)
    assert client.post(f"/study/{study.slug}/finish/", {"answer": ""}).status_code == 200

    response = classify(client, exploration, on_commit, mask_png((600, 400), (0, 0, 50, 50)))
    assert response.status_code == 403 and "You have finished this study" in response.text
    assert response["HX-Retarget"] == "#messages"
    base = f"/e/{exploration.pk}/rounds/{round_.pk}"

    def refused(url: str, data: dict) -> None:
        response = client.post(url, data, headers=HTMX)
        assert response.status_code == 403 and "You have finished" in response.text, url

    refused(f"{base}/analysis/", {})
    refused(f"{base}/latency/", {"ms": "300"})
    Round.objects.filter(pk=round_.pk).update(status=Round.Status.FAILED)
    refused(f"{base}/retry/", {})
    round_.refresh_from_db()
    assert round_.status == Round.Status.FAILED and round_.analysis_status == "none"
    assert round_.client_latency_ms is None and exploration.rounds.count() == 2
    step = client.get(f"/study/{study.slug}/step/1/")
    assert step.status_code == 403 and "You have finished" in step.text

    page = client.get(f"/e/{exploration.pk}/").content.decode()
    assert "The study is over for you" in page and ">Classify</button>" not in page
    assert "Next image" not in page and f"/study/{study.slug}/finish/" in page
    assert "Thank you" in client.get(f"/study/{study.slug}/finish/").text  # the code stays


def test_after_withdrawing_every_write_finds_nothing(client, gallery, on_commit):
    study = make_study(gallery)
    join_study(client, study, on_commit)
    exploration = study_step(client, study, 1, on_commit)
    classify(client, exploration, on_commit, mask_png((600, 400), (0, 0, 100, 100)))
    round_ = exploration.rounds.get(index=1)
    client.post(f"/study/{study.slug}/withdraw/")
    response = classify(client, exploration, on_commit, mask_png((600, 400), (0, 0, 50, 50)))
    assert response.status_code == 404
    assert client.post(f"/e/{exploration.pk}/rounds/{round_.pk}/retry/").status_code == 404
    assert client.get(f"/study/{study.slug}/step/2/").status_code == 404
    assert not Round.objects.exists()
