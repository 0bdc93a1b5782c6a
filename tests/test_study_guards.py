"""No participant can break another's data or steer the study: a platform id on a link lets a
browser go on, never withdraw (that needs the browser that consented, or the participant code);
a finished participant is withdrawn only by a researcher; consent gives the session a new key;
one address starts at most max_consents_per_address participants; withdrawn and screened-out
participants keep their condition's slot; and the export numbers the assignments.

Two Django test clients are two browsers; REMOTE_ADDR tells their network addresses apart."""

import csv
import io
import zipfile

import pytest
from django.conf import settings as django_settings
from django.test import Client

from painting.models import AddressTally, Condition, Exploration, Participant, Round, Study
from painting.studies import rules
from painting.studies.export import archive as exports
from tests.helpers import consent_at_once, join_study, make_study, study_step

PID = "5f8d0c6a1b2c3d4e5f6a7b8c"
CONDITIONS = ({"name": "a"}, {"name": "b"})


def link(study, pid=PID) -> str:
    return f"/study/{study.slug}/?PROLIFIC_PID={pid}"


def browser(address: str = "198.51.100.1") -> Client:
    """A browser of its own, on a network address of its own."""
    return Client(REMOTE_ADDR=address)


def consent(client, study, **ids):
    return client.post(f"/study/{study.slug}/consent/", {"agree": "1", **ids})


# --- Item 3: a platform id is not a key to someone's data -----------------------------------


def test_a_stranger_with_the_id_cannot_withdraw_and_the_participant_goes_on(gallery):
    study = make_study(gallery)
    victim = browser("198.51.100.1")
    join_study(victim, study, None, PROLIFIC_PID=PID)
    exploration = study_step(victim, study, 1, None)

    attacker = browser("203.0.113.9")
    assert attacker.get(link(study)).status_code == 302  # resuming elsewhere is allowed...
    refused = attacker.post(f"/study/{study.slug}/withdraw/")
    assert refused.status_code == 403  # ...withdrawing is not
    assert "participant code" in refused.text and 'name="code"' in refused.text
    guess = attacker.post(f"/study/{study.slug}/withdraw/", {"code": "ABCDEFGH"})
    assert guess.status_code == 403 and "code is not right" in guess.text
    assert Participant.objects.filter(external_id=PID).exists()
    assert Exploration.objects.filter(pk=exploration.pk).exists()
    # The victim's own browser still has everything.
    assert victim.get(f"/e/{exploration.pk}/").status_code == 200
    assert victim.get(link(study)).url == f"/study/{study.slug}/step/1/"


def test_a_finished_participant_cannot_be_withdrawn_by_link_from_any_browser(gallery):
    study = make_study(gallery, min_rounds=0)
    victim = browser("198.51.100.1")
    join_study(victim, study, None, PROLIFIC_PID=PID)
    study_step(victim, study, 1, None)
    assert victim.post(f"/study/{study.slug}/finish/", {"answer": ""}).status_code == 200
    code = Participant.objects.get().code

    attacker = browser("203.0.113.9")
    attacker.get(link(study))
    for who, data in ((attacker, {}), (attacker, {"code": code}), (victim, {})):
        refused = who.post(f"/study/{study.slug}/withdraw/", data)
        assert refused.status_code == 403 and "write to the researcher" in refused.text
    participant = Participant.objects.get()
    assert participant.finished_at and Exploration.objects.count() == 1
    page = victim.get(f"/study/{study.slug}/finish/")
    assert page.status_code == 200 and code in page.text
    assert "Withdraw from the study" not in page.text and "write to the researcher" in page.text


def test_the_code_proves_a_second_browser_and_then_it_may_withdraw(gallery):
    study = make_study(gallery)
    first = browser("198.51.100.1")
    join_study(first, study, None, PROLIFIC_PID=PID)
    study_step(first, study, 1, None)
    code = Participant.objects.get().code
    second = browser("198.51.100.2")
    second.get(link(study))
    typed = f" {code[:4].lower()}-{code[4:]} "  # as a person may type it
    assert second.post(f"/study/{study.slug}/withdraw/", {"code": typed}).status_code == 200
    assert not Participant.objects.exists() and not Exploration.objects.exists()
    assert Study.objects.get().withdrawn_count == 1


