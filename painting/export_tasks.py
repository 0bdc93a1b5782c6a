"""The exports worker's one task (queue "exports"): its own process, so that a long export never
waits behind, nor holds up, a person's Classify or model's view. It loads no model
(XAI_WORKER_LOADS_MODEL=0 in run.sh). dispatch sends it by name: only the app's ready() (and
Celery's CELERY_IMPORTS) import this module."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from . import export_jobs

EXPORT_TASK = "painting.export_tasks.build_export"


@shared_task(
    name=EXPORT_TASK,
    soft_time_limit=settings.XAI_EXPORT_TIME_LIMIT,
    time_limit=settings.XAI_EXPORT_TIME_LIMIT + 30,
)
def build_export(export_id: str) -> None:
    export_jobs.build(export_id)
