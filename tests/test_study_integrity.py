"""What a participant can do to a study's data (issue 23): an image left with Next is closed;
a link without a participant id (or with the platform's placeholder) is refused; withdrawing
is possible at any time, after a confirmation, and the link then says so; time up closes the
tools; speeders are flagged in the export."""

import csv
import io
import zipfile
from datetime import timedelta
from urllib.parse import unquote

import pytest
from django.test import Client

from painting.models import Exploration, Participant, Round, Study, WithdrawnId
from painting.studies import queries, rules
from painting.studies.export import archive as exports
from tests.helpers import classify, join_study, make_study, mask_png, study_step

MASK = mask_png((600, 400), (0, 0, 100, 100))  # coffee, the first image


def size_mask(exploration) -> bytes:
    picture = exploration.picture
    return mask_png((picture.width, picture.height), (0, 0, 9, 9))


def taking_part(gallery, on_commit, pid="P-1", **fields):
    study = make_study(gallery, allow_missing_id=False, **fields)
    browser = Client()
    join_study(browser, study, on_commit, pid=pid)
    return study, browser


# --- Item 2: Back after Next ---------------------------------------------------------------


def test_an_image_left_with_next_is_closed(gallery, on_commit):
    study, browser = taking_part(gallery, on_commit)
    first = study_step(browser, study, 1, on_commit)
    assert classify(browser, first, on_commit, MASK).status_code == 200
    second = study_step(browser, study, 2, on_commit)

    # The browser's Back button: the first image's page again, and a Classify on it.
    page = browser.get(f"/e/{first.pk}/")
    assert page["Cache-Control"] == "no-store"  # Back asks the server, not a stored copy
    body = page.content.decode()
    assert "You have gone on to a later image, so this one is closed" in body
    assert "data-closed" in body and 'type="submit" class="primary"' not in body
    refused = classify(browser, first, on_commit, MASK)
    assert refused.status_code == 403 and "this one is closed" in refused.content.decode()
    assert first.rounds.count() == 2  # the original and the round sent before Next
    # The later image is open, and opening the earlier step again changes nothing.
    assert study_step(browser, study, 1, on_commit) == first
    assert classify(browser, second, on_commit, size_mask(second)).status_code == 200
    assert "data-closed" not in browser.get(f"/e/{second.pk}/").content.decode()


# --- Item 4: ids -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "This link carries no participant id"),
        ("?STUDY_ID=s1&SESSION_ID=x", "This link carries no participant id"),
        ("?PROLIFIC_PID={{%PROLIFIC_PID%}}", "placeholder {{%PROLIFIC_PID%}}"),
        ("?pid=%7B%7B%25PROLIFIC_PID%25%7D%7D", "placeholder"),
        ("?PROLIFIC_PID=abc%25%7D%7D", "placeholder"),
    ],
)
def test_a_link_without_a_real_id_is_refused_and_stores_nothing(gallery, query, message):
    study = make_study(gallery, allow_missing_id=False)
    browser = Client()
    page = browser.get(f"/study/{study.slug}/{query}")
    assert page.status_code == 400 and message in page.content.decode()
    assert 'name="agree"' not in page.content.decode()
    ids = dict(pair.split("=") for pair in query[1:].split("&")) if query else {}
    posted = browser.post(
        f"/study/{study.slug}/consent/", {"agree": "1", **{k: unquote(v) for k, v in ids.items()}}
    )
    assert posted.status_code == 400 and message in posted.content.decode()
    assert not Participant.objects.exists() and not browser.session.get("participant:masks")
    assert Study.objects.get().assignment_count == 0


def test_testers_with_the_placeholder_do_not_merge_where_ids_may_be_missing(gallery, on_commit):
    study = make_study(gallery, allow_missing_id=True, max_consents_per_address=0)
    for _ in range(2):
        join_study(Client(), study, on_commit, pid="{{%PROLIFIC_PID%}}")
    join_study(Client(), study, on_commit)
    ids = list(Participant.objects.values_list("external_id", flat=True))
    assert len(ids) == 3 and len(set(ids)) == 3
    assert all(i.startswith("no-id-") for i in ids)
    # The same browser again is the same participant.
    again = Client()
    join_study(again, study, on_commit)
    join_study(again, study, on_commit)
    assert Participant.objects.count() == 4


