"""The user's view against the model's: Grad-CAM, kept-importance, other fills, deletion
curves, and the choice of classifier — on real model output."""

from datetime import timedelta

import numpy as np
import pytest
import torch
from django.test import Client
from django.utils import timezone

from painting import agreement, model_view, review
from painting.inference import cams, classifier, registry
from painting.inference.gradcam import grad_cam
from painting.models import Round
from tests.helpers import HEAVY_LOADS, HTMX, classify, mask_png, photo, start


def test_the_important_region_is_the_top_fifth_of_the_heatmap():
    saliency = np.linspace(0, 1, 100, dtype=np.float32).reshape(10, 10)
    region = agreement.important_region(saliency)
    assert region.sum() == 20 and region[9].all() and not region[:8].any()
    assert not agreement.important_region(np.zeros((4, 4))).any()


def test_kept_scores_and_their_reading():
    saliency = np.zeros((10, 10), np.float32)
    saliency[:2] = 1.0  # the top two rows are all that matters
    painted = np.zeros((10, 10), bool)
    painted[:1] = True  # half of it painted over
    share, iou = agreement.kept_scores(painted, agreement.important_region(saliency))
    assert share == 0.5 and iou == pytest.approx(10 / 100)  # kept ∪ important: all 100
    assert agreement.reading(0.5) == "You kept 50% of what the model looks at."
    assert "left its evidence alone" in agreement.reading(0.95)
    assert "painted over its evidence" in agreement.reading(0.1)


def test_deletion_masks_grow_to_the_painted_area_in_both_orders():
    painted = np.zeros((20, 20), bool)
    painted[5:15, 5:15] = True
    saliency = np.random.default_rng(0).random((20, 20)).astype(np.float32)
    user, model = agreement.deletion_masks(painted, saliency)
    assert len(user) == len(model) == agreement.DELETION_STEPS
    assert [m.sum() for m in user] == [m.sum() for m in model] == [10 * k for k in range(1, 11)]
    assert (user[-1] == painted).all() and user[0][10, 10]  # grows from the centre
    assert saliency[model[0]].min() >= saliency[~model[0]].max()  # most salient first


@pytest.fixture(scope="module")
def lite2():
    return classifier.load_classifier("efficientnet-lite2")


@pytest.mark.real_model
def test_grad_cam_of_espresso_looks_at_the_cup_inside_the_crop(lite2):
    cam = grad_cam(lite2, photo("coffee"), class_index=967)
    assert cam.shape == (400, 600) and cam.max() == pytest.approx(1.0, abs=0.01)
    side = round(400 * lite2.spec.crop_fraction)
    left = (600 - side) // 2
    assert not cam[:, : left - 1].any() and not cam[:, left + side + 1 :].any()  # outside the crop
    cup = cam[80:280, 200:420].mean()
    corners = np.mean(
        [
            cam[y : y + 40, x : x + 40].mean()
            for y in (10, 340)
            for x in (left + 5, left + side - 45)
        ]
    )
    assert cup > 2 * corners


@pytest.mark.real_model
# Importing the package is seconds and Score-CAM runs the model 64 times a map: a guard for
# whoever changes cams.py, among the slow tests (make test), not in the fast loop.
@pytest.mark.slow
@HEAVY_LOADS
@pytest.mark.parametrize("method", list(cams.CAMS))
def test_each_method_is_the_grad_cam_packages_to_the_last_bit(
    method, lite2, tiny_model_name, tmp_path, monkeypatch
):
    """Every method is computed without the package; the maps stored before stay what the same
    image and class give now, for the real model, the tiny one and a ResNet."""
    from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus, HiResCAM
    from pytorch_grad_cam.base_cam import BaseCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    class BoundedScoreCAM(BaseCAM):
        """The bounded Score-CAM the app computed on the package's BaseCAM before."""

        def __init__(self, model, target_layers):
            super().__init__(model, target_layers, uses_gradients=False)

        def get_cam_weights(self, input_tensor, target_layer, targets, activations, grads):
            activations = torch.from_numpy(activations).to(self.device)
            weights = np.zeros(activations.shape[:2], np.float32)
            upsample = torch.nn.UpsamplingBilinear2d(size=input_tensor.shape[-2:])
            with torch.no_grad():
                for row, (target, image) in enumerate(zip(targets, input_tensor, strict=True)):
                    variance = activations[row].flatten(1).var(dim=1)
                    channels = torch.argsort(variance, descending=True)[: cams.SCORE_CAM_CHANNELS]
                    scores = []
                    for start in range(0, len(channels), cams.SCORE_CAM_BATCH):
                        chosen = channels[start : start + cams.SCORE_CAM_BATCH]
                        maps = upsample(activations[row, chosen][:, None])
                        low = maps.amin(dim=(2, 3), keepdim=True)
                        high = maps.amax(dim=(2, 3), keepdim=True)
                        maps = (maps - low) / (high - low + 1e-8)
                        scores += [target(o).item() for o in self.model(image[None] * maps)]
                    weights[row, channels.cpu().numpy()] = torch.softmax(
                        torch.tensor(scores), dim=0
                    ).numpy()
            return weights

    package_class = {
        "gradcam": GradCAM,
        "gradcampp": GradCAMPlusPlus,
        "hirescam": HiResCAM,
        "scorecam": BoundedScoreCAM,
        "eigencam": EigenCAM,
    }[method]
    slugs = ("coffee",) if method == "scorecam" else ("coffee", "chelsea")
    resnet = _random_resnet18(tmp_path, monkeypatch)
    for model in (lite2, classifier.load_classifier(tiny_model_name), resnet):
        layer = dict(model.model.named_modules())[registry.saliency_layer_of(model.name)]
        for slug in slugs:
            batch = model.preprocess(photo(slug))[None]
            [outcome] = model.classify([photo(slug)])
            classes = [outcome.top[0].class_index, outcome.top[4].class_index, 0]
            for class_index in classes[:1] if method == "scorecam" else classes:
                with torch.enable_grad(), package_class(model.model, [layer]) as package:
                    [expected] = package(batch, [ClassifierOutputTarget(class_index)])
                    mine = cams.CAMS[method](model.model, layer, batch, class_index)
                assert mine.dtype == expected.dtype and np.array_equal(mine, expected), (
                    model.name,
                    slug,
                    class_index,
                    float(np.abs(mine - expected).max()),
                )


