"""`manage.py study_bots`: pilot bots take the example study in headless Chromium against the
app served as `make run` serves it, and the export of their data compares the conditions."""

import io
import subprocess
import sys
import zipfile

import pandas
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from painting.models import CheckAnswer, Participant, Round, Study
from painting.studies.export.archive import write_study_zip
from tests.helpers import ROOT, clean_env
from tests.servers import free_port

pytestmark = [
    pytest.mark.browser,
    pytest.mark.server,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

EXAMPLE = ROOT / "docs" / "example_study.json"

# The ten lines of pandas in docs/pilots.md, run on the bots' export.
ANALYSIS = """
import pandas as pd, zipfile

z = zipfile.ZipFile(path)
people = pd.read_csv(z.open("participants.csv"), dtype={"external_id": str})
rounds = pd.read_csv(z.open("rounds.csv"), dtype={"external_id": str})
work = rounds[(rounds.practice == 0) & (rounds.attention_check == 0) & (rounds.round_index > 0)]
work = work.assign(changed=work.top1_label != work.original_class)
print(people.groupby("condition")[["duration_s", "rounds", "checks_passed", "too_fast"]].mean())
by = work.groupby("condition")
print(by[["masked_percent", "original_class_probability", "changed"]].mean().round(3))
print(work.pivot_table("masked_percent", "image_position", "condition", "median").round(1))
"""


@pytest.fixture(scope="module")
def app(start_server):
    """The app as `make run` serves it: static files collected first (whitenoise indexes
    them as it starts), then nginx in front of gunicorn."""
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=clean_env(),
        check=True,
        capture_output=True,
    )
    # The command signs its pilot links with its settings' key: the app's own, as on a server
    # where both read var/secret_key.
    return start_server(XAI_SECRET_KEY=settings.SECRET_KEY)


def study_bots(app_env, *args: str) -> subprocess.CompletedProcess:
    """The command as a researcher runs it: a process of its own (its Playwright must not
    share this one's event loop with the browser tests'), on the app's database and key."""
    env = {**clean_env(), **app_env, "XAI_SECRET_KEY": settings.SECRET_KEY}
    return subprocess.run(
        [sys.executable, "manage.py", "study_bots", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_the_example_study_passes_study_bots(app, app_env, gallery, tmp_path, capsys):
    call_command("load_study", str(EXAMPLE), stdout=io.StringIO())
    study = Study.objects.get(slug="masks-and-mugs")
    ran = study_bots(
        app_env, study.slug, "--participants", "2", "--url", app.url, "--timeout", "180"
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    said = ran.stdout
    with capsys.disabled():
        print("\n" + said)
    assert said.count("is finished, condition") == 2 and "2 pilot participant(s) finished" in said

    bots = Participant.objects.filter(study=study)
    assert bots.count() == 2 and all(p.pilot and p.finished_at for p in bots)
    # Balanced among pilots: one in each condition.
    assert sorted(bots.values_list("condition__name", flat=True)) == [
        "paint-only",
        "with-model-view",
    ]
    assert list(CheckAnswer.objects.values_list("passed", flat=True)) == [True, True]
    for bot in bots:
        masked = Round.objects.filter(exploration__participant=bot, index__gte=1, status="done")
        # the practice image and four images × 2 (min_rounds_per_image), the check once
        assert masked.count() == 11
    study.refresh_from_db()
    assert study.assignment_count == 0 and study.declined_count == 0

    path = tmp_path / "export.zip"
    with open(path, "wb") as f:
        write_study_zip(study, f)
    with zipfile.ZipFile(path) as archive:
        people = pandas.read_csv(archive.open("participants.csv"))
    assert set(people["pilot"]) == {1} and set(people["status"]) == {"finished"}
    capsys.readouterr()
    exec(ANALYSIS, {"path": path})  # noqa: S102  the documented analysis, as a reader runs it
    analysis = capsys.readouterr().out
    with capsys.disabled():
        print("\n" + analysis)
    assert "paint-only" in analysis and "with-model-view" in analysis


def test_study_bots_fail_loudly(gallery, app_env):
    call_command("load_study", str(EXAMPLE), stdout=io.StringIO())
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    ran = study_bots(app_env, "masks-and-mugs", "--participants", "1", "--url", nobody)
    assert ran.returncode != 0 and "study_bots failed: bot 1" in ran.stderr
    with pytest.raises(CommandError, match="No study"):
        call_command("study_bots", "nope", stdout=io.StringIO())
    with pytest.raises(CommandError, match="--participants"):
        call_command("study_bots", "masks-and-mugs", participants=0, stdout=io.StringIO())
