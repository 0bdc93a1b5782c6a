"""The export's rows: where each exploration's image stood in its participant's order, and
each CSV row and events line built from a round, an image, an event or a quiz try, cleaned of
what a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import itertools
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from ... import review
from ...inference import registry
from ...models import (
    Exploration,
    Participant,
    QuizAttempt,
    Round,
    Study,
    StudyImage,
)
from .. import dashboard, queries
from .columns import SCORE_COLUMNS


@dataclass(frozen=True)
class StepPlace:
    """Where an exploration's image stood in its participant's study, and how long they spent
    on it (None: unknown, or still going on)."""

    practice: bool = False
    check: bool = False
    step: int | None = None
    position: int | None = None
    seconds: float | None = None


def step_places(study: Study, participants: list[Participant], entries: list[StudyImage]) -> dict:
    """Each exploration's StepPlace (its time on the image as dashboard.step_times says)."""
    by_picture = {e.picture_id: e for e in entries}
    consented = Participant.objects.filter(pk__in=[p.pk for p in participants])
    times = dashboard.step_times(consented)
    rows = Exploration.objects.filter(participant__in=consented).values_list(
        "pk", "participant_id", "picture_id"
    )
    steps_of = {}
    for participant in participants:
        order = queries.order_of(entries, participant.order_seed)
        steps_of[participant.pk] = {e.picture_id: n for n, e in enumerate(order, 1)}
    places = {}
    for pk, participant_id, picture_id in rows:
        entry = by_picture.get(picture_id)
        seconds = times.get(pk)
        places[pk] = StepPlace(
            practice=bool(entry and entry.is_practice),
            check=bool(entry and entry.is_attention_check),
            step=steps_of[participant_id].get(picture_id),
            position=entry.position if entry else None,
            seconds=round(seconds, 3) if seconds is not None else None,
        )
    return places


def participant_keys(participant: Participant) -> dict:
    return {
        "external_id": participant.external_id,
        "platform_study_id": participant.platform_study_id,
        "platform_session_id": participant.platform_session_id,
        "condition": participant.condition.name if participant.condition else "",
        "pilot": int(participant.pilot),
    }


def iso(value) -> str:
    return value.isoformat() if value else ""


def num(value):
    """A number as CSV writes it, None as empty (pandas reads NaN): never 0 turned into ""."""
    return "" if value is None else value


def _ms(later, earlier):
    return round((later - earlier).total_seconds() * 1000, 1) if later and earlier else ""


