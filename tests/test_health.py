"""/healthz for load balancers and `make run`, and `manage.py worker_health` for the workers."""

import io

import pytest
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.db import OperationalError

from painting import health
from tests.helpers import RedisServer, use_broker
from xaiproject.celery import app as celery_app

URL = "/healthz"


@pytest.fixture
def broker_down(settings):
    """Tasks go to a broker nobody listens on."""
    celery_app.conf.task_always_eager = False
    use_broker("redis://127.0.0.1:1/0")
    yield
    use_broker(settings.CELERY_BROKER_URL)


def test_it_answers_with_each_check_and_creates_no_session(client, db):
    response = client.get(URL)
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "skipped", "storage": "ok"},
    }
    assert response["Cache-Control"] == "no-store"
    assert not response.cookies and Session.objects.count() == 0


def test_it_answers_a_load_balancer_asking_by_address_over_plain_http(client, db, settings):
    settings.ALLOWED_HOSTS = ["xai.example.org"]
    settings.SECURE_SSL_REDIRECT = True
    assert client.get(URL, HTTP_HOST="10.0.0.7:8000").status_code == 200
    assert client.get("/", HTTP_HOST="10.0.0.7:8000").status_code == 400  # the rest checks


def test_it_names_a_broker_that_cannot_be_reached(client, db, broker_down):
    response = client.get(URL)
    assert response.status_code == 503
    assert response.json()["failed"] == ["broker"]
    assert response.json()["checks"]["database"] == "ok"


def test_it_names_a_database_that_cannot_be_reached(client, db, monkeypatch):
    def unreachable():
        raise OperationalError("connection refused")

    monkeypatch.setitem(health.CHECKS, "database", unreachable)
    response = client.get(URL)
    assert response.status_code == 503
    assert response.json()["failed"] == ["database"]
    assert "refused" not in response.content.decode()  # why goes to the log, not the asker


def test_it_rejects_post(client, db):
    assert client.post(URL).status_code == 405


def test_worker_health_fails_fast_without_a_broker(broker_down):
    with pytest.raises(CommandError, match="broker cannot be reached"):
        call_command("worker_health", "--timeout", "0.5", stdout=io.StringIO())


@pytest.mark.worker
def test_worker_health_names_the_queues_nobody_serves(tmp_path, settings):
    server = RedisServer(tmp_path).start()
    celery_app.conf.task_always_eager = False
    use_broker(server.url)
    try:
        with pytest.raises(CommandError, match="analysis, exports, inference, optional queue"):
            call_command("worker_health", "--timeout", "0.5", stdout=io.StringIO())
    finally:
        use_broker(settings.CELERY_BROKER_URL)
        server.stop()


@pytest.mark.worker
def test_worker_health_lists_the_workers_that_answer(real_worker):
    out = io.StringIO()
    call_command("worker_health", "--wait", "20", stdout=out)
    lines = out.getvalue().splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "analysis queue",
        "exports queue",
        "inference queue",
        "optional queue",
    ]
    assert all("@" in line for line in lines)
