"""The study link: the platform's ids, the same participant from any browser (or not, where
the study forbids it), declining, being screened out, and the completion URL with its code."""

import numpy as np
import pytest
from django.test import Client

from painting.models import Exploration, Participant, Round, Study
from painting.studies import links, queries, rules
from tests.helpers import HTMX, consent_at_once, join_study, make_study, study_step

PROLIFIC = {"PROLIFIC_PID": "5f8d0c6a1b2c3d4e5f6a7b8c", "STUDY_ID": "S-1", "SESSION_ID": "X-1"}


def link(study, **ids) -> str:
    query = "&".join(f"{k}={v}" for k, v in ids.items())
    return f"/study/{study.slug}/" + (f"?{query}" if query else "")


def answered(round_: Round, index: int = 967, probability: float = 0.6) -> Round:
    """A round answered as the worker answers it, without running the model."""
    probabilities = np.full(1000, (1 - probability) / 999, np.float32)
    probabilities[index] = probability
    Round.objects.filter(pk=round_.pk).update(
        status=Round.Status.DONE,
        model_name="efficientnet-lite2",
        top=[{"index": index, "label": "espresso", "probability": probability}],
        probabilities=probabilities.tobytes(),
    )
    round_.refresh_from_db()
    return round_


def a_round_of(exploration: Exploration) -> Round:
    """A finished masked round of the exploration (the minimum of rounds counts these)."""
    last = exploration.rounds.count()
    return answered(Round.objects.create(exploration=exploration, index=last, fill="mean"))


def test_the_link_ids_go_through_consent_and_are_stored(client, gallery):
    study = make_study(gallery)
    page = client.get(link(study, **PROLIFIC))
    body = page.content.decode()
    assert page.status_code == 200
    for name, value in PROLIFIC.items():
        assert f'name="{name}" value="{value}"' in body
    assert not Participant.objects.exists()  # nothing before consent
    join_study(client, study, None, **PROLIFIC)
    participant = Participant.objects.get()
    assert participant.external_id == PROLIFIC["PROLIFIC_PID"]
    assert participant.platform_study_id == "S-1" and participant.platform_session_id == "X-1"


def test_prolifics_id_wins_over_a_generic_pid(client, gallery):
    study = make_study(gallery)
    join_study(client, study, None, pid="generic", PROLIFIC_PID="P-9")
    assert Participant.objects.get().external_id == "P-9"


def test_the_same_id_in_another_browser_goes_on_as_the_same_participant(client, gallery):
    study = make_study(gallery, slugs=("coffee", "chelsea", "rocket"))
    join_study(client, study, None, **PROLIFIC)
    first = study_step(client, study, 1, None)
    round_ = a_round_of(first)
    second = study_step(client, study, 2, None)

    other = Client()
    response = other.get(link(study, **PROLIFIC))
    assert response.status_code == 302 and response.url == f"/study/{study.slug}/step/2/"
    assert study_step(other, study, 2, None) == second  # the same rounds, not new ones
    assert study_step(other, study, 1, None) == first
    assert other.get(f"/e/{first.pk}/").status_code == 200
    latency = other.post(f"/e/{first.pk}/rounds/{round_.pk}/latency/", {"ms": "250"})
    assert latency.status_code == 204  # it may write too: it is the participant
    assert Participant.objects.count() == 1 and Exploration.objects.count() == 2
    # The first browser reopening its link goes on there as well.
    assert client.get(link(study, **PROLIFIC)).url == f"/study/{study.slug}/step/2/"
    # A third browser without the id is someone else, and owns nothing of theirs.
    stranger = Client()
    join_study(stranger, study, None, PROLIFIC_PID="someone-else")
    assert stranger.get(f"/e/{first.pk}/").status_code == 404
    assert Participant.objects.count() == 2


def test_a_finished_participants_link_leads_to_the_end_in_any_browser(client, gallery):
    study = make_study(
        gallery,
        min_rounds=0,
        completion_url="https://app.prolific.com/submissions/complete",
        completion_code="CODE1",
    )
    join_study(client, study, None, **PROLIFIC)
    client.post(f"/study/{study.slug}/finish/", {"answer": ""})
    other = Client()
    assert other.get(link(study, **PROLIFIC)).url == f"/study/{study.slug}/finish/"
    finish = other.get(f"/study/{study.slug}/finish/")
    assert finish.url == "https://app.prolific.com/submissions/complete?cc=CODE1"


def test_a_study_may_forbid_a_second_browser(client, gallery):
    study = make_study(gallery, allow_resume_elsewhere=False)
    join_study(client, study, None, **PROLIFIC)
    first = study_step(client, study, 1, None)

    other = Client()
    page = other.get(link(study, **PROLIFIC))
    assert page.status_code == 403 and "already taken part" in page.text
    assert f"/study/{study.slug}/finish/" not in page.text  # no way on
    again = other.post(f"/study/{study.slug}/consent/", {"agree": "1", **PROLIFIC})
    assert again.status_code == 403 and "already taken part" in again.text
    assert other.get(f"/e/{first.pk}/").status_code == 404
    assert Participant.objects.count() == 1 and Exploration.objects.count() == 1
    # Its own browser may always go on.
    assert client.get(link(study, **PROLIFIC)).url == f"/study/{study.slug}/step/1/"


