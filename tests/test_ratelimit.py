"""Limits on what costs worker time: per visitor and per client address, counted in a cache that
all processes share; a visitor's queue is capped. Every refusal is a 429 with a message, and
writes nothing."""

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import redis
from django.test import Client, RequestFactory
from django.urls import reverse

from painting.models import Exploration, Picture, Round
from painting.ratelimit import client_address
from tests.helpers import HTMX, classify, free_port, jpeg, mask_png, start, upload

ROOT = Path(__file__).resolve().parent.parent
MASK = mask_png((600, 400), (0, 0, 40, 40))


def explore(client, picture, fresh=False, **headers):
    url = reverse("painting:explore-picture", args=[picture.pk])
    return client.post(url, {"fresh": "1"} if fresh else {}, headers={**HTMX, **headers})


def finished_round(client, gallery, on_commit) -> Round:
    """A classified round 1 (the model runs in this process), ready for an analysis."""
    exploration = start(client, gallery["coffee"], on_commit)
    classify(client, exploration, on_commit, MASK)
    return exploration.rounds.get(index=1)


def ask_analysis(client, round_):
    url = reverse("painting:analysis", args=[round_.exploration_id, round_.pk])
    return client.post(url, headers=HTMX)


def assert_refused(response, message: str) -> None:
    assert response.status_code == 429
    assert message in response.content.decode()
    assert response["HX-Retarget"] == "#messages"  # shown in the page's message area


# --- whose request it is ----------------------------------------------------------------------


def test_the_client_address_is_remote_addr_unless_behind_our_proxy(settings):
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.7"
    )
    settings.BEHIND_PROXY = False
    assert client_address(request) == "10.0.0.2"  # the header is the client's own words
    settings.BEHIND_PROXY = True
    assert client_address(request) == "198.51.100.7"  # what the proxy appended, not 1.2.3.4


def test_an_unusable_forwarded_header_falls_back_to_remote_addr(settings):
    settings.BEHIND_PROXY = True
    for header in ["", "not-an-address", "1.2.3.4, "]:
        request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=header)
        assert client_address(request) == "10.0.0.2", header


