"""A study's data as one ZIP: rounds.csv, events.jsonl, participants.csv, the masks, a README."""

from __future__ import annotations

import csv
import io
import json
import zipfile

from .inference import registry
from .models import Participant, Round, Study

ROUND_COLUMNS = {
    "study": "study slug",
    "participant": "anonymous participant code",
    "exploration": "exploration id (one participant × one image × one model)",
    "image_id": "image id",
    "image_sha256": "sha256 of the stored image (PNG working copy) the participant painted on",
    "model": "model that answered",
    "weights_sha256": "sha256 of the model's weights file",
    "preprocessing": "how the model resized, cropped and normalised the image",
    "fill": "what painted pixels were replaced with (mean, black, blur, inpaint)",
    "round_index": "0 is the unmasked original; 1, 2, … are the participant's Classify clicks",
    "masked_percent": "share of the image painted, in %",
    "top5": "JSON list of the five most likely classes: index, label, probability",
    "top1_label": "the model's answer",
    "top1_probability": "its confidence (0–1)",
    "original_class": "the top-1 class of round 0",
    "original_class_probability": "probability of the original class in this round (0–1)",
    "prediction": "what the participant expected the model to say, written before the result",
    "client_latency_ms": "Classify click to result on screen, measured in the browser",
    "server_latency_ms": "round saved to result recorded, measured on the server",
    "inference_ms": "model time per image within its batch",
    "batch_size": "rounds classified together in one batch",
    "status": "done or failed",
    "error": "message shown when the round failed",
    "created_at": "when the server received the round (UTC, ISO 8601)",
    "finished_at": "when the result was recorded (UTC, ISO 8601)",
    "mask_file": "path of the mask PNG in this ZIP (white = painted), empty for round 0",
}
PARTICIPANT_COLUMNS = {
    "participant": "anonymous participant code",
    "external_id": "?pid= passed by a recruiting platform, if any",
    "consent_version": "version of the consent text agreed to",
    "consented_at": "time of consent (UTC)",
    "finished_at": "time the participant finished (UTC), empty if they did not",
    "closing_answer": "answer to the closing question",
    "rounds": "number of rounds, originals included",
}
def _iso(value) -> str:
    return value.isoformat() if value else ""


def _csv(rows: list[dict], columns: dict) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns))
    writer.writeheader()
    writer.writerows({key: _inert(value) for key, value in row.items()} for row in rows)
    return buffer.getvalue()


def _inert(value):
    """Participants' text must not run as a formula when a spreadsheet opens the CSV."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _round_row(study: Study, round_: Round, original: Round | None) -> dict:
    exploration = round_.exploration
    original_top = original.top[0] if original and original.top else None
    return {
        "study": study.slug,
        "participant": exploration.participant.code,
        "exploration": exploration.pk,
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
        "client_latency_ms": round_.client_latency_ms or "",
        "server_latency_ms": round(round_.server_ms, 1) if round_.finished_at else "",
        "inference_ms": round_.inference_ms or "",
        "batch_size": round_.batch_size or "",
        "status": round_.status,
        "error": round_.error,
        "created_at": _iso(round_.created_at),
        "finished_at": _iso(round_.finished_at),
        "mask_file": _mask_path(round_) if round_.mask else "",
    }


def _mask_path(round_: Round) -> str:
    exploration = round_.exploration
    return f"masks/{exploration.participant.code}/{exploration.pk}-{round_.index:03d}.png"


def _readme(study: Study) -> str:
    lines = [
        f"Data export of the study “{study.name}” ({study.slug}).",
        "",
        "rounds.csv: one row per round.",
        *(f"  {name}: {meaning}" for name, meaning in ROUND_COLUMNS.items()),
        "",
        "participants.csv: one row per participant.",
        *(f"  {name}: {meaning}" for name, meaning in PARTICIPANT_COLUMNS.items()),
        "",
        "events.jsonl: one JSON object per round: study, participant, exploration, round_index,",
        "  received_at (server time, UTC) and events, the browser's log since the previous",
        "  Classify: strokes (tool paint/erase, size in image pixels, pointer mouse/pen/touch,",
        "  points [x, y, ms since the round began] in image pixels), undo, redo, clear,",
        "  restore (a past round's mask), tool and fill changes and classify; each event's t is",
        "  ms since the round began (the previous Classify, or the page load).",
        "",
        "masks/: each round's mask as a PNG at the image's resolution, white = painted.",
        "",
        "Models: " + ", ".join(f"{n} = {registry.title_of(n)}" for n in _models_of(study)),
    ]
    return "\n".join(lines) + "\n"


def _models_of(study: Study) -> list[str]:
    rounds = Round.objects.filter(exploration__participant__study=study)
    return sorted(set(rounds.values_list("model_name", flat=True)))


def study_zip(study: Study) -> bytes:
    participants = Participant.objects.filter(study=study).order_by("consented_at")
    rounds = list(
        Round.objects.filter(exploration__participant__study=study)
        .select_related("exploration__participant", "exploration__picture")
        .order_by("exploration__participant__consented_at", "exploration__created_at", "index")
    )
    originals = {r.exploration_id: r for r in rounds if r.index == 0}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", _readme(study))
        archive.writestr(
            "rounds.csv",
            _csv(
                [_round_row(study, r, originals.get(r.exploration_id)) for r in rounds],
                ROUND_COLUMNS,
            ),
        )
        archive.writestr(
            "participants.csv",
            _csv(
                [
                    {
                        "participant": p.code,
                        "external_id": p.external_id,
                        "consent_version": p.consent_version,
                        "consented_at": _iso(p.consented_at),
                        "finished_at": _iso(p.finished_at),
                        "closing_answer": p.closing_answer,
                        "rounds": sum(1 for r in rounds if r.exploration.participant_id == p.pk),
                    }
                    for p in participants
                ],
                PARTICIPANT_COLUMNS,
            ),
        )
        archive.writestr(
            "events.jsonl",
            "".join(
                json.dumps(
                    {
                        "study": study.slug,
                        "participant": r.exploration.participant.code,
                        "exploration": str(r.exploration_id),
                        "round_index": r.index,
                        "received_at": _iso(r.created_at),
                        "events": r.strokes,
                    }
                )
                + "\n"
                for r in rounds
            ),
        )
        for r in rounds:
            if r.mask:
                with r.mask.open("rb") as f:
                    archive.writestr(_mask_path(r), f.read())
    return buffer.getvalue()
