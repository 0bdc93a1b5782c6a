"""A study's data as one ZIP: rounds.csv, events.jsonl, events.csv, participants.csv,
quiz.csv, alignment.csv, images.csv, the masks, and a README whose codebook is built from the
same column dicts the writers use.

One pass over the finished rounds, each brush log copied as the database holds it, straight
into a file (the admin's is a spooled temporary file, the command's the output): memory stays
bounded whatever the brush logs weigh. A mask deleted while the export runs (a participant
withdrew) is left out of the ZIP, and its row says so."""

from __future__ import annotations

import csv
import io
import itertools
import json
import shutil
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from . import (
    detection_export,
    provenance,
    review,
    selectors,
    studies,
    study_files,
    understanding_export,
)
from .inference import methods, registry
from .models import (
    CheckAnswer,
    Exploration,
    Participant,
    QuizAttempt,
    Round,
    Study,
    StudyImage,
)

SPOOL_BYTES = 8 * 1024 * 1024  # a temporary file stays in memory up to this size
ROUNDS_PER_FETCH = 8  # rounds (with their brush logs) held at once
FINISHED = [Round.Status.DONE, Round.Status.FAILED]

# On every row of rounds.csv, every line of events.jsonl and every row of participants.csv.
PARTICIPANT_KEYS = {
    "external_id": "the recruiting platform's participant id from the study link: Prolific's"
    " PROLIFIC_PID, else ?pid=",
    "platform_study_id": "Prolific's STUDY_ID from the link",
    "platform_session_id": "Prolific's SESSION_ID from the link (of the participant's first visit)",
    "condition": "name of the between-subject condition the participant was assigned (empty:"
    " the study has none, and everything was shown)",
    "pilot": "1 for a pilot participant (staff's “Preview as a participant”, or `manage.py"
    " study_bots`): a test run, left out of the balance and the quotas; leave it out of"
    " analyses. Else 0",
}

# What a file column says where the row names a file that is no longer stored.
MISSING = "missing"