@pytest.mark.django_db(transaction=True)
def test_two_first_visits_with_one_id_at_once_make_one_participant(gallery, monkeypatch):
    """Both requests look before either inserts (the lookup is held until both have looked):
    the unique constraint lets one insert in, and the other gets that participant."""
    study = make_study(gallery, allow_resume_elsewhere=True)
    pid = PROLIFIC["PROLIFIC_PID"]
    answers, looks = consent_at_once(
        monkeypatch,
        study,
        {n: {"external_id": pid, "visitor": n} for n in ("browser-a", "browser-b")},
    )
    assert isinstance(answers["browser-a"], Participant), answers
    assert answers["browser-a"] == answers["browser-b"]
    assert Participant.objects.filter(study=study).count() == 1
    assert looks == 3  # both looked first; the insert that lost looked again


def test_two_first_visits_where_a_study_forbids_it_leave_one_taking_part(gallery, monkeypatch):
    study = make_study(gallery, allow_resume_elsewhere=False)
    made = rules.consent(study, "P-1", visitor="browser-a")
    # The second browser looked before the first inserted (found nothing), then lost the race.
    real, looks = rules._existing, []

    def too_early(*args):
        looks.append(args)
        return None if len(looks) == 1 else real(*args)

    monkeypatch.setattr(rules, "_existing", too_early)
    with pytest.raises(rules.AlreadyTookPart):
        rules.consent(study, "P-1", visitor="browser-b")
    assert list(Participant.objects.all()) == [made] and len(looks) == 2


def test_finish_saves_then_goes_to_the_completion_url_with_its_code(client, gallery):
    study = make_study(
        gallery,
        min_rounds=0,
        question="Anything else?",
        completion_url="https://app.prolific.com/submissions/complete",
        completion_code="C0DE-42",
    )
    join_study(client, study, None, **PROLIFIC)
    response = client.post(f"/study/{study.slug}/finish/", {"answer": "The rim."})
    assert response.status_code == 302
    assert response.url == "https://app.prolific.com/submissions/complete?cc=C0DE-42"
    participant = Participant.objects.get()
    assert participant.finished_at and participant.closing_answer == "The rim."
    assert client.get(f"/study/{study.slug}/finish/").url == response.url  # came back: again
    again = client.post(f"/study/{study.slug}/finish/", {"answer": "Else."})
    assert again.status_code == 409
    assert Participant.objects.get().closing_answer == "The rim."


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://x.example/done/{code}/", "https://x.example/done/C0DE/"),
        ("https://x.example/done?study=7", "https://x.example/done?study=7&cc=C0DE"),
        ("https://x.example/done", "https://x.example/done?cc=C0DE"),
    ],
)
def test_the_code_goes_in_place_of_code_or_as_cc(url, expected):
    assert links.with_code(url, "C0DE") == expected


def test_without_a_completion_url_the_finish_page_shows_the_participant_code(client, gallery):
    study = make_study(gallery, min_rounds=0)
    join_study(client, study, None)
    done = client.post(f"/study/{study.slug}/finish/", {"answer": ""})
    assert done.status_code == 200 and Participant.objects.get().code in done.text


def test_declining_stores_nothing_and_goes_to_the_screened_out_url(client, gallery):
    study = make_study(
        gallery,
        screened_out_url="https://app.prolific.com/submissions/complete",
        screened_out_code="NOPE1",
    )
    page = client.get(link(study, **PROLIFIC)).text
    assert "I do not agree" in page and "we only count that someone did not agree" in page
    response = client.post(f"/study/{study.slug}/consent/", {"decline": "1", **PROLIFIC})
    assert response.status_code == 302
    assert response.url == "https://app.prolific.com/submissions/complete?cc=NOPE1"
    assert not Participant.objects.exists() and not Exploration.objects.exists()
    assert "visitor" not in client.session and Study.objects.get().declined_count == 1
    # Changing their mind later is allowed: they were never stored.
    join_study(client, study, None, **PROLIFIC)
    assert Participant.objects.count() == 1


def test_declining_without_a_screened_out_url_says_nothing_was_stored(client, gallery):
    study = make_study(gallery)
    response = client.post(f"/study/{study.slug}/consent/", {"decline": "1"})
    assert response.status_code == 200 and "Nothing about you has been stored" in response.text
    assert not Participant.objects.exists()