def test_only_a_browser_that_proved_it_sees_the_participant_code(gallery):
    study = make_study(gallery, min_rounds=0)
    victim = browser()
    join_study(victim, study, None, PROLIFIC_PID=PID)
    exploration = study_step(victim, study, 1, None)
    code = Participant.objects.get().code
    assert code in victim.get(f"/e/{exploration.pk}/").text  # in the study bar
    assert code in victim.get(f"/study/{study.slug}/finish/").text

    attacker = browser("203.0.113.9")
    attacker.get(link(study))
    assert attacker.get(f"/e/{exploration.pk}/").status_code == 200  # it may go on...
    assert code not in attacker.get(f"/e/{exploration.pk}/").text  # ...but not learn the code
    assert code not in attacker.get(f"/study/{study.slug}/finish/").text


def test_consent_gives_the_session_a_new_key(gallery):
    """A session cookie planted in the participant's browser before consent (the attacker
    holds a copy) must not become the participant's."""
    study = make_study(gallery)
    attacker = browser("203.0.113.9")
    attacker.get(link(study))
    attacker.session["planted"] = True  # a session the attacker holds the key of
    planted = attacker.session.session_key
    attacker.session.save()
    victim = browser()
    victim.cookies[django_settings.SESSION_COOKIE_NAME] = planted
    join_study(victim, study, None, PROLIFIC_PID=PID)
    assert victim.cookies[django_settings.SESSION_COOKIE_NAME].value != planted
    attacker.cookies[django_settings.SESSION_COOKIE_NAME] = planted
    assert attacker.get(f"/study/{study.slug}/step/1/").status_code == 404
    assert attacker.post(f"/study/{study.slug}/withdraw/").status_code == 404
    assert Participant.objects.count() == 1
    assert victim.get(f"/study/{study.slug}/step/1/").status_code == 302


def test_where_a_second_browser_is_forbidden_the_code_lets_the_person_go_on(gallery):
    study = make_study(gallery, allow_resume_elsewhere=False)
    first = browser("198.51.100.1")
    join_study(first, study, None, PROLIFIC_PID=PID)
    exploration = study_step(first, study, 1, None)
    code = Participant.objects.get().code

    second = browser("198.51.100.2")
    page = second.get(link(study))
    assert page.status_code == 403 and 'name="code"' in page.text and "researcher" in page.text
    wrong = second.post(f"/study/{study.slug}/resume/", {"code": "WRONG234", "PROLIFIC_PID": PID})
    assert wrong.status_code == 403 and "code is not right" in wrong.text
    assert second.get(f"/e/{exploration.pk}/").status_code == 404
    # Someone else's code with this id is no proof either.
    other = browser("198.51.100.3")
    join_study(other, study, None, PROLIFIC_PID="someone-else")
    other_code = Participant.objects.get(external_id="someone-else").code
    mixed = second.post(f"/study/{study.slug}/resume/", {"code": other_code, "PROLIFIC_PID": PID})
    assert mixed.status_code == 403
    right = second.post(f"/study/{study.slug}/resume/", {"code": code, "PROLIFIC_PID": PID})
    assert right.status_code == 302 and right.url == f"/study/{study.slug}/step/1/"
    assert second.get(f"/e/{exploration.pk}/").status_code == 200
    assert Participant.objects.count() == 2


def test_a_squatter_on_an_id_is_freed_by_the_researcher_and_the_person_takes_part(
    gallery, admin_client
):
    """Where a second browser is forbidden, whoever consents first with an id holds it: the
    real person is told to write to the researcher, who deletes the squatter in admin."""
    study = make_study(gallery, allow_resume_elsewhere=False)
    squatter = browser("203.0.113.9")
    join_study(squatter, study, None, PROLIFIC_PID=PID)
    squat = Participant.objects.get()
    real = browser("198.51.100.1")
    page = real.get(link(study))
    assert page.status_code == 403 and "someone else may have used your participant id" in page.text
    freed = admin_client.post(
        "/admin/painting/participant/",
        {"action": "delete_selected", "_selected_action": [squat.pk], "post": "yes"},
    )
    assert freed.status_code == 302 and not Participant.objects.exists()
    assert real.get(link(study)).status_code == 200  # the consent form
    join_study(real, study, None, PROLIFIC_PID=PID)
    assert Participant.objects.get().external_id == PID


