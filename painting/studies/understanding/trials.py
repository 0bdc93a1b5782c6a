"""Understanding tests before and after the images (HIVE's distinction and agreement tasks, and
forward simulation): the trials a study file may give, the options each participant sees, how
an answer is checked and scored, and where a participant goes next. No torch here: the model's
answers and the maps are computed beforehand by `manage.py prepare_tests`
(prepare.py) and read from Study.test_material.

- distinction: one photo, four heatmaps (the model's top-4 classes, or its top-3 and the true
  class when it is wrong), normalised together, class names hidden. Q1: which is the class the
  model predicts? Q2: which is the correct class? Each with a confidence of 1–5. Chance 25%.
- agreement: the model's answer and its heatmap; a 4-point scale from "fairly confident the
  prediction is incorrect" to "fairly confident it is correct". Right for 3–4 on a correct
  prediction and 1–2 on a wrong one. Chance 50%.
- simulation: a masked picture; which of four classes will the model answer? The model's
  answer and three others of its top-5 on the masked picture, in random order. Chance 25%.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path

from django.db import IntegrityError, transaction
from PIL import Image

from ...masking import Fill
from ...models import Participant, Picture, Study, TrialAnswer

PHASES = ("pre", "post")
KINDS = ("distinction", "agreement", "simulation")
CHANCE = {"distinction": 0.25, "agreement": 0.5, "simulation": 0.25}
TRIAL_KEYS = ("kind", "image", "true_class", "mask", "fill", "picture")  # picture: as stored
TESTS_KEYS = ("method", "true_classes", *PHASES)
MASK_KEYS = ("left", "top", "width", "height")
MAX_TRIALS = 50
CONFIDENCE = (1, 2, 3, 4, 5)
AGREEMENT_SCALE = (
    "Fairly confident the prediction is incorrect",
    "Somewhat confident the prediction is incorrect",
    "Somewhat confident the prediction is correct",
    "Fairly confident the prediction is correct",
)
LETTERS = "ABCD"
ANSWERED = "This question is answered already (only your first answer counts), or not yet open."
LABELS_FILE = Path(__file__).resolve().parents[2] / "inference" / "imagenet_classes.txt"


@functools.cache
def class_names() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names every model of the registry answers with."""
    return tuple(LABELS_FILE.read_text().splitlines())


# --- A study file's tests --------------------------------------------------------------------


def _gallery_picture(ref, where: str, problems: list[str]) -> Picture | None:
    if not isinstance(ref, str) or not ref.strip():
        problems.append(f"{where}: image must be a gallery image's slug or title")
        return None
    gallery = Picture.objects.filter(is_gallery=True)
    found = gallery.filter(slug=ref).first() or gallery.filter(title=ref).first()
    if found is None:
        problems.append(f"{where}: unknown image {ref!r}: no gallery image has this slug or title")
    return found


def _check_class(name, where: str, problems: list[str]) -> None:
    if not isinstance(name, str) or name not in class_names():
        problems.append(
            f"{where}: unknown class {name!r}: true_class must be an ImageNet class name as the "
            "model lists it (painting/inference/imagenet_classes.txt)"
        )


MASK_FILE_SIDE = 256  # a mask file is kept in the study's tests at most this large
MASK_FILE_MAX_PIXELS = 40_000_000