def test_a_screened_out_participant_keeps_a_minimal_row_and_is_sent_away(client, gallery):
    study = make_study(
        gallery,
        screened_out_url="https://app.prolific.com/submissions/complete",
        screened_out_code="SCR1",
    )
    join_study(client, study, None, **PROLIFIC)
    exploration = study_step(client, study, 1, None)
    rules.screen_out(Participant.objects.get())

    participant = Participant.objects.get()
    assert queries.status_of(participant) == "screened out" and participant.external_id
    assert not Exploration.objects.exists() and not Round.objects.exists()
    gone_to = "https://app.prolific.com/submissions/complete?cc=SCR1"
    assert client.get(link(study, **PROLIFIC)).url == gone_to
    assert Client().get(link(study, **PROLIFIC)).url == gone_to  # from any browser
    assert client.get(f"/study/{study.slug}/finish/").url == gone_to
    assert client.get(f"/study/{study.slug}/step/1/").status_code == 403
    assert client.post(f"/e/{exploration.pk}/rounds/", {}, headers=HTMX).status_code == 404
    assert not rules.finish(participant)


def test_withdrawing_from_the_second_browser_needs_the_participant_code(client, gallery):
    study = make_study(gallery)
    join_study(client, study, None, **PROLIFIC)
    first = study_step(client, study, 1, None)
    code = Participant.objects.get().code
    other = Client()
    other.get(link(study, **PROLIFIC))
    asked = other.post(f"/study/{study.slug}/withdraw/")
    assert asked.status_code == 403 and 'name="code"' in asked.text
    assert Participant.objects.exists()
    done = other.post(f"/study/{study.slug}/withdraw/", {"code": code.lower()})
    assert done.status_code == 200
    assert not Participant.objects.exists() and not Exploration.objects.exists()
    assert client.get(f"/e/{first.pk}/").status_code == 404
    assert client.get(link(study, **PROLIFIC)).status_code == 200  # the consent form again


@pytest.mark.parametrize(
    "ids",
    [
        {"PROLIFIC_PID": "x" * 201},
        {"STUDY_ID": "s" * 201},
        {"SESSION_ID": "\x01bell"},
        {"pid": "line\nbreak"},
        {"pid": "nul\x00"},
    ],
)
def test_a_hostile_id_is_a_clear_400_and_stores_nothing(client, gallery, ids):
    study = make_study(gallery)
    page = client.get(f"/study/{study.slug}/", ids)
    assert page.status_code == 400 and "study from the link you were given" in page.text
    post = client.post(f"/study/{study.slug}/consent/", {"agree": "1", **ids})
    assert post.status_code == 400
    declined = client.post(f"/study/{study.slug}/consent/", {"decline": "1", **ids})
    assert declined.status_code == 400
    assert not Participant.objects.exists() and Study.objects.get().declined_count == 0


def test_a_repeated_or_odd_parameter_is_one_plain_value(client, gallery):
    study = make_study(gallery)
    response = client.post(
        f"/study/{study.slug}/consent/?PROLIFIC_PID=ignored",
        {"agree": "1", "PROLIFIC_PID": ["first", "second"], "STUDY_ID": "  padded  "},
    )
    assert response.status_code == 302
    participant = Participant.objects.get()
    assert participant.external_id == "second" and participant.platform_study_id == "padded"


def test_a_closing_answer_too_long_is_refused_and_nothing_is_written(client, gallery):
    study = make_study(gallery, min_rounds=0, question="Anything else?")
    join_study(client, study, None)
    response = client.post(f"/study/{study.slug}/finish/", {"answer": "x" * 5001})
    assert response.status_code == 400 and "at most 5000" in response.text
    assert Participant.objects.get().finished_at is None


def test_the_pages_whose_forms_lead_to_the_platform_let_the_browser_go_there(client, gallery):
    """The CSP's form-action is 'self'; Chrome applies it to the redirect a form's answer
    makes, so Finish (and "I do not agree") would otherwise stop short of the platform."""
    study = make_study(
        gallery,
        min_rounds=0,
        completion_url="https://app.prolific.com/submissions/complete",
        screened_out_url="https://screen.example.org/out?x=1",
    )
    consent = client.get(link(study, **PROLIFIC))
    assert form_action(consent) == "'self' https://screen.example.org"
    join_study(client, study, None, **PROLIFIC)
    assert (
        form_action(client.get(f"/study/{study.slug}/finish/")) == "'self' https://app.prolific.com"
    )
    plain = make_study(gallery, slug="plain")
    assert form_action(Client().get(link(plain))) == "'self'"


def form_action(response) -> str:
    directives = (d.strip().split(" ", 1) for d in response["Content-Security-Policy"].split(";"))
    return dict(directives)["form-action"]


def test_new_participants_from_one_address_are_rate_limited(gallery, settings):
    settings.XAI_ADDRESS_RATE_LIMITS = {**settings.XAI_ADDRESS_RATE_LIMITS, "explore": (2, 60)}
    study = make_study(gallery)
    answers = [
        Client().post(f"/study/{study.slug}/consent/", {"agree": "1", "PROLIFIC_PID": f"P{i}"})
        for i in range(3)
    ]
    assert [a.status_code for a in answers] == [302, 302, 429]
    assert "Wait a moment and try again." in answers[2].content.decode()
    declined = Client().post(f"/study/{study.slug}/consent/", {"decline": "1"})
    assert declined.status_code == 429
    assert Participant.objects.count() == 2 and Study.objects.get().declined_count == 0
