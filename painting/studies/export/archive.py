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
from typing import IO

from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from ...inference import registry
from ...models import (
    CheckAnswer,
    Participant,
    Round,
    Study,
)
from .. import files as study_files
from .. import provenance, queries
from ..understanding import export as understanding_export
from . import detections as detection_export
from .columns import (
    ALIGNMENT_COLUMNS,
    EVENT_COLUMNS,
    IMAGE_COLUMNS,
    MISSING,
    PARTICIPANT_COLUMNS,
    QUIZ_COLUMNS,
    ROUND_COLUMNS,
)
from .rows import (
    StepPlace,
    alignment_rows,
    check_shares,
    csv_writer,
    event_line,
    fastest_image,
    image_rows,
    inert,
    iso,
    num,
    participant_keys,
    round_row,
    seconds_between,
    step_places,
    write_events,
    write_quiz,
)

SPOOL_BYTES = 8 * 1024 * 1024  # a temporary file stays in memory up to this size
ROUNDS_PER_FETCH = 8  # rounds (with their brush logs) held at once
FINISHED = [Round.Status.DONE, Round.Status.FAILED]


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
    entries = list(queries.steps_of(study))
    places = step_places(study, participants, entries)
    practice_pictures = {e.picture_id for e in entries if e.is_practice}
    round_counts: Counter = Counter()
    answers = list(
        CheckAnswer.objects.filter(participant__in=participants).values_list(
            "participant_id", "passed", "covered", "outside"
        )
    )
    checks = Counter((pk, passed) for pk, passed, _c, _o in answers)
    fastest = fastest_image(participants, places)
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
        rounds_csv = csv_writer(rounds_text, ROUND_COLUMNS)
        events_text = _utf8_text(events_csv_file)
        events_csv = csv_writer(events_text, EVENT_COLUMNS)
        alignment_text = _utf8_text(alignment_file)
        alignment_csv = csv_writer(alignment_text, ALIGNMENT_COLUMNS)
        exploration_id, original, previous = None, None, None
        for round_ in _finished_rounds(study, began):
            if round_.exploration_id != exploration_id:
                exploration_id, original, previous = round_.exploration_id, None, None
            if round_.index == 0:
                original = round_
            practice = round_.exploration.picture_id in practice_pictures
            place = places.get(round_.exploration_id, StepPlace(practice=practice))
            mask_file = _add_mask(archive, round_)
            row = round_row(study, round_, original, previous, mask_file, place)
            rounds_csv.writerow({key: inert(value) for key, value in row.items()})
            events_file.write(event_line(study, round_, place))
            write_events(events_csv, study, round_, place, attention)
            alignment_csv.writerows(alignment_rows(study, round_, place))
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
            images_csv = csv_writer(text, IMAGE_COLUMNS)
            for row in image_rows(study, began):
                images_csv.writerow({key: inert(value) for key, value in row.items()})
            text.flush()
            text.detach()
        detection_export.add_to(archive, study, began)
        with archive.open("participants.csv", "w") as entry:
            text = _utf8_text(entry)
            participants_csv = csv_writer(text, PARTICIPANT_COLUMNS)
            for p in participants:
                order = queries.order_of(entries, p.order_seed)
                row = {
                    "participant": p.code,
                    **participant_keys(p),
                    "status": queries.status_of(p),
                    "assignment_index": p.assignment_index,
                    "order_seed": "" if p.order_seed is None else p.order_seed,
                    "image_order": " ".join(str(e.picture_id) for e in order),
                    "consent_version": p.consent_version,
                    "consented_at": iso(p.consented_at),
                    "finished_at": iso(p.finished_at),
                    "screened_out_at": iso(p.screened_out_at),
                    "returned_at": iso(p.returned_at),
                    "closing_answer": p.closing_answer,
                    "blur_events": attention[p.pk, "blur"],
                    "hidden_events": attention[p.pk, "hidden"],
                    "rounds": round_counts[p.pk],
                    "checks_passed": checks[p.pk, True],
                    "checks_failed": checks[p.pk, False],
                    **check_shares(answers, p.pk),
                    "duration_s": seconds_between(p.finished_at, p.consented_at),
                    # A flag on the person: any image below the minimum (0 with none timed).
                    "too_fast": num(queries.too_fast(study, fastest.get(p.pk), unknown=0)),
                }
                participants_csv.writerow({key: inert(value) for key, value in row.items()})
            text.flush()
            text.detach()
        with archive.open("quiz.csv", "w") as entry:
            text = _utf8_text(entry)
            write_quiz(csv_writer(text, QUIZ_COLUMNS), participants)
            text.flush()
            text.detach()

        with archive.open("trials.csv", "w") as entry:
            text = _utf8_text(entry)
            trials_csv = csv_writer(text, understanding_export.TRIAL_COLUMNS)
            for row in understanding_export.trial_rows(participants):
                trials_csv.writerow({key: inert(value) for key, value in row.items()})
            text.flush()
            text.detach()


def _add_description(archive: zipfile.ZipFile, study: Study, began) -> None:
    """What makes the ZIP self-describing: the study file, the app's version and models,
    each image's superpixels (events' segment ids) and, where the study has a bonus rule,
    bonus.csv."""
    dumped = json.dumps(study_files.dump(study), indent=2, ensure_ascii=False) + "\n"
    archive.writestr("study.json", dumped.encode("utf-8", "backslashreplace"))
    manifest = provenance.manifest(study, began)
    archive.writestr("provenance.json", json.dumps(manifest, indent=2) + "\n")
    for entry in queries.steps_of(study):
        if entry.picture.segments:
            try:
                with entry.picture.segments.open("rb") as source:
                    archive.writestr(f"segments/{entry.picture_id}.png", source.read())
            except FileNotFoundError:
                pass  # made again on the next Region tap; the README says where ids come from
    if provenance.has_bonus_rule(study):
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerows((inert(pid), amount) for pid, amount in provenance.bonuses(study, began))
        archive.writestr("bonus.csv", text.getvalue())


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