def test_a_researcher_withdraws_a_finished_participant_in_admin(gallery, admin_client):
    study = make_study(gallery, min_rounds=0, conditions=CONDITIONS)
    victim = browser()
    join_study(victim, study, None, PROLIFIC_PID=PID)
    study_step(victim, study, 1, None)
    victim.post(f"/study/{study.slug}/finish/", {"answer": ""})
    participant = Participant.objects.get()
    done = admin_client.post(
        "/admin/painting/participant/",
        {"action": "withdraw_participants", "_selected_action": [participant.pk]},
    )
    assert done.status_code == 302
    assert not Participant.objects.exists() and not Exploration.objects.exists()
    assert Study.objects.get().withdrawn_count == 1
    assert Condition.objects.get(pk=participant.condition_id).withdrawn_count == 1


def test_a_hostile_code_is_a_clear_refusal_and_deletes_nothing(gallery):
    study = make_study(gallery)
    first = browser()
    join_study(first, study, None, PROLIFIC_PID=PID)
    second = browser("198.51.100.2")
    second.get(link(study))
    third = browser("198.51.100.3")
    for code in ("", "x" * 10_000, "nul\x00", "ÄÖÜ€", ["a", "b"], "%" * 16):
        # withdraw from the browser that reopened the link; resume from one that has nothing
        for who, url in ((second, "withdraw"), (third, "resume")):
            answer = who.post(f"/study/{study.slug}/{url}/", {"code": code})
            assert answer.status_code == 403, (url, code, answer.status_code)
    bad_link = third.post(f"/study/{study.slug}/resume/", {"code": "X", "PROLIFIC_PID": "a\nb"})
    assert bad_link.status_code == 400
    assert second.post("/study/no-such-study/resume/", {"code": "X"}).status_code == 404
    assert Participant.objects.count() == 1


def test_typed_codes_are_rate_limited(gallery, settings):
    settings.XAI_RATE_LIMITS = {**settings.XAI_RATE_LIMITS, "code": (3, 3600)}
    study = make_study(gallery)
    join_study(browser(), study, None, PROLIFIC_PID=PID)
    code = Participant.objects.get().code
    guesser = browser("203.0.113.9")
    guesser.get(link(study))
    answers = [
        guesser.post(f"/study/{study.slug}/withdraw/", {"code": f"GUESS{n:03}"}).status_code
        for n in range(3)
    ]
    assert answers == [403, 403, 403]
    late = guesser.post(f"/study/{study.slug}/withdraw/", {"code": code})
    assert late.status_code == 429 and Participant.objects.count() == 1


# --- Item 4: condition balance cannot be steered ---------------------------------------------


def test_consents_from_one_address_stop_at_the_studys_cap(gallery):
    study = make_study(gallery, conditions=CONDITIONS, max_consents_per_address=3)
    answers = [consent(browser("203.0.113.9"), study, PROLIFIC_PID=f"P{n}") for n in range(4)]
    assert [a.status_code for a in answers] == [302, 302, 302, 403]
    assert "internet connection" in answers[3].text
    assert Participant.objects.count() == 3 and Study.objects.get().assignment_count == 3
    assert not Participant.objects.filter(external_id="P3").exists()
    # Another address is someone else; a browser already in the study goes on as before.
    assert consent(browser("198.51.100.1"), study, PROLIFIC_PID="Q1").status_code == 302
    again = browser("203.0.113.9")
    join_study(again, make_study(gallery, slug="other", max_consents_per_address=3), None)
    assert Participant.objects.count() == 5  # the cap is per study


def test_withdrawing_does_not_give_an_address_its_consents_back(gallery):
    study = make_study(gallery, max_consents_per_address=2)
    one, two = browser("203.0.113.9"), browser("203.0.113.9")
    join_study(one, study, None)
    join_study(two, study, None)
    assert one.post(f"/study/{study.slug}/withdraw/").status_code == 200
    assert consent(browser("203.0.113.9"), study).status_code == 403
    assert Participant.objects.count() == 1 and AddressTally.objects.get().consents == 2


