"""Celery tasks: thin wrappers that hand a round id to the services."""

import contextlib

from celery import shared_task
from celery.signals import worker_process_init
from django.conf import settings

from . import classifier, services


@worker_process_init.connect
def _load_model_once(**_kwargs) -> None:
    """Each worker process sizes its thread pool and loads the model before the first round."""
    classifier.configure_torch(settings.XAI_TORCH_THREADS)
    # Without weights each round fails with the message that says how to install them.
    with contextlib.suppress(classifier.WeightsMissing):
        classifier.load_classifier(services.current_model_name()).warm_up()


@shared_task(name="painting.tasks.classify_round")
def classify_round(round_id: str) -> None:
    services.run_rounds(round_id, batch_size=settings.XAI_MAX_BATCH)
