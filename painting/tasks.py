"""Celery tasks: thin wrappers that hand an id to the pipeline or the model's view.

Only dispatch imports this module; a task that leads to another sends it from here."""

import contextlib
import logging
import os

from celery import shared_task
from celery.signals import worker_init, worker_process_init
from django.conf import settings

from . import backlog, costs, detect_rounds, model_view, pipeline
from .inference.registry import WeightsMissing, available_detectors, default_model_name

log = logging.getLogger(__name__)

# Redis queues' priorities are steps 0 (first) to 9: background work goes behind what a person
# asked for on the same queue.
BACKGROUND = 9

# Celery copies the sender's time limits into each message, and the worker obeys the message's
# before its own settings; sent without, every task runs under the limits of the worker that
# runs it (CELERY_TASK_SOFT_TIME_LIMIT / CELERY_TASK_TIME_LIMIT, from its environment).
NO_SENDER_LIMITS = {"time_limit": None, "soft_time_limit": None}


@worker_init.connect
def _import_the_model_code(**_kwargs) -> None:
    """The worker's main process imports torch and the runtimes once, before it forks: each pool
    process (a replacement too) starts with them. Web processes never import them, nor does the
    exports worker."""
    if settings.XAI_WORKER_LOADS_MODEL:
        import painting.inference.classifier  # noqa: F401


@worker_process_init.connect
def _load_model_once(**_kwargs) -> None:
    """Each worker process sizes its thread pool and loads the model before the first round."""
    if not settings.XAI_WORKER_LOADS_MODEL:
        return
    # run.sh starts the analysis worker lower, so that it yields the CPU to classification.
    os.nice(settings.XAI_WORKER_NICE)
    from .inference.classifier import configure_torch  # torch: in workers, not web processes

    configure_torch(settings.XAI_TORCH_THREADS)
    # Without weights each round fails with the message that says how to install them.
    with contextlib.suppress(WeightsMissing):
        model_name = default_model_name(settings.XAI_MODEL)
        if settings.XAI_BACKEND == "torch":
            model_view.gradient_model(model_name).warm_up()
        else:
            pipeline.inference_model(model_name).warm_up()
    # The object detector too, where it is installed (the detect task, D-RISE).
    if detectors := available_detectors():
        detect_rounds.inference_detector(detectors[0]).warm_up()


@shared_task(name="painting.tasks.classify_round", bind=True)
def classify_round(self, round_id: str) -> None:
    # Put back after its worker died (acks_late): the round is still marked running.
    redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
    answered = pipeline.run_rounds(
        round_id, batch_size=settings.XAI_MAX_BATCH, redelivered=redelivered
    )
    for exploration_id, client in answered:
        _send_quietly(compute_saliency, str(exploration_id), priority=costs.priority_of(client))
    # Its mask against the model's maps, off the hot path (it needs the mask, not the answer),
    # behind the work people asked for, and once at a time per exploration (it scores every
    # round that waited): a flood of rounds makes no flood of these.
    if model_view.first_to_score(round_id):
        _send_quietly(score_alignment, round_id, priority=BACKGROUND)


def _send_quietly(task, *args, **options) -> None:
    """Follow-up work that the answer does not need: a broker failure only loses the extra."""
    try:
        task.apply_async(args, **NO_SENDER_LIMITS, **options)
    except Exception:
        log.exception("could not send %s%s", task.name, args)


@shared_task(name="painting.tasks.segment_picture")
def segment_picture(picture_id: str) -> None:
    pipeline.segment_picture(picture_id)


@shared_task(name="painting.tasks.analyse_round")
def analyse_round(round_id: str) -> None:
    with backlog.running(backlog.analysis_job(round_id)):
        model_view.analyse_round(round_id)


@shared_task(name="painting.tasks.compute_saliency")
def compute_saliency(exploration_id: str) -> None:
    model_view.compute_saliency(exploration_id)


@shared_task(name="painting.tasks.compute_explanation")
def compute_explanation(exploration_id: str, method: str) -> None:
    with backlog.running(backlog.explanation_job(exploration_id, method)):
        model_view.compute_explanation(exploration_id, method)


@shared_task(name="painting.tasks.score_alignment")
def score_alignment(round_id: str) -> None:
    model_view.score_alignment(round_id)