@pytest.mark.slow
@pytest.mark.real_model
def test_the_worker_stores_the_model_view_and_scores_each_round(client, gallery, on_commit):
    exploration = start(client, gallery["coffee"], on_commit)
    exploration.refresh_from_db()
    assert exploration.saliency  # computed right after the original's answer
    overlay = client.get(f"/e/{exploration.pk}/saliency.png")
    assert overlay.status_code == 200 and overlay["Content-Type"] == "image/png"
    assert Client().get(f"/e/{exploration.pk}/saliency.png").status_code == 404

    saliency = model_view.saliency_of(exploration)
    ys, xs = np.unravel_index(np.argmax(saliency), saliency.shape)
    over_evidence = (max(0, xs - 120), max(0, ys - 120), xs + 120, ys + 120)
    classify(client, exploration, on_commit, mask_png((600, 400), over_evidence))
    classify(client, exploration, on_commit, mask_png((600, 400), (0, 0, 40, 40)))  # a corner
    evidence, corner = exploration.rounds.get(index=1), exploration.rounds.get(index=2)
    assert evidence.kept_important < 0.5 < corner.kept_important == 1.0
    page = client.get(f"/e/{exploration.pk}/rounds/{corner.pk}/", headers=HTMX).content.decode()
    assert "You kept 100% of what the model looks at" in page and "IoU" in page


@pytest.mark.slow
@pytest.mark.real_model
def test_the_analysis_compares_fills_and_draws_both_deletion_curves(client, gallery, on_commit):
    exploration = start(client, gallery["coffee"], on_commit)
    classify(client, exploration, on_commit, mask_png((600, 400), (180, 60, 420, 300)))
    round_ = exploration.rounds.get(index=1)
    url = f"/e/{exploration.pk}/rounds/{round_.pk}/analysis/"
    with on_commit(execute=True):
        client.post(url, headers=HTMX)
    round_.refresh_from_db()
    analysis = round_.analysis
    assert round_.analysis_status == Round.AnalysisStatus.DONE
    assert [f["fill"] for f in analysis["fills"]] == ["black", "blur", "inpaint", "road"]
    original = exploration.rounds.get(index=0).top[0]["probability"]
    for curve in (analysis["user"], analysis["model"]):
        assert len(curve) == 11 and curve[0] == pytest.approx(original)
    # The last step of the user's curve is the round itself.
    assert analysis["user"][-1] == pytest.approx(round_.probability_of(967), abs=1e-4)
    # Deleting the same area in the heatmap's order hurts at least as much, at the end.
    assert analysis["model"][-1] <= analysis["user"][-1] + 0.05
    body = client.get(url, headers=HTMX).content.decode()
    assert "Would another fill agree?" in body and "data-user-curve" in body
    assert (
        client.post(
            f"/e/{exploration.pk}/rounds/{exploration.rounds.get(index=0).pk}/analysis/",
            headers=HTMX,
        ).status_code
        == 404
    )  # nothing to analyse in the original


def _random_resnet18(tmp_path, monkeypatch) -> classifier.Classifier:
    """ResNet-18 with random weights under torchvision's file name in a TORCH_HOME of its own:
    the path of any torchvision model, without its real weights."""
    from torchvision.models import resnet18

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(resnet18(weights=None).state_dict(), checkpoints / "resnet18-f37072fd.pth")
    return classifier.Classifier(registry.REGISTRY["resnet18"])


