"""A study's onboarding: instruction pages, then a quiz taken again until every answer is
right (each try recorded), between consent and the first image, shown once."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from painting.models import Participant, QuizAttempt
from painting.studies import onboarding
from tests.helpers import admin_study_form, join_study, make_study

PAGES = [
    {"title": "What you do", "text": "Paint over what does not matter."},
    {"text": "Then press Classify.", "image": "/static/painting/instructions/paint.svg"},
]
QUIZ = [
    {
        "question": "What do you paint over?",
        "options": ["What matters", "What does not"],
        "answer": "What does not",
    },
    {"question": "Then?", "options": ["Classify", "Leave", "Wait"], "answer": 0},
]


def joined(gallery, **fields):
    study = make_study(gallery, slugs=("coffee",), **fields)
    browser = Client()
    response = join_study(browser, study, None)
    return study, browser, response


def test_consent_leads_to_the_pages_then_the_quiz_until_right(gallery):
    study, browser, joined_to = joined(gallery, instruction_pages=PAGES, quiz=QUIZ)
    assert joined_to.status_code == 302 and joined_to.url == f"/study/{study.slug}/intro/1/"
    first = browser.get(joined_to.url).text
    assert "Paint over what does not matter." in first and "instructions 1 of 2" in first
    assert f'href="/study/{study.slug}/intro/2/"' in first
    second = browser.get(f"/study/{study.slug}/intro/2/").text
    assert 'src="/static/painting/instructions/paint.svg"' in second
    assert f'href="/study/{study.slug}/quiz/"' in second
    # The images wait: by the step's address, or by the study's link again.
    for url in (f"/study/{study.slug}/step/1/", f"/study/{study.slug}/"):
        held = browser.get(url)
        assert held.status_code == 302 and held.url == f"/study/{study.slug}/intro/1/"

    quiz = browser.get(f"/study/{study.slug}/quiz/").text
    assert "What do you paint over?" in quiz and 'name="q2" value="2"' in quiz
    wrong = browser.post(f"/study/{study.slug}/quiz/", {"q1": "0", "q2": "0"})
    assert wrong.status_code == 200 and "look again at question 1" in wrong.text
    right = browser.post(f"/study/{study.slug}/quiz/", {"q1": "1", "q2": "0"})
    assert right.status_code == 302 and right.url == f"/study/{study.slug}/step/1/"

    participant = Participant.objects.get()
    assert participant.onboarded_at is not None
    tries = list(participant.quiz_attempts.values_list("number", "answers", "wrong", "correct"))
    assert tries == [
        (1, ["What matters", "Classify"], [1], False),
        (2, ["What does not", "Classify"], [], True),
    ]
    # Shown once: the link now goes to the images, and a late quiz answer changes nothing.
    back = browser.get(f"/study/{study.slug}/")
    assert back.status_code == 302 and back.url == f"/study/{study.slug}/step/1/"
    again = browser.post(f"/study/{study.slug}/quiz/", {"q1": "0", "q2": "0"})
    assert again.status_code == 302 and QuizAttempt.objects.count() == 2


def test_pages_without_a_quiz_end_with_start(gallery):
    study, browser, joined_to = joined(gallery, instruction_pages=PAGES)
    last = browser.get(f"/study/{study.slug}/intro/2/").text
    assert f'action="/study/{study.slug}/intro/done/"' in last and ">Start<" in last
    started = browser.post(f"/study/{study.slug}/intro/done/")
    assert started.status_code == 302 and started.url == f"/study/{study.slug}/step/1/"
    assert Participant.objects.get().onboarded_at is not None


def test_a_quiz_without_pages_comes_first_and_start_cannot_skip_it(gallery):
    study, browser, joined_to = joined(gallery, quiz=QUIZ)
    assert joined_to.url == f"/study/{study.slug}/quiz/"
    skipped = browser.post(f"/study/{study.slug}/intro/done/")
    assert skipped.status_code == 302 and skipped.url == f"/study/{study.slug}/quiz/"
    assert Participant.objects.get().onboarded_at is None


def test_a_study_without_onboarding_starts_with_the_images(gallery):
    study, browser, joined_to = joined(gallery)
    assert joined_to.url == f"/study/{study.slug}/step/1/"
    assert browser.get(f"/study/{study.slug}/intro/1/").status_code == 404


@pytest.mark.parametrize(
    "answers",
    [
        {},
        {"q1": "1"},
        {"q1": "1", "q2": "3"},
        {"q1": "x", "q2": "0"},
        {"q1": "-1", "q2": "0"},
        {"q1": "1\x00", "q2": "0"},
        {"q1": "99999999999999999999", "q2": "0"},
    ],
)
def test_a_hostile_quiz_answer_is_a_400_and_records_nothing(gallery, answers):
    study, browser, _ = joined(gallery, quiz=QUIZ)
    refused = browser.post(f"/study/{study.slug}/quiz/", answers)
    assert refused.status_code == 400 and "answer to every question" in refused.text
    assert not QuizAttempt.objects.exists() and Participant.objects.get().onboarded_at is None


def test_the_quiz_takes_a_bounded_number_of_tries(gallery, monkeypatch):
    monkeypatch.setattr(onboarding, "MAX_ATTEMPTS", 3)
    study, browser, _ = joined(gallery, quiz=QUIZ)
    for _ in range(3):
        assert browser.post(f"/study/{study.slug}/quiz/", {"q1": "0", "q2": "0"}).status_code == 200
    refused = browser.post(f"/study/{study.slug}/quiz/", {"q1": "1", "q2": "0"})
    assert refused.status_code == 429 and QuizAttempt.objects.count() == 3


def test_onboarding_pages_need_the_participant(gallery):
    study = make_study(gallery, slugs=("coffee",), instruction_pages=PAGES, quiz=QUIZ)
    for url in (f"/study/{study.slug}/intro/1/", f"/study/{study.slug}/quiz/"):
        assert Client().get(url).status_code == 404
    assert Client().post(f"/study/{study.slug}/quiz/", {"q1": "1"}).status_code == 404


def test_admin_checks_the_pages_and_the_quiz(gallery):
    study = make_study(gallery, slugs=("coffee",))
    study.instruction_pages = [{"text": "ok", "image": "https://evil.example/x.png"}]
    study.quiz = [{"question": "?", "options": ["a", "b"], "answer": "c"}]
    with pytest.raises(ValidationError) as refused:
        study.full_clean()
    assert set(refused.value.message_dict) == {"instruction_pages", "quiz"}


def test_quiz_tries_are_exported_with_their_codebook(gallery):
    import csv
    import io
    import json
    import zipfile

    from painting.studies.export.archive import write_study_zip
    from painting.studies.export.columns import QUIZ_COLUMNS

    study, browser, _ = joined(gallery, quiz=QUIZ)
    browser.post(f"/study/{study.slug}/quiz/", {"q1": "0", "q2": "2"})
    browser.post(f"/study/{study.slug}/quiz/", {"q1": "1", "q2": "0"})
    out = io.BytesIO()
    write_study_zip(study, out)
    archive = zipfile.ZipFile(out)
    rows = list(csv.DictReader(io.StringIO(archive.read("quiz.csv").decode())))
    code = Participant.objects.get().code
    assert [(r["participant"], r["attempt"], r["correct"], r["wrong"]) for r in rows] == [
        (code, "1", "0", "1 2"),
        (code, "2", "1", ""),
    ]
    assert json.loads(rows[0]["answers"]) == ["What matters", "Wait"]
    readme = archive.read("README.txt").decode()
    assert "quiz.csv:" in readme
    assert all(f"  {column}: " in readme for column in QUIZ_COLUMNS)


def test_admin_edits_the_pages_and_the_quiz_and_refuses_bad_ones(staff, gallery):
    study = make_study(gallery, slugs=("coffee",))
    url = f"/admin/painting/study/{study.pk}/change/"
    form = staff.get(url).text
    assert 'name="instruction_pages"' in form and 'name="quiz"' in form
    data = admin_study_form(
        name=study.name, slug=study.slug, consent_text="Agree?", consent_version="1"
    )
    for pages, quiz, problem in [
        ("not json", "[]", "Enter a valid JSON"),
        ('{"text": "a"}', "[]", "instruction_pages must be a list"),
        ('[{"text": "a", "image": "//evil.example/x.png"}]', "[]", "image must be a path"),
        ("[]", '[{"question": "?", "options": ["a", "b"], "answer": "c"}]', "one of the options"),
    ]:
        refused = staff.post(url, {**data, "instruction_pages": pages, "quiz": quiz})
        assert refused.status_code == 200 and problem in refused.text, problem
    study.refresh_from_db()
    assert study.instruction_pages == [] and study.quiz == []
    saved = staff.post(
        url, {**data, "instruction_pages": json.dumps(PAGES), "quiz": json.dumps(QUIZ)}
    )
    assert saved.status_code == 302
    study.refresh_from_db()
    assert study.instruction_pages == PAGES and study.quiz == QUIZ
    emptied = staff.post(url, {**data, "instruction_pages": "", "quiz": ""})
    assert emptied.status_code == 302
    study.refresh_from_db()
    assert study.instruction_pages == [] and study.quiz == []
