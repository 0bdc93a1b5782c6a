"""A study as a file: manage.py load_study FILE.json and dump_study SLUG."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from painting.models import CONDITION_SWITCHES, Condition, Participant, Picture, Study, StudyImage
from painting.studies import files as study_files
from painting.studies import rules
from tests.helpers import ROOT, photo

EXAMPLE = ROOT / "docs" / "example_study.json"


def example() -> dict:
    return json.loads(EXAMPLE.read_text())


def load(tmp_path, data, name="study.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    out = io.StringIO()
    call_command("load_study", str(path), stdout=out)
    return out.getvalue()


def dumped(slug: str) -> dict:
    out = io.StringIO()
    call_command("dump_study", slug, stdout=out)
    return json.loads(out.getvalue())


def state(study: Study) -> tuple:
    """Everything a study file describes, as stored."""
    study = Study.objects.get(pk=study.pk)
    fields = {f.name: getattr(study, f.name) for f in Study._meta.fields if f.name != "id"}
    images = list(
        study.images.values_list(
            "picture__slug",
            "position",
            "is_practice",
            "is_attention_check",
            *study_files.CHECK_KEYS.values(),
        )
    )
    conditions = list(
        study.conditions.order_by("name").values(
            "name",
            *CONDITION_SWITCHES,
            "fills",
        )
    )
    return fields, images, conditions


def test_the_example_study_loads(gallery, tmp_path):
    message = load(tmp_path, example())
    assert message.strip() == "Created study 'masks-and-mugs': 6 images, 2 conditions."
    study = Study.objects.get(slug="masks-and-mugs")
    assert study.order == "random" and study.min_rounds_per_image == 2 and study.ask_prediction
    assert study.consent_text.startswith("This study is run by")
    assert study.completion_url == "https://app.prolific.com/submissions/complete"
    assert (study.completion_code, study.screened_out_code) == ("C1MUGS26", "SCRN0UT1")
    assert [(i.picture.slug, i.is_practice) for i in study.images.all()] == [
        ("camera", True),
        ("coffee", False),
        ("chelsea", False),
        ("astronaut", False),  # by its gallery title
        ("rocket", False),
        ("hubble", False),
    ]
    check = study.images.get(is_attention_check=True)
    assert check.picture.slug == "rocket" and study.screen_out_on_failed_check
    assert (check.check_left, check.check_width, check.check_max_outside) == (0.4, 0.2, 0.1)
    assert check.check_instruction.startswith("Cover the red square with paint; stay inside")
    assert study.max_consents_per_address == 3
    assert (study.screen_out_after_failed_checks, study.allow_missing_id) == (2, False)
    assert study.min_seconds_per_image == 10
    bare = study.conditions.get(name="paint-only")
    assert not bare.show_model_view and bare.show_deltas and bare.fills == ["mean"]
    assert [p["title"] for p in study.instruction_pages] == [
        "What you will do",
        "Paint, then Classify",
    ]
    assert study.instruction_pages[1]["image"] == "/static/painting/instructions/paint.svg"
    assert [q["answer"] for q in study.quiz] == ["What I think the program does not need", 1]


def test_load_dump_load_gives_the_same_study(gallery, tmp_path):
    load(tmp_path, example())
    study = Study.objects.get(slug="masks-and-mugs")
    before = state(study)
    first = dumped(study.slug)
    assert first["images"][0] == {"image": "camera", "practice": True}
    assert first["images"][3] == "astronaut"  # dumped by slug
    assert load(tmp_path, first, "again.json").startswith("Updated study 'masks-and-mugs'")
    assert state(study) == before and dumped(study.slug) == first
    assert Study.objects.count() == 1 and Condition.objects.count() == 2


def test_dump_writes_a_file(gallery, tmp_path):
    load(tmp_path, example())
    target = tmp_path / "out" / "study.json"
    target.parent.mkdir()
    call_command("dump_study", "masks-and-mugs", "-o", str(target), stderr=io.StringIO())
    assert json.loads(target.read_text()) == dumped("masks-and-mugs")
    with pytest.raises(CommandError, match="No study 'nope'"):
        call_command("dump_study", "nope", stdout=io.StringIO())


def test_loading_again_updates_by_slug(gallery, tmp_path):
    load(tmp_path, example())
    study = Study.objects.get(slug="masks-and-mugs")
    data = example()
    data["name"] = "Renamed"
    data["images"] = ["rocket", "coffee"]
    data["conditions"][1]["name"] = "everything"
    del data["completion_url"]  # a key left out takes its default
    load(tmp_path, data)
    study.refresh_from_db()
    assert study.name == "Renamed" and study.completion_url == ""
    assert [i.picture.slug for i in study.images.all()] == ["rocket", "coffee"]
    assert sorted(study.conditions.values_list("name", flat=True)) == ["everything", "paint-only"]


def test_a_condition_with_participants_cannot_be_dropped(gallery, tmp_path):
    load(tmp_path, example())
    study = Study.objects.get(slug="masks-and-mugs")
    rules.consent(study, "P-1", visitor="v1")
    taken = Participant.objects.get().condition.name
    data = example()
    data["conditions"] = [c for c in data["conditions"] if c["name"] != taken]
    with pytest.raises(CommandError, match=f"{taken!r} has participants"):
        load(tmp_path, data)
    assert study.conditions.count() == 2


def test_an_image_file_is_added_to_the_gallery_once(gallery, tmp_path):
    (tmp_path / "photos").mkdir()
    photo("chelsea").rotate(90, expand=True).save(tmp_path / "photos" / "Sideways Cat.png")
    data = {**example(), "images": ["coffee", {"image": "photos/Sideways Cat.png"}]}
    load(tmp_path, data)
    added = Picture.objects.get(slug="sideways-cat")
    assert added.is_gallery and added.title == "Sideways Cat" and added.file
    assert dumped("masks-and-mugs")["images"] == ["coffee", "sideways-cat"]
    load(tmp_path, data)  # again, by path: the same picture, not a copy
    assert Picture.objects.filter(sha256=added.sha256).count() == 1


BAD_FILES = [
    ({"colour": "red"}, "study: unknown key 'colour'"),
    ({"images": ["coffee", "no-such-photo"]}, "images[2]: unknown image 'no-such-photo'"),
    ({"images": ["coffee", "coffee"]}, "images: 'coffee' is listed twice"),
    ({"images": ["missing.png"]}, "images[1]: no image file"),
    ({"images": [{"image": "coffee", "practise": True}]}, "images[1]: unknown key 'practise'"),
    ({"images": [{"image": "coffee", "practice": "yes"}]}, "practice must be true or false"),
    ({"images": [42]}, "images[1]: an image is a gallery title or slug"),
    ({"images": [{"image": "coffee", "attention_check": 1}]}, "attention_check is an object"),
    (
        {"images": [{"image": "coffee", "attention_check": {"left": 0.9, "width": 0.2}}]},
        "images[1].attention_check: The attention check's square must lie inside the image.",
    ),
    (
        {"images": [{"image": "coffee", "attention_check": {"top": "0.1"}}]},
        "top must be a number from 0 to 1",
    ),
    (
        {"images": [{"image": "coffee", "attention_check": {"min_covered": 2}}]},
        "images[1].attention_check: A share from 0 to 1.",
    ),
    (
        {"images": [{"image": "coffee", "attention_check": {"colour": "red"}}]},
        "images[1].attention_check: unknown key 'colour'",
    ),
    (
        {"images": [{"image": "coffee", "practice": True, "attention_check": {}}]},
        "either a practice image or an attention check",
    ),
    ({"conditions": [{"name": "a", "fills": ["mean", "pink"]}]}, "unknown fill 'pink'"),
    ({"conditions": [{"name": "a", "fills": []}]}, "fills must be a list of at least one"),
    ({"conditions": [{"name": "a", "show_deltas": 1}]}, "show_deltas must be true or false"),
    ({"conditions": [{"name": "a"}, {"name": "a"}]}, "two conditions are called 'a'"),
    ({"conditions": [{"name": "a", "colour": 1}]}, "conditions[1]: unknown key 'colour'"),
    ({"conditions": ["a"]}, "a condition is an object"),
    ({"conditions": [{"show_deltas": False}]}, "name must be a string"),
    ({"order": "shuffled"}, "study: order: Value 'shuffled' is not a valid choice."),
    ({"min_rounds_per_image": -1}, "min_rounds_per_image: Ensure this value is greater"),
    ({"min_rounds_per_image": True}, "min_rounds_per_image must be a whole number"),
    ({"max_consents_per_address": -1}, "max_consents_per_address: Ensure this value is greater"),
    ({"max_consents_per_address": 40000}, "less than or equal to 10000"),
    ({"max_consents_per_address": "3"}, "max_consents_per_address must be a whole number"),
    ({"max_consents_per_address": None}, "max_consents_per_address must be a whole number"),
    ({"ask_prediction": "true"}, "ask_prediction must be true or false"),
    ({"participants_per_condition": -5}, "participants_per_condition: Ensure this value is"),
    ({"min_seconds_per_image": 2.5}, "min_seconds_per_image must be a whole number"),
    ({"bonus_per_finished": "1.50"}, "bonus_per_finished must be a number"),
    ({"bonus_per_finished": True}, "bonus_per_finished must be a number"),
    ({"bonus_per_finished": -1}, "bonus_per_finished: Ensure this value is greater"),
    ({"bonus_per_passed_check": 0.125}, "no more than 2 decimal places"),
    ({"bonus_per_passed_check": 1e9}, "no more than 6 digits"),
    ({"screen_out_after_failed_checks": -1}, "screen_out_after_failed_checks: Ensure this value"),
    ({"screen_out_after_failed_checks": 101}, "less than or equal to 100"),
    ({"screen_out_after_failed_checks": 1.5}, "screen_out_after_failed_checks must be a whole"),
    ({"screen_out_after_failed_checks": "2"}, "screen_out_after_failed_checks must be a whole"),
    ({"allow_missing_id": 1}, "allow_missing_id must be true or false"),
    ({"allow_missing_id": None}, "allow_missing_id must be true or false"),
    ({"min_seconds_per_image": -5}, "min_seconds_per_image: Ensure this value is greater"),
    ({"min_seconds_per_image": 10**12}, "less than or equal to 86400"),
    ({"min_seconds_per_image": "10"}, "min_seconds_per_image must be a whole number"),
    ({"completion_url": "javascript:alert(1)"}, "completion_url: Enter a valid URL."),
    ({"completion_code": "a b&c"}, "completion_code: Letters, digits, - and _ only."),
    ({"slug": "Not a slug!"}, "slug: Enter a valid “slug”"),
    ({"images": "coffee"}, "study: images must be a list"),
    ({"name": None}, "study: name must be a string"),
    ({"consent_text": "I agree \ud800"}, "The study file contains a lone surrogate"),
    ({"conditions": [{"name": "a\x00b"}]}, "The study file contains a NUL character"),
    ({"instruction_pages": "Read this"}, "study: instruction_pages must be a list"),
    ({"instruction_pages": ["Read this"]}, "instruction_pages[1]: a page is an object"),
    ({"instruction_pages": [{"title": "No text"}]}, "instruction_pages[1]: text must be"),
    ({"instruction_pages": [{"text": " "}]}, "instruction_pages[1]: text must be"),
    ({"instruction_pages": [{"text": "x" * 5001}]}, "text must be a string of 1 to 5000"),
    ({"instruction_pages": [{"text": "a", "colour": 1}]}, "[1]: unknown key 'colour'"),
    ({"instruction_pages": [{"text": "a"}] * 21}, "instruction_pages: at most 20 pages"),
    *[
        ({"instruction_pages": [{"text": "a", "image": image}]}, "image must be a path on this")
        for image in [
            "//evil.example/x.png",
            "https://evil.example/x.png",
            "javascript:alert(1)",
            '/static/x.png" onerror="alert(1)',
            "/static/a b.png",
            7,
        ]
    ],
    ({"quiz": {"question": "?"}}, "study: quiz must be a list"),
    ({"quiz": ["?"]}, "quiz[1]: a question is an object"),
    ({"quiz": [{"options": ["a", "b"], "answer": "a"}]}, "quiz[1]: question must be"),
    ({"quiz": [{"question": "?", "options": ["a"], "answer": "a"}]}, "options must be a list of 2"),
    ({"quiz": [{"question": "?", "options": "ab", "answer": "a"}]}, "options must be a list of 2"),
    ({"quiz": [{"question": "?", "options": ["a", 2], "answer": "a"}]}, "options must be a list"),
    ({"quiz": [{"question": "?", "options": ["a", "a"], "answer": "a"}]}, "listed twice"),
    ({"quiz": [{"question": "?", "options": ["a", "b"], "answer": "c"}]}, "one of the options"),
    ({"quiz": [{"question": "?", "options": ["a", "b"]}]}, "answer must be one of the options"),
    ({"quiz": [{"question": "?", "options": ["a", "b"], "answer": True}]}, "one of the options"),
    ({"quiz": [{"question": "?", "options": ["a", "b"], "answer": 2}]}, "not an option's index"),
    ({"quiz": [{"question": "?", "options": ["a", "b"], "answer": -1}]}, "not an option's index"),
    ({"quiz": [{"question": "?", "options": ["a", "b"], "answer": 0, "x": 1}]}, "unknown key"),
]


def test_a_bad_file_is_refused_with_a_clear_error_and_changes_nothing(gallery, tmp_path, subtests):
    load(tmp_path, example())
    study = Study.objects.get(slug="masks-and-mugs")
    before, pictures = state(study), Picture.objects.count()
    for change, problem in BAD_FILES:
        with subtests.test(change=change):
            with pytest.raises(CommandError) as refused:
                load(tmp_path, {**example(), "name": "Changed", **change})
            assert problem in str(refused.value) and "nothing changed" in str(refused.value)
            assert state(study) == before and Picture.objects.count() == pictures
            assert Study.objects.count() == 1


def test_every_problem_is_listed_at_once(gallery, tmp_path):
    data = {**example(), "colour": 1, "images": ["nope"], "order": "x"}
    with pytest.raises(CommandError) as refused:
        load(tmp_path, data)
    message = str(refused.value)
    assert "unknown key 'colour'" in message and "unknown image 'nope'" in message
    assert "order:" in message and not Study.objects.exists()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "is not valid JSON: Expecting property name"),
        ("[1, 2]", "A study file is a JSON object"),
        ('{"slug": "x"}', "study: 'name' is missing"),
    ],
)
def test_a_file_that_is_no_study_is_refused(gallery, tmp_path, text, problem):
    with pytest.raises(CommandError, match=problem):
        load(tmp_path, text)
    assert not Study.objects.exists()


def test_an_unreadable_image_file_adds_nothing(gallery, tmp_path, settings):
    (tmp_path / "fake.png").write_bytes(b"not a png at all")
    Image.new("RGB", (50, 50)).save(tmp_path / "good.png")
    data = {**example(), "images": ["good.png", "fake.png"]}
    with pytest.raises(CommandError, match=r"images\[2\]: fake.png:"):
        load(tmp_path, data)
    assert not Picture.objects.filter(is_gallery=True, slug="good").exists()
    assert not Study.objects.exists() and not StudyImage.objects.exists()


def test_a_missing_file_is_a_clear_error(tmp_path, db):
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("load_study", str(tmp_path / "absent.json"), stdout=io.StringIO())


def test_dump_of_the_model_defaults_loads_back(gallery):
    study = Study.objects.create(name="Bare", slug="bare", consent_text="Yes?")
    data = study_files.dump(study)
    assert data["images"] == [] and data["conditions"] == [] and data["order"] == "fixed"
    study_files.load(data)
    assert study_files.dump(Study.objects.get(slug="bare")) == data