def _mask_file(mask, base_dir: Path | None, picture, where: str, problems: list[str]):
    """A mask image (white = covered; a file path, or {"png": base64} as dumped) as
    {"png": base64 of a small 1-bit PNG}, or None with the problem noted."""
    try:
        if isinstance(mask, str):
            path = Path(mask).expanduser()
            path = path if path.is_absolute() or base_dir is None else base_dir / path
            data = path.read_bytes()
        else:
            data = base64.b64decode(mask["png"], validate=True)
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MASK_FILE_MAX_PIXELS:
                raise ValueError("too large")
            image.load()
            covered = image.convert("L").point(lambda v: 255 if v >= 128 else 0)
    except (OSError, ValueError, TypeError, KeyError, Image.DecompressionBombError) as exc:
        problems.append(f"{where}: mask file {str(mask)[:80]!r} cannot be read as an image ({exc})")
        return None
    if picture is not None:
        shape, photo = covered.width / covered.height, picture.width / picture.height
        if abs(shape / photo - 1) > 0.02:
            problems.append(
                f"{where}: mask file out of bounds: it is {covered.width}×{covered.height}, not "
                f"the shape of the photo ({picture.width}×{picture.height})"
            )
    if not covered.getbbox():
        problems.append(f"{where}: the mask file covers nothing (white = covered)")
    covered.thumbnail((MASK_FILE_SIDE, MASK_FILE_SIDE), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    covered.convert("1").save(buffer, format="PNG", optimize=True)
    return {"png": base64.b64encode(buffer.getvalue()).decode("ascii")}


def _check_mask(mask, where: str, problems: list[str], base_dir=None, picture=None) -> dict | None:
    if isinstance(mask, str) or (isinstance(mask, dict) and "png" in mask):
        return _mask_file(mask, base_dir, picture, where, problems)
    if not isinstance(mask, dict):
        problems.append(
            f"{where}: mask is a rectangle {{left, top, width, height}} in shares, or a mask "
            "image's file path (white = covered)"
        )
        return None
    problems += [f"{where}.mask: unknown key {k!r}" for k in mask if k not in MASK_KEYS]
    values = {}
    for key in MASK_KEYS:
        value = mask.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"{where}.mask: {key} must be a number from 0 to 1")
            continue
        values[key] = float(value)
    if len(values) < 4:
        return None
    inside = all(0 <= v <= 1 for v in values.values())
    if not inside or values["width"] <= 0 or values["height"] <= 0:
        problems.append(f"{where}.mask: out of bounds: each value is a share of the image (0–1)")
    elif values["left"] + values["width"] > 1 + 1e-9 or values["top"] + values["height"] > 1 + 1e-9:
        problems.append(f"{where}.mask: out of bounds: it reaches past the image's edge")
    return values


def _check_trial(
    item, where: str, true_classes: dict, problems: list[str], base_dir: Path | None
) -> dict | None:
    if not isinstance(item, dict):
        problems.append(f"{where}: a trial is an object with a kind and an image")
        return None
    problems += [f"{where}: unknown key {k!r}" for k in item if k not in TRIAL_KEYS]
    kind = item.get("kind")
    if kind not in KINDS:
        problems.append(f"{where}: kind must be one of {', '.join(KINDS)}")
    picture = _gallery_picture(item.get("image"), where, problems)
    trial = {"kind": kind, "image": item.get("image")}
    true_class = item.get("true_class", true_classes.get(item.get("image")))
    if true_class is not None:
        _check_class(true_class, where, problems)
        trial["true_class"] = true_class
    elif kind in ("distinction", "agreement"):
        problems.append(f"{where}: {kind} trials need the image's true_class")
    if kind == "simulation":
        trial["mask"] = _check_mask(item.get("mask"), where, problems, base_dir, picture)
        fill = item.get("fill", Fill.MEAN.value)
        if fill not in {f.value for f in Fill}:
            problems.append(f"{where}: unknown fill {fill!r}")
        trial["fill"] = fill
    elif "mask" in item or "fill" in item:
        problems.append(f"{where}: only a simulation trial takes a mask and a fill")
    if picture is not None:
        trial["picture"] = str(picture.pk)
    return trial