def test_behind_the_proxy_the_cap_counts_the_forwarded_client(gallery, settings):
    settings.BEHIND_PROXY = True
    study = make_study(gallery, max_consents_per_address=1)
    proxy = "127.0.0.1"
    first = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.1")
    second = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.2")
    assert consent(first, study).status_code == 302 and consent(second, study).status_code == 302
    forged = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="10.9.9.9, 198.51.100.1")
    assert consent(forged, study).status_code == 403  # the proxy's entry is the right-most


def test_no_cap_where_the_study_sets_zero(gallery):
    study = make_study(gallery, max_consents_per_address=0)
    for n in range(5):
        assert consent(browser(), study, PROLIFIC_PID=f"P{n}").status_code == 302
    assert Participant.objects.count() == 5 and not AddressTally.objects.exists()


def test_a_new_study_takes_the_sites_default_cap(gallery, settings):
    settings.XAI_STUDY_CONSENTS_PER_ADDRESS = 7
    assert make_study(gallery).max_consents_per_address == 7


def people(study, prefix: str, count: int) -> list[Client]:
    """`count` people from addresses of their own, each consented."""
    clients = []
    for n in range(count):
        client = browser(f"198.51.{100 + len(prefix)}.{n + 1}")
        join_study(client, study, None, PROLIFIC_PID=f"{prefix}{n}")
        clients.append(client)
    return clients


def in_condition(name: str) -> int:
    return Participant.objects.filter(condition__name=name).count()


def test_withdrawn_participants_keep_their_conditions_slot(gallery):
    """The red team's attack, at 4 + 4: withdraw those who got condition a; the next people
    must still be balanced, not all sent to a."""
    study = make_study(gallery, conditions=CONDITIONS, max_consents_per_address=0)
    attackers = people(study, "x", 4)
    assert (in_condition("a"), in_condition("b")) == (2, 2)
    for client in attackers:
        if (
            Participant.objects.get(pk=client.session[f"participant:{study.slug}"]).condition.name
            == "a"
        ):
            assert client.post(f"/study/{study.slug}/withdraw/").status_code == 200
    assert Condition.objects.get(name="a").withdrawn_count == 2
    people(study, "real", 4)
    assert (in_condition("a"), in_condition("b")) == (2, 4)  # 2 + 2 withdrawn, 4


def test_screened_out_participants_keep_their_conditions_slot(gallery):
    study = make_study(gallery, conditions=CONDITIONS, max_consents_per_address=0)
    people(study, "x", 4)
    for participant in Participant.objects.filter(condition__name="a"):
        rules.screen_out(participant)
    people(study, "real", 2)
    fresh = Participant.objects.filter(external_id__startswith="real")
    assert sorted(p.condition.name for p in fresh) == ["a", "b"]


def test_the_export_numbers_the_assignments_with_gaps_for_withdrawals(gallery):
    study = make_study(gallery, conditions=CONDITIONS, max_consents_per_address=0)
    clients = people(study, "p", 4)
    assert sorted(Participant.objects.values_list("assignment_index", flat=True)) == [1, 2, 3, 4]
    clients[1].post(f"/study/{study.slug}/withdraw/")
    archive = zipfile.ZipFile(exports.study_zip_file(study))
    rows = list(csv.DictReader(io.TextIOWrapper(archive.open("participants.csv"), "utf-8")))
    by_id = {row["external_id"]: row for row in rows}
    assert {k: by_id[k]["assignment_index"] for k in by_id} == {"p0": "1", "p2": "3", "p3": "4"}
    assert "assignment_index:" in archive.read("README.txt").decode()
    assert not Round.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_consents_at_once_from_one_address_cannot_both_take_its_last_place(
    gallery, monkeypatch
):
    """Both look for an existing participant before either writes (held at a barrier): the
    tally's lock (SQLite: the IMMEDIATE transaction; PostgreSQL: the row lock and the unique
    constraint) lets one in and refuses the other."""
    study = make_study(gallery, conditions=CONDITIONS, max_consents_per_address=1)
    one_address = {"address": "203.0.113.9"}
    answers, _looks = consent_at_once(
        monkeypatch,
        study,
        {n: {"external_id": n, "visitor": n, **one_address} for n in ("P-a", "P-b")},
    )
    kinds = sorted(type(a).__name__ for a in answers.values())
    assert kinds == ["Participant", "TooManyFromAddress"], answers
    assert Participant.objects.count() == 1 and AddressTally.objects.get().consents == 1
    assert Study.objects.get().assignment_count == 1
