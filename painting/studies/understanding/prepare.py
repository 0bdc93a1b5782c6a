"""The material of a study's understanding tests, computed once in torch (`manage.py
prepare_tests`, which `load_study` runs too; never in a web process): the model's answers, the
heatmaps of the classes each trial shows, the masked pictures of simulation trials, and each
study image's answer and heatmap for static explanation viewing. Stored under
studies/<slug>/tests/ and listed in Study.test_material; trials.py reads them."""

from __future__ import annotations

import base64
import io

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image

from ... import images, masking, model_view, originals, review
from ...inference import registry
from ...models import Picture, Study
from . import trials as understanding

DISPLAY_SIDE = 480  # the longer side of the pictures a trial page shows
# Methods whose maps are a class's weighted sum of channels before their per-map stretch to
# 0–1 (cams.py), so that the four maps of a distinction trial can share one scale.
JOINT = ("gradcam", "hirescam")


def raw_map(classifier, image: Image.Image, class_index: int, method: str):
    """A class's map before any per-map scaling (the positive part of the weighted channels), at
    the model's feature resolution, and the size of the model's input (height, width)."""
    import torch

    from ...inference import cams
    from ...inference.registry import saliency_layer_of

    model = classifier.model
    layer = dict(model.named_modules())[saliency_layer_of(classifier.name)]
    batch = classifier.preprocess(image.convert("RGB"))[None].to(classifier.device)
    with classifier.lock, torch.enable_grad():
        activations, grads = cams._activations_and_gradients(model, layer, batch, class_index)
    if method == "hirescam":
        cam = (grads * activations).sum(axis=1)[0]
    else:
        cam = cams._weighted(np.mean(grads, axis=(2, 3)), activations)
    return np.maximum(np.nan_to_num(cam), 0).astype(np.float32), tuple(batch.shape[-2:])


def joint_maps(classifier, image: Image.Image, indices: list[int], method: str):
    """The classes' maps in the image's pixels, all divided by one maximum (HIVE's shared
    normalisation): the strongest map reaches 1, the others keep their size against it.
    Returns (maps, the shared maximum, or None where the method's maps were scaled each)."""
    import cv2

    from ...inference.gradcam import _place_in_crop, explanation_map

    if method not in JOINT:
        return [explanation_map(classifier, image, i, method) for i in indices], None
    # Upsampled to the model's input first, so that the strongest map's peak is the 1.
    resized = [
        cv2.resize(values, (width, height))
        for values, (height, width) in (raw_map(classifier, image, i, method) for i in indices)
    ]
    top = max(float(values.max()) for values in resized) or 1.0
    crop = classifier.spec.crop_fraction
    return [_place_in_crop(np.clip(v / top, 0, 1), image.size, crop) for v in resized], top


def _display(image: Image.Image) -> Image.Image:
    image = image.convert("RGB")
    image.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE))
    return image


def overlay(image: Image.Image, values: np.ndarray) -> bytes:
    """The photo under the heatmap (viridis, opaque where high), at display size."""
    shown = _display(image)
    heat = Image.open(io.BytesIO(review.heatmap_png(values, shown.size))).convert("RGBA")
    return images.png_bytes(Image.alpha_composite(shown.convert("RGBA"), heat).convert("RGB"))


def gray_png(values: np.ndarray) -> bytes:
    return images.png_bytes(Image.fromarray(np.round(values * 255).astype(np.uint8), "L"))


def mask_of(size: tuple[int, int], mask: dict) -> Image.Image:
    """A trial's mask at the photo's size: a rectangle in shares, or a mask file's pixels."""
    if "png" in mask:
        with Image.open(io.BytesIO(base64.b64decode(mask["png"]))) as image:
            return image.convert("L").resize(size, Image.Resampling.NEAREST)
    return rectangle_mask(size, mask)


def rectangle_mask(size: tuple[int, int], box: dict) -> Image.Image:
    width, height = size
    mask = np.zeros((height, width), np.uint8)
    x0, y0 = round(box["left"] * width), round(box["top"] * height)
    x1 = round((box["left"] + box["width"]) * width)
    y1 = round((box["top"] + box["height"]) * height)
    mask[y0:y1, x0:x1] = 255
    return Image.fromarray(mask, "L")


class _Store:
    def __init__(self, study: Study, fingerprint: str):
        self.folder = f"studies/{study.slug}/tests/{fingerprint}"

    def save(self, name: str, data: bytes) -> str:
        path = f"{self.folder}/{name}"
        if default_storage.exists(path):
            default_storage.delete(path)
        return default_storage.save(path, ContentFile(data))


def prepare(study: Study, model_name: str = "") -> dict:
    """Compute and store the study's test material; returns it (also saved on the study)."""
    model_name = model_name or registry.default_model_name(settings.XAI_MODEL)
    classifier = model_view.gradient_model(model_name)
    labels = understanding.class_names()
    tests = study.tests or {}
    method = tests.get("method", "gradcam")
    fingerprint = understanding.fingerprint(tests)
    store = _Store(study, fingerprint)
    pictures: dict[str, Image.Image] = {}

    def photo(picture_id: str) -> Image.Image:
        if picture_id not in pictures:
            picture = Picture.objects.get(pk=picture_id)
            pictures[picture_id] = originals.original_image(picture.pk, picture.sha256)
        return pictures[picture_id]

    trials = {}
    for phase in understanding.PHASES:
        for number, spec in enumerate(understanding.trials_of(study, phase), 1):
            name = understanding.key(phase, number)
            image = photo(spec["picture"])
            truth = spec.get("true_class", "")
            made: dict = {"kind": spec["kind"]}
            if spec["kind"] == "simulation":
                mask = mask_of(image.size, spec["mask"])
                image = masking.compose(image, mask, masking.Fill(spec["fill"]))
                made["image"] = store.save(f"{name}.png", images.png_bytes(_display(image)))
            top = classifier.classify([image], k=5)[0].top
            made |= {
                "model_answer": top[0].label,
                "model_right": (top[0].label == truth) if truth else None,
                "top": [[p.label, round(p.probability, 4)] for p in top],
            }
            if spec["kind"] == "simulation":
                made["classes"] = [p.label for p in top]
            else:
                shown = [p.label for p in top[:4]]
                if spec["kind"] == "agreement":
                    shown = shown[:1]
                elif not made["model_right"] and truth not in shown[:3]:
                    shown = [*shown[:3], truth]
                indices = [labels.index(c) for c in shown]
                maps, scale = joint_maps(classifier, image, indices, method)
                made |= {"classes": shown, "scale": scale, "maps": {}, "images": {}}
                for i, (label, values) in enumerate(zip(shown, maps, strict=True)):
                    made["maps"][label] = store.save(f"{name}-map{i}.png", gray_png(values))
                    made["images"][label] = store.save(f"{name}-{i}.png", overlay(image, values))
            trials[name] = made

    viewed = {}
    for entry in study.steps():
        image = photo(str(entry.picture_id))
        top = classifier.classify([image], k=1)[0].top[0]
        (values,), _scale = joint_maps(classifier, image, [top.class_index], method)
        viewed[str(entry.picture_id)] = {
            "answer": top.label,
            "probability": round(top.probability, 4),
            "image": store.save(f"view-{entry.picture_id}.png", overlay(image, values)),
        }
    material = {
        "fingerprint": fingerprint,
        "model": model_name,
        "method": method,
        "prepared_at": timezone.now().isoformat(),
        "trials": trials,
        "images": viewed,
    }
    Study.objects.filter(pk=study.pk).update(test_material=material)
    study.test_material = material
    return material
