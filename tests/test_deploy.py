"""The deployment files kept in the repository (Procfile, deploy/systemd/) name programs that
are here and serve every queue, and what they start works: the Procfile's web, inference and
analysis processes, against the test database, answer /healthz, worker_health and a round."""

from __future__ import annotations

import configparser
import io
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.core.management import call_command

from benchmarks.session import Session, random_masks
from painting import health
from tests.helpers import RedisServer, use_broker
from tests.servers import NOT_INHERITED, ShellProcess, free_port
from xaiproject.celery import app as celery_app

ROOT = Path(__file__).resolve().parent.parent
SYSTEMD = ROOT / "deploy" / "systemd"
INSTALLED = "/srv/xai"  # where the units expect the checkout


def procfile() -> dict[str, str]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, command = line.split(":", 1)
            entries[name.strip()] = command.strip()
    return entries


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd's keys are case-sensitive
    parser.read_string(path.read_text())
    return parser


def exec_starts(path: Path) -> list[str]:
    """Each ExecStart= of a unit, continuation lines joined."""
    lines = re.findall(r"^ExecStart=((?:.*\\\n)*.*)$", path.read_text(), re.M)
    return [" ".join(line.replace("\\\n", " ").split()) for line in lines]


def program_of(command: str) -> str:
    """The program a command line runs, past `/usr/bin/env NAME=value …` and `NAME=value …`."""
    words = command.split()
    if words[0] == "/usr/bin/env":
        words = words[1:]
    return next(word for word in words if "=" not in word)


def test_the_procfile_has_each_process_and_every_queue_a_worker():
    processes = procfile()
    assert set(processes) == {"release", "web", "inference", "analysis", "optional", "exports"}
    served = {q for command in processes.values() for q in re.findall(r"-Q (\S+)", command)}
    assert served == set(health.queues())
    assert program_of(processes["web"]) == "scripts/serve.sh"
    assert os.access(ROOT / "scripts" / "serve.sh", os.X_OK)


def test_every_systemd_unit_runs_a_program_that_is_here():
    services = sorted(SYSTEMD.glob("*.service"))
    assert {p.name for p in services} >= {
        "xai-web.service", "xai-inference@.service", "xai-analysis.service", "xai-optional.service",
        "xai-exports.service", "xai-release.service", "xai-sweep.service", "xai-purge.service",
    }  # fmt: skip
    for path in services:
        parsed = unit(path)
        assert parsed["Unit"]["Description"] and parsed["Service"]["WorkingDirectory"] == INSTALLED
        for command in exec_starts(path):
            program = Path(program_of(command).replace(INSTALLED, str(ROOT)))
            assert os.access(program, os.X_OK) or program.name == "python", (path.name, program)
            assert command.count("manage.py") <= 1
        if "Install" in parsed:
            assert parsed["Install"]["WantedBy"] == "multi-user.target"
    served = {q for path in services for c in exec_starts(path) for q in re.findall(r"-Q (\S+)", c)}
    assert served == set(health.queues())
    for timer in SYSTEMD.glob("*.timer"):
        assert (SYSTEMD / timer.name.replace(".timer", ".service")).exists()
        assert unit(timer)["Install"]["WantedBy"] == "timers.target"


def test_systemd_accepts_the_units(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    for path in SYSTEMD.iterdir():  # as installed, with this checkout standing in for /srv/xai
        text = path.read_text().replace(INSTALLED, str(ROOT))
        text = text.replace("/etc/xai/xai.env", str(ROOT / "deploy" / "xai.env.example"))
        (tmp_path / path.name.replace("@.", "@0.")).write_text(text)
    result = subprocess.run(
        [analyze, "verify", *sorted(str(p) for p in tmp_path.iterdir())],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr


@pytest.mark.worker
@pytest.mark.server
@pytest.mark.django_db(transaction=True)
def test_the_procfile_processes_serve_a_round(app_env, gallery, tmp_path, settings):
    redis = RedisServer(tmp_path).start()
    port = free_port()
    inherited = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env = {
        **inherited,
        **app_env,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",  # celery, python
        "PORT": str(port),
        "REDIS_URL": redis.url,
        "XAI_EAGER": "0",
        "XAI_VAR_DIR": str(tmp_path / "var"),
        "PYTHONUNBUFFERED": "1",
    }
    processes = {
        name: ShellProcess(command, env, tmp_path / f"{name}.log").start()
        for name, command in procfile().items()
        if name != "release"  # migrations and the gallery: the test database has them
    }
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert all(p.running() for p in processes.values()), _logs(tmp_path)
            try:
                answer = httpx.get(f"{url}/healthz", timeout=5)
                if answer.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, _logs(tmp_path)
            time.sleep(0.3)
        assert answer.json()["checks"] == {"database": "ok", "broker": "ok", "storage": "ok"}

        celery_app.conf.task_always_eager = False  # this process asks the workers too
        use_broker(redis.url)
        out = io.StringIO()
        call_command("worker_health", "--wait", "120", stdout=out)
        assert "inference@" in out.getvalue() and "analysis@" in out.getvalue()

        session = Session(url, "Coffee")  # round 0 answered, and the model's view drawn
        session.classify(random_masks(session.size, 1)[0])
        assert 'class="result done"' in session.last_html
    finally:
        use_broker(settings.CELERY_BROKER_URL)
        for process in processes.values():
            process.stop()
        redis.stop()


def _logs(folder: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()[-1500:]}" for p in folder.glob("*.log"))