def inert(value):
    """Participants' text must not run as a formula when a spreadsheet opens the CSV."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_writer(text: IO[str], columns: dict) -> csv.DictWriter:
    writer = csv.DictWriter(text, fieldnames=list(columns))
    writer.writeheader()
    return writer


def round_row(
    study: Study,
    round_: Round,
    original: Round | None,
    previous: Round | None,
    mask_file: str,
    place: StepPlace,
) -> dict:
    exploration = round_.exploration
    original_top = original.top[0] if original and original.top else None
    return {
        "study": study.slug,
        "participant": exploration.participant.code,
        **participant_keys(exploration.participant),
        "exploration": exploration.pk,
        "practice": int(place.practice),
        "attention_check": int(place.check),
        "step": num(place.step),
        "image_position": num(place.position),
        "image_id": exploration.picture_id,
        "image_sha256": exploration.picture.sha256,
        "model": round_.model_name,
        "weights_sha256": round_.weights_sha256,
        "preprocessing": registry.preprocessing_of(round_.model_name),
        "fill": round_.fill,
        "round_index": round_.index,
        "masked_percent": round(round_.masked_fraction * 100, 3),
        "top5": json.dumps(round_.top),
        "top1_label": round_.top[0]["label"] if round_.top else "",
        "top1_probability": round_.top[0]["probability"] if round_.top else "",
        "original_class": original_top["label"] if original_top else "",
        "original_class_probability": round_.probability_of(original_top["index"])
        if original_top and round_.probabilities is not None
        else "",
        "prediction": round_.prediction,
        "live": int(round_.live),
        **_edit_columns(round_),
        "step_started_at": iso(exploration.created_at),
        "ms_since_step_start": _ms(round_.created_at, exploration.created_at),
        "ms_since_previous_round": _ms(round_.created_at, previous and previous.created_at),
        "time_on_step_s": num(place.seconds),
        "too_fast": num(queries.too_fast(study, place.seconds)),
        "client_latency_ms": num(round_.client_latency_ms),
        "server_latency_ms": round(round_.server_ms, 1) if round_.finished_at else "",
        "queue_ms": _ms(round_.started_at, round_.created_at),
        "inference_ms": num(round_.inference_ms),
        "batch_size": num(round_.batch_size),
        "status": round_.status,
        "error": round_.error,
        "created_at": iso(round_.created_at),
        "finished_at": iso(round_.finished_at),
        "mask_file": mask_file,
        "kept_important": num(round_.kept_important),
        "kept_iou": num(round_.kept_iou),
        "explanation_shown": queries.shown_to(exploration.participant).explanation,
        **_rise_columns(round_.rise),
    }


def _rise_columns(rise: dict | None) -> dict:
    rise = rise or {}
    columns = {"rise_method": rise.get("method", "")}
    for who in ("person", "heatmap"):
        for curve in ("deletion", "insertion"):
            columns[f"{curve}_auc_{who}"] = num(rise.get(who, {}).get(f"{curve}_auc"))
    return columns


def alignment_rows(study: Study, round_: Round, place: StepPlace) -> Iterator[dict]:
    """alignment.csv's rows of a round: its exploration's (with round 0) and its own."""
    exploration = round_.exploration
    head = {
        "study": study.slug,
        "participant": exploration.participant.code,
        "pilot": int(exploration.participant.pilot),
        "exploration": exploration.pk,
        "practice": int(place.practice),
        "image_id": exploration.picture_id,
        "model": exploration.model_name,
    }
    levels = [("round", round_.index, round_.alignment)]
    if round_.index == 0:
        levels = [("exploration", "", exploration.alignment)]
    for level, index, scores in levels:
        for row in review.alignment_rows(scores):
            yield {
                **head,
                "level": level,
                "round_index": index,
                "method": row.method,
                **{k: num(getattr(row, k)) for k in SCORE_COLUMNS},
            }


def image_rows(study: Study, consented_by) -> Iterator[dict]:
    """images.csv: each image of the study against each model's maps, over the participants
    who had consented when the export began."""
    explorations = Exploration.objects.filter(
        participant__study=study, participant__consented_at__lte=consented_by
    )
    pools = [(0, explorations.filter(participant__pilot=False))]
    if explorations.filter(participant__pilot=True).exists():
        pools.append((1, explorations.filter(participant__pilot=True)))
    for entry, (pilot, pool) in itertools.product(
        queries.steps_of(study).select_related("picture"), pools
    ):
        for result in review.image_alignment(entry.picture, pool):
            for row in result.rows:
                yield {
                    "study": study.slug,
                    "pilot": pilot,
                    "image_id": entry.picture_id,
                    "image_title": entry.picture.title,
                    "model": result.model_name,
                    "method": row.method,
                    "people": result.people,
                    "human_ceiling": num(result.ceiling),
                    "alignment_score": num(row.score),
                    **{k: num(getattr(row, k)) for k in SCORE_COLUMNS},
                }


def _text(event: dict, key: str) -> str:
    value = event.get(key)
    return value if isinstance(value, str) else ""


def _number(value):
    """A number from the browser's log, or empty for anything else (booleans included)."""
    return value if isinstance(value, int | float) and not isinstance(value, bool) else ""


def _point(points, at: int) -> list:
    if not isinstance(points, list) or not points:
        return []
    point = points[at]
    return point if isinstance(point, list) else []


def _edit_columns(round_: Round) -> dict:
    """The crop's numbers (empty when not cropped), the flips as 0/1, the rotation."""
    fields = round_.edits.as_fields()
    return {k: num(v) if k.startswith("crop_") else int(v) for k, v in fields.items()}