def check_tests(data, base_dir: Path | None = None) -> tuple[dict, list[str]]:
    """A study file's "tests" as stored in Study.tests, and every problem with them (mask file
    paths are relative to base_dir, the study file's folder)."""
    from ...inference import methods

    if data is None or data == {}:
        return {}, []
    if not isinstance(data, dict):
        return {}, ['tests: an object {"pre": [trial, …], "post": [trial, …]}']
    problems = [f"tests: unknown key {k!r}" for k in data if k not in TESTS_KEYS]
    method = data.get("method", methods.DEFAULT)
    if method not in methods.METHODS:
        problems.append(f"tests: unknown method {method!r} ({', '.join(methods.METHODS)})")
    true_classes = data.get("true_classes", {})
    if not isinstance(true_classes, dict):
        problems.append("tests: true_classes is an object {image: class name}")
        true_classes = {}
    for image, name in true_classes.items():
        _check_class(name, f"tests.true_classes[{image!r}]", problems)
    tests: dict = {"method": method}
    for phase in PHASES:
        trials = data.get(phase, [])
        if not isinstance(trials, list) or len(trials) > MAX_TRIALS:
            problems.append(f"tests: {phase} must be a list of at most {MAX_TRIALS} trials")
            continue
        tests[phase] = [
            _check_trial(item, f"tests.{phase}[{n}]", true_classes, problems, base_dir)
            for n, item in enumerate(trials, 1)
        ]
    return tests, problems


def dumped(tests: dict) -> dict:
    """Study.tests as a study file gives them."""
    if not tests:
        return {}
    phases = {
        p: [{k: v for k, v in t.items() if k != "picture"} for t in tests.get(p, [])]
        for p in PHASES
    }
    return {"method": tests.get("method"), **phases}


def fingerprint(tests: dict) -> str:
    """What prepared material was computed from: stale material is not used."""
    return hashlib.sha256(json.dumps(tests, sort_keys=True).encode()).hexdigest()[:16]


# --- What a participant sees ------------------------------------------------------------------


def trials_of(study: Study, phase: str) -> list[dict]:
    return list((study.tests or {}).get(phase) or [])


def material_of(study: Study) -> dict | None:
    """The prepared material, when it was prepared from the study's current tests."""
    material = study.test_material or {}
    if not study.tests or material.get("fingerprint") != fingerprint(study.tests):
        return None
    return material


def key(phase: str, number: int) -> str:
    return f"{phase}-{number}"


def _rng(participant: Participant, phase: str, number: int) -> random.Random:
    seed = hashlib.sha256(f"{participant.pk}:{phase}:{number}".encode()).digest()
    return random.Random(int.from_bytes(seed[:8], "big"))


@dataclass(frozen=True)
class Trial:
    """One trial as one participant sees it (the order of the options is theirs)."""

    phase: str
    number: int
    count: int  # trials in the phase
    kind: str
    picture_id: str
    true_class: str
    model_answer: str
    model_right: bool | None
    options: list[str]  # class names (or the agreement scale), in the order shown
    material: dict

    @property
    def questions(self) -> int:
        return 2 if self.kind == "distinction" else 1

    @property
    def asks_confidence(self) -> bool:
        return self.kind != "agreement"

    @property
    def chance(self) -> float:
        return CHANCE[self.kind]

    def scored(self, choice: int, question: int = 1) -> bool:
        """Whether option number `choice` (0-based) is the right answer to the question."""
        if self.kind == "agreement":
            return (choice >= 2) == bool(self.model_right)
        if self.kind == "distinction" and question == 2:
            return self.options[choice] == self.true_class
        return self.options[choice] == self.model_answer


def trial_for(participant: Participant, phase: str, number: int) -> Trial | None:
    """The participant's trial, or None where there is none (or no material for it yet)."""
    study = participant.study
    trials = trials_of(study, phase)
    material = material_of(study)
    if phase not in PHASES or not 1 <= number <= len(trials) or material is None:
        return None
    spec, made = trials[number - 1], material["trials"][key(phase, number)]
    rng = _rng(participant, phase, number)
    if spec["kind"] == "agreement":
        options = list(AGREEMENT_SCALE)
    elif spec["kind"] == "distinction":
        options = list(made["classes"])
        rng.shuffle(options)
    else:
        answer, others = made["classes"][0], made["classes"][1:5]
        options = [answer, *rng.sample(others, min(3, len(others)))]
        rng.shuffle(options)
    return Trial(
        phase=phase,
        number=number,
        count=len(trials),
        kind=spec["kind"],
        picture_id=spec["picture"],
        true_class=spec.get("true_class", ""),
        model_answer=made["model_answer"],
        model_right=made["model_right"],
        options=options,
        material=made,
    )