ROUND_COLUMNS = {
    "study": "study slug",
    "participant": "anonymous participant code",
    **PARTICIPANT_KEYS,
    "exploration": "exploration id (one participant × one image × one model)",
    "practice": "1 for a round of the practice image (shown first, not part of the study's"
    " images: leave these rounds out of analyses), else 0",
    "attention_check": "1 for a round of an attention-check image (its first masked round is"
    " the answer, judged in participants.csv: leave these rounds out of analyses), else 0",
    "step": "1-based position of the image in this participant's order (practice image"
    " included); empty when staff took the image out of the study afterwards",
    "image_position": "the image's position in the study as staff set it (the fixed order)",
    "image_id": "image id",
    "image_sha256": "sha256 of the stored image (PNG working copy) the participant painted on",
    "model": "model that answered",
    "weights_sha256": "sha256 of the model's weights file",
    "preprocessing": "how the model resized, cropped and normalised the image",
    "fill": "what painted pixels were replaced with (mean, black, blur, inpaint; road: ROAD's"
    " noisy linear imputation, each pixel the mean of its 8 neighbours plus noise, solved at"
    " most 160 pixels on the longer side), or how they were edited (darken: half the"
    " brightness; brighten: halfway to white; grey: colour removed, ITU-R 601 luma)",
    "round_index": "0 is the unmasked original; 1, 2, … are the participant's Classify clicks",
    "masked_percent": "share of the image painted, in %",
    "top5": "JSON list of the five most likely classes: index, label, probability",
    "top1_label": "the model's answer",
    "top1_probability": "its confidence (0–1)",
    "original_class": "the top-1 class of round 0",
    "original_class_probability": "probability of the original class in this round (0–1)",
    "prediction": "what the participant expected the model to say, written before the result",
    "live": "1 when the round was sent by itself after a stroke or tap (the Live switch), 0 for"
    " a Classify click",
    "crop_left": "edits of the whole picture, applied after the fill, in this order: crop, flips,"
    " rotation; what the model classified and the round's masked image are the edited picture,"
    " while the mask and masked_percent stay in the original image's pixels. crop_left: x of"
    " the crop rectangle's left edge in the original image's pixels (empty: not cropped)",
    "crop_top": "y of the crop rectangle's top edge, original image pixels (empty: not cropped)",
    "crop_width": "the crop rectangle's width, original image pixels (empty: not cropped)",
    "crop_height": "the crop rectangle's height, original image pixels (empty: not cropped)",
    "flip_horizontal": "1 when the (cropped) picture was mirrored left–right, else 0",
    "flip_vertical": "1 when it was mirrored top–bottom (after any left–right flip), else 0",
    "rotation": "then turned clockwise by this many degrees: 0, 90, 180 or 270",
    "step_started_at": "when the participant first opened this image (UTC, ISO 8601); its time"
    " limit, if any, runs from here",
    "ms_since_step_start": "ms from the first opening of the image to this round's arrival on"
    " the server",
    "ms_since_previous_round": "ms from the previous round of this image to this one (empty for"
    " round 0)",
    "time_on_step_s": "seconds from the first opening of this image to the first opening of the"
    " participant's next image (or their finish); empty while they are still on it. The same"
    " on every row of the image",
    "too_fast": "1 when time_on_step_s is below the study's min_seconds_per_image (a speeder;"
    " flagged, never refused), 0 when not; empty where the time is unknown or the study sets no"
    " minimum. The same on every row of the image",
    "client_latency_ms": "Classify click to result on screen, measured in the browser",
    "server_latency_ms": "round saved to result recorded, measured on the server",
    "queue_ms": "round saved to a worker starting on it (waiting in the queue), on the server",
    "inference_ms": "model time per image within its batch",
    "batch_size": "rounds classified together in one batch",
    "status": "done or failed",
    "error": "message shown when the round failed",
    "created_at": "when the server received the round (UTC, ISO 8601)",
    "finished_at": "when the result was recorded (UTC, ISO 8601)",
    "mask_file": "path of the mask PNG in this ZIP (white = painted); empty for round 0;"
    f" “{MISSING}” where the round had a mask that is no longer stored (lost with a disk,"
    " deleted by hand, or its participant withdrew while the export ran)",
    "kept_important": "share of the model's important region (the top 20% of its Grad-CAM)"
    " left unpainted (0–1); empty for round 0 and until the heatmap was computed",
    "kept_iou": "IoU of the unpainted region with that important region (0–1)",
    "explanation_shown": "the explanation method the participant's condition fixed (empty:"
    " they could choose any in the menu; see alignment.csv for every method)",
    "rise_method": "RISE curves (computed when the participant pressed “Compare fills and"
    " deletion curves”; else the next five columns are empty): the heatmap's method",
    "deletion_auc_person": "RISE deletion: the original class's probability as the model's crop"
    " is replaced by the round's fill in 10 steps, what the participant kept first (their kept"
    " map blurred as Harmonization blurs it), normalised area under the curve (0–1; lower: the"
    " order found the evidence sooner)",
    "insertion_auc_person": "RISE insertion: likewise as the crop's original pixels are put"
    " back into the blur fill's image, in the same order (0–1; higher: sooner)",
    "deletion_auc_heatmap": "RISE deletion in the heatmap's order (rise_method)",
    "insertion_auc_heatmap": "RISE insertion in the heatmap's order (rise_method)",
}