def _event_rows(head: dict, events) -> Iterator[dict]:
    """The brush log as flat rows: anything the browser put in it that is not an event of a
    known shape still gets its row, with what could be read of it."""
    for index, event in enumerate(events if isinstance(events, list) else []):
        event = event if isinstance(event, dict) else {}
        points = event.get("points")
        first, last = _point(points, 0), _point(points, -1)
        yield {
            **head,
            "event_index": index,
            "type": _text(event, "type"),
            "t": _number(event.get("t")),
            "sent_on_leave": int(event.get("sent") == "leave"),
            "tool": _text(event, "tool"),
            "size": _number(event.get("size")),
            "pointer": _text(event, "pointer"),
            "segment": _number(event.get("segment")),
            "points": len(points) if isinstance(points, list) else "",
            "x": _number(first[0]) if len(first) > 0 else _number(event.get("x")),
            "y": _number(first[1]) if len(first) > 1 else _number(event.get("y")),
            "first_point_t": _number(first[2]) if len(first) > 2 else "",
            "last_point_t": _number(last[2]) if len(last) > 2 else "",
            "zoom": _number(event.get("zoom")),
            "fill": _text(event, "fill"),
            "mask": _text(event, "mask"),
            "source": _text(event, "source"),
            "edit": _text(event, "edit"),
            "crop": _text(event, "crop"),
        }


def write_events(
    writer: csv.DictWriter, study: Study, round_: Round, place: StepPlace, tally: Counter
) -> None:
    head = {
        "study": study.slug,
        "participant": round_.exploration.participant.code,
        **participant_keys(round_.exploration.participant),
        "exploration": str(round_.exploration_id),
        "practice": int(place.practice),
        "attention_check": int(place.check),
        "step": num(place.step),
        "round_index": round_.index,
    }
    try:
        events = json.loads(round_.events_json or "[]")
    except ValueError:
        events = []
    participant_id = round_.exploration.participant_id
    for row in _event_rows(head, events):
        writer.writerow({key: inert(value) for key, value in row.items()})
        if row["type"] in ("blur", "hidden"):
            tally[participant_id, row["type"]] += 1


def event_line(study: Study, round_: Round, place: StepPlace) -> bytes:
    """The round's line of events.jsonl, its brush log spliced in as stored (already JSON):
    decoding a few megabytes of strokes only to encode them again is most of an export."""
    head = json.dumps(
        {
            "study": study.slug,
            "participant": round_.exploration.participant.code,
            **participant_keys(round_.exploration.participant),
            "exploration": str(round_.exploration_id),
            "practice": int(place.practice),
            "attention_check": int(place.check),
            "round_index": round_.index,
            "received_at": iso(round_.created_at),
        }
    )
    return f'{head[:-1]}, "events": {round_.events_json or "[]"}}}\n'.encode()


def write_quiz(writer: csv.DictWriter, participants: list[Participant]) -> None:
    by_pk = {p.pk: p for p in participants}
    tries = QuizAttempt.objects.filter(participant__in=participants).order_by(
        "participant__consented_at", "participant_id", "number"
    )
    for attempt in tries:
        p = by_pk[attempt.participant_id]
        row = {
            "participant": p.code,
            **participant_keys(p),
            "attempt": attempt.number,
            "answered_at": iso(attempt.answered_at),
            "correct": int(attempt.correct),
            "wrong": " ".join(map(str, attempt.wrong)),
            "answers": json.dumps(attempt.answers, ensure_ascii=False),
        }
        writer.writerow({key: inert(value) for key, value in row.items()})


def fastest_image(participants: list[Participant], places: dict) -> dict:
    """Per participant, the fewest seconds they spent on an image they moved on from (practice
    and attention checks left out)."""
    rows = Exploration.objects.filter(participant__in=participants).values_list(
        "pk", "participant_id"
    )
    fastest: dict = {}
    for pk, participant_id in rows:
        place = places.get(pk)
        if place is None or place.practice or place.check or place.seconds is None:
            continue
        fastest[participant_id] = min(place.seconds, fastest.get(participant_id, place.seconds))
    return fastest


def check_shares(answers: list, participant_id) -> dict:
    mine = [(covered, outside) for pk, _p, covered, outside in answers if pk == participant_id]
    return {
        "check_covered": min(c for c, _o in mine) if mine else "",
        "check_outside": max(o for _c, o in mine) if mine else "",
    }


def seconds_between(later, earlier):
    return round((later - earlier).total_seconds(), 3) if later and earlier else ""
