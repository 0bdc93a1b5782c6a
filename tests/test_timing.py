"""Stage timings: each stage counts its own time only, and the breakdown adds up to the wait."""

import time

from django.http import HttpResponse
from django.test import RequestFactory

from painting import timing
from painting.server_timing import ServerTimingMiddleware


def test_a_stage_inside_another_is_not_counted_twice():
    started = time.perf_counter()
    with timing.recording() as stages:
        with timing.stage("db"):
            time.sleep(0.02)
            with timing.stage("publish"):
                time.sleep(0.03)
        with timing.stage("db"):  # a second time adds up
            time.sleep(0.01)
    wall_ms = (time.perf_counter() - started) * 1000
    assert set(stages) == {"db", "publish"}
    assert stages["db"] >= 28 and stages["publish"] >= 28
    # Counted twice, publish's 30 ms would be in db too: more than the wall clock (a bound
    # that holds however late a busy machine wakes the sleeps).
    assert stages["db"] + stages["publish"] <= wall_ms


def test_stages_outside_a_recording_cost_nothing_and_go_nowhere():
    with timing.stage("lost"):
        pass
    with timing.recording() as stages:
        pass
    assert stages == {}


def test_the_server_timing_header_reads_back():
    stages = {"parse": 0.5, "worker-model": 6.25}
    assert timing.parse_server_timing(timing.server_timing(stages)) == stages
    assert timing.parse_server_timing("junk, x;desc=y, ok;dur=1") == {"ok": 1.0}


def test_the_wait_is_split_into_queue_worker_and_answered():
    web = {"validate": 2.0, "wait": 30.0, "render": 3.0}
    worker = {"claim": 1.0, "model": 10.0, "preprocess": 4.0, "answered_at": 1000.0}
    breakdown = timing.round_breakdown(web, worker, woke_at=1000.005)
    assert breakdown["answered"] == 5.0 or abs(breakdown["answered"] - 5.0) < 1e-6
    assert abs(breakdown["queue"] - (30 - 5 - 15)) < 1e-6
    assert abs(sum(breakdown.values()) - (2 + 30 + 3)) < 1e-6  # the stages add up
    # A round the worker never answered (failed, or still pending): the wait stays whole.
    assert timing.round_breakdown(web, {}, woke_at=0) == web


def test_the_middleware_adds_the_whole_time_in_django_to_a_views_stages():
    def view(request):
        time.sleep(0.02)
        response = HttpResponse()
        if request.GET.get("timed"):
            response["Server-Timing"] = timing.server_timing({"render": 1.0})
        return response

    middleware = ServerTimingMiddleware(view)
    started = time.perf_counter()
    timed = middleware(RequestFactory().get("/", {"timed": "1"}))
    wall_ms = (time.perf_counter() - started) * 1000
    stages = timing.parse_server_timing(timed["Server-Timing"])
    assert stages["render"] == 1.0 and 20 <= stages["django"] <= wall_ms + 0.01  # dur=%.2f
    assert not middleware(RequestFactory().get("/")).has_header("Server-Timing")