# The alignment scores, the same in alignment.csv and images.csv (review.ALIGNMENT_FIELDS).
SCORE_COLUMNS = {
    "spearman": "Spearman rank correlation of the human map, blurred as ClickMe/Harmonization"
    " blur it (64×64, Gaussian kernel 10 px, σ 10, edges extended), with the method's map, both"
    " inside the model's crop (-1–1; empty where either map is constant, e.g. nothing painted"
    " inside the crop)",
    "iou_top10": "IoU of the two maps' top 10% (0–1), Harmonization's binarisation",
    "dice_top10": "Dice of the two maps' top 10% (0–1)",
    "pointing_game": "Quantus pointing game: 1 if the map's maximum is in the kept region"
    " (pixels at least half the masks left unpainted, inside the crop, 224×224), else 0",
    "relevance_mass": "Quantus relevance mass accuracy: the map's total inside the kept region"
    " over its total (0–1)",
    "relevance_rank": "Quantus relevance rank accuracy: of the map's k highest pixels (k = the"
    " kept region's size), the share inside the kept region (0–1)",
}
ALIGNMENT_COLUMNS = {
    "study": "study slug",
    "participant": "anonymous participant code",
    "pilot": PARTICIPANT_KEYS["pilot"],
    "exploration": "exploration id",
    "practice": "1 for the practice image, else 0",
    "image_id": "image id",
    "model": "model whose maps these are",
    "level": "round: one round's mask; exploration: the mean of the exploration's masked"
    " rounds (a pixel's share of its masks that kept it)",
    "round_index": "the round (rounds.csv) for level round; empty for level exploration",
    "method": "explanation method: " + ", ".join(f"{k} = {t}" for k, t in methods.CHOICES),
    **SCORE_COLUMNS,
}
IMAGE_COLUMNS = {
    "study": "study slug",
    "pilot": "1: the row pools the pilot participants only; 0: the others only (pilots never mix"
    " into a human map)",
    "image_id": "image id",
    "image_title": "the image's title",
    "model": "model whose maps these are",
    "method": "explanation method (as in alignment.csv)",
    "people": "explorations of the image in this export with at least one masked round: the"
    " human map is their mean, and the ceiling rests on them (on a seeded random 500 of them"
    " beyond that)",
    "human_ceiling": "split-half ceiling: the Spearman of the blurred mean maps of two random"
    " halves of the people, averaged over 100 seeded splits (empty below two people)",
    "alignment_score": "spearman ÷ human_ceiling: ClickMe/Harmonization's human alignment score"
    " (empty where either is unknown)",
    **SCORE_COLUMNS,
}
PARTICIPANT_COLUMNS = {
    "participant": "anonymous participant code",
    **PARTICIPANT_KEYS,
    "status": "consented (no image opened yet), in progress, finished, screened out (failed the"
    " study's number of attention checks: only their check answers and check rounds kept),"
    " returned (the platform says they returned their submission; marked in admin), or timed"
    " out (never finished, and the study's time limit passed or nothing happened for"
    " XAI_STUDY_SLOT_TIMEOUT_MINUTES). Withdrawn participants have no rows",
    "assignment_index": "the participant's consent was the study's n-th (1-based), counted in the"
    " transaction that assigned the condition: the order the balanced randomisation saw (each"
    " took a least-filled condition, ties broken at random); gaps are participants who"
    " withdrew (or were deleted by a researcher)",
    "order_seed": "seed of the participant's random image order (empty: the study's fixed order)",
    "image_order": "the image ids in the order the participant was shown them, space-separated"
    " (practice image first)",
    "consent_version": "version of the consent text agreed to",
    "consented_at": "time of consent (UTC)",
    "finished_at": "time the participant finished (UTC), empty if they did not",
    "screened_out_at": "time the participant was screened out (UTC), empty if not",
    "returned_at": "time the submission was marked returned (UTC), empty if not",
    "closing_answer": "answer to the closing question",
    "blur_events": "times the browser window lost the focus, over the rounds in this export"
    " (practice included; those after an image's last Classify too, where the browser sent"
    " them as the participant left the page)",
    "hidden_events": "times the tab was switched away from (hidden), likewise",
    "rounds": "number of rounds in this export (done or failed), originals included, practice"
    " and attention-check rounds not counted",
    "checks_passed": "attention checks answered and passed (the marked region painted enough,"
    " and little outside it, by the thresholds the study set)",
    "checks_failed": "attention checks answered and failed; a check not answered (its time ran"
    " out) counts in neither",
    "check_covered": "the attention checks' share of the marked region painted (0–1): the lowest"
    " over the participant's answers (empty: none answered)",
    "check_outside": "the share of the image outside the region painted (0–1): the highest over"
    " the participant's answers (empty: none answered)",
    "duration_s": "seconds from consent to finish (empty: not finished)",
    "too_fast": "1 when the participant spent fewer than the study's min_seconds_per_image"
    " seconds on any image they moved on from (practice and checks not counted; time_on_step_s"
    " in rounds.csv), else 0; empty when the study sets no minimum. Flagged, never refused",
}


# quiz.csv: one row per try at the study's comprehension quiz (after its instruction pages).
QUIZ_COLUMNS = {
    "participant": "anonymous participant code",
    **PARTICIPANT_KEYS,
    "attempt": "1 for the participant's first try at the quiz, 2 for the second, ...",
    "answered_at": "time of the try (UTC)",
    "correct": "1 when every answer was right (the participant then went on to the images)",
    "wrong": "the questions answered wrongly, by their number in the study file (from 1),"
    " space-separated",
    "answers": "the option chosen for each question, in order, as a JSON list",
}

