"""Where media live is a setting (settings.STORAGES, chosen by XAI_STORAGE); everything else
reads and writes them through Django's storage API (open, save, delete, exists, listdir), so a
worker on another machine needs only the same settings. The few things a storage API does not
say the same way for every backend are here, and nowhere else:

- serving a file: streamed through the view that checked its owner, or (XAI_MEDIA_SIGNED_URLS)
  a redirect to a short-lived signed URL of the bucket, which is never public;
- removing an emptied folder (only the local folder has folders);
- listing every stored file with its age, for the purge of orphans;
- telling whether the storage is reachable, for /healthz."""

from __future__ import annotations

import contextlib
import errno
import mimetypes
import os
import shutil
from collections.abc import Iterator
from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks
from django.core.files.storage import FileSystemStorage, Storage, default_storage
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect

# What is served under one URL never changes; only its owner (and staff) may keep it.
IMMUTABLE = "private, max-age=31536000, immutable"


def immutable(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = IMMUTABLE
    return response


def serve(field: FieldFile, content_type: str | None = None, *, same_origin: bool = False):
    """The stored file of a row whose owner the view has checked. With signed URLs, a redirect
    to one, unless the page's scripts read the file's pixels (`same_origin`: a canvas may not
    read an image from another origin); otherwise the file streamed from the storage."""
    if not field:
        raise Http404
    if settings.XAI_MEDIA_SIGNED_URLS and not same_origin:
        response = HttpResponseRedirect(field.storage.url(field.name))
        # The browser may reuse the redirect while the URL it names is still valid.
        response["Cache-Control"] = f"private, max-age={settings.XAI_MEDIA_URL_SECONDS // 2}"
        return response
    try:
        file = field.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    content_type = content_type or mimetypes.guess_type(field.name)[0]
    return immutable(FileResponse(file, content_type=content_type))


def delete_folder(storage: Storage, folder: str) -> None:
    """Delete every file directly in `folder`, and the folder itself where folders exist."""
    try:
        _subfolders, names = storage.listdir(folder)
    except FileNotFoundError:
        return
    for name in names:
        storage.delete(f"{folder}/{name}")
    if isinstance(storage, FileSystemStorage):
        # An empty local folder would still be named after the exploration.
        with contextlib.suppress(OSError):
            os.rmdir(storage.path(folder))


def stored_files(storage: Storage = default_storage) -> Iterator[tuple[str, datetime]]:
    """Every stored file's name and when it was last written."""
    s3 = _s3_storage(storage)
    if s3 is not None:
        # One listing of the bucket gives each object's time; listdir would ask once per
        # folder and get_modified_time once per file.
        prefix = f"{s3.location}/" if s3.location else ""
        for summary in s3.bucket.objects.filter(Prefix=prefix):
            yield summary.key[len(prefix) :], summary.last_modified
        return
    yield from _walk(storage, "")


def _walk(storage: Storage, folder: str) -> Iterator[tuple[str, datetime]]:
    directories, files = storage.listdir(folder)
    for name in files:
        yield f"{folder}{name}", storage.get_modified_time(f"{folder}{name}")
    for directory in directories:
        yield from _walk(storage, f"{folder}{directory}/")


class LocalStorage(FileSystemStorage):
    """The local folder, refusing a write that would not fit before creating its file: a full
    disk leaves no half-written file behind (ENOSPC, which the views answer with 507)."""

    def _save(self, name, content):
        os.makedirs(self.location, exist_ok=True)
        if shutil.disk_usage(self.location).free < content.size + settings.XAI_MIN_FREE_BYTES:
            raise OSError(errno.ENOSPC, "No space left on device", self.path(name))
        return super()._save(name, content)


def check_reachable(storage: Storage = default_storage) -> None:
    """Raise unless files can be stored: a file written to (and deleted from) the local folder,
    the bucket answers."""
    if isinstance(storage, FileSystemStorage):
        # Made on the first write; a fresh deployment is healthy before its first upload.
        os.makedirs(storage.location, exist_ok=True)
        probe = os.path.join(storage.location, f".healthz-{os.getpid()}")
        try:
            with open(probe, "wb") as f:
                f.write(b"\0" * 4096)
            if shutil.disk_usage(storage.location).free < settings.XAI_MIN_FREE_BYTES:
                raise OSError(errno.ENOSPC, "less free space than XAI_MIN_FREE_BYTES", probe)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(probe)
        return
    s3 = _s3_storage(storage)
    if s3 is not None:
        s3.connection.meta.client.head_bucket(Bucket=s3.bucket_name)
    else:
        storage.exists("healthz")  # any other backend: it answers (or raises)


def _s3_storage(storage: Storage):
    """The storage if it is django-storages' S3 backend (default_storage, a lazy object, tells
    its class through __class__), else None."""
    return storage if storage.__class__.__module__ == "storages.backends.s3" else None


@checks.register(checks.Tags.security)
def signed_urls_are_allowed_images(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """A redirect to a signed URL shows an image only if the page's policy allows its origin."""
    if not settings.XAI_MEDIA_SIGNED_URLS:
        return []
    try:
        parts = urlsplit(default_storage.url("check.png"))
    except Exception as exc:
        return [checks.Error(f"The media storage cannot sign URLs: {exc}", id="painting.E001")]
    origin = f"{parts.scheme}://{parts.netloc}"
    allowed = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["img-src"]
    if origin in allowed:
        return []
    return [
        checks.Error(
            f"Signed media URLs point at {origin}, which the page's img-src does not allow: "
            "browsers would show no image.",
            hint=f"Set XAI_MEDIA_ORIGIN={origin}.",
            id="painting.E002",
        )
    ]
