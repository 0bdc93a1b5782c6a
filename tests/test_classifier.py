"""The real default classifier on real photos, and the resnet50 code path."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from painting.gallery import PHOTOS
from painting.inference import classifier, registry

pytestmark = pytest.mark.real_model

CAT_CLASSES = {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat"}


@pytest.fixture(scope="module")
def default_model() -> classifier.Classifier:
    return classifier.load_classifier(registry.default_model_name())


def photo(slug: str) -> Image.Image:
    return next(p for p in PHOTOS if p.slug == slug).open().convert("RGB")


def test_the_embedded_default_is_efficientnet_lite2_with_its_packaged_weights(default_model):
    assert default_model.name == "efficientnet-lite2"
    assert default_model.weights_sha256.startswith("9656183e")


def test_it_recognises_the_coffee_photo(default_model):
    [outcome] = default_model.classify([photo("coffee")])
    assert outcome.top[0].label in {"espresso", "cup", "coffee mug"}
    assert outcome.top[0].probability > 0.5
    assert {"cup", "coffee mug"} & {p.label for p in outcome.top}


def test_it_recognises_the_cat(default_model):
    [outcome] = default_model.classify([photo("chelsea")])
    assert outcome.top[0].label in CAT_CLASSES
    assert sum(p.probability for p in outcome.top if p.label in CAT_CLASSES) > 0.7


@pytest.mark.slow
def test_a_batch_gives_the_same_answers_as_one_by_one(default_model):
    images = [photo("coffee"), photo("chelsea"), photo("rocket")]
    batched = default_model.classify(images)
    for image, outcome in zip(images, batched, strict=True):
        [alone] = default_model.classify([image])
        assert [p.class_index for p in alone.top] == [p.class_index for p in outcome.top]
        assert alone.top[0].probability == pytest.approx(outcome.top[0].probability, abs=1e-4)


def test_probabilities_are_a_softmax_and_follow_any_class(default_model):
    [outcome] = default_model.classify([photo("coffee")], k=5)
    assert outcome.probabilities.sum() == pytest.approx(1.0, abs=1e-4)
    top = outcome.top[0]
    assert outcome.probability_of(top.class_index) == pytest.approx(top.probability)
    assert [p.probability for p in outcome.top] == sorted(
        (p.probability for p in outcome.top), reverse=True
    )


def test_efficientnet_preprocessing_is_a_center_crop_scaled_to_plus_minus_one():
    transform = registry._efficientnet_lite_transform(260)
    tensor = transform(Image.new("RGB", (600, 400), (255, 0, 128)))
    assert tensor.shape == (3, 260, 260)
    assert tensor[0].max().item() == pytest.approx(1.0)
    assert tensor[1].min().item() == pytest.approx(-1.0)


def test_labels_are_the_1000_imagenet_classes_in_order():
    labels = classifier.imagenet_labels()
    assert len(labels) == 1000
    assert labels[0] == "tench" and labels[967] == "espresso" and labels[285] == "Egyptian cat"


@pytest.mark.slow
def test_resnet50_is_listed_and_loaded_only_from_a_weights_file(tmp_path, monkeypatch):
    monkeypatch.setenv("XAI_WEIGHTS", str(tmp_path / "missing.pth"))
    assert "resnet50" not in registry.available_models()
    with pytest.raises(registry.WeightsMissing, match="install_weights"):
        registry.default_model_name("resnet50")

    # Random weights only to exercise the resnet50 code path; the app never builds them.
    from torchvision.models import resnet50

    torch.manual_seed(0)
    path = tmp_path / "resnet50-test.pth"
    torch.save(resnet50(weights=None).state_dict(), path)
    monkeypatch.setenv("XAI_WEIGHTS", str(path))
    assert registry.available_models()[0] == "resnet50"
    assert registry.default_model_name() == "resnet50"

    model = classifier.Classifier(registry.REGISTRY["resnet50"])
    [outcome] = model.classify([photo("coffee")])
    assert len(outcome.top) == 5
    assert model.weights_sha256 == registry.sha256_of(path)
    assert model.preprocess(photo("coffee")).shape == (3, 224, 224)


@pytest.mark.parametrize(
    "env",
    [{}, {"XDG_CACHE_HOME": "/srv/cache"}, {"TORCH_HOME": "~/models", "XDG_CACHE_HOME": "/x"}],
)
def test_the_weights_folder_is_torchs_own_without_importing_torch(env, monkeypatch):
    for name in ("TORCH_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert registry.resnet50_checkpoint_dir() == Path(torch.hub.get_dir()) / "checkpoints"


def test_a_web_process_lists_the_models_without_loading_torch():
    """Only workers classify: a web process that imports every view and lists the models
    never imports torch, torchvision, the grad-cam package, scipy or a model runtime."""
    script = (
        "import sys, django; django.setup(); import xaiproject.urls;"
        "from painting import views, admin, review_views, services, selectors;"
        "from painting.studies import views, dashboard;"
        "from painting.studies.export import archive;"
        "from painting.studies.understanding import views, stats, tasks;"
        "from painting.inference import registry; assert registry.available_models();"
        "heavy = ('torch', 'torchvision', 'pytorch_grad_cam', 'scipy', 'openvino',"
        " 'onnxruntime', 'skimage'); print([m for m in heavy if m in sys.modules])"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "xaiproject.settings"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_unknown_models_are_refused():
    with pytest.raises(registry.WeightsMissing, match="Unknown model"):
        registry.default_model_name("alexnet-9000")


# Plausible classes for each gallery photo; the first of each is what the model said (2026-11).
GALLERY_EXPECTATIONS = {
    "coffee": {"espresso", "cup", "coffee mug"},
    "chelsea": CAT_CLASSES,
    "rocket": {"drilling platform", "missile", "projectile", "space shuttle"},
    "camera": {"tripod", "reflex camera"},
    "astronaut": {"barbell", "football helmet", "crash helmet", "ski", "bobsled"},
    "hubble": {"bubble", "traffic light"},
}


@pytest.mark.slow
def test_every_gallery_photo_gets_a_plausible_top1(default_model):
    images = [photo(slug) for slug in GALLERY_EXPECTATIONS]
    outcomes = default_model.classify(images)
    for slug, outcome in zip(GALLERY_EXPECTATIONS, outcomes, strict=True):
        assert outcome.top[0].label in GALLERY_EXPECTATIONS[slug], (slug, outcome.top)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["openvino", "onnxruntime"])
def test_the_fast_backends_answer_as_torch_does(default_model, tmp_path, backend):
    fast = classifier.Classifier(
        registry.REGISTRY["efficientnet-lite2"], backend=backend, cache_dir=tmp_path
    )
    images = [photo(slug) for slug in GALLERY_EXPECTATIONS]
    for slow, quick in zip(default_model.classify(images), fast.classify(images), strict=True):
        assert [p.class_index for p in quick.top] == [p.class_index for p in slow.top]
        assert np.abs(quick.probabilities - slow.probabilities).max() < 1e-4
    assert list(tmp_path.iterdir())  # exported once, reused by the next worker


@pytest.mark.slow
def test_auto_keeps_the_backend_it_measured_fastest_or_nearly_and_cheapest(settings):
    chosen, timings, cpu = classifier.fastest_backend(
        "efficientnet-lite2", settings.XAI_COMPILED_DIR, ("openvino", "onnxruntime")
    )
    assert set(timings) == set(cpu) == {"openvino", "onnxruntime"}
    assert all(ms > 0 for ms in [*timings.values(), *cpu.values()])
    near = [
        b for b, ms in timings.items() if ms <= min(timings.values()) * classifier.LATENCY_MARGIN
    ]
    assert chosen in near
    assert cpu[chosen] == min(cpu[b] for b in near)
    loaded = classifier.load_classifier("efficientnet-lite2", "auto", settings.XAI_COMPILED_DIR)
    assert (
        loaded.backend
        == classifier.fastest_backend("efficientnet-lite2", settings.XAI_COMPILED_DIR)[0]
    )
