"""A study as a JSON file (`manage.py load_study` / `dump_study`), so that the exact study is
versioned with the paper: docs/example_study.json shows every key.

The file is the whole study: a key left out takes its default, images and conditions are
exactly those listed. Loading checks everything first (keys, types, images, fills, the
model's own validators) and reports every problem at once; only then does it write, in one
transaction, so a bad file changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify
from PIL import Image

from .. import images, json_text, services
from ..masking import Fill
from ..models import CONDITION_SWITCHES, Condition, Picture, Study, StudyImage, Task
from .understanding import trials as understanding

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")

# File key: (model field, type, required). The order is the dumped file's.
STUDY_KEYS: dict[str, tuple[str, type, bool]] = {
    "slug": ("slug", str, True),
    "name": ("name", str, True),
    "consent": ("consent_text", str, True),
    "consent_version": ("consent_version", str, False),
    "instructions": ("instructions", str, False),
    "closing_question": ("closing_question", str, False),
    "order": ("order", str, False),
    "min_rounds_per_image": ("min_rounds_per_image", int, False),
    "ask_prediction": ("ask_prediction", bool, False),
    "allow_resume_elsewhere": ("allow_resume_elsewhere", bool, False),
    "max_consents_per_address": ("max_consents_per_address", int, False),
    "time_limit_per_image_s": ("time_limit_per_image_s", int, False),
    "time_limit_s": ("time_limit_s", int, False),
    "min_screen_width": ("min_screen_width", int, False),
    "min_screen_height": ("min_screen_height", int, False),
    "screen_out_on_failed_check": ("screen_out_on_failed_check", bool, False),
    "participants_per_condition": ("participants_per_condition", int, False),
    "min_seconds_per_image": ("min_seconds_per_image", int, False),
    "bonus_per_finished": ("bonus_per_finished", float, False),
    "bonus_per_passed_check": ("bonus_per_passed_check", float, False),
    "screen_out_after_failed_checks": ("screen_out_after_failed_checks", int, False),
    "allow_missing_id": ("allow_missing_id", bool, False),
    "is_open": ("is_open", bool, False),
    "completion_url": ("completion_url", str, False),
    "completion_code": ("completion_code", str, False),
    "screened_out_url": ("screened_out_url", str, False),
    "screened_out_code": ("screened_out_code", str, False),
    # Onboarding: checked by Study.clean (instructions.page_problems, quiz_problems).
    "instruction_pages": ("instruction_pages", list, False),
    "quiz": ("quiz", list, False),
}
LIST_KEYS = ("images", "conditions")
CONDITION_KEYS = ("name", *CONDITION_SWITCHES, "fills", "static_viewing", "task")
IMAGE_KEYS = ("image", "practice", "attention_check", "task")
# An image's "attention_check" object: file key -> StudyImage field (all optional).
CHECK_KEYS = {
    "instruction": "check_instruction",
    "left": "check_left",
    "top": "check_top",
    "width": "check_width",
    "height": "check_height",
    "min_covered": "check_min_covered",
    "max_outside": "check_max_outside",
}


class StudyFileError(ValueError):
    """Everything wrong with a study file, one problem a line."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class _Image:
    ref: str
    practice: bool
    task: str = ""  # empty: the condition's, else classify
    check: dict | None = None  # StudyImage's check fields, for an attention check
    picture: Picture | None = None  # a gallery picture, or
    path: Path | None = None  # an image file to add to the gallery
    working: Image.Image | None = None
    sha256: str = ""


def _type_name(kind: type) -> str:
    names = {str: "a string", int: "a whole number", float: "a number", bool: "true or false"}
    return {**names, list: "a list"}[kind]


def _is(value, kind: type) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:  # an amount: 1 and 1.5 both
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, kind)


def _unknown(keys, known, where: str) -> list[str]:
    return [
        f"{where}: unknown key {key!r} (known: {', '.join(known)})"
        for key in keys
        if key not in known
    ]


