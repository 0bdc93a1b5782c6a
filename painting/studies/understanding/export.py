"""trials.csv of a study's export (studies/export/): one row per trial per participant who answered
it, with what was shown and every answer (trials.py)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ...models import Participant, TrialAnswer

TRIAL_COLUMNS = {
    "participant": "the participant's code (as in participants.csv)",
    "external_id": "the recruiting platform's participant id (as in participants.csv)",
    "condition": "the participant's condition (empty: the study has none)",
    "phase": "pre (before the first image) or post (after the last)",
    "trial": "1-based number of the trial in its phase (the study file's order)",
    "kind": "distinction (four heatmaps, class names hidden), agreement (the model's answer and"
    " its heatmap, a 4-point scale) or simulation (a masked picture: what will the model say?)",
    "image": "the gallery image's slug (or title)",
    "picture": "the gallery image's id",
    "true_class": "the ImageNet class the study file says the photo shows (empty: none given)",
    "model_answer": "the model's top class: on the photo (distinction, agreement), on the masked"
    " picture (simulation)",
    "model_right": "1 when model_answer is true_class, 0 when not, empty without a true_class",
    "options": "the options in the order shown, separated by ' | ': class names (distinction:"
    " pictures A, B, C, D; simulation) or the agreement scale (1 to 4)",
    "answer_1": "Q1's answer as an option's text: distinction: the class of the picture chosen as"
    " the model's answer; agreement: the scale point chosen; simulation: the class chosen",
    "answer_1_position": "Q1's answer's position among the options (1-4)",
    "confidence_1": "Q1's confidence, 1 (guessing) to 5 (very sure); empty for agreement, whose"
    " scale is itself a confidence",
    "correct_1": "Q1 scored: 1 right, 0 wrong. distinction and simulation: the model's answer"
    " chosen; agreement: 3-4 on a right prediction or 1-2 on a wrong one",
    "answer_2": "distinction only, Q2 (which picture shows the correct class?): the class chosen",
    "answer_2_position": "Q2's answer's position among the options (1-4)",
    "confidence_2": "Q2's confidence, 1 to 5",
    "correct_2": "Q2 scored: 1 when the true class's picture was chosen, else 0",
    "chance": "the share right by guessing: 0.25 (distinction, simulation) or 0.5 (agreement)",
    "response_ms": "ms from the page's first paint to the answer (sent by the browser; empty"
    " where it sent none)",
    "answered_at": "when the server recorded the answer (UTC)",
}


def _flag(value) -> int | str:
    return "" if value is None else int(value)


def _position(options: list, answer: str) -> int | str:
    return options.index(answer) + 1 if answer in options else ""


def trial_rows(participants: Iterable[Participant]) -> Iterator[dict]:
    from .trials import CHANCE

    participants = list(participants)
    answers = (
        TrialAnswer.objects.filter(participant__in=participants)
        .select_related("participant__condition", "picture")
        .order_by("participant__consented_at", "participant_id", "-phase", "number")
    )
    for answer in answers:
        p = answer.participant
        yield {
            "participant": p.code,
            "external_id": p.external_id,
            "condition": p.condition.name if p.condition else "",
            "phase": answer.phase,
            "trial": answer.number,
            "kind": answer.kind,
            "image": answer.picture.slug or answer.picture.title,
            "picture": answer.picture_id,
            "true_class": answer.true_class,
            "model_answer": answer.model_answer,
            "model_right": _flag(answer.model_right),
            "options": " | ".join(answer.options),
            "answer_1": answer.answer_1,
            "answer_1_position": _position(answer.options, answer.answer_1),
            "confidence_1": _flag(answer.confidence_1),
            "correct_1": int(answer.correct_1),
            "answer_2": answer.answer_2,
            "answer_2_position": _position(answer.options, answer.answer_2),
            "confidence_2": _flag(answer.confidence_2),
            "correct_2": _flag(answer.correct_2),
            "chance": CHANCE.get(answer.kind, ""),
            "response_ms": _flag(answer.response_ms),
            "answered_at": answer.answered_at.isoformat(),
        }


README = [
    "trials.csv: the understanding tests (docs/understanding.md), one row per trial per",
    "  participant who answered it; pre rows before post rows.",
    *(f"  {name}: {meaning}" for name, meaning in TRIAL_COLUMNS.items()),
]
