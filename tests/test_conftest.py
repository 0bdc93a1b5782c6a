"""The test suite's own plumbing (conftest.py) under the options people run it with."""

import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT


@pytest.mark.slow
def test_the_region_maps_are_computed_when_pytests_cache_is_off(tmp_path):
    """conftest.py keeps the gallery's Region maps in pytest's cache; without the cache plugin
    (-p no:cacheprovider) the config has no cache at all, and each map is computed instead."""
    test = "tests/test_regions.py::test_a_picture_gets_its_superpixels_when_it_is_added"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", test],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},  # not a worker
            # Its own SQLite test database: this run's must not be made or dropped under it.
            "DATABASE_URL": "",
            "XAI_TEST_DB_PATH": str(tmp_path / "test.sqlite3"),
        },
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout
