"""The detect task in a study's export: detections.csv, one row per detection per round, with
the object id that matches it across an exploration's rounds (painting.detections), and its
lines in the README's codebook. The study export calls add_to() once."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator

from ... import detections
from ...models import Round, Study, Task

COLUMNS = {
    "study": "the study's slug",
    "participant": "the participant's code",
    "exploration": "id of the exploration (one participant × one image), as in rounds.csv",
    "round_index": "0 for the original, then 1, 2, … (rounds.csv's round_index)",
    "object_id": "the object's id within its exploration: a detection matched to one of the"
    " previous answered round (same class, IoU ≥ 0.3, greedy by IoU) keeps its id; otherwise"
    " it gets a new one. An id missing from a later round means the object was not found there",
    "class_index": "COCO class index (0–79) of the detector's class",
    "label": "the class's name",
    "score": "the detector's score (objectness × class probability), 0–1",
    "x0": "the box's left edge, in the original image's pixels (edits undone)",
    "y0": "its top edge",
    "x1": "its right edge",
    "y1": "its bottom edge",
    "followed": "1 when this is the object the participant followed at the export, else 0",
    "threshold": "the score from which the participant's page showed boxes, at the export",
}

README = [
    "detections.csv: the detect task (explorations whose model is an object detector), one row",
    "  per detection per finished round (scores down to 0.1); rounds.csv's top5 holds each",
    "  round's best box per class as label and probability.",
    *(f"  {name}: {meaning}" for name, meaning in COLUMNS.items()),
]


def rows(study: Study, consented_by) -> Iterator[dict]:
    rounds = (
        Round.objects.filter(
            exploration__participant__study=study,
            exploration__participant__consented_at__lte=consented_by,
            exploration__task=Task.DETECT,
            status=Round.Status.DONE,
        )
        .select_related("exploration__participant")
        .only(
            "index",
            "detections",
            "exploration__id",
            "exploration__followed",
            "exploration__detection_threshold",
            "exploration__participant__code",
        )
        .order_by("exploration__participant__consented_at", "exploration_id", "index")
    )
    batch: list[Round] = []
    for round_ in rounds.iterator(chunk_size=200):
        if batch and batch[0].exploration_id != round_.exploration_id:
            yield from _exploration_rows(study, batch)
            batch = []
        batch.append(round_)
    if batch:
        yield from _exploration_rows(study, batch)


def _exploration_rows(study: Study, rounds: list[Round]) -> Iterator[dict]:
    exploration = rounds[0].exploration
    found = [list(r.detections or []) for r in rounds]
    for round_, these, ids in zip(rounds, found, detections.track(found), strict=True):
        for d, object_id in zip(these, ids, strict=True):
            x0, y0, x1, y1 = d["box"]
            yield {
                "study": study.slug,
                "participant": exploration.participant.code,
                "exploration": exploration.pk,
                "round_index": round_.index,
                "object_id": object_id,
                "class_index": d["class_index"],
                "label": d["label"],
                "score": d["score"],
                "x0": x0,
                "y0": y0,
                "x1": x1,
                "y1": y1,
                "followed": int(exploration.followed == object_id),
                "threshold": exploration.detection_threshold,
            }


def add_to(archive: zipfile.ZipFile, study: Study, consented_by) -> None:
    """detections.csv into the study's ZIP, streamed (a header only when none detects)."""
    with archive.open("detections.csv", "w") as entry:
        text = io.TextIOWrapper(entry, encoding="utf-8", newline="")
        writer = csv.DictWriter(text, fieldnames=list(COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows(study, consented_by))
        text.flush()
        text.detach()