# --- Answers ----------------------------------------------------------------------------------


class Refused(Exception):
    """An answer that is not taken (nothing written); status: the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message, self.status = message, status


def _choice(data, name: str, count: int) -> int:
    value = data.get(name, "")
    if not (isinstance(value, str) and value.isdigit() and int(value) < count):
        raise Refused("Please choose one of the options shown for every question.")
    return int(value)


def _confidence(data, name: str) -> int:
    value = data.get(name, "")
    if not (isinstance(value, str) and value.isdigit() and int(value) in CONFIDENCE):
        raise Refused("Please say how sure you are (1 to 5) for every question.")
    return int(value)


def response_ms(value) -> int | None:
    """The browser's time from the page's first paint to the answer; None where it sent none
    that makes sense (no JavaScript, a clock gone wrong)."""
    try:
        ms = int(value)
    except (TypeError, ValueError):
        return None
    return ms if 0 <= ms <= 6 * 3600 * 1000 else None


def next_number(participant: Participant, phase: str) -> int | None:
    """The participant's first unanswered trial of the phase; None when all are answered."""
    answered = set(
        TrialAnswer.objects.filter(participant=participant, phase=phase).values_list(
            "number", flat=True
        )
    )
    for number in range(1, len(trials_of(participant.study, phase)) + 1):
        if number not in answered:
            return number
    return None


def record(participant: Participant, trial: Trial, data) -> TrialAnswer:
    """Check and store the participant's answers to the trial, once; Refused (nothing written)
    for an option not shown, a confidence out of range, a trial out of turn or answered."""
    choices = [_choice(data, f"q{q}", len(trial.options)) for q in range(1, trial.questions + 1)]
    sure = [
        _confidence(data, f"c{q}") if trial.asks_confidence else None
        for q in range(1, trial.questions + 1)
    ]
    values = {
        "participant": participant,
        "phase": trial.phase,
        "number": trial.number,
        "kind": trial.kind,
        "picture_id": trial.picture_id,
        "true_class": trial.true_class,
        "model_answer": trial.model_answer,
        "model_right": trial.model_right,
        "options": trial.options,
        "answer_1": trial.options[choices[0]],
        "confidence_1": sure[0],
        "correct_1": trial.scored(choices[0], 1),
        "response_ms": response_ms(data.get("ms")),
    }
    if trial.questions == 2:
        values |= {
            "answer_2": trial.options[choices[1]],
            "confidence_2": sure[1],
            "correct_2": trial.scored(choices[1], 2),
        }
    try:
        with transaction.atomic():
            Participant.objects.select_for_update().get(pk=participant.pk)
            if next_number(participant, trial.phase) != trial.number:
                raise Refused(ANSWERED, 409)
            return TrialAnswer.objects.create(**values)
    except IntegrityError as exc:
        raise Refused(ANSWERED, 409) from exc


# --- Where the participant goes ---------------------------------------------------------------


def pending(participant: Participant, phase: str) -> int | None:
    """The trial of the phase the participant must answer before going on, or None."""
    if not trials_of(participant.study, phase):
        return None
    return next_number(participant, phase)


def views_statically(participant: Participant) -> bool:
    """Whether the participant's condition shows each image with the model's answer and its
    heatmap in place of the canvas."""
    return bool(participant.condition_id and participant.condition.static_viewing)


def static_view_of(study: Study, picture_id) -> dict | None:
    """The model's answer and heatmap of a study image, as prepared for static viewing."""
    material = material_of(study)
    return material and material.get("images", {}).get(str(picture_id))
