import io

import pytest
import torch
from django.core.management import CommandError, call_command

from painting.gallery import PHOTOS
from painting.inference import registry
from painting.models import Picture
from tests.helpers import HEAVY_LOADS


def test_load_gallery_is_idempotent_and_records_licences(gallery):
    call_command("load_gallery", stdout=io.StringIO())  # again, over the session's gallery
    assert Picture.objects.filter(is_gallery=True).count() == len(PHOTOS) == 12
    coffee = Picture.objects.get(slug="coffee")
    assert (coffee.width, coffee.height, coffee.licence) == (600, 400, "CC0")
    assert "Rachel Michetti" in coffee.source and len(coffee.sha256) == 64


@HEAVY_LOADS  # torchvision
def test_install_weights_checks_and_installs_a_resnet50_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("XAI_WEIGHTS", raising=False)
    from torchvision.models import resnet50

    source = tmp_path / "weights.pth"
    with torch.device("meta"):  # the shapes only, without a second of random initialisation
        shapes = resnet50(weights=None).state_dict()
    # Stands in for a real download.
    torch.save(
        {key: torch.zeros_like(value, device="cpu") for key, value in shapes.items()}, source
    )
    out = io.StringIO()
    call_command("install_weights", str(source), stdout=out)
    installed = registry.resnet50_weights_path()
    assert installed is not None and installed.parent == tmp_path / "torch" / "hub" / "checkpoints"
    assert installed.name == f"resnet50-{registry.sha256_of(source)[:8]}.pth"
    assert "not a torchvision release" in out.getvalue()
    assert registry.available_models()[0] == "resnet50"


@HEAVY_LOADS  # torchvision
def test_install_weights_refuses_other_files(tmp_path):
    wrong = tmp_path / "lite.pth"
    torch.save({"conv.weight": torch.zeros(1)}, wrong)
    with pytest.raises(CommandError, match="not a ResNet-50"):
        call_command("install_weights", str(wrong))
    with pytest.raises(CommandError, match="is not a file"):
        call_command("install_weights", str(tmp_path / "missing.pth"))


def test_sweep_rounds_reports_what_it_failed(db):
    out = io.StringIO()
    call_command("sweep_rounds", stdout=out)
    assert "0 stale round(s) failed" in out.getvalue()