def test_over_a_unix_socket_the_local_proxys_forwarded_for_names_the_client(settings):
    settings.BEHIND_PROXY = False  # make run: only its own nginx reaches gunicorn's socket
    request = RequestFactory().get("/", REMOTE_ADDR="", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert client_address(request) == "198.51.100.7"
    assert client_address(RequestFactory().get("/", REMOTE_ADDR="")) == "unknown"


def test_an_ipv6_client_is_counted_by_its_64_block(settings):
    settings.BEHIND_PROXY = False
    one, other = (
        client_address(RequestFactory().get("/", REMOTE_ADDR=address))
        for address in ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9")
    )
    assert one == other == "2001:db8:1:2::"
    mapped = RequestFactory().get("/", REMOTE_ADDR="::ffff:192.0.2.5")
    assert client_address(mapped) == "192.0.2.5"


# --- clients that drop their cookie -------------------------------------------------------------


def unbounded_queue_and_budgets(settings) -> None:
    """Only the request counts: the rounds these tests queue are never classified."""
    settings.XAI_MAX_PENDING_ROUNDS_PER_ADDRESS = settings.XAI_MAX_PENDING_ROUNDS_TOTAL = 10**6
    settings.XAI_WORKER_SECONDS_PER_MINUTE_PER_ADDRESS = 10**6


def test_a_cookieless_flood_of_new_explorations_is_refused_at_the_address_limit(gallery, settings):
    unbounded_queue_and_budgets(settings)
    limit, period = settings.XAI_ADDRESS_RATE_LIMITS["explore"]
    accepted = 0
    while (response := explore(Client(), gallery["coffee"])).status_code == 200:
        accepted += 1
        assert accepted <= limit, "the address limit never refused"
    assert accepted == limit
    assert_refused(response, f"Your network sent more than {limit} new explorations in {period}")
    assert Exploration.objects.count() == limit and Round.objects.count() == limit


def test_a_cookieless_flood_of_uploads_is_refused_at_the_address_limit(db, settings):
    unbounded_queue_and_budgets(settings)
    limit, period = settings.XAI_ADDRESS_RATE_LIMITS["upload"]
    data = jpeg((64, 48))
    accepted = 0
    while (response := upload(Client(), data)).status_code == 302:
        accepted += 1
        assert accepted <= limit, "the address limit never refused"
    assert accepted == limit
    assert response.status_code == 429
    assert f"Your network sent more than {limit} uploads in {period}" in response.content.decode()
    assert Picture.objects.count() == limit


def test_sessions_sharing_an_address_share_its_classify_budget(gallery, settings):
    settings.XAI_ADDRESS_RATE_LIMITS = {**settings.XAI_ADDRESS_RATE_LIMITS, "classify": (2, 60)}
    browsers = [Client() for _ in range(3)]
    explorations = [start(browser, gallery["coffee"]) for browser in browsers]
    results = [classify(b, e, None, MASK) for b, e in zip(browsers, explorations, strict=True)]
    assert [r.status_code for r in results] == [200, 200, 429]
    assert_refused(results[2], "Your network sent more than 2 rounds in 60 seconds")
    assert not explorations[2].rounds.filter(index=1).exists()


def test_x_forwarded_for_is_ignored_unless_behind_our_proxy(gallery, settings):
    settings.XAI_ADDRESS_RATE_LIMITS = {**settings.XAI_ADDRESS_RATE_LIMITS, "explore": (2, 60)}
    settings.BEHIND_PROXY = False
    statuses = [
        explore(Client(), gallery["coffee"], **{"X-Forwarded-For": f"203.0.113.{i}"}).status_code
        for i in range(3)
    ]
    assert statuses == [200, 200, 429]  # all from REMOTE_ADDR 127.0.0.1, whatever they claim


def test_behind_our_proxy_each_forwarded_client_has_its_own_budget(gallery, settings):
    settings.XAI_ADDRESS_RATE_LIMITS = {**settings.XAI_ADDRESS_RATE_LIMITS, "explore": (2, 60)}
    settings.BEHIND_PROXY = True
    others = [
        explore(Client(), gallery["coffee"], **{"X-Forwarded-For": f"203.0.113.{i}"}).status_code
        for i in range(3)
    ]
    assert others == [200, 200, 200]
    # What a client writes itself stays left of what the proxy adds: it changes nothing.
    spoofing = [
        explore(
            Client(), gallery["coffee"], **{"X-Forwarded-For": f"10.9.9.{i}, 198.51.100.7"}
        ).status_code
        for i in range(3)
    ]
    assert spoofing == [200, 200, 429]


# --- the new per-session limits -----------------------------------------------------------------


def test_new_explorations_are_rate_limited_per_session(client, gallery, settings):
    settings.XAI_RATE_LIMITS = {**settings.XAI_RATE_LIMITS, "explore": (2, 60)}
    assert explore(client, gallery["coffee"], fresh=True).status_code == 200
    assert explore(client, gallery["coffee"], fresh=True).status_code == 200
    assert_refused(
        explore(client, gallery["coffee"], fresh=True),
        "That is more than 2 new explorations in 60 seconds. Wait a moment and try again.",
    )
    assert Exploration.objects.count() == 2
    assert explore(Client(), gallery["coffee"]).status_code == 200  # another browser's budget


def test_analyses_are_rate_limited_per_session(client, gallery, on_commit, settings):
    settings.XAI_RATE_LIMITS = {**settings.XAI_RATE_LIMITS, "analysis": (1, 60)}
    round_ = finished_round(client, gallery, on_commit)
    assert ask_analysis(client, round_).status_code == 200  # queued (this test never commits)
    Round.objects.filter(pk=round_.pk).update(analysis_status=Round.AnalysisStatus.NONE)
    assert_refused(ask_analysis(client, round_), "That is more than 1 analyses in 60 seconds")
    round_.refresh_from_db()
    assert round_.analysis_status == Round.AnalysisStatus.NONE and round_.analysis == {}


def test_retry_counts_as_a_classify(client, gallery, on_commit, settings):
    settings.XAI_RATE_LIMITS = {**settings.XAI_RATE_LIMITS, "classify": (1, 60)}
    round_ = finished_round(client, gallery, on_commit)
    Round.objects.filter(pk=round_.pk).update(status=Round.Status.FAILED, error="lost")
    url = reverse("painting:retry", args=[round_.exploration_id, round_.pk])
    assert_refused(client.post(url, headers=HTMX), "That is more than 1 rounds in 60 seconds")
    assert Round.objects.get(pk=round_.pk).status == Round.Status.FAILED


# --- one visitor's queue ----------------------------------------------------------------------


def test_a_classify_past_the_visitors_queue_is_refused_and_saves_nothing(
    client, gallery, settings, media_root
):
    settings.XAI_MAX_PENDING_ROUNDS = 2
    exploration = start(client, gallery["coffee"])  # round 0 waits: this test never commits
    assert classify(client, exploration, None, MASK).status_code == 200
    refused = classify(client, exploration, None, MASK)
    assert_refused(
        refused,
        "You have 2 rounds waiting for the classifier. Wait for your previous rounds, then try",
    )
    assert exploration.rounds.count() == 2
    assert len(list((Path(media_root) / "rounds" / str(exploration.pk)).iterdir())) == 1
    assert_refused(explore(client, gallery["chelsea"]), "Wait for your previous rounds")
    assert Exploration.objects.count() == 1

    Round.objects.filter(exploration=exploration).update(status=Round.Status.DONE)
    assert classify(client, exploration, None, MASK).status_code == 200  # room again


def test_a_second_analysis_waits_for_the_first(client, gallery, on_commit):
    first = finished_round(client, gallery, on_commit)
    classify(client, first.exploration, on_commit, MASK)
    second = first.exploration.rounds.get(index=2)
    assert ask_analysis(client, first).status_code == 200  # queued (this test never commits)
    assert_refused(ask_analysis(client, second), "Your previous analysis is still running")
    second.refresh_from_db()
    assert second.analysis_status == Round.AnalysisStatus.NONE


# --- where the counters live --------------------------------------------------------------------


def test_without_a_reachable_cache_requests_are_let_through(gallery, settings, caplog):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/1",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    assert explore(Client(), gallery["coffee"]).status_code == 200
    assert "rate limits are not counted" in caplog.text


# The app's settings and its rate limiter; not django.setup(), which would load every app (torch).
COUNT_IN_THIS_PROCESS = """
import sys
from django.core.cache import caches
from django.test import RequestFactory
from painting.ratelimit import refusal
print(type(caches["default"]).__name__)
request = RequestFactory().post("/", REMOTE_ADDR="203.0.113.50")
print(sum(bool(refusal(request, "explore", "")) for _ in range(int(sys.argv[1]))))
"""


def count_in_processes(processes: int, each: int, **env) -> list[tuple[str, int]]:
    """Each process counts `each` requests from one address; (cache class, refused) per process."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "xaiproject.settings", **env}
    command = [sys.executable, "-c", COUNT_IN_THIS_PROCESS, str(each)]
    running = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    outputs = [p.communicate(timeout=60)[0].split() for p in running]
    assert all(p.returncode == 0 for p in running)
    return [(cache_class, int(refused)) for cache_class, refused in outputs]


@pytest.mark.worker
def test_processes_count_together_in_the_brokers_redis(redis_url, tmp_path):
    env = {  # the app's own settings: the cache is the broker's Redis, database 1
        "REDIS_URL": redis_url,
        "XAI_EAGER": "0",
        "XAI_EXPLORES_PER_MINUTE_PER_ADDRESS": "40",
        "XAI_VAR_DIR": str(tmp_path),
    }
    results = count_in_processes(2, 30, **env)
    assert [cache_class for cache_class, _ in results] == ["RedisCache"] * 2
    assert sum(refused for _, refused in results) == 2 * 30 - 40  # counted as one, atomically
    base = redis_url.rsplit("/", 1)[0]
    broker, cache = (redis.Redis.from_url(f"{base}/{db}") for db in (0, 1))
    assert cache.keys("xai:*ratelimit:explore:*") and not broker.keys("xai:*")


def test_the_embedded_fallback_counts_in_the_process(tmp_path):
    [(cache_class, refused)] = count_in_processes(
        1, 3, XAI_EAGER="1", XAI_EXPLORES_PER_MINUTE_PER_ADDRESS="2", XAI_VAR_DIR=str(tmp_path)
    )
    assert (cache_class, refused) == ("LocMemCache", 1)


@pytest.mark.server
@pytest.mark.django_db(transaction=True)
def test_served_as_make_run_serves_it_each_client_address_has_its_own_budget(start_server, gallery):
    """nginx in front of gunicorn's unix socket: the address nginx saw is the one counted, and
    an X-Forwarded-For the client writes itself changes nothing."""
    server = start_server(XAI_EXPLORES_PER_MINUTE_PER_ADDRESS="2")

    def explore_without_cookie(address: str) -> int:
        transport = httpx.HTTPTransport(local_address=address)
        with httpx.Client(base_url=server.url, transport=transport, timeout=60) as browser:
            home = browser.get("/").text
            form = next(f for f in home.split("<form")[1:] if ">Coffee<" in f)
            url = re.search(r'action="([^"]+/explore/)"', form).group(1)
            headers = {"X-CSRFToken": browser.cookies["csrftoken"], "X-Forwarded-For": "10.0.0.9"}
            return browser.post(url, headers=headers).status_code

    assert [explore_without_cookie("127.0.0.3") for _ in range(3)] == [302, 302, 429]
    assert explore_without_cookie("127.0.0.4") == 302