# events.csv: one row per event of the brush log, flattened (no nested values).
EVENT_COLUMNS = {
    "study": "study slug",
    "participant": "anonymous participant code",
    **PARTICIPANT_KEYS,
    "exploration": "exploration id",
    "practice": "1 for an event on the practice image, else 0",
    "attention_check": "1 for an event on an attention-check image, else 0",
    "step": "1-based position of the image in this participant's order (as in rounds.csv)",
    "round_index": "the round (rounds.csv) whose Classify sent this event: the events before a"
    " Classify belong to the round it made",
    "event_index": "0-based position of the event in its round's log",
    "type": "stroke, region (a tap of the Region tool: a whole superpixel painted or erased),"
    " undo, redo, clear, restore (a past round's mask, or the page's own at load), tool, fill,"
    " classify; blur and focus (the browser window lost or got the focus),"
    " hidden and visible (the tab was switched away from or back to); view (a zoom or pan"
    " ended: zoom, and x/y the picture's pixel at the view's top-left corner); edit (an edit"
    " of the whole picture: see edit)",
    "t": "ms since the round began (the previous Classify, or the page load), browser clock;"
    " for an event sent on leaving, ms since the round's Classify (or the later page load)",
    "sent_on_leave": "1 for an event logged after the round's Classify and sent as the"
    " participant left the image's page (Next, Finish, a reload, closing the tab): focus,"
    " blur, hidden and visible only; else 0",
    "tool": "stroke, region: paint or erase; tool: the tool chosen",
    "size": "stroke: brush diameter in image pixels",
    "pointer": "stroke, region: mouse, pen, touch or keyboard (arrow keys with Space held)",
    "segment": "region: the superpixel id tapped: its label in the image's SLIC segmentation"
    " (about 300 regions), stored in segments/<image_id>.png in this ZIP as id = red + 256 ×"
    " green at each pixel",
    "points": "stroke: number of points sampled",
    "x": "stroke: x of its first point, in image pixels from the left; region: x of the tap;"
    " view: x of the view's top-left corner",
    "y": "stroke: y of its first point, in image pixels from the top; region: y of the tap;"
    " view: y of the view's top-left corner",
    "zoom": "view: the zoom (1 = the whole picture fits)",
    "first_point_t": "stroke: ms since the round began at its first point",
    "last_point_t": "stroke: ms since the round began at its last point",
    "fill": "fill: the fill chosen",
    "mask": "restore: URL of the restored round's mask (empty: an empty mask)",
    "source": "restore: load when it is the mask the page opened with",
    "edit": "edit: the edit of the whole picture made (rotate: a quarter turn clockwise;"
    " flip_horizontal, flip_vertical; crop; reset: all edits undone; restore: a past round's"
    " edits, with its mask, from the history); the edits in force are the round's (rounds.csv)",
    "crop": "edit crop: the rectangle, left,top,width,height in the original image's pixels"
    " (empty: the crop was removed)",
}


@dataclass(frozen=True)
class StepPlace:
    """Where an exploration's image stood in its participant's study, and how long they spent
    on it (None: unknown, or still going on)."""

    practice: bool = False
    check: bool = False
    step: int | None = None
    position: int | None = None
    seconds: float | None = None


def _step_places(study: Study, participants: list[Participant], entries: list[StudyImage]) -> dict:
    """Each exploration's StepPlace (its time on the image as selectors.step_times says)."""
    by_picture = {e.picture_id: e for e in entries}
    consented = Participant.objects.filter(pk__in=[p.pk for p in participants])
    times = selectors.step_times(consented)
    rows = Exploration.objects.filter(participant__in=consented).values_list(
        "pk", "participant_id", "picture_id"
    )
    steps_of = {}
    for participant in participants:
        order = studies.order_of(entries, participant.order_seed)
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


def _participant_keys(participant: Participant) -> dict:
    return {
        "external_id": participant.external_id,
        "platform_study_id": participant.platform_study_id,
        "platform_session_id": participant.platform_session_id,
        "condition": participant.condition.name if participant.condition else "",
        "pilot": int(participant.pilot),
    }


def _iso(value) -> str:
    return value.isoformat() if value else ""


def _num(value):
    """A number as CSV writes it, None as empty (pandas reads NaN): never 0 turned into ""."""
    return "" if value is None else value


def _ms(later, earlier):
    return round((later - earlier).total_seconds() * 1000, 1) if later and earlier else ""