# --- Item 6: withdraw at any time ---------------------------------------------------------------


def test_withdraw_is_offered_on_every_page_and_asks_first(gallery, on_commit):
    study, browser = taking_part(gallery, on_commit, min_rounds=2)
    first = study_step(browser, study, 1, on_commit)
    page = browser.get(f"/e/{first.pk}/").content.decode()
    assert f'href="/study/{study.slug}/withdraw/" data-withdraw>Withdraw</a>' in page
    # Finish is not open yet (409), and still offers the way out.
    refused = browser.get(f"/study/{study.slug}/finish/")
    assert refused.status_code == 409
    assert f'href="/study/{study.slug}/withdraw/"' in refused.content.decode()

    asked = browser.get(f"/study/{study.slug}/withdraw/")
    body = asked.content.decode()
    assert asked.status_code == 200 and "Withdraw from the study?" in body
    assert "data-withdraw-confirm" in body and Participant.objects.count() == 1

    done = browser.post(f"/study/{study.slug}/withdraw/")
    body = done.content.decode()
    assert done.status_code == 200 and "You have withdrawn" in body
    assert "return your submission" in body
    assert not Participant.objects.exists() and not Round.objects.exists()
    assert WithdrawnId.objects.count() == 1
    assert "P-1" not in str(list(WithdrawnId.objects.values_list("id_key", flat=True)))


def test_after_withdrawing_the_link_says_so_and_never_asks_for_consent_again(gallery, on_commit):
    study, browser = taking_part(gallery, on_commit)
    browser.post(f"/study/{study.slug}/withdraw/")
    for client in (browser, Client()):  # this browser, and the same id in another one
        page = client.get(f"/study/{study.slug}/?PROLIFIC_PID=P-1")
        body = page.content.decode()
        assert page.status_code == 200 and "You withdrew from this study" in body
        assert 'name="agree"' not in body
        posted = client.post(f"/study/{study.slug}/consent/", {"agree": "1", "PROLIFIC_PID": "P-1"})
        assert "You withdrew from this study" in posted.content.decode()
    # This browser, whatever its link says.
    assert "You withdrew" in browser.get(f"/study/{study.slug}/?PROLIFIC_PID=P-9").text
    assert "You withdrew" in browser.get(f"/study/{study.slug}/withdraw/").text
    assert not Participant.objects.exists()
    # Someone else still takes part.
    join_study(Client(), study, on_commit, pid="P-2")
    assert Participant.objects.get().external_id == "P-2"


def test_a_browser_that_only_reopened_the_link_is_asked_for_the_code(gallery, on_commit):
    study, _browser = taking_part(gallery, on_commit)
    other = Client()
    assert other.get(f"/study/{study.slug}/?PROLIFIC_PID=P-1").status_code == 302
    asked = other.get(f"/study/{study.slug}/withdraw/")
    assert asked.status_code == 200 and "please enter your participant code" in asked.text
    assert Participant.objects.count() == 1


def test_a_hostile_withdrawal_changes_nothing(gallery, on_commit):
    study, browser = taking_part(gallery, on_commit)
    assert Client().get(f"/study/{study.slug}/withdraw/").status_code == 404
    assert Client().post(f"/study/{study.slug}/withdraw/").status_code == 404
    assert browser.put(f"/study/{study.slug}/withdraw/").status_code == 405
    assert browser.get("/study/no-such-study/withdraw/").status_code == 404
    assert Participant.objects.count() == 1


# --- Item 9: time is up ---------------------------------------------------------------------


