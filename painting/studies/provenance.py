"""What makes an export self-describing: the app's version, the models (and their weights'
sha256) that answered the study's rounds, and the bonus each participant earned, in the form
Prolific's bulk bonus takes."""

from __future__ import annotations

import functools
import subprocess
from decimal import Decimal
from importlib import metadata

from django.conf import settings
from django.db.models import Count, Q

from ..inference import registry
from ..models import Participant, Round, Study

PACKAGE = "interaction-as-explanation"


@functools.cache
def app_version() -> str:
    """`git describe` of the running code where it is a git checkout, else the installed
    package's version."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        described = ""
    if described:
        return f"git {described}"
    try:
        return f"package {metadata.version(PACKAGE)}"
    except metadata.PackageNotFoundError:
        return "unknown"


def models_of(study: Study) -> list[dict]:
    """Each model that answered the study's rounds, with the sha256 of the weights it ran
    with (as each round recorded it: a changed file shows as a second row)."""
    rows = (
        Round.objects.filter(exploration__participant__study=study)
        .exclude(weights_sha256="")
        .values_list("model_name", "weights_sha256")
        .distinct()
        .order_by("model_name", "weights_sha256")
    )
    return [
        {
            "model": name,
            "title": registry.title_of(name),
            "weights_sha256": sha,
            "preprocessing": registry.preprocessing_of(name),
        }
        for name, sha in rows
    ]


def manifest(study: Study, exported_at) -> dict:
    return {
        "study": study.slug,
        "exported_at": exported_at.isoformat(),
        "app_version": app_version(),
        "models": models_of(study),
    }


def readme_lines(study: Study) -> list[str]:
    lines = [
        "study.json: the study file as `manage.py dump_study` writes it (`load_study` reads it",
        "  back): consent, images, conditions and every setting, as they were at the export.",
        f"provenance.json: the app's version ({app_version()}), the export's time, and each",
        "  model that answered the study's rounds with its weights' sha256 and preprocessing.",
    ]
    if has_bonus_rule(study):
        lines += [
            "bonus.csv: external_id,amount per finished participant who earned a bonus (pilots",
            f"  left out): {bonus_rule(study)}. No header line: paste it as it is into",
            "  Prolific's bulk bonus (Submissions → Bulk bonus payments).",
        ]
    return lines


def has_bonus_rule(study: Study) -> bool:
    return bool(study.bonus_per_finished or study.bonus_per_passed_check)


def bonus_rule(study: Study) -> str:
    parts = []
    if study.bonus_per_finished:
        parts.append(f"{study.bonus_per_finished} for finishing")
    if study.bonus_per_passed_check:
        parts.append(f"{study.bonus_per_passed_check} per attention check passed")
    return " plus ".join(parts)


def bonuses(study: Study, consented_by) -> list[tuple[str, Decimal]]:
    """(external id, amount) of each finished participant (not a pilot) with a platform id
    whose bonus is above zero, by the study's rule."""
    finished = (
        Participant.objects.filter(
            study=study, pilot=False, finished_at__isnull=False, consented_at__lte=consented_by
        )
        .exclude(external_id="")
        .annotate(passed=Count("check_answers", filter=Q(check_answers__passed=True)))
        .order_by("finished_at")
    )
    per_finished = Decimal(study.bonus_per_finished)
    per_check = Decimal(study.bonus_per_passed_check)
    result = []
    for participant in finished:
        amount = per_finished + per_check * participant.passed
        if amount > 0:
            result.append((participant.external_id, amount.quantize(Decimal("0.01"))))
    return result
