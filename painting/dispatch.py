"""Sending work to the Celery workers: the only module that imports the tasks.

Each job goes out when the transaction that created it commits, so a worker never looks for a
row that is not there yet. A broker that cannot be reached fails the work with a message the
person can act on; the saved rows stay."""

from __future__ import annotations

import logging
from functools import partial

from celery import current_app
from django.db import transaction

from . import backlog, notify, timing
from .models import Round, StudyExport
from .tasks import (
    NO_SENDER_LIMITS,
    analyse_round,
    classify_round,
    compute_explanation,
    compute_saliency,
    segment_picture,
)

log = logging.getLogger(__name__)

QUEUE_DOWN_MESSAGE = (
    "The classifier queue could not be reached, so this round was not classified. "
    "Your mask is saved: press Retry in a moment."
)
ANALYSIS_QUEUE_DOWN_MESSAGE = "The classifier queue could not be reached. Try again in a moment."
EXPORT_QUEUE_DOWN_MESSAGE = "The exports queue could not be reached. Ask again in a moment."


def enqueue_round(round_id) -> None:
    """Classify the round once the current transaction commits."""
    transaction.on_commit(partial(_send, classify_round, round_id, _fail_round))


def enqueue_saliency(exploration_id) -> None:
    """Compute the model's view of an exploration; the answer stands without it."""
    transaction.on_commit(partial(_send, compute_saliency, exploration_id, None))


def enqueue_explanation(exploration_id, method: str) -> None:
    """Compute one more explanation method of an exploration; nothing fails without it."""
    on_failure = partial(_release_explanation, method=method)
    transaction.on_commit(partial(_send, compute_explanation, exploration_id, on_failure, method))


def enqueue_test_material(study_id) -> None:
    """Prepare a study's understanding tests anew (its trial pages wait for it), by the task's
    name: painting/studies/understanding/tasks.py imports this module's callers."""
    task = current_app.signature("painting.tasks.prepare_study_tests")
    transaction.on_commit(partial(_send, task, study_id, None))


def enqueue_analysis(round_id) -> None:
    """Analyse a finished round (other fills, deletion curves)."""
    transaction.on_commit(partial(_send, analyse_round, round_id, _fail_analysis))


def enqueue_segments(picture_id, priority: int = 0) -> None:
    """Compute an uploaded picture's Region map (SLIC); the page asks again if this is lost.
    priority: costs.priority_of the uploader's address."""
    send = partial(_send, segment_picture, picture_id, None, priority=priority)
    transaction.on_commit(send)


def enqueue_export(export_id) -> None:
    """Build a study's export on the exports worker (by the task's name: painting.export_tasks
    imports this module's callers, so this module does not import it)."""
    task = current_app.signature("painting.export_tasks.build_export")
    transaction.on_commit(partial(_send, task, export_id, _fail_export))


def _send(task, object_id, on_failure, *more, **options) -> None:
    try:
        with timing.stage("publish"):
            task.apply_async((str(object_id), *more), **NO_SENDER_LIMITS, **options)
    except Exception:  # any failure to publish (broker down, DNS, auth)
        log.exception("could not dispatch %s for %s", task.name, object_id)
        if on_failure is not None:
            on_failure(object_id)


def _fail_round(round_id) -> None:
    Round.objects.filter(pk=round_id).fail(QUEUE_DOWN_MESSAGE)
    notify.publish(round_id)


def _release_explanation(exploration_id, method: str) -> None:
    backlog.release(backlog.explanation_job(exploration_id, method))


def _fail_analysis(round_id) -> None:
    backlog.release(backlog.analysis_job(round_id))
    Round.objects.filter(pk=round_id).update(
        analysis_status=Round.AnalysisStatus.FAILED,
        analysis={"error": ANALYSIS_QUEUE_DOWN_MESSAGE},
    )


def _fail_export(export_id) -> None:
    StudyExport.objects.filter(pk=export_id).update(
        status=StudyExport.Status.FAILED, error=EXPORT_QUEUE_DOWN_MESSAGE
    )
