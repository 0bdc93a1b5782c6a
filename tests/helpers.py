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


def make_study(gallery, *, slugs=("coffee", "chelsea"), ask_prediction=False, question=""):
    from painting.models import Study, StudyImage

    study = Study.objects.create(
        name="Masks and mugs",
        slug="masks",
        consent_text="We record how you paint. Data is anonymous.",
        consent_version="2026-11",
        instructions="Paint what you think does not matter.",
        ask_prediction=ask_prediction,
        closing_question=question,
    )
    for position, slug in enumerate(slugs):
        StudyImage.objects.create(study=study, picture=gallery[slug], position=position)
    return study


def join_study(client, study, capture, pid="") -> None:
    """Consent, as a participant's browser does."""
    with capture(execute=True) if capture else nullcontext():
        response = client.post(f"/study/{study.slug}/consent/", {"agree": "1", "pid": pid})
    assert response.status_code == 302, response.content[:300]


def study_step(client, study, step: int, capture) -> Exploration:
    with capture(execute=True) if capture else nullcontext():
        response = client.get(f"/study/{study.slug}/step/{step}/")
    assert response.status_code == 302
    return Exploration.objects.get(pk=response.url.strip("/").split("/")[-1])
