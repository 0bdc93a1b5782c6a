"""benchmarks/cpu_accounting.py: /proc's lines read right, each process under its part of the
app, and a window's CPU counted once, a process that ended inside it too."""

import subprocess
import sys
import time

import pytest

from benchmarks.cpu_accounting import (
    Proc,
    Window,
    breakdown,
    parse_stat,
    part_of,
    queued,
    snapshot,
    usage,
)

# A real /proc/<pid>/stat line (a celery pool process), its name holding a space and parentheses.
STAT = (
    "4242 (celery (pool) x) S 4200 4242 4100 0 -1 4194368 19046 0 0 0 "
    "250 50 30 20 20 0 3 0 987654 2113929216 40000 18446744073709551615 "
    "1 1 0 0 0 0 0 16781312 2 0 0 0 17 1 0 0 0 0 0"
)


def test_a_stat_line_gives_parent_session_start_and_cpu():
    ppid, session, started, cpu, reaped = parse_stat(STAT)
    assert (ppid, session, started) == (4200, 4100, 987654)
    assert cpu == pytest.approx(300 / 100)  # utime 250 + stime 50 ticks
    assert reaped == pytest.approx(50 / 100)  # cutime 30 + cstime 20


@pytest.mark.parametrize(
    ("argv", "part"),
    [
        ([".venv/bin/python", ".venv/bin/gunicorn", "xaiproject.wsgi", "--bind", "x"], "web"),
        (["nginx: worker process"], "proxy"),
        (["nginx", "-p", "var/nginx", "-c", "nginx.conf"], "proxy"),
        (["redis-server 127.0.0.1:6379"], "redis"),
        (["python", ".venv/bin/celery", "-A", "x", "worker", "-Q", "inference"], "inference"),
        (["python", ".venv/bin/celery", "-A", "x", "worker", "-Q", "analysis"], "analysis"),
        (["[celeryd: optional@host:ForkPoolWorker-1]"], "optional"),
        (["bash", "scripts/run.sh"], None),
        ([".venv/bin/python", "manage.py", "worker_health", "--wait", "300"], None),
    ],
)
def test_each_command_line_is_its_part(argv, part):
    assert part_of(argv) == part


def proc(pid, cpu, reaped=0.0, part="web", ppid=1, started=10):
    return Proc(pid, ppid, 1, started, cpu, reaped, part)


def test_usage_counts_the_window_only_and_a_reaped_child_once():
    before = {
        (1, 10): proc(1, 5.0, part="other"),
        (2, 10): proc(2, 3.0, ppid=1, part="inference"),
        (3, 10): proc(3, 1.0, ppid=1, part="other"),  # ends inside the window
        (4, 10): proc(4, 9.0, ppid=0, part="web"),  # ends; its pid goes to a new process
    }
    after = {
        (1, 10): proc(1, 5.1, reaped=1.5, part="other"),  # child 3 ended having used 1.5 s
        (2, 10): proc(2, 4.0, ppid=1, part="inference"),
        (4, 99): proc(4, 0.25, part="web", started=99),  # new in the window
        (5, 50): proc(5, 0.5, ppid=2, part="inference"),
    }
    spent = usage(before, after)
    assert spent["inference"] == pytest.approx(1.0 + 0.5)
    assert spent["other"] == pytest.approx(0.1 + 1.5 - 1.0)  # only child 3's 0.5 s inside
    assert spent["web"] == pytest.approx(0.25)  # the old pid 4's parent is not ours: not counted


def test_the_breakdown_is_per_round_and_leaves_the_load_generator_out():
    text = breakdown({"web": 0.2, "inference": 0.6, "load generator": 5.0}, rounds=10, model_ms=20)
    assert "app CPU per round over 10 rounds: 80.0 ms" in text
    assert "web           20.0 ms" in text
    assert "load generator, not counted: 500.0 ms" in text
    assert "overhead per round (target 3, <= 10): 60.0 ms" in text


def test_a_real_session_burning_cpu_is_measured():
    burn = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
    # A shell of its own session that starts a burner and waits: the burner ends in the window.
    child = subprocess.Popen(
        ["sh", "-c", f'sleep 0.2; "{sys.executable}" -c "{burn}"; sleep 5'], start_new_session=True
    )
    try:
        time.sleep(0.1)
        assert {p.pid for p in snapshot(child.pid).values()} >= {child.pid}
        window = Window(child.pid)
        window.start()
        time.sleep(1.0)
        spent = window.stop(settle=0)
    finally:
        child.kill()
        child.wait()
    app = sum(s for part, s in spent.items() if part != "load generator")
    assert 0.25 <= app <= 0.6
    assert spent["load generator"] < 0.2  # this test's own process sleeps meanwhile


def test_the_window_waits_for_the_tasks_still_queued_or_running(redis_url):
    import redis

    url = redis_url.rsplit("/", 1)[0] + "/11"  # a database of its own
    broker = redis.Redis.from_url(url)
    broker.flushdb()
    try:
        assert queued(url) == 0
        broker.rpush("optional", b"a", b"b")  # two messages waiting on a queue
        broker.hset("unacked", "tag", b"c")  # one taken by a worker, not done yet
        broker.set("some-cache-key", b"x")  # not a queue
        assert queued(url) == 3
    finally:
        broker.flushdb()