def test_when_the_image_time_is_up_the_tools_are_closed(gallery, on_commit):
    study, browser = taking_part(gallery, on_commit, time_limit_per_image_s=60, ask_prediction=True)
    first = study_step(browser, study, 1, on_commit)
    assert "data-closed" not in browser.get(f"/e/{first.pk}/").content.decode()
    Exploration.objects.filter(pk=first.pk).update(
        created_at=first.created_at - timedelta(seconds=61)
    )
    body = browser.get(f"/e/{first.pk}/").content.decode()
    assert "data-closed" in body and "The time for this image is up" in body


def test_when_the_study_time_is_up_the_finish_page_says_why(gallery, on_commit):
    study, browser = taking_part(gallery, on_commit, time_limit_s=600)
    study_step(browser, study, 1, on_commit)
    assert "The time for this study is up" not in browser.get(f"/study/{study.slug}/finish/").text
    Participant.objects.update(
        consented_at=Participant.objects.get().consented_at - timedelta(seconds=601)
    )
    page = browser.get(f"/study/{study.slug}/finish/")
    assert page.status_code == 200 and "The time for this study is up, so it ends here" in page.text
    assert queries.status_of(Participant.objects.get()) == "timed out"
    assert browser.post(f"/study/{study.slug}/finish/", {"answer": ""}).status_code == 200
    participant = Participant.objects.get()
    assert participant.finished_at and queries.status_of(participant) == "finished"
    assert "The time for this study is up" not in browser.get(f"/study/{study.slug}/finish/").text


# --- Item 5: speeders are flagged, not refused ----------------------------------------------


def read_csv(archive: zipfile.ZipFile, name: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(archive.read(name).decode())))


def test_rows_of_an_image_done_too_fast_are_flagged_in_the_export(gallery, on_commit):
    study, browser = taking_part(gallery, on_commit, min_seconds_per_image=10)
    first = study_step(browser, study, 1, on_commit)
    classify(browser, first, on_commit, MASK)
    second = study_step(browser, study, 2, on_commit)  # 1 s or so on the first: too fast
    classify(browser, second, on_commit, size_mask(second))
    Exploration.objects.filter(pk=second.pk).update(
        created_at=second.created_at - timedelta(seconds=30)
    )
    browser.post(f"/study/{study.slug}/finish/", {"answer": ""})  # 30 s on the second

    out = io.BytesIO()
    exports.write_study_zip(study, out)
    archive = zipfile.ZipFile(out)
    flags = {(r["step"], r["too_fast"]) for r in read_csv(archive, "rounds.csv")}
    assert flags == {("1", "1"), ("2", "0")}
    assert "  too_fast: 1 when time_on_step_s is below" in archive.read("README.txt").decode()
    people = read_csv(archive, "participants.csv")
    assert people[0]["status"] == "finished" and people[0]["returned_at"] == ""

    study.min_seconds_per_image = 0
    study.save()
    out = io.BytesIO()
    exports.write_study_zip(study, out)
    rows = read_csv(zipfile.ZipFile(out), "rounds.csv")
    assert {r["too_fast"] for r in rows} == {""}


# --- Item 5: returned, as the platform says -------------------------------------------------


def test_staff_mark_a_participant_returned_and_its_slot_is_given_back(gallery, staff):
    from painting.studies import queries

    study = make_study(gallery, conditions=[{"name": "x"}, {"name": "y"}])
    first, second = (rules.consent(study, visitor=v) for v in ("v1", "v2"))
    assert first.condition != second.condition  # one each
    answer = staff.post(
        "/admin/painting/participant/",
        {"action": "mark_returned", "_selected_action": [str(first.pk)]},
    )
    assert answer.status_code == 302
    first.refresh_from_db()
    assert first.returned_at and queries.status_of(first) == "returned"
    assert "returned" in staff.get("/admin/painting/participant/").text
    # Each newcomer takes the returned one's condition, the least filled: it held no slot.
    for n in range(5):
        newcomer = rules.consent(study, visitor=f"new-{n}")
        assert newcomer.condition == first.condition
        rules.mark_returned(Participant.objects.filter(pk=newcomer.pk))
