"""JSON that strangers send, read once the same way for every field that stores it: bounded in
nesting before it is parsed, numbers finite, and every string storable (no NUL, no lone
surrogate) on SQLite and PostgreSQL alike and in every export."""

from __future__ import annotations

import json
import math
import re

import numpy as np

# A string, to its closing quote or the end of the text: one pass, no character looked at twice.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class Unreadable(ValueError):
    """The text is not JSON this app stores; the message says why, in the sender's words."""


def parse(text: str, what: str, max_nesting: int):
    """The value of a JSON text that names `what` (“The brush log”) in its errors."""
    # Before parsing: json.loads recurses once a level (RecursionError past about a thousand),
    # and so does storing it.
    if nesting(text) > max_nesting:
        raise Unreadable(f"{what} is nested more than {max_nesting} levels deep.")
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite)
    except _TooLarge as exc:
        raise Unreadable(f"{what} holds a number too large to store.") from exc
    except ValueError as exc:  # JSONDecodeError, and NaN or Infinity, which JSON lacks
        raise Unreadable(f"{what} is not valid JSON.") from exc
    if problem := unstorable(value):
        raise Unreadable(f"{what} {problem}.")
    return value


def arrays(text: str) -> int:
    """How many arrays a JSON text holds: its [ outside strings. Without escapes, the text
    split at its quotes alternates outside and inside strings (C speed: a few ms for 2 MB)."""
    if "\\" in text:
        return _JSON_STRING.sub("", text).count("[")
    return sum(outside.count("[") for outside in text.split('"')[::2])


def nesting(text: str) -> int:
    """How deep a JSON text nests, counted without recursing (and brackets in strings not)."""
    brackets = np.frombuffer(_NOT_BRACKET.sub("", _JSON_STRING.sub("", text)).encode(), np.uint8)
    opening = (brackets == ord("[")) | (brackets == ord("{"))
    return int(np.cumsum(np.where(opening, 1, -1)).max(initial=0))


def unstorable(value) -> str | None:
    """Why a decoded value cannot be stored, or None. U+0000: PostgreSQL's jsonb and text refuse
    it (SQLite takes it); a lone surrogate (\\ud800 in JSON) is no Unicode text at all, and
    encoding it to UTF-8 fails every CSV and page that shows it. Walked without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "contains a NUL character (\\u0000)"
            if _LONE_SURROGATE.search(item):
                return "contains a lone surrogate (\\ud800–\\udfff), which is not text"
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
    return None


class _TooLarge(Exception):  # not a ValueError: json.loads would call it invalid JSON
    pass


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    """1e999 is valid JSON but an infinite float, which the database would refuse to store."""
    number = float(text)
    if not math.isfinite(number):
        raise _TooLarge(text)
    return number
