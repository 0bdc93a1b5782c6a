"""The study dashboard: counts per condition and figures per image, for staff only."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from painting.models import Condition, Exploration, Participant, Round
from painting.studies import dashboard, queries, rules
from tests.helpers import HTMX, make_study

pytestmark = pytest.mark.django_db


def explored(participant, picture, opened, rounds=0):
    exploration = Exploration.objects.create(
        visitor=participant.visitor,
        participant=participant,
        picture=picture,
        model_name="efficientnet-lite2",
        created_at=opened,
    )
    for index in range(rounds + 1):
        Round.objects.create(
            exploration=exploration, index=index, fill="mean", status=Round.Status.DONE
        )
    return exploration


@pytest.fixture
def running(gallery):
    """Condition a: one finished (60 s on coffee, 30 s on chelsea), one on coffee for 20 s so
    far, one withdrawn; condition b: one who finished (100 s on coffee, 50 s on chelsea), one
    consented who never opened an image, one screened out; three declined."""
    study = make_study(gallery, conditions=[{"name": "a"}, {"name": "b"}], declined_count=3)
    a, b = Condition.objects.order_by("pk")
    t0 = timezone.now() - timedelta(hours=1)
    people = {}
    for name, condition in [("a1", a), ("a2", a), ("a3", a), ("b1", b), ("b2", b), ("b3", b)]:
        people[name] = rules.consent(study, visitor=name)
        Participant.objects.filter(pk=people[name].pk).update(condition=condition)
        people[name].refresh_from_db()
    coffee, chelsea = gallery["coffee"], gallery["chelsea"]
    explored(people["a1"], coffee, t0, rounds=2)
    explored(people["a1"], chelsea, t0 + timedelta(seconds=60), rounds=1)
    Participant.objects.filter(pk=people["a1"].pk).update(finished_at=t0 + timedelta(seconds=90))
    explored(people["a2"], coffee, t0, rounds=1)
    explored(people["a3"], coffee, t0, rounds=4)
    rules.withdraw(people["a3"])
    explored(people["b1"], coffee, t0, rounds=3)
    explored(people["b1"], chelsea, t0 + timedelta(seconds=100), rounds=2)
    Participant.objects.filter(pk=people["b1"].pk).update(finished_at=t0 + timedelta(seconds=150))
    explored(people["b3"], coffee, t0, rounds=1)
    rules.screen_out(people["b3"])
    return study


def staff_client():
    client = Client()
    client.force_login(User.objects.create_user("staff", password="pw-for-tests", is_staff=True))
    return client


def test_it_counts_per_condition_and_per_image(running, gallery):
    figures = dashboard.study_dashboard(running)
    rows = {c.name: c for c in figures["conditions"]}
    assert set(rows) == {"a", "b"}
    assert (rows["a"].consented, rows["a"].started, rows["a"].in_progress) == (2, 2, 1)
    assert (rows["a"].finished, rows["a"].withdrawn, rows["a"].screened_out) == (1, 1, 0)
    # b3 was screened out: they started (their other explorations are gone, not their start).
    assert (rows["b"].consented, rows["b"].started, rows["b"].in_progress) == (3, 2, 1)
    assert (rows["b"].finished, rows["b"].withdrawn, rows["b"].screened_out) == (1, 0, 1)
    total = figures["total"]
    assert (total.consented, total.finished, total.withdrawn) == (5, 2, 1)
    assert figures["declined"] == 3
    images = {i.picture.slug: i for i in figures["images"]}
    # coffee: a1 (2 rounds), a2 (1), b1 (3); a3 withdrew and b3 was screened out.
    assert (images["coffee"].explorations, images["coffee"].rounds) == (3, 6)
    assert images["coffee"].rounds_per_exploration == 2
    assert images["coffee"].median_seconds == 80  # 60 and 100; a2 is still on it
    assert (images["chelsea"].explorations, images["chelsea"].rounds) == (2, 3)
    assert images["chelsea"].median_seconds == 40  # 30 and 50


def test_it_shows_the_numbers_and_polls_its_figures(running):
    client = staff_client()
    page = client.get(f"/review/studies/{running.slug}/")
    body = page.content.decode()
    assert page.status_code == 200 and 'hx-trigger="every 5s"' in body
    cells = "".join(f"<td>{n}</td>" for n in (2, 2, 1, 1, 1, 0))
    cells += "<td data-returned>0</td><td data-timed-out>0</td>"
    checks = "<td data-checks-passed>0</td><td data-checks-failed>0</td>"
    assert f'<tr data-condition="a"><th>a</th>{cells}{checks}</tr>' in body
    assert "Did not agree: 3" in body and "80 s" in body and "<h1>" in body
    fragment = client.get(f"/review/studies/{running.slug}/", headers=HTMX).content.decode()
    assert fragment.lstrip().startswith('<div id="dashboard"') and "<h1>" not in fragment
    assert '<tr data-condition="b"><th>b</th><td>3</td><td>2</td>' in fragment


def test_it_is_for_staff_only(running):
    assert Client().get(f"/review/studies/{running.slug}/").status_code == 302  # to the login
    visitor = Client()
    visitor.force_login(User.objects.create_user("someone", password="pw-for-tests"))
    assert visitor.get(f"/review/studies/{running.slug}/").status_code == 302
    assert staff_client().get("/review/studies/nope/").status_code == 404


def test_the_admin_list_links_to_it(running):
    client = Client()
    client.force_login(
        User.objects.create_user("su", password="pw-for-tests", is_staff=True, is_superuser=True)
    )
    body = client.get("/admin/painting/study/").content.decode()
    assert f'href="/review/studies/{running.slug}/"' in body


def test_it_counts_returned_and_timed_out_apart_from_those_in_progress(gallery, settings):
    """Timed out: no activity for the slot timeout, or the study's time limit passed, and never
    finished; returned: marked so (the platform says so). Neither is in progress."""
    settings.XAI_STUDY_SLOT_TIMEOUT_MINUTES = 30
    study = make_study(gallery)
    now = timezone.now()
    active, idle, late, gone, done = (
        rules.consent(study, visitor=name) for name in ("active", "idle", "late", "gone", "done")
    )
    explored(active, gallery["coffee"], now - timedelta(minutes=5))
    Round.objects.filter(exploration__participant=active).update(
        created_at=now - timedelta(minutes=5)
    )
    explored(idle, gallery["coffee"], now - timedelta(hours=2))
    Round.objects.filter(exploration__participant=idle).update(created_at=now - timedelta(hours=2))
    Participant.objects.filter(pk=idle.pk).update(consented_at=now - timedelta(hours=2))
    Participant.objects.filter(pk=done.pk).update(
        consented_at=now - timedelta(hours=2), finished_at=now - timedelta(hours=1)
    )
    assert rules.mark_returned(Participant.objects.filter(pk__in=[gone.pk, done.pk])) == 1
    statuses = {p.visitor: queries.status_of(p) for p in Participant.objects.all()}
    assert statuses == {
        "active": "in progress",
        "idle": "timed out",
        "late": "consented",
        "gone": "returned",
        "done": "finished",
    }
    total = dashboard.study_dashboard(study)["total"]
    assert (total.consented, total.in_progress, total.timed_out, total.returned) == (5, 2, 1, 1)
    assert (total.finished, total.started) == (1, 3)

    # The study's time limit: consented 20 minutes ago, active 5 minutes ago, 15 allowed.
    study.time_limit_s = 15 * 60
    study.save()
    Participant.objects.filter(pk=active.pk).update(consented_at=now - timedelta(minutes=20))
    assert queries.status_of(Participant.objects.get(pk=active.pk)) == "timed out"
    assert dashboard.study_dashboard(study)["total"].timed_out == 2