def _inert(value):
    """Participants' text must not run as a formula when a spreadsheet opens the CSV."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv_writer(text: IO[str], columns: dict) -> csv.DictWriter:
    writer = csv.DictWriter(text, fieldnames=list(columns))
    writer.writeheader()
    return writer


def _round_row(
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
        **_participant_keys(exploration.participant),
        "exploration": exploration.pk,
        "practice": int(place.practice),
        "attention_check": int(place.check),
        "step": _num(place.step),
        "image_position": _num(place.position),
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
        "step_started_at": _iso(exploration.created_at),
        "ms_since_step_start": _ms(round_.created_at, exploration.created_at),
        "ms_since_previous_round": _ms(round_.created_at, previous and previous.created_at),
        "time_on_step_s": _num(place.seconds),
        "too_fast": _num(studies.too_fast(study, place.seconds)),
        "client_latency_ms": _num(round_.client_latency_ms),
        "server_latency_ms": round(round_.server_ms, 1) if round_.finished_at else "",
        "queue_ms": _ms(round_.started_at, round_.created_at),
        "inference_ms": _num(round_.inference_ms),
        "batch_size": _num(round_.batch_size),
        "status": round_.status,
        "error": round_.error,
        "created_at": _iso(round_.created_at),
        "finished_at": _iso(round_.finished_at),
        "mask_file": mask_file,
        "kept_important": _num(round_.kept_important),
        "kept_iou": _num(round_.kept_iou),
        "explanation_shown": studies.shown_to(exploration.participant).explanation,
        **_rise_columns(round_.rise),
    }


def _rise_columns(rise: dict | None) -> dict:
    rise = rise or {}
    columns = {"rise_method": rise.get("method", "")}
    for who in ("person", "heatmap"):
        for curve in ("deletion", "insertion"):
            columns[f"{curve}_auc_{who}"] = _num(rise.get(who, {}).get(f"{curve}_auc"))
    return columns


def _alignment_rows(study: Study, round_: Round, place: StepPlace) -> Iterator[dict]:
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
                **{k: _num(getattr(row, k)) for k in SCORE_COLUMNS},
            }


def _image_rows(study: Study, consented_by) -> Iterator[dict]:
    """images.csv: each image of the study against each model's maps, over the participants
    who had consented when the export began."""
    explorations = Exploration.objects.filter(
        participant__study=study, participant__consented_at__lte=consented_by
    )
    pools = [(0, explorations.filter(participant__pilot=False))]
    if explorations.filter(participant__pilot=True).exists():
        pools.append((1, explorations.filter(participant__pilot=True)))
    for entry, (pilot, pool) in itertools.product(
        studies.steps_of(study).select_related("picture"), pools
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
                    "human_ceiling": _num(result.ceiling),
                    "alignment_score": _num(row.score),
                    **{k: _num(getattr(row, k)) for k in SCORE_COLUMNS},
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
    return {k: _num(v) if k.startswith("crop_") else int(v) for k, v in fields.items()}


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


def _write_events(
    writer: csv.DictWriter, study: Study, round_: Round, place: StepPlace, tally: Counter
) -> None:
    head = {
        "study": study.slug,
        "participant": round_.exploration.participant.code,
        **_participant_keys(round_.exploration.participant),
        "exploration": str(round_.exploration_id),
        "practice": int(place.practice),
        "attention_check": int(place.check),
        "step": _num(place.step),
        "round_index": round_.index,
    }
    try:
        events = json.loads(round_.events_json or "[]")
    except ValueError:
        events = []
    participant_id = round_.exploration.participant_id
    for row in _event_rows(head, events):
        writer.writerow({key: _inert(value) for key, value in row.items()})
        if row["type"] in ("blur", "hidden"):
            tally[participant_id, row["type"]] += 1


def _event_line(study: Study, round_: Round, place: StepPlace) -> bytes:
    """The round's line of events.jsonl, its brush log spliced in as stored (already JSON):
    decoding a few megabytes of strokes only to encode them again is most of an export."""
    head = json.dumps(
        {
            "study": study.slug,
            "participant": round_.exploration.participant.code,
            **_participant_keys(round_.exploration.participant),
            "exploration": str(round_.exploration_id),
            "practice": int(place.practice),
            "attention_check": int(place.check),
            "round_index": round_.index,
            "received_at": _iso(round_.created_at),
        }
    )
    return f'{head[:-1]}, "events": {round_.events_json or "[]"}}}\n'.encode()


def _mask_path(round_: Round) -> str:
    exploration = round_.exploration
    return f"masks/{exploration.participant.code}/{exploration.pk}-{round_.index:03d}.png"


def _add_mask(archive: zipfile.ZipFile, round_: Round) -> str:
    """Copy the round's mask into the ZIP; its path there, "" when there is none (round 0),
    or MISSING when its file is no longer stored."""
    if not round_.mask:
        return ""
    try:
        source = round_.mask.open("rb")
    except FileNotFoundError:
        return MISSING
    path = _mask_path(round_)
    with source, archive.open(path, "w") as entry:
        shutil.copyfileobj(source, entry)
    return path


def _utf8_text(binary: IO[bytes]) -> io.TextIOWrapper:
    """A CSV's text over its bytes. A lone surrogate stored before they were refused at the door
    (SQLite took them) is written escaped (\\ud800) instead of failing the whole export."""
    return io.TextIOWrapper(binary, encoding="utf-8", errors="backslashreplace", newline="")


def _add_file(archive: zipfile.ZipFile, name: str, source: IO[bytes]) -> None:
    """Copy a temporary file into the ZIP in chunks (ZIP64 when it is that large)."""
    size = source.seek(0, io.SEEK_END)
    source.seek(0)
    with archive.open(name, "w", force_zip64=size >= zipfile.ZIP64_LIMIT) as entry:
        shutil.copyfileobj(source, entry, 1024 * 1024)


def _readme(study: Study) -> str:
    lines = [
        f"Data export of the study “{study.name}” ({study.slug}).",
        "",
        "rounds.csv: one row per round that had finished (done or failed) when the export was",
        "  made; rounds still waiting for the classifier (pending or running) are left out:",
        "  export again later to include them.",
        *(f"  {name}: {meaning}" for name, meaning in ROUND_COLUMNS.items()),
        "",
        "participants.csv: one row per participant who had consented when the export began.",
        *(f"  {name}: {meaning}" for name, meaning in PARTICIPANT_COLUMNS.items()),
        f"Declined consent: {study.declined_count} (clicks on “I do not agree”: counted, nothing",
        "  about them stored, so they have no rows).",
        "",
        "events.csv: the same events as events.jsonl, one row per event, flat (a stroke's",
        "  points are counted, and its first point given): load it as it is.",
        *(f"  {name}: {meaning}" for name, meaning in EVENT_COLUMNS.items()),
        "",
        "events.jsonl: one JSON object per round in rounds.csv: study, participant, external_id,",
        "  platform_study_id, platform_session_id, condition, pilot, exploration, practice,",
        "  attention_check, round_index, received_at (server time, UTC) and events, the",
        "  browser's log since the previous Classify: strokes (tool paint/erase, size in image",
        "  pixels, pointer mouse/pen/touch/keyboard, points [x, y, ms since the round began] in",
        "  image pixels), region (a Region tap: tool, segment = the superpixel id, pointer, x, y),",
        "  undo, redo, clear, restore (a past round's mask), tool and fill",
        "  changes, classify, blur and focus of the window, hidden and visible (tab switches),",
        "  view (zoom and the view's top-left corner in image pixels, when a zoom or pan ends),",
        "  edit (rotate, flip_horizontal, flip_vertical, crop with its rectangle, reset, or",
        "  restore: a past round's edits);",
        "  each event's t is ms since the round began (the previous Classify, or the page load).",
        "  Events logged after the round's Classify and sent as the participant left the page",
        '  come last, marked "sent": "leave".',
        "",
        "All CSV files: empty means none (pandas reads NaN); 1/0 for yes/no; times in UTC.",
        "  A participant id from the platform made only of digits reads as a number: pass",
        "  dtype={'external_id': str} to pandas.read_csv where that can happen.",
        "",
        "alignment.csv: each round's mask, and each exploration's masks together, against each",
        "  explanation method's map of the original class (ClickMe/Harmonization and Quantus).",
        *(f"  {name}: {meaning}" for name, meaning in ALIGNMENT_COLUMNS.items()),
        "",
        "images.csv: each image against each model's maps, over all its participants in this",
        "  export: the human map (the mean of their explorations' kept maps) and its ceiling.",
        "  A method whose map is no longer stored has no row, and a mask that is no longer",
        f"  stored (mask_file “{MISSING}”) is left out of the human map.",
        *(f"  {name}: {meaning}" for name, meaning in IMAGE_COLUMNS.items()),
        "",
        "quiz.csv: one row per try at the comprehension quiz (the study file's quiz), for the",
        "  participants in participants.csv; taken again until every answer was right.",
        *(f"  {name}: {meaning}" for name, meaning in QUIZ_COLUMNS.items()),
        "",
        "masks/: each round's mask as a PNG at the image's resolution, white = painted.",
        "segments/: each image's superpixels (the Region tool's), a PNG at the image's",
        "  resolution whose pixel's id is red + 256 × green (events.csv's segment).",
        "",
        *provenance.readme_lines(study),
        "",
        *understanding_export.README,
        "",
        *detection_export.README,
        "",
        "Models: " + ", ".join(f"{n} = {registry.title_of(n)}" for n in _models_of(study)),
    ]
    return "\n".join(lines) + "\n"


def _models_of(study: Study) -> list[str]:
    rounds = Round.objects.filter(exploration__participant__study=study, status__in=FINISHED)
    return sorted(set(rounds.values_list("model_name", flat=True).distinct()))


def _finished_rounds(study: Study, consented_by) -> Iterator[Round]:
    """The study's finished rounds, each exploration's in order (round 0 first), with its brush
    log as the stored JSON text in `events_json` and its RISE curves (or None) in `rise`.

    The rounds are listed without their brush logs and probabilities, which are fetched a few
    rounds at a time: sorting rows that carry megabytes of strokes makes the database hold
    them all at once. A round deleted in between (a withdrawal) is left out."""
    listed = (
        Round.objects.filter(
            exploration__participant__study=study,
            exploration__participant__consented_at__lte=consented_by,
            status__in=FINISHED,
        )
        .select_related("exploration__participant__condition", "exploration__picture")
        .defer("strokes", "analysis", "probabilities")
        .order_by(
            "exploration__participant__consented_at",
            "exploration__participant_id",
            "exploration__created_at",
            "exploration_id",
            "index",
        )
        .iterator(chunk_size=ROUNDS_PER_FETCH)
    )
    while chunk := list(itertools.islice(listed, ROUNDS_PER_FETCH)):
        heavy = Round.objects.filter(pk__in=[r.pk for r in chunk]).annotate(
            events_json=Cast("strokes", TextField())
        )
        rows = heavy.values_list("pk", "events_json", "probabilities", "analysis__rise")
        fetched = {pk: rest for pk, *rest in rows}
        for round_ in chunk:
            if round_.pk in fetched:
                round_.events_json, round_.probabilities, round_.rise = fetched.pop(round_.pk)
                yield round_


def write_study_zip(study: Study, out: IO[bytes]) -> None:
    """Write the study's ZIP into a binary file (seekable or not).

    Masks go into the ZIP as the rounds stream by; rounds.csv and events.jsonl collect in
    temporary files and follow, so each row's mask_file says whether its mask made it in."""
    began = timezone.now()
    participants = list(
        Participant.objects.filter(study=study, consented_at__lte=began)
        .select_related("condition")
        .order_by("consented_at")
    )
    entries = list(studies.steps_of(study))
    places = _step_places(study, participants, entries)
    practice_pictures = {e.picture_id for e in entries if e.is_practice}
    round_counts: Counter = Counter()
    answers = list(
        CheckAnswer.objects.filter(participant__in=participants).values_list(
            "participant_id", "passed", "covered", "outside"
        )
    )
    checks = Counter((pk, passed) for pk, passed, _c, _o in answers)
    fastest = _fastest_image(participants, places)
    attention: Counter = Counter()  # (participant id, "blur" or "hidden"): events
    with (
        # Level 1: brush logs are most of the bytes, and at the default level 6 deflating them
        # takes eight times as long for a ZIP a sixth smaller.
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        tempfile.SpooledTemporaryFile(SPOOL_BYTES) as rounds_file,
        tempfile.SpooledTemporaryFile(SPOOL_BYTES) as events_file,
        tempfile.SpooledTemporaryFile(SPOOL_BYTES) as events_csv_file,
        tempfile.SpooledTemporaryFile(SPOOL_BYTES) as alignment_file,
    ):
        archive.writestr("README.txt", _readme(study).encode("utf-8", "backslashreplace"))
        _add_description(archive, study, began)
        rounds_text = _utf8_text(rounds_file)
        rounds_csv = _csv_writer(rounds_text, ROUND_COLUMNS)
        events_text = _utf8_text(events_csv_file)
        events_csv = _csv_writer(events_text, EVENT_COLUMNS)
        alignment_text = _utf8_text(alignment_file)
        alignment_csv = _csv_writer(alignment_text, ALIGNMENT_COLUMNS)
        exploration_id, original, previous = None, None, None
        for round_ in _finished_rounds(study, began):
            if round_.exploration_id != exploration_id:
                exploration_id, original, previous = round_.exploration_id, None, None
            if round_.index == 0:
                original = round_
            practice = round_.exploration.picture_id in practice_pictures
            place = places.get(round_.exploration_id, StepPlace(practice=practice))
            mask_file = _add_mask(archive, round_)
            row = _round_row(study, round_, original, previous, mask_file, place)
            rounds_csv.writerow({key: _inert(value) for key, value in row.items()})
            events_file.write(_event_line(study, round_, place))
            _write_events(events_csv, study, round_, place, attention)
            alignment_csv.writerows(_alignment_rows(study, round_, place))
            previous = round_
            # Its file fields hold the round in a reference cycle, which only the cyclic
            # collector frees, rounds later: let go of the brush log now.
            round_.events_json = None
            if not practice and not place.check:
                round_counts[round_.exploration.participant_id] += 1
        rounds_text.flush()
        _add_file(archive, "rounds.csv", rounds_text.detach())
        _add_file(archive, "events.jsonl", events_file)
        events_text.flush()
        _add_file(archive, "events.csv", events_text.detach())
        alignment_text.flush()
        _add_file(archive, "alignment.csv", alignment_text.detach())
        with archive.open("images.csv", "w") as entry:
            text = _utf8_text(entry)
            images_csv = _csv_writer(text, IMAGE_COLUMNS)
            for row in _image_rows(study, began):
                images_csv.writerow({key: _inert(value) for key, value in row.items()})
            text.flush()
            text.detach()
        detection_export.add_to(archive, study, began)
        with archive.open("participants.csv", "w") as entry:
            text = _utf8_text(entry)
            participants_csv = _csv_writer(text, PARTICIPANT_COLUMNS)
            for p in participants:
                order = studies.order_of(entries, p.order_seed)
                row = {
                    "participant": p.code,
                    **_participant_keys(p),
                    "status": studies.status_of(p),
                    "assignment_index": p.assignment_index,
                    "order_seed": "" if p.order_seed is None else p.order_seed,
                    "image_order": " ".join(str(e.picture_id) for e in order),
                    "consent_version": p.consent_version,
                    "consented_at": _iso(p.consented_at),
                    "finished_at": _iso(p.finished_at),
                    "screened_out_at": _iso(p.screened_out_at),
                    "returned_at": _iso(p.returned_at),
                    "closing_answer": p.closing_answer,
                    "blur_events": attention[p.pk, "blur"],
                    "hidden_events": attention[p.pk, "hidden"],
                    "rounds": round_counts[p.pk],
                    "checks_passed": checks[p.pk, True],
                    "checks_failed": checks[p.pk, False],
                    **_check_shares(answers, p.pk),
                    "duration_s": _seconds(p.finished_at, p.consented_at),
                    # A flag on the person: any image below the minimum (0 with none timed).
                    "too_fast": _num(studies.too_fast(study, fastest.get(p.pk), unknown=0)),
                }
                participants_csv.writerow({key: _inert(value) for key, value in row.items()})
            text.flush()
            text.detach()
        with archive.open("quiz.csv", "w") as entry:
            text = _utf8_text(entry)
            _write_quiz(_csv_writer(text, QUIZ_COLUMNS), participants)
            text.flush()
            text.detach()

        with archive.open("trials.csv", "w") as entry:
            text = _utf8_text(entry)
            trials_csv = _csv_writer(text, understanding_export.TRIAL_COLUMNS)
            for row in understanding_export.trial_rows(participants):
                trials_csv.writerow({key: _inert(value) for key, value in row.items()})
            text.flush()
            text.detach()