def _check_images(data: list, base_dir: Path, problems: list[str]) -> list[_Image]:
    found: list[_Image] = []
    for number, item in enumerate(data, 1):
        where = f"images[{number}]"
        if isinstance(item, dict):
            problems += _unknown(item, IMAGE_KEYS, where)
            ref, practice = item.get("image"), item.get("practice", False)
            if not isinstance(practice, bool):
                problems.append(f"{where}: practice must be true or false")
        else:
            ref, practice = item, False
        if not isinstance(ref, str) or not ref.strip():
            problems.append(f"{where}: an image is a gallery title or slug, or an image file path")
            continue
        image = _Image(ref, practice is True)
        if isinstance(item, dict) and "task" in item:
            image.task = _task(item["task"], where, problems)
        if isinstance(item, dict) and "attention_check" in item:
            image.check = _check_check(item["attention_check"], image, where, problems)
        if ref.lower().endswith(IMAGE_SUFFIXES):
            _open_file(image, base_dir, where, problems)
        else:
            _find_in_gallery(image, where, problems)
        found.append(image)
    return found


def _check_check(data, image: _Image, where: str, problems: list[str]) -> dict | None:
    """An attention check's settings as StudyImage fields (defaults for those left out)."""
    if not isinstance(data, dict):
        problems.append(f"{where}: attention_check is an object ({', '.join(CHECK_KEYS)})")
        return None
    problems += _unknown(data, CHECK_KEYS, f"{where}.attention_check")
    entry = StudyImage(is_attention_check=True, is_practice=image.practice)
    for key, field in CHECK_KEYS.items():
        if key not in data:
            continue
        value, kind = data[key], (str if key == "instruction" else float)
        if kind is float and _is(value, int):
            value = float(value)
        if not _is(value, kind):
            wanted = "a string" if kind is str else "a number from 0 to 1"
            problems.append(f"{where}.attention_check: {key} must be {wanted}")
            continue
        setattr(entry, field, value)
    try:
        entry.full_clean(exclude=["study", "picture", "position"])
    except ValidationError as exc:
        problems += [f"{where}.attention_check: {m}" for m in exc.messages]
    return {field: getattr(entry, field) for field in CHECK_KEYS.values()}


def _find_in_gallery(image: _Image, where: str, problems: list[str]) -> None:
    gallery = Picture.objects.filter(is_gallery=True)
    by_slug = gallery.filter(slug=image.ref).first()
    by_title = list(gallery.filter(title=image.ref)[:2])
    if by_slug:
        image.picture = by_slug
    elif len(by_title) == 1:
        image.picture = by_title[0]
    elif by_title:
        problems.append(f"{where}: several gallery images are titled {image.ref!r}: use a slug")
    else:
        slugs = ", ".join(gallery.exclude(slug=None).values_list("slug", flat=True))
        problems.append(
            f"{where}: unknown image {image.ref!r}: no gallery image has this slug or title"
            f" (slugs: {slugs}), and it is not an image file path ({', '.join(IMAGE_SUFFIXES)})"
        )


def _open_file(image: _Image, base_dir: Path, where: str, problems: list[str]) -> None:
    """Decoded now, with the upload's limits: a file that cannot be added stops the load
    before anything is written."""
    path = Path(image.ref).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if not path.is_file():
        problems.append(f"{where}: no image file {str(path)!r}")
        return
    try:
        with path.open("rb") as file:
            image.working = images.open_upload(
                file,
                max_pixels=settings.XAI_MAX_UPLOAD_PIXELS,
                max_side=settings.XAI_WORKING_MAX_SIDE,
            )
    except images.ImageRejected as exc:
        problems.append(f"{where}: {path.name}: {exc}")
        return
    image.path = path
    # The same photo loaded before (by this file or another) is the same gallery picture.
    image.sha256 = images.sha256_hex(images.png_bytes(image.working))
    image.picture = Picture.objects.filter(is_gallery=True, sha256=image.sha256).first()


