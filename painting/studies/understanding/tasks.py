"""The understanding tests' one task: their material, computed in torch on the analysis worker
(its name keeps painting.tasks.*, which routes it there). dispatch sends it by name: only the
app's ready() (and Celery's CELERY_IMPORTS) import this module."""

from __future__ import annotations

from celery import shared_task

PREPARE_TASK = "painting.tasks.prepare_study_tests"


@shared_task(name=PREPARE_TASK)
def prepare_study_tests(study_id: str) -> None:
    """A study's understanding-test material, after its tests changed in admin."""
    from ...models import Study
    from .prepare import prepare  # torch: only in the worker that runs it

    study = Study.objects.filter(pk=study_id).first()
    if study is not None and study.tests:
        prepare(study)