def _write_quiz(writer: csv.DictWriter, participants: list[Participant]) -> None:
    by_pk = {p.pk: p for p in participants}
    tries = QuizAttempt.objects.filter(participant__in=participants).order_by(
        "participant__consented_at", "participant_id", "number"
    )
    for attempt in tries:
        p = by_pk[attempt.participant_id]
        row = {
            "participant": p.code,
            **_participant_keys(p),
            "attempt": attempt.number,
            "answered_at": _iso(attempt.answered_at),
            "correct": int(attempt.correct),
            "wrong": " ".join(map(str, attempt.wrong)),
            "answers": json.dumps(attempt.answers, ensure_ascii=False),
        }
        writer.writerow({key: _inert(value) for key, value in row.items()})


def _add_description(archive: zipfile.ZipFile, study: Study, began) -> None:
    """What makes the ZIP self-describing: the study file, the app's version and models,
    each image's superpixels (events' segment ids) and, where the study has a bonus rule,
    bonus.csv."""
    dumped = json.dumps(study_files.dump(study), indent=2, ensure_ascii=False) + "\n"
    archive.writestr("study.json", dumped.encode("utf-8", "backslashreplace"))
    manifest = provenance.manifest(study, began)
    archive.writestr("provenance.json", json.dumps(manifest, indent=2) + "\n")
    for entry in studies.steps_of(study):
        if entry.picture.segments:
            try:
                with entry.picture.segments.open("rb") as source:
                    archive.writestr(f"segments/{entry.picture_id}.png", source.read())
            except FileNotFoundError:
                pass  # made again on the next Region tap; the README says where ids come from
    if provenance.has_bonus_rule(study):
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerows((_inert(pid), amount) for pid, amount in provenance.bonuses(study, began))
        archive.writestr("bonus.csv", text.getvalue())


def _fastest_image(participants: list[Participant], places: dict) -> dict:
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


def _check_shares(answers: list, participant_id) -> dict:
    mine = [(covered, outside) for pk, _p, covered, outside in answers if pk == participant_id]
    return {
        "check_covered": min(c for c, _o in mine) if mine else "",
        "check_outside": max(o for _c, o in mine) if mine else "",
    }


def _seconds(later, earlier):
    return round((later - earlier).total_seconds(), 3) if later and earlier else ""


def study_zip_file(study: Study) -> IO[bytes]:
    """The study's ZIP in a temporary file (in memory while small), read from its start."""
    archive = tempfile.SpooledTemporaryFile(SPOOL_BYTES)  # noqa: SIM115  the response closes it
    try:
        write_study_zip(study, archive)
    except BaseException:
        archive.close()
        raise
    archive.seek(0)
    return archive