def _task(value, where: str, problems: list[str]) -> str:
    if value == "" or value in Task.values:
        return value
    problems.append(f"{where}: task must be one of {', '.join(Task.values)}")
    return ""


def _check_conditions(data: list, study: Study | None, problems: list[str]) -> list[dict]:
    conditions, names = [], set()
    fill_names = [f.value for f in Fill]
    for number, item in enumerate(data, 1):
        where = f"conditions[{number}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: a condition is an object with a name and its switches")
            continue
        problems += _unknown(item, CONDITION_KEYS, where)
        name = item.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 64:
            problems.append(f"{where}: name must be a string of 1 to 64 characters")
            continue
        if name in names:
            problems.append(f"{where}: two conditions are called {name!r}")
        names.add(name)
        values = {"name": name}
        for switch in CONDITION_SWITCHES:
            values[switch] = item.get(switch, True)
            if not isinstance(values[switch], bool):
                problems.append(f"{where} ({name}): {switch} must be true or false")
        values["task"] = _task(item.get("task", ""), f"{where} ({name})", problems)
        values["static_viewing"] = item.get("static_viewing", False)
        if not isinstance(values["static_viewing"], bool):
            problems.append(f"{where} ({name}): static_viewing must be true or false")
        if values["task"] == Task.DETECT and values["static_viewing"] is True:
            problems.append(f"{where} ({name}): static viewing shows a classifier's map, not boxes")
        fills = item.get("fills", fill_names)
        if not isinstance(fills, list) or not fills:
            problems.append(f"{where} ({name}): fills must be a list of at least one fill")
        else:
            for fill in fills:
                if fill not in fill_names:
                    problems.append(
                        f"{where} ({name}): unknown fill {fill!r} (fills: {', '.join(fill_names)})"
                    )
            if len(set(map(str, fills))) != len(fills):
                problems.append(f"{where} ({name}): a fill is listed twice")
        values["fills"] = [f for f in fill_names if f in fills] if isinstance(fills, list) else []
        conditions.append(values)
    if study is not None:
        for condition in study.conditions.exclude(name__in=names):
            if condition.participants.exists():
                problems.append(
                    f"conditions: {condition.name!r} has participants, so it cannot be removed:"
                    " keep it in the file"
                )
    return conditions


def _check(data, base_dir: Path) -> tuple[Study, list[_Image], list[dict]]:
    if not isinstance(data, dict):
        raise StudyFileError(["A study file is a JSON object (see docs/example_study.json)."])
    if problem := json_text.unstorable(data):
        raise StudyFileError([f"The study file {problem}."])
    unreadable = []
    for key, (_field, kind, required) in STUDY_KEYS.items():
        if required and key not in data:
            unreadable.append(f"study: {key!r} is missing")
        elif key in data and not _is(data[key], kind):
            unreadable.append(f"study: {key} must be {_type_name(kind)}")
    for key in LIST_KEYS:
        if key in data and not isinstance(data[key], list):
            unreadable.append(f"study: {key} must be a list")
    problems = _unknown(data, [*STUDY_KEYS, *LIST_KEYS, "tests"], "study")
    if unreadable:  # the rest reads these values
        raise StudyFileError(problems + unreadable)

    slug = data["slug"]
    existing = Study.objects.filter(slug=slug).first()
    study = existing or Study(slug=slug)
    defaults = Study()
    for key, (field, kind, _required) in STUDY_KEYS.items():
        value = data.get(key, getattr(defaults, field))
        setattr(study, field, Decimal(str(value)) if kind is float else value)
    try:
        study.full_clean(exclude=["created_at"])
    except ValidationError as exc:
        by_field = {field: key for key, (field, _k, _r) in STUDY_KEYS.items()}
        for field, messages in exc.message_dict.items():
            problems += [f"study: {by_field.get(field, field)}: {m}" for m in messages]

    chosen = _check_images(data.get("images", []), base_dir, problems)
    seen: set = set()
    for image in chosen:
        key = image.picture.pk if image.picture else image.sha256
        if key in seen:
            problems.append(f"images: {image.ref!r} is listed twice")
        seen.add(key)
    conditions = _check_conditions(data.get("conditions", []), existing, problems)
    study.tests, test_problems = understanding.check_tests(data.get("tests"), base_dir)
    problems += test_problems
    if problems:
        raise StudyFileError(problems)
    return study, chosen, conditions


