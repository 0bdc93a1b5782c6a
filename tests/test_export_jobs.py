"""Study exports are built by the exports worker, never in a web request: staff ask (admin or the
exports page), the page shows it when ready, staff alone download it, and it goes when a
participant withdraws or it expires."""

import contextlib
import io
import time
import zipfile
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone

from painting import retention
from painting.models import StudyExport
from tests.helpers import HTMX
from tests.test_export import run_study


@pytest.fixture
def staff_client(db):
    client = Client()
    client.force_login(
        User.objects.create_user("r", password="pw-for-tests", is_staff=True, is_superuser=True)
    )
    return client


def _zip(response) -> zipfile.ZipFile:
    body = b"".join(response.streaming_content)
    return zipfile.ZipFile(io.BytesIO(body))


def test_the_admin_action_asks_and_the_page_offers_the_zip(gallery, on_commit, staff_client):
    study, _ = run_study(gallery, on_commit)
    data = {"action": "export_studies", "_selected_action": [study.pk]}
    with on_commit(execute=False) as sent:  # the request returns before the export is built
        asked = staff_client.post("/admin/painting/study/", data)
    assert asked.status_code == 302 and asked.url == f"/review/studies/{study.slug}/exports/"
    export = StudyExport.objects.get()
    assert export.status == StudyExport.Status.PENDING and export.requested_by == "r"
    page = staff_client.get(asked.url).content.decode()
    assert "being built" in page and 'hx-trigger="every 2s"' in page
    with on_commit(execute=False):  # asking again while one is on its way: the same one
        staff_client.post(f"/review/studies/{study.slug}/exports/")
    assert StudyExport.objects.count() == 1

    for callback in sent:  # the exports worker's turn (eager here)
        callback()
    export.refresh_from_db()
    assert export.status == StudyExport.Status.DONE and export.size > 0
    fragment = staff_client.get(asked.url, headers=HTMX).content.decode()
    assert "every 2s" not in fragment and "ready" in fragment
    download = staff_client.get(f"/review/exports/{export.pk}/download/")
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    assert f'filename="{export.file_name}"' in download["Content-Disposition"]
    assert "rounds.csv" in _zip(download).namelist()

    for stranger in (Client(), _participant_client()):
        assert stranger.get(f"/review/exports/{export.pk}/download/").status_code == 302
        assert stranger.get(asked.url).status_code == 302  # to the admin login
        assert stranger.post("/admin/painting/study/", data).status_code == 302
    assert staff_client.get(f"/review/exports/{study.pk}/download/").status_code == 404
    assert staff_client.put(asked.url).status_code == 405


def _participant_client() -> Client:
    client = Client()
    client.force_login(User.objects.create_user("p", password="pw-for-tests"))
    return client


def test_a_withdrawal_and_the_purge_delete_exports(gallery, on_commit, staff_client):
    study, exploration = run_study(gallery, on_commit)
    with on_commit(execute=True):
        staff_client.post(f"/review/studies/{study.slug}/exports/")
    export = StudyExport.objects.get()
    assert export.status == StudyExport.Status.DONE and default_storage.exists(export.file.name)

    with on_commit(execute=True):
        exploration.participant.delete()  # as a withdrawal or a researcher's delete does
    assert not StudyExport.objects.exists() and not default_storage.exists(export.file.name)

    with on_commit(execute=True):
        staff_client.post(f"/review/studies/{study.slug}/exports/")
    old = StudyExport.objects.get()
    StudyExport.objects.update(created_at=timezone.now() - timedelta(hours=25))
    with on_commit(execute=True):
        purged = retention.purge(timedelta(days=30))
    assert purged.exports == 1 and not default_storage.exists(old.file.name)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_exports_worker_builds_it_over_the_real_broker(real_worker, gallery, settings):
    study, _ = run_study(gallery, lambda execute: contextlib.nullcontext())  # commits dispatch
    staff = Client()
    staff.force_login(User.objects.create_user("w", password="pw-for-tests", is_staff=True))
    asked = staff.post(f"/review/studies/{study.slug}/exports/")
    assert asked.status_code == 302
    export = StudyExport.objects.get()
    deadline = time.monotonic() + 60
    while export.status not in (StudyExport.Status.DONE, StudyExport.Status.FAILED):
        assert time.monotonic() < deadline, "the exports worker never built it"
        time.sleep(0.2)
        export.refresh_from_db()
    assert export.status == StudyExport.Status.DONE, export.error
    archive = _zip(staff.get(f"/review/exports/{export.pk}/download/"))
    assert {"rounds.csv", "participants.csv", "README.txt"} <= set(archive.namelist())
