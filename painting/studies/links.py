"""The recruiting platform's side of a study: the participant id its link carries (or its
unfilled placeholder), and where it wants people sent at the end, with its code."""

from __future__ import annotations

from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from ..models import (
    Study,
)


class NoId(Exception):
    """The link carries no participant id, or the platform's placeholder instead of one (a test
    link), and the study does not allow_missing_id: refused, nothing stored."""

    missing = (
        "This link carries no participant id (PROLIFIC_PID), so your answers could not be "
        "matched to you. Please open the study from the link on the platform you came from."
    )
    placeholder = (
        "This link carries the platform's placeholder {{%PROLIFIC_PID%}} instead of a "
        "participant id: it is a test link. Please open the study from the link on the "
        "platform you came from."
    )

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


def is_placeholder(value: str) -> bool:
    """A platform's unfilled placeholder, e.g. Prolific's {{%PROLIFIC_PID%}}."""
    return "{{%" in value or "%}}" in value


def link_id(study: Study, external_id: str) -> str:
    """The participant id the link gives: "" (a generated one follows at consent) where the
    study allows none, else NoId for a missing id or a placeholder."""
    if external_id and not is_placeholder(external_id):
        return external_id
    if study.allow_missing_id:
        return ""
    raise NoId(NoId.placeholder if external_id else NoId.missing)


def with_code(url: str, code: str) -> str:
    """The URL with the code: in place of {code}, else as ?cc=CODE (Prolific's parameter)."""
    if "{code}" in url:
        return url.replace("{code}", quote(code, safe=""))
    if not code:
        return url
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode({"cc": code})) if q)
    return urlunsplit(parts._replace(query=query))


def completion_url(study: Study) -> str:
    return with_code(study.completion_url, study.completion_code) if study.completion_url else ""


def screened_out_url(study: Study) -> str:
    if not study.screened_out_url:
        return ""
    return with_code(study.screened_out_url, study.screened_out_code)
