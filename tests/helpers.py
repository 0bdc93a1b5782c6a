"""Small helpers for view tests: start an exploration the way a browser does."""

from __future__ import annotations

from contextlib import nullcontext

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from painting.models import Exploration

HTMX = {"HX-Request": "true"}


def start(client, picture, capture=None, **data) -> Exploration:
    """Pick a picture in the gallery. With `capture` (the on_commit fixture) the commit
    callbacks run as the request ends; without, the commit is real (transactional tests)."""
    with capture(execute=True) if capture else nullcontext():
        response = client.post(reverse("painting:explore-picture", args=[picture.pk]), data)
    assert response.status_code == 302, response.content[:500]
    return Exploration.objects.get(pk=response.url.strip("/").split("/")[-1])


def mask_upload(data: bytes, name: str = "mask.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="image/png")


def classify(client, exploration, capture, mask: bytes, *, fill="mean", strokes="[]", htmx=True):
    with capture(execute=True) if capture else nullcontext():
        return client.post(
            reverse("painting:classify", args=[exploration.pk]),
            {"mask": mask_upload(mask), "fill": fill, "strokes": strokes},
            headers=HTMX if htmx else {},
        )
