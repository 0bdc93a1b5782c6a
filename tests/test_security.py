"""Deployment settings, CSRF on HTMX requests, and per-session rate limits."""

import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from painting.models import Round
from tests.helpers import HTMX, classify, clean_env, jpeg, mask_png, settings_of, start, upload

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_check_deploy_passes_with_production_settings(tmp_path):
    env = {
        **clean_env(),
        "XAI_HTTPS": "1",
        "XAI_SECRET_KEY": secrets.token_urlsafe(50),
        "XAI_ALLOWED_HOSTS": "xai.example.org",
        "XAI_VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_by_default_debug_is_off_and_https_settings_wait_for_their_switch(tmp_path):
    env = clean_env(XAI_VAR_DIR=str(tmp_path))
    names = ("DEBUG", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "SECURE_HSTS_SECONDS")
    assert settings_of(env, *names) == ["False", "False", "False", "0"]
    assert settings_of({**env, "XAI_DEBUG": "1"}, "DEBUG") == ["True"]


def test_without_a_secret_key_one_is_made_once_and_kept_private(tmp_path):
    env = clean_env(XAI_VAR_DIR=str(tmp_path))
    [first] = settings_of(env, "SECRET_KEY")
    [again] = settings_of(env, "SECRET_KEY")
    assert first == again and len(first) >= 50
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert settings_of({**env, "XAI_SECRET_KEY": "k" * 50}, "SECRET_KEY") == ["k" * 50]


def test_htmx_posts_need_the_csrf_token(gallery, on_commit):
    browser = Client(enforce_csrf_checks=True)
    home = browser.get(reverse("painting:home"))
    token = home.cookies["csrftoken"].value
    assert '"x-csrftoken": "' in home.content.decode()  # hx-headers on <body>
    url = reverse("painting:explore-picture", args=[gallery["coffee"].pk])
    assert browser.post(url, headers=HTMX).status_code == 403
    with on_commit(execute=True):
        response = browser.post(url, headers={**HTMX, "X-CSRFToken": token})
    assert response.status_code == 200 and response["HX-Redirect"].startswith("/e/")


def test_the_policy_forbids_inline_script(client, db):
    policy = client.get(reverse("painting:home"))["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy


def test_classify_is_rate_limited_per_session(client, gallery, on_commit, settings):
    settings.XAI_RATE_LIMITS = {**settings.XAI_RATE_LIMITS, "classify": (2, 60)}
    exploration = start(client, gallery["coffee"], on_commit)
    mask = mask_png((600, 400), (0, 0, 20, 20))
    assert classify(client, exploration, on_commit, mask).status_code == 200
    assert classify(client, exploration, on_commit, mask).status_code == 200
    refused = classify(client, exploration, on_commit, mask)
    assert refused.status_code == 429
    assert "more than 2 rounds in 60 seconds" in refused.content.decode()
    assert exploration.rounds.count() == 3  # the original and two rounds; nothing half-saved

    other = Client()
    theirs = start(other, gallery["coffee"], on_commit)
    assert classify(other, theirs, on_commit, mask).status_code == 200  # their own budget
    assert Round.objects.filter(exploration=theirs).count() == 2


def test_uploads_are_rate_limited_per_session(client, db, settings):
    settings.XAI_RATE_LIMITS = {**settings.XAI_RATE_LIMITS, "upload": (1, 60)}
    assert upload(client, b"not an image").status_code == 400  # counts, as any attempt does
    refused = upload(client, jpeg())
    assert refused.status_code == 429
    assert "more than 1 uploads in 60 seconds" in refused.content.decode()