def _free_slug(stem: str) -> str:
    base = slugify(stem)[:90] or "image"
    slug, n = base, 1
    while Picture.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def load(data, base_dir: Path | str = ".") -> tuple[Study, bool]:
    """Create or update the study the data describe (by slug); (study, created). Raises
    StudyFileError, having changed nothing, when the data are not a valid study."""
    study, chosen, conditions = _check(data, Path(base_dir))
    created = study.pk is None
    added: list[Picture] = []
    try:
        with transaction.atomic():
            for image in chosen:
                if image.picture is None:
                    image.picture = services.add_picture(
                        image.working,
                        title=image.path.stem[:200],
                        slug=_free_slug(image.path.stem),
                        is_gallery=True,
                        source=f"study file: {image.path.name}",
                    )
                    added.append(image.picture)
            study.save()
            study.images.all().delete()
            StudyImage.objects.bulk_create(
                StudyImage(
                    study=study,
                    picture=i.picture,
                    position=n,
                    is_practice=i.practice,
                    task=i.task,
                    is_attention_check=i.check is not None,
                    **(i.check or {}),
                )
                for n, i in enumerate(chosen)
            )
            study.conditions.exclude(name__in=[c["name"] for c in conditions]).delete()
            for values in conditions:
                Condition.objects.update_or_create(
                    study=study, name=values["name"], defaults=values
                )
    except BaseException:
        for picture in added:  # written for rows that were rolled back
            for field in (picture.file, picture.thumbnail):
                field.storage.delete(field.name)
        raise
    return study, created


def dump(study: Study) -> dict:
    """The study as a file's data: load(dump(study)) gives the same study."""
    data = {key: getattr(study, field) for key, (field, _k, _r) in STUDY_KEYS.items()}
    for key, (_field, kind, _r) in STUDY_KEYS.items():
        if kind is float:  # a Decimal field: JSON has numbers only
            data[key] = float(data[key])
    data["images"] = [
        _dumped_image(e) for e in study.images.select_related("picture").order_by("position", "pk")
    ]
    data["conditions"] = [
        {
            "name": c.name,
            **{s: getattr(c, s) for s in CONDITION_SWITCHES},
            "fills": c.fills,
            **({"static_viewing": True} if c.static_viewing else {}),
            **({"task": c.task} if c.task else {}),
        }
        for c in study.conditions.order_by("pk")
    ]
    if study.tests:
        data["tests"] = understanding.dumped(study.tests)
    return data


def _dumped_image(entry: StudyImage) -> str | dict:
    if entry.task:
        dumped = _dumped_image_itself(entry)
        dumped = dumped if isinstance(dumped, dict) else {"image": dumped}
        return {**dumped, "task": entry.task}
    return _dumped_image_itself(entry)


def _dumped_image_itself(entry: StudyImage) -> str | dict:
    if entry.is_attention_check:
        check = {key: getattr(entry, field) for key, field in CHECK_KEYS.items()}
        return {"image": _image_ref(entry.picture), "attention_check": check}
    if entry.is_practice:
        return {"image": _image_ref(entry.picture), "practice": True}
    return _image_ref(entry.picture)


def _image_ref(picture: Picture) -> str:
    return picture.slug or picture.title