@pytest.mark.slow
@HEAVY_LOADS  # torchvision
def test_any_torchvision_classifier_with_local_weights_is_offered(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert "resnet18" in registry.REGISTRY and "resnet18" not in registry.available_models()
    model = _random_resnet18(tmp_path, monkeypatch)
    assert "resnet18" in registry.available_models()
    [outcome] = model.classify([photo("chelsea")])
    assert len(outcome.top) == 5
    assert grad_cam(model, photo("chelsea"), outcome.top[0].class_index).shape == (300, 451)


@pytest.mark.slow
@pytest.mark.real_model
def test_a_person_can_choose_the_model(client, gallery, on_commit):
    home = client.get("/").content.decode()
    assert 'value="efficientnet-lite0"' in home and 'value="resnet18"' not in home
    assert client.post("/model/", {"model": "efficientnet-lite0"}).status_code == 302
    exploration = start(client, gallery["chelsea"], on_commit)
    assert exploration.model_name == "efficientnet-lite0"
    assert exploration.rounds.get().model_name == "efficientnet-lite0"
    assert "EfficientNet-Lite0" in client.get(f"/e/{exploration.pk}/").content.decode()
    refused = client.post("/model/", {"model": "resnet18"})
    assert refused.status_code == 400 and "No model called" in refused.content.decode()


@pytest.mark.slow
def test_a_reloaded_page_shows_the_analysis_as_it_was(client, gallery, on_commit):
    exploration = start(client, gallery["coffee"], on_commit)
    classify(client, exploration, on_commit, mask_png((600, 400), (170, 40, 440, 290)))
    round_ = exploration.rounds.get(index=1)
    with on_commit(execute=True):
        client.post(f"/e/{exploration.pk}/rounds/{round_.pk}/analysis/", headers=HTMX)
    round_.refresh_from_db()
    fresh = client.get(f"/e/{exploration.pk}/rounds/{round_.pk}/analysis/", headers=HTMX)
    for page in (
        client.get(f"/e/{exploration.pk}/").content.decode(),
        client.get(f"/e/{exploration.pk}/rounds/{round_.pk}/", headers=HTMX).content.decode(),
    ):
        chart = f'viewBox="0 0 {review.NARROW_CHART_WIDTH} {review.CHART_HEIGHT}"'
        assert chart in page and 'points=""' not in page
        assert ("data-fills-disagree" in page) == ("data-fills-disagree" in fresh.content.decode())


@pytest.mark.slow
def test_a_lost_analysis_is_offered_again(client, gallery, on_commit, settings):
    exploration = start(client, gallery["coffee"], on_commit)
    classify(client, exploration, on_commit, mask_png((600, 400), (0, 0, 100, 100)))
    round_ = exploration.rounds.get(index=1)
    Round.objects.filter(pk=round_.pk).update(
        analysis_status=Round.AnalysisStatus.PENDING,
        analysis_requested_at=timezone.now() - timedelta(hours=1),
    )
    settings.XAI_POLL_WAIT_SECONDS = 0.05
    page = client.get(f"/e/{exploration.pk}/rounds/{round_.pk}/analysis/", headers=HTMX)
    assert "did not come back" in page.content.decode()
    assert "Compare fills and deletion curves" in page.content.decode()
    round_.refresh_from_db()
    assert round_.analysis_status == Round.AnalysisStatus.FAILED
    with on_commit(execute=True):
        client.post(f"/e/{exploration.pk}/rounds/{round_.pk}/analysis/", headers=HTMX)
    round_.refresh_from_db()
    assert round_.analysis_status == Round.AnalysisStatus.DONE


def test_an_explorations_alignment_reads_each_new_mask_once_and_stays_exact(
    client, gallery, on_commit, monkeypatch
):
    """Each round's score counts the exploration's masks: the worker adds the new one to the
    sum it keeps instead of reading them all again, so a round costs the same however many
    came before, and the scores are those of a sum computed afresh (also once a round fails)."""
    from django.core.files.storage import default_storage

    exploration = start(client, gallery["coffee"], on_commit)
    opened = []
    storage_class = type(default_storage._wrapped)  # set up by start()'s files
    real_open = storage_class.open

    def counted_open(self, name, mode="rb"):
        opened.append(name)
        return real_open(self, name, mode)

    monkeypatch.setattr(storage_class, "open", counted_open)
    reads = []
    for box in [(0, 0, 100, 100), (100, 100, 300, 300), (200, 50, 500, 350), (50, 50, 90, 90)]:
        opened.clear()
        classify(client, exploration, on_commit, mask_png((600, 400), box))
        reads.append(sum(name.endswith("-mask.png") for name in opened))
    assert reads[1] == reads[2] == reads[3]  # not one more per round that came before

    def afresh():
        exploration.refresh_from_db()
        kept = exploration.alignment
        model_view._KEPT_SUMS.clear()
        last = exploration.rounds.select_related("exploration").get(index=4)
        model_view._score_alignment(last)
        exploration.refresh_from_db()
        return kept, exploration.alignment

    kept, fresh = afresh()
    assert kept and kept == fresh
    exploration.rounds.filter(index=2).update(status=Round.Status.FAILED)
    model_view.score_alignment(exploration.rounds.get(index=4).pk)  # the sum it kept is stale
    kept, fresh = afresh()
    assert kept == fresh
