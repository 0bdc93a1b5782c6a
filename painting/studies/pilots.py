"""Pilot participants: a study tried before launch, by staff ("Preview as a participant") or
by `manage.py study_bots`, through the real pages.

A pilot link is the study link with ?pilot=TOKEN, a token signed with the secret key
(django.core.signing), so nobody makes one without staff rights or the server's settings, and
no staff credentials travel on a command line. The token names the study and a random nonce:
the participant it makes has the external id PILOT-<nonce>, so the link makes one pilot
participant, once (the same browser resumes it; another browser is refused). A pilot is marked
`pilot` everywhere: left out of the condition balance, the quotas, the per-address count and
the dashboard's counts (unless asked), and flagged in every exported file."""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from django.core import signing
from django.db.models import QuerySet
from django.urls import reverse

from ..models import Participant, Study

SALT = "painting.pilots"
MAX_AGE_S = 24 * 3600  # a pilot link is for today's try, not for sharing
PARAMETER = "pilot"
ID_PREFIX = "PILOT-"


class BadPilotLink(Exception):
    message = (
        "This pilot link is not valid (it is for another study, altered, or older than a day). "
        "Staff: make a new one with “Preview as a participant”."
    )


class UsedPilotLink(Exception):
    message = (
        "This pilot link has been used in another browser: each makes one pilot participant. "
        "Staff: make a new one with “Preview as a participant”."
    )


def token_for(study: Study) -> str:
    return signing.dumps({"s": study.pk, "n": secrets.token_hex(8)}, salt=SALT)


def link_for(study: Study) -> str:
    """A new one-time pilot link (a path: prefix the site's address)."""
    path = reverse("painting:study", args=[study.slug])
    return f"{path}?{urlencode({PARAMETER: token_for(study)})}"


def external_id_of(study: Study, token: str) -> str:
    """The pilot participant's external id that this token makes; BadPilotLink if the token
    is not one this server signed for this study in the last day."""
    try:
        data = signing.loads(token[:500], salt=SALT, max_age=MAX_AGE_S)
    except signing.BadSignature as exc:  # SignatureExpired included
        raise BadPilotLink from exc
    if not isinstance(data, dict) or data.get("s") != study.pk:
        raise BadPilotLink
    nonce = data.get("n")
    if not isinstance(nonce, str) or not nonce.isalnum():
        raise BadPilotLink
    return ID_PREFIX + nonce


def pilot_of(study: Study, external_id: str, visitor: str) -> Participant | None:
    """The pilot participant this link made, if it made one already: only the browser that
    used it goes on with it (UsedPilotLink for another)."""
    existing = Participant.objects.filter(study=study, external_id=external_id, pilot=True).first()
    if existing is not None and existing.visitor != visitor:
        raise UsedPilotLink
    return existing


def pilots_of(studies: QuerySet[Study]) -> QuerySet[Participant]:
    return Participant.objects.filter(study__in=studies, pilot=True)
