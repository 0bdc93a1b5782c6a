"""A study's export, built off the web: staff ask for it (one at a time per study), the exports
worker (export_tasks) writes the ZIP into the storage, and staff download it once it is ready.
An export holds participants' data, so it goes when one of them withdraws, and after
XAI_EXPORT_KEEP_HOURS."""

from __future__ import annotations

import logging
import tempfile
from datetime import timedelta

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone

from . import dispatch
from .models import Participant, Study, StudyExport
from .studies.export.archive import write_study_zip

log = logging.getLogger(__name__)

UNFINISHED = (StudyExport.Status.PENDING, StudyExport.Status.RUNNING)


def request_export(study: Study, requested_by: str) -> StudyExport:
    """The study's export on its way: the one already asked for, or a new one sent to the
    exports worker. An unfinished one older than its task's time limit was lost: asked anew."""
    lost_before = timezone.now() - timedelta(seconds=settings.XAI_EXPORT_TIME_LIMIT + 60)
    with transaction.atomic():
        Study.objects.select_for_update().filter(pk=study.pk).exists()  # one asker at a time
        unfinished = study.exports.filter(status__in=UNFINISHED)
        unfinished.filter(created_at__lt=lost_before).update(
            status=StudyExport.Status.FAILED, error="The export was lost (a worker stopped)."
        )
        export = unfinished.first()
        if export is None:
            export = StudyExport.objects.create(study=study, requested_by=requested_by)
            dispatch.enqueue_export(export.pk)
    return export


def build(export_id) -> None:
    """Write the export's ZIP into the storage (on the exports worker)."""
    claimed = StudyExport.objects.filter(pk=export_id, status=StudyExport.Status.PENDING).update(
        status=StudyExport.Status.RUNNING
    )
    if not claimed:
        return
    export = StudyExport.objects.select_related("study").get(pk=export_id)
    try:
        with tempfile.TemporaryFile() as archive:
            write_study_zip(export.study, archive)
            size = archive.tell()
            archive.seek(0)
            name = export.file.field.generate_filename(
                export, f"{export.study.slug}/{export.pk}.zip"
            )
            name = export.file.storage.save(name, File(archive))
    except Exception as exc:
        log.exception("export %s failed", export_id)
        fail(export_id, f"The export failed: {exc}")
        return
    finished = StudyExport.objects.filter(pk=export_id).update(
        status=StudyExport.Status.DONE, file=name, size=size, finished_at=timezone.now()
    )
    if not finished:  # deleted meanwhile (a withdrawal): its data must not stay
        export.file.storage.delete(name)


def fail(export_id, message: str) -> None:
    StudyExport.objects.filter(pk=export_id, status__in=UNFINISHED).update(
        status=StudyExport.Status.FAILED, error=message, finished_at=timezone.now()
    )


@receiver(post_delete, sender=Participant)
def _participant_deleted(sender, instance: Participant, **kwargs) -> None:
    """A withdrawal (or a deleted participant): the study's exports held their data."""
    StudyExport.objects.filter(study_id=instance.study_id).delete()
