"""Stored files go with their rows: when a round, an exploration or a picture is deleted (alone,
in a queryset or by a cascade: Django sends post_delete for each), its files are deleted once
the deletion commits, so a rolled-back deletion keeps them.

Every file of an exploration lives in its own folders (`Exploration.folders`), which go with
it, so a file the worker wrote while the rows were being deleted goes too; the worker itself
drops a result whose row has vanished (pipeline, model_view). Round 0 points at its picture's
files, which stay until the Picture row itself is deleted."""

from __future__ import annotations

import logging
from functools import partial

from django.core.files.storage import Storage
from django.db import transaction
from django.db.models import Q
from django.db.models.signals import post_delete
from django.dispatch import receiver

from .models import Exploration, Picture, Round, StudyExport
from .storage import delete_folder

log = logging.getLogger(__name__)


@receiver(post_delete, sender=Round)
def _round_deleted(sender, instance: Round, using: str, **kwargs) -> None:
    fields = [getattr(instance, name) for name in Round.FILE_FIELDS]
    names = [f.name for f in fields if f and not f.name.startswith(Picture.FOLDER)]
    if names:
        _after_commit(using, partial(_delete, instance.mask.storage, names))


@receiver(post_delete, sender=Exploration)
def _exploration_deleted(sender, instance: Exploration, using: str, **kwargs) -> None:
    storage = instance.saliency.storage
    names = [instance.saliency.name] if instance.saliency else []
    _after_commit(using, partial(_delete, storage, names, folders=instance.folders))


@receiver(post_delete, sender=Picture)
def _picture_deleted(sender, instance: Picture, using: str, **kwargs) -> None:
    names = [f.name for f in (instance.file, instance.thumbnail, instance.segments) if f]
    _after_commit(using, partial(_delete_unless_shared, instance.file.storage, names))


@receiver(post_delete, sender=StudyExport)
def _export_deleted(sender, instance: StudyExport, using: str, **kwargs) -> None:
    if instance.file:
        _after_commit(using, partial(_delete, instance.file.storage, [instance.file.name]))


def _after_commit(using: str, delete) -> None:
    # robust: a storage error is logged; it must not turn a committed deletion into a 500.
    transaction.on_commit(delete, using=using, robust=True)


def _delete(storage: Storage, names: list[str], folders: list[str] = ()) -> None:
    for name in names:
        storage.delete(name)
    for folder in folders:
        delete_folder(storage, folder)


def _delete_unless_shared(storage: Storage, names: list[str]) -> None:
    """A picture's files, unless another picture row names the same file."""
    shared = Picture.objects.filter(
        Q(file__in=names) | Q(thumbnail__in=names) | Q(segments__in=names)
    )
    kept = {name for row in shared.values_list("file", "thumbnail", "segments") for name in row}
    _delete(storage, [name for name in names if name not in kept])
