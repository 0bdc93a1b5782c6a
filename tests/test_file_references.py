"""Every stored file a row names is known to the purge (retention.referenced_files), and a file
missing anyway fails no page and no export: it is skipped and said so."""

import csv
import io
import zipfile
from datetime import timedelta

import pytest
from django.apps import apps
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import models
from django.utils import timezone

from painting import retention, review
from painting.storage import stored_files
from tests.helpers import HTMX, classify, join_study, make_study, mask_png, start, study_step

pytestmark = pytest.mark.slow

CUP = (180, 60, 430, 300)


def _stored() -> set[str]:
    return {name for name, _modified in stored_files(default_storage)}


@pytest.fixture
def stored_before(gallery) -> set[str]:
    """What the session's media folder holds before the test: other tests' files, whose rows
    were rolled back with their tests."""
    return _stored()


@pytest.fixture
def study_with_maps(stored_before, gallery, on_commit, settings, client):
    """A participant's exploration with a second method's map (kept only in the explanations
    JSON), a masked round, and a free-play exploration beside it."""
    settings.XAI_EXPLANATION_METHODS = ["gradcam"]
    study = make_study(gallery, conditions=[{"name": "eigen", "explanation_method": "eigencam"}])
    join_study(client, study, on_commit)
    exploration = study_step(client, study, 1, on_commit)
    classify(client, exploration, on_commit, mask_png((600, 400), CUP))
    exploration.refresh_from_db()
    assert sorted(exploration.explanations) == ["eigencam", "gradcam"]
    return study, exploration


def _json_fields():
    for model in apps.get_app_config("painting").get_models():
        for field in model._meta.get_fields():
            if isinstance(field, models.JSONField):
                yield model, field.name


def _strings_in(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings_in(item)


def test_every_stored_file_is_referenced_and_json_names_files_only_where_listed(
    study_with_maps, stored_before, client, gallery, on_commit
):
    study, exploration = study_with_maps
    free = start(client, gallery["chelsea"], on_commit)
    classify(client, free, on_commit, mask_png((451, 300), (0, 0, 80, 80)))
    stored = _stored() - stored_before
    referenced = retention.referenced_files()

    # Whatever the app wrote while people worked, a row names it where the purge looks.
    assert stored - referenced == set()
    # A JSON field that holds a file name must be listed where the purge reads names from.
    listed = {(model, name) for model, name in retention.FILE_NAMES_IN_JSON}
    for model, name in _json_fields():
        if (model, name) in listed:
            continue
        for value in model.objects.values_list(name, flat=True):
            assert not set(_strings_in(value)) & stored, f"{model.__name__}.{name} names files"


def test_purge_keeps_every_explanation_map_of_a_study(study_with_maps, media_root):
    _study, exploration = study_with_maps
    eigencam = exploration.explanations["eigencam"]
    long_ago = timezone.now() + timedelta(days=30)  # every file is far past the grace

    retention.delete_orphaned_files(now=long_ago)

    assert default_storage.exists(eigencam)
    assert default_storage.exists(exploration.saliency.name)


def test_a_missing_file_fails_no_page_and_no_export(
    study_with_maps, client, staff, tmp_path, gallery, on_commit
):
    study, exploration = study_with_maps
    classify(client, exploration, on_commit, mask_png((600, 400), (0, 0, 120, 400)))
    lost = exploration.rounds.get(index=1)
    for name in (exploration.explanations["eigencam"], lost.mask.name):
        default_storage.delete(name)
    review.model_map.cache_clear()  # as a process that had not read the map before
    picture = exploration.picture_id

    assert client.get(f"/e/{exploration.pk}/").status_code == 200
    heatmap = client.get(f"/e/{exploration.pk}/explanations/eigencam.png")
    assert heatmap.status_code == 404
    assert "no longer stored" in heatmap.content.decode()
    assert client.get(f"/e/{exploration.pk}/rounds/{lost.pk}/", headers=HTMX).status_code == 200
    summary = staff.get(f"/review/images/{picture}/").content.decode()
    assert 'data-method="gradcam"' in summary and 'data-method="eigencam"' not in summary
    url = f"/review/images/{picture}/explanations/efficientnet-lite2/eigencam.png"
    assert staff.get(url).status_code == 404
    assert staff.get(f"/review/e/{exploration.pk}/").status_code == 200

    out = tmp_path / "export.zip"
    call_command("export_study", study.slug, str(out), stdout=io.StringIO())
    with zipfile.ZipFile(out) as archive:
        rounds = list(csv.DictReader(io.StringIO(archive.read("rounds.csv").decode())))
        images = list(csv.DictReader(io.StringIO(archive.read("images.csv").decode())))
        readme = archive.read("README.txt").decode()
    mask_files = {int(row["round_index"]): row["mask_file"] for row in rounds}
    assert mask_files[0] == "" and mask_files[1] == "missing"
    assert mask_files[2].startswith("masks/")
    assert "“missing” where the round had a mask that is no longer stored" in readme
    assert [row["method"] for row in images] == ["gradcam"]
    assert images[0]["people"] == "1"
