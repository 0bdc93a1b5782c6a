"""Pilot participants (staff's preview, study_bots): made by a signed one-time link, marked
pilot, left out of the balance, the quotas and the dashboard's counts (unless asked), deleted
by one admin action. And quotas: a full condition takes nobody more, and a full study closes
itself and shows newcomers its full page."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import signing
from django.test import Client
from django.utils import timezone

from painting.models import Condition, Participant, Round, Study
from painting.studies import pilots, rules
from tests.helpers import classify, consent_at_once, join_study, make_study, mask_png, study_step

pytestmark = pytest.mark.django_db

TWO = [{"name": "a"}, {"name": "b"}]


def pilot_token(staff, study) -> str:
    response = staff.get(f"/review/studies/{study.slug}/preview/")
    assert response.status_code == 302
    return parse_qs(urlsplit(response.url).query)["pilot"][0]


def join_as_pilot(study, token, client=None) -> tuple[Client, Participant]:
    client = client or Client()
    page = client.get(f"/study/{study.slug}/", {"pilot": token})
    assert page.status_code == 200 and b"data-pilot" in page.content
    assert f'name="pilot" value="{token}"'.encode() in page.content  # carried to the consent
    response = client.post(f"/study/{study.slug}/consent/", {"agree": "1", "pilot": token})
    assert response.status_code == 302, response.content[:300]
    return client, Participant.objects.get(external_id=pilots.external_id_of(study, token))


def test_preview_is_for_staff_only(gallery):
    study = make_study(gallery)
    response = Client().get(f"/review/studies/{study.slug}/preview/")
    assert response.status_code == 302 and "/admin/login/" in response.url


def test_a_preview_makes_a_pilot_left_out_of_balance_and_counts(gallery, staff):
    study = make_study(gallery, conditions=TWO, is_open=False, max_consents_per_address=0)
    _client, pilot = join_as_pilot(study, pilot_token(staff, study))
    assert pilot.pilot and pilot.assignment_index is None and pilot.condition is not None
    assert pilot.external_id.startswith("PILOT-")
    study.refresh_from_db()
    assert study.assignment_count == 0

    # The real participants' balance does not see the pilot: with the pilot in "a", ten
    # real participants still split 5/5.
    Study.objects.filter(pk=study.pk).update(is_open=True)
    for n in range(10):
        join_study(Client(), study, None, pid=f"P{n}")
    real = Participant.objects.filter(study=study, pilot=False)
    assert sorted(real.values_list("condition__name", flat=True)) == ["a"] * 5 + ["b"] * 5

    # The dashboard counts the real ones, and the pilots when asked.
    page = staff.get(f"/review/studies/{study.slug}/")
    assert b'data-pilots="1"' in page.content
    total = page.context["total"]
    assert total.consented == 10
    with_pilots = staff.get(f"/review/studies/{study.slug}/", {"pilots": "1"})
    assert with_pilots.context["total"].consented == 11
    assert b"?pilots=1" in with_pilots.content  # its own poll keeps the choice


def test_pilot_links_are_signed_per_study_and_used_once(gallery, staff):
    study = make_study(gallery)
    other = make_study(gallery, slug="other")
    token = pilot_token(staff, study)

    forged = signing.dumps({"s": study.pk, "n": "abc"}, salt="another-salt")
    for bad in (forged, pilot_token(staff, other), token[:-2] + "xx", "\x00", "x" * 5000):
        page = Client().get(f"/study/{study.slug}/", {"pilot": bad})
        assert page.status_code == 403 and b"not valid" in page.content
        posted = Client().post(f"/study/{study.slug}/consent/", {"agree": "1", "pilot": bad})
        assert posted.status_code == 403
    assert not Participant.objects.exists()

    client, pilot = join_as_pilot(study, token)
    assert client.get(f"/study/{study.slug}/", {"pilot": token}).status_code == 302  # resumes
    elsewhere = Client().get(f"/study/{study.slug}/", {"pilot": token})
    assert elsewhere.status_code == 403 and b"used in another browser" in elsewhere.content
    assert Participant.objects.count() == 1

    # A pilot's "I do not agree" is not counted as a decline.
    Client().post(
        f"/study/{study.slug}/consent/", {"decline": "1", "pilot": pilot_token(staff, study)}
    )
    study.refresh_from_db()
    assert study.declined_count == 0


def test_a_pilot_that_finishes_stays_on_the_app(gallery, staff, on_commit):
    study = make_study(
        gallery,
        slugs=("coffee",),
        completion_url="https://app.prolific.com/done",
        completion_code="C1",
    )
    client, pilot = join_as_pilot(study, pilot_token(staff, study))
    exploration = study_step(client, study, 1, on_commit)
    classify(client, exploration, on_commit, mask_png((600, 400), (0, 0, 100, 100)))
    response = client.post(f"/study/{study.slug}/finish/", {"answer": "ok"})
    assert response.status_code == 200 and pilot.code.encode() in response.content
    pilot.refresh_from_db()
    assert pilot.finished_at is not None


def test_one_admin_action_deletes_a_studys_pilots_and_their_files(
    gallery, staff, on_commit, media_root
):
    study = make_study(gallery, slugs=("coffee",))
    client, pilot = join_as_pilot(study, pilot_token(staff, study))
    exploration = study_step(client, study, 1, on_commit)
    with on_commit(execute=True):
        classify(client, exploration, None, mask_png((600, 400), (0, 0, 100, 100)))
    mask = Round.objects.get(exploration=exploration, index=1).mask
    assert mask.storage.exists(mask.name)
    join_study(Client(), study, None, pid="REAL")

    with on_commit(execute=True):
        response = staff.post(
            "/admin/painting/study/",
            {"action": "delete_pilots", "_selected_action": [study.pk]},
            follow=True,
        )
    assert b"Deleted 1 pilot participant" in response.content
    assert list(Participant.objects.values_list("external_id", flat=True)) == ["REAL"]
    assert not mask.storage.exists(mask.name)
    study.refresh_from_db()
    assert study.withdrawn_count == 0


def test_a_full_condition_takes_nobody_more_and_a_full_study_closes(gallery, staff, settings):
    study = make_study(
        gallery, conditions=TWO, participants_per_condition=2, max_consents_per_address=0
    )
    for n in range(4):
        join_study(Client(), study, None, pid=f"P{n}")
    counts = Participant.objects.values_list("condition__name", flat=True)
    assert sorted(counts) == ["a", "a", "b", "b"]
    study.refresh_from_db()
    assert study.is_open  # full, but nobody has been turned away yet

    # The fifth finds the full page (nothing stored or counted), and the study closes.
    page = Client().get(f"/study/{study.slug}/", {"pid": "P5"})
    assert page.status_code == 200 and b"data-study-full" in page.content
    posted = Client().post(f"/study/{study.slug}/consent/", {"agree": "1", "pid": "P5"})
    assert posted.status_code == 200 and b"data-study-full" in posted.content
    study.refresh_from_db()
    assert not study.is_open and Participant.objects.count() == 4
    assert study.assignment_count == 4 and study.declined_count == 0

    # A pilot still gets in: that is what a pilot is for.
    _client, pilot = join_as_pilot(study, pilot_token(staff, study))
    assert pilot.pilot


def test_slots_of_those_who_left_or_were_screened_out_open_again(gallery, settings):
    study = make_study(
        gallery, conditions=TWO, participants_per_condition=1, max_consents_per_address=0
    )
    join_study(Client(), study, None, pid="LEFT")
    join_study(Client(), study, None, pid="OUT")
    gone = timezone.now() - timedelta(minutes=settings.XAI_STUDY_SLOT_TIMEOUT_MINUTES + 1)
    Participant.objects.filter(external_id="LEFT").update(consented_at=gone)
    Participant.objects.filter(external_id="OUT").update(screened_out_at=timezone.now())
    join_study(Client(), study, None, pid="NEW1")
    join_study(Client(), study, None, pid="NEW2")
    with pytest.raises(rules.StudyFull):
        rules.consent(study, "NEW3", "visitor-3")
    # Finished and active participants fill the quota; the balance still sees all four.
    assert Participant.objects.filter(study=study).count() == 4


def test_a_study_without_conditions_has_one_quota(gallery):
    study = make_study(gallery, participants_per_condition=1)
    join_study(Client(), study, None, pid="ONE")
    response = Client().post(f"/study/{study.slug}/consent/", {"agree": "1", "pid": "TWO"})
    assert b"data-study-full" in response.content
    assert Condition.objects.count() == 0 and Participant.objects.count() == 1


def test_a_screened_out_pilot_stays_on_the_app(gallery, staff):
    study = make_study(
        gallery, screened_out_url="https://app.prolific.com/done", screened_out_code="S1"
    )
    client, pilot = join_as_pilot(study, pilot_token(staff, study))
    rules.screen_out(pilot)
    page = client.get(f"/study/{study.slug}/")
    assert page.status_code == 200 and b"data-study-screened-out" in page.content
    real = Client()
    join_study(real, study, None, pid="REAL")
    rules.screen_out(Participant.objects.get(external_id="REAL"))
    assert real.get(f"/study/{study.slug}/").url.startswith("https://app.prolific.com/done")


@pytest.mark.django_db(transaction=True)
def test_two_consents_at_once_cannot_both_take_a_quotas_last_place(gallery, monkeypatch):
    """Both look for an existing participant before either writes (held at a barrier): the
    condition rows' lock lets one take the last place, and the other finds the study full."""

    study = make_study(
        gallery,
        conditions=[{"name": "only"}],
        participants_per_condition=1,
        max_consents_per_address=0,
    )
    answers, _looks = consent_at_once(
        monkeypatch, study, {n: {"external_id": n, "visitor": n} for n in ("P-a", "P-b")}
    )
    kinds = sorted(type(a).__name__ for a in answers.values())
    assert kinds == ["Participant", "StudyFull"], answers
    assert Participant.objects.count() == 1 and not Study.objects.get().is_open
