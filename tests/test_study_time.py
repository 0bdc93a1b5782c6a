"""Time limits on a study: per image from its first opening, and for the whole study from
consent, both enforced by the server."""

from datetime import timedelta

from django.test import Client
from django.utils import timezone

from painting.models import Exploration, Participant, Study
from tests.helpers import classify, join_study, make_study, mask_png, study_step

MASK = mask_png((600, 400), (0, 0, 100, 100))


def open_first_image(gallery, on_commit, **fields):
    study = make_study(gallery, min_rounds=2, **fields)
    browser = Client()
    join_study(browser, study, on_commit, pid="P-1")
    return study, browser, study_step(browser, study, 1, on_commit)


def age(exploration, seconds):
    Exploration.objects.filter(pk=exploration.pk).update(
        created_at=exploration.created_at - timedelta(seconds=seconds)
    )


def test_it_refuses_writes_after_the_image_time_and_opens_next(gallery, on_commit):
    study, browser, exploration = open_first_image(gallery, on_commit, time_limit_per_image_s=60)
    page = browser.get(f"/e/{exploration.pk}/").content.decode()
    assert 'data-seconds-left="' in page and "Next image</a>" not in page
    assert classify(browser, exploration, on_commit, MASK).status_code == 200
    age(exploration, 61)

    refused = classify(browser, exploration, on_commit, MASK)
    body = refused.content.decode()
    assert refused.status_code == 403 and "The time for this image is up" in body
    assert 'id="study-bar"' in body and f'href="/study/{study.slug}/step/2/"' in body
    assert exploration.rounds.count() == 2  # the original and the round sent in time

    # A reload does not start the clock again: the start is stored.
    assert study_step(browser, study, 1, on_commit) == exploration
    page = browser.get(f"/e/{exploration.pk}/").content.decode()
    assert "The time for this image is up" in page and 'type="submit" class="primary"' not in page
    assert classify(browser, exploration, on_commit, MASK).status_code == 403
    # Next opens although the image has 1 round of the 2 it needs.
    second = study_step(browser, study, 2, on_commit)
    size = (second.picture.width, second.picture.height)
    assert classify(browser, second, on_commit, mask_png(size, (0, 0, 9, 9))).status_code == 200


def test_the_countdown_ends_at_the_deadline_not_before_it(gallery, on_commit):
    """At zero the page asks again: the seconds left are rounded up, so that it never asks
    before the deadline (rounded down, it asked too early, up to a second of reloads)."""
    _study, browser, exploration = open_first_image(gallery, on_commit, time_limit_per_image_s=60)
    age(exploration, 0.5)
    page = browser.get(f"/e/{exploration.pk}/").content.decode()
    assert 'data-seconds-left="60"' in page


def test_a_deadline_passing_while_the_page_is_made_shows_it_up_with_next_open(
    gallery, on_commit, monkeypatch
):
    """Whenever in the making of a page the deadline passes, the page says "time is up" only
    with Next open: one instant decides both (two calls of the clock once kept Next closed
    beside the message, and a participant without rounds could not go on)."""
    _study, browser, exploration = open_first_image(gallery, on_commit, time_limit_per_image_s=60)
    deadline = exploration.created_at + timedelta(seconds=60)
    for calls_before in range(40):
        ticks = iter(range(-calls_before, 10**6))
        monkeypatch.setattr(
            timezone, "now", lambda ticks=ticks: deadline + timedelta(milliseconds=next(ticks))
        )
        page = browser.get(f"/e/{exploration.pk}/").content.decode()
        if "The time for this image is up" in page:
            assert "Next image</a>" in page and "needs 2 rounds" not in page, calls_before
        else:
            assert "needs 2 rounds of your own" in page, calls_before


def test_over_the_study_time_the_participant_is_sent_to_finish(gallery, on_commit):
    study, browser, exploration = open_first_image(gallery, on_commit, time_limit_s=600)
    Participant.objects.update(
        consented_at=Participant.objects.get().consented_at - timedelta(seconds=601)
    )
    refused = classify(browser, exploration, on_commit, MASK)
    assert refused.status_code == 403 and "time for this study is up" in refused.content.decode()
    assert f'href="/study/{study.slug}/finish/">Finish</a>' in refused.content.decode()
    step = browser.get(f"/study/{study.slug}/step/2/")
    assert step.status_code == 302 and step.url == f"/study/{study.slug}/finish/"
    page = browser.get(f"/e/{exploration.pk}/")
    assert page.status_code == 302 and page.url == f"/study/{study.slug}/finish/"
    finished = browser.post(f"/study/{study.slug}/finish/", {"answer": ""})
    assert finished.status_code == 200 and Participant.objects.get().finished_at


def test_without_limits_nothing_runs_out(gallery, on_commit):
    _study, browser, exploration = open_first_image(gallery, on_commit)
    age(exploration, 10**6)
    page = browser.get(f"/e/{exploration.pk}/").content.decode()
    assert "data-seconds-left" not in page
    assert classify(browser, exploration, on_commit, MASK).status_code == 200


def test_the_consent_page_measures_the_window_and_the_server_checks_it(gallery):
    study = make_study(gallery, min_screen_width=1000, min_screen_height=600)
    page = Client().get(f"/study/{study.slug}/?PROLIFIC_PID=P-9").content.decode()
    assert 'data-min-screen="1000 600"' in page and 'name="screen_width"' in page
    consent = {"agree": "1", "PROLIFIC_PID": "P-9"}
    for sizes, shown in [
        ({"screen_width": "800", "screen_height": "900"}, "yours is 800 × 900"),
        ({"screen_width": "1200", "screen_height": "599"}, "yours is 1200 × 599"),
        ({}, "could not be measured"),
        ({"screen_width": "wide", "screen_height": "600"}, "could not be measured"),
    ]:
        refused = Client().post(f"/study/{study.slug}/consent/", {**consent, **sizes})
        body = refused.content.decode()
        assert refused.status_code == 400 and shown in body and "1000 × 600" in body
        assert 'value="P-9"' in body  # the ids go on with the form
    assert not Participant.objects.exists()
    sizes = {"screen_width": "1000", "screen_height": "600"}
    joined = Client().post(f"/study/{study.slug}/consent/", {**consent, **sizes})
    assert joined.status_code == 302 and Participant.objects.get().external_id == "P-9"


def test_i_do_not_agree_from_a_window_too_small_counts_nothing(gallery):
    """The too-small page hides "I do not agree"; one sent anyway is not a decline (it would
    send the person away with the screen-out code for a screen they can rotate)."""
    study = make_study(gallery, min_screen_width=800, min_screen_height=500)
    small = {"decline": "1", "PROLIFIC_PID": "P-1", "screen_width": "390", "screen_height": "844"}
    refused = Client().post(f"/study/{study.slug}/consent/", small)
    assert refused.status_code == 400 and "rotate your device" in refused.content.decode()
    assert Study.objects.get(pk=study.pk).declined_count == 0
    large = {**small, "screen_width": "1280", "screen_height": "800"}
    declined = Client().post(f"/study/{study.slug}/consent/", large)
    assert declined.status_code == 200 and Study.objects.get(pk=study.pk).declined_count == 1
    assert not Participant.objects.exists()


def test_without_a_minimum_any_window_may_take_part(gallery, on_commit):
    study = make_study(gallery)
    join_study(Client(), study, on_commit, screen_width="320", screen_height="200")
    assert Participant.objects.count() == 1
