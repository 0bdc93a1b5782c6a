"""Time and peak memory of a study export with heavy brush logs.

    .venv/bin/python benchmarks/export_memory.py [--rounds 58] [--mb 1.9]

Builds a throwaway database and media folder (under a temporary directory) holding one study
with one participant whose rounds each carry a brush log of about --mb megabytes of JSON and a
mask, then runs `manage.py export_study` in a fresh process and reports its wall and CPU time
and how far its peak resident memory rose during the export (Linux: VmHWM, reset before it).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

EXPORT = """
import io, json, sys, time
import django
django.setup()
from django.core.management import call_command
from painting.management.commands import export_study  # noqa: F401  imported before measuring
from painting.models import Study
Study.objects.count()
def kilobytes(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # the peak (VmHWM) starts again from the current size
before = kilobytes("VmRSS")
started, cpu = time.perf_counter(), time.process_time()
call_command("export_study", sys.argv[1], sys.argv[2], stdout=io.StringIO())
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
growth = kilobytes("VmHWM") - before
print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_growth_mb": growth / 1024}))
"""


def brush_log(megabytes: float) -> list:
    """Strokes like the canvas sends: points [x, y, ms], about `megabytes` of JSON."""
    strokes, size = [], 2
    while size < megabytes * 1e6:
        strokes.append(_stroke(len(strokes), 500))
        size += len(json.dumps(strokes[-1])) + 2
    return strokes


def _stroke(i: int, points: int) -> dict:
    return {
        "type": "stroke",
        "tool": "paint",
        "size": 24,
        "pointer": "pen",
        "points": [[(i * 7 + p) % 600, (i * 3 + p) % 400, i * 1000 + p * 8] for p in range(points)],
        "t": i * 1000,
    }


def build(rounds: int, megabytes: float) -> str:
    """The study's data in the database named by the environment; returns its slug."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("load_gallery", stdout=io.StringIO())
    from django.core.files.base import ContentFile

    from painting.models import Exploration, Participant, Picture, Round, Study, StudyImage
    from tests.helpers import mask_png  # the same masks the tests use

    picture = Picture.objects.get(slug="coffee")
    study = Study.objects.create(name="Heavy", slug="heavy", consent_text="ok")
    StudyImage.objects.create(study=study, picture=picture)
    participant = Participant.objects.create(study=study, code="HEAVY001", consent_version="1")
    exploration = Exploration.objects.create(
        visitor="bench", picture=picture, model_name="efficientnet-lite2", participant=participant
    )
    strokes = brush_log(megabytes)
    print(f"brush log per round: {len(json.dumps(strokes)) / 1e6:.2f} MB", flush=True)
    for index in range(rounds):
        round_ = Round(
            exploration=exploration,
            index=index,
            fill="mean",
            status=Round.Status.DONE,
            strokes=strokes,
            top=[{"index": 967, "label": "espresso", "probability": 0.5}],
        )
        if index:
            box = (0, 0, 10 + index * 5, 10 + index * 3)
            mask = ContentFile(mask_png((600, 400), box))
            round_.mask.save(f"{exploration.pk}/{index}-mask.png", mask, save=False)
        round_.save()
    return study.slug


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=58)
    parser.add_argument("--mb", type=float, default=1.9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "xaiproject.settings",
            "XAI_VAR_DIR": tmp,
            "XAI_DB_PATH": f"{tmp}/db.sqlite3",
            "XAI_MEDIA_ROOT": f"{tmp}/media",
        }
        os.environ.update(env)
        sys.path.insert(0, str(ROOT))
        slug = build(args.rounds, args.mb)
        out = f"{tmp}/export.zip"
        result = subprocess.run(
            [sys.executable, "-c", EXPORT, slug, out],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        figures = json.loads(result.stdout.strip().splitlines()[-1])
        size = Path(out).stat().st_size / 1e6
        print(
            f"{args.rounds} rounds × {args.mb} MB brush logs: export {figures['seconds']:.1f} s "
            f"({figures['cpu']:.1f} s CPU), "
            f"peak memory +{figures['peak_growth_mb']:.0f} MB, ZIP {size:.1f} MB"
        )


if __name__ == "__main__":
    main()
