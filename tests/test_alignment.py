"""Human–model alignment as ClickMe/Harmonization and Quantus measure it: constructed cases
with known answers, then real model output."""

import numpy as np
import pytest

from painting import alignment
from painting.inference import classifier
from painting.inference.gradcam import grad_cam
from tests.helpers import photo


def _gradient(side: int = 64) -> np.ndarray:
    """A map that rises from left to right."""
    return np.tile(np.linspace(0, 1, side, dtype=np.float32), (side, 1))


def test_spearman_is_one_for_the_same_order_and_minus_one_for_the_reverse():
    values = _gradient()
    assert alignment.spearman(values, values**2) == pytest.approx(1.0)
    assert alignment.spearman(values, 1 - values) == pytest.approx(-1.0)
    assert alignment.spearman(values, np.zeros_like(values)) is None  # undefined, not 0


def test_the_blur_is_the_benchmarks_normalised_gaussian():
    kernel = alignment._gaussian_kernel()
    assert kernel.shape == (10, 10) and kernel.sum() == pytest.approx(1.0)
    assert kernel[4, 4] == kernel[5, 5] == kernel.max()  # centred between the middle pixels
    flat = np.ones((64, 64))
    # A constant map stays constant, to its edges: keeping everything is no centre bias.
    assert alignment.blurred(flat) == pytest.approx(flat)


def test_top_ten_percent_iou_and_dice():
    model = _gradient()
    assert alignment.top_region(model).sum() == round(64 * 64 * 0.1)
    same = alignment.iou_and_dice(alignment.top_region(model), alignment.top_region(model))
    assert same == (1.0, 1.0)
    opposite = alignment.iou_and_dice(alignment.top_region(model), alignment.top_region(1 - model))
    assert opposite == (0.0, 0.0)
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    a[0, :2], b[0, 1:3] = True, True  # one pixel shared of three
    assert alignment.iou_and_dice(a, b) == pytest.approx((1 / 3, 0.5))


def test_a_person_who_kept_what_the_model_looks_at_is_aligned():
    model = np.zeros((64, 64), np.float32)
    model[20:44, 20:44] = 1.0  # the model looks at the centre
    kept_centre = np.zeros((64, 64), np.float32)
    kept_centre[16:48, 16:48] = 1.0  # painted everything else
    aligned = alignment.harmonization_scores(kept_centre, model)
    opposite = alignment.harmonization_scores(1 - kept_centre, model)
    assert aligned["spearman"] > 0.6 and opposite["spearman"] < -0.6
    assert aligned["iou_top10"] > 0.5 and opposite["iou_top10"] == 0.0


def test_the_split_half_ceiling_of_people_who_agree_and_of_people_who_do_not():
    rng = np.random.default_rng(1)
    centre = np.zeros((64, 64), np.float32)
    centre[16:48, 16:48] = 1.0
    agreeing = [np.clip(centre + rng.normal(0, 0.05, centre.shape), 0, 1) for _ in range(8)]
    random = [rng.random((64, 64)).astype(np.float32) for _ in range(8)]
    assert alignment.split_half_ceiling(agreeing) > 0.7
    assert abs(alignment.split_half_ceiling(random)) < 0.2
    assert alignment.split_half_ceiling(agreeing[:1]) is None  # one person: no halves
    assert alignment.split_half_ceiling([np.ones((8, 8))] * 4) is None  # all kept everything
    assert alignment.alignment_score(0.3, 0.6) == pytest.approx(0.5)
    assert alignment.alignment_score(0.3, None) is None
    assert alignment.alignment_score(0.3, -0.1) is None


def test_quantus_localisation_on_a_known_case():
    model = np.zeros((10, 10))
    model[0, 0] = 4.0  # the maximum
    model[9, :] = 1.0  # ten pixels of 1
    kept = np.zeros((10, 10), bool)
    kept[0, :5] = True  # five pixels kept, the maximum among them
    scores = alignment.localisation_scores(model, kept)
    assert scores["pointing_game"] == 1
    assert scores["relevance_mass"] == pytest.approx(4 / 14)
    # The five highest: the maximum and four of the bottom row; one of them kept.
    assert scores["relevance_rank"] == pytest.approx(1 / 5)
    kept_bottom = np.zeros((10, 10), bool)
    kept_bottom[9, :] = True
    bottom = alignment.localisation_scores(model, kept_bottom)
    assert bottom["pointing_game"] == 0 and bottom["relevance_mass"] == pytest.approx(10 / 14)
    assert alignment.localisation_scores(model, np.zeros((10, 10), bool)) == {
        "pointing_game": None,
        "relevance_mass": None,
        "relevance_rank": None,
    }


def test_scores_are_taken_inside_the_models_crop():
    # A 100×200 image whose crop (fraction 1) is the centred 100×100 square.
    model = np.zeros((100, 200), np.float32)
    model[:, 50:100] = 1.0  # the left half of the crop
    human = np.zeros((100, 200), np.float32)
    human[:, :100] = 1.0  # kept the left half of the image: outside the crop, and the crop's left
    scores = alignment.scores(alignment.cropped(human, 1.0), alignment.cropped(model, 1.0))
    assert scores["pointing_game"] == 1 and scores["relevance_mass"] == pytest.approx(1.0)
    assert scores["spearman"] > 0.8


def test_a_models_map_scored_against_many_rounds_gives_the_same_scores_for_less():
    """What the scores need of the model's map alone (its ranks, top 10%, order) is computed
    once per map, and the scores stay those of scipy's Spearman and the uncached path."""
    from scipy import stats

    rng = np.random.default_rng(0)
    values = rng.random((300, 400)).astype(np.float32)
    values[100:140, 100:140] = 1.0  # ties, at the maximum too
    model = alignment.cropped(values, 0.875)
    kept = alignment.cropped((rng.random((300, 400)) > 0.4).astype(np.float32), 0.875)
    scores = alignment.scores(kept, model)
    uncached = {
        **alignment.harmonization_scores(kept.small, model.small),
        **alignment.localisation_scores(model.large, kept.large >= 0.5),
    }
    assert scores == pytest.approx(uncached, rel=1e-12)
    blurred = alignment.blurred(kept.small)
    assert scores["spearman"] == pytest.approx(
        stats.spearmanr(blurred.ravel(), model.small.ravel()).statistic
    )
    assert model.large_order is model.large_order and model.small_ranks is model.small_ranks


@pytest.fixture(scope="module")
def lite2():
    return classifier.load_classifier("efficientnet-lite2")


@pytest.mark.real_model
def test_grad_cam_of_the_coffee_photo_agrees_with_a_person_who_kept_the_cup(lite2):
    image = photo("coffee")  # 600×400, the espresso cup in the middle
    cam = grad_cam(lite2, image, class_index=967)  # espresso
    kept_cup = np.zeros((400, 600), np.float32)
    kept_cup[60:300, 180:430] = 1.0
    kept_corner = np.zeros((400, 600), np.float32)
    kept_corner[320:400, 130:230] = 1.0  # a corner of the crop, no cup
    crop = lite2.spec.crop_fraction
    model = alignment.cropped(cam, crop)
    cup = alignment.scores(alignment.cropped(kept_cup, crop), model)
    corner = alignment.scores(alignment.cropped(kept_corner, crop), model)
    assert cup["spearman"] > 0.3 > corner["spearman"]
    assert cup["pointing_game"] == 1 and corner["pointing_game"] == 0
    assert cup["relevance_mass"] > 0.5 > corner["relevance_mass"]
    assert cup["relevance_rank"] > corner["relevance_rank"]
    assert cup["iou_top10"] > corner["iou_top10"]


def test_rise_masks_grow_in_the_given_order_and_the_auc_is_normalised():
    values = np.arange(16, dtype=np.float32).reshape(4, 4)
    order = alignment.importance_order(values)
    assert list(order[:3]) == [15, 14, 13]
    masks = alignment.rise_masks(order, side=4, steps=4)
    assert [m.sum() for m in masks] == [4, 8, 12, 16]
    assert masks[0][3].all() and not masks[0][:3].any()  # the highest row first
    assert alignment.normalised_auc([1.0, 1.0, 1.0]) == pytest.approx(1.0)
    assert alignment.normalised_auc([1.0, 0.0, 0.0]) == pytest.approx(0.25)
    assert alignment.normalised_auc([0.0, 0.5, 1.0]) == pytest.approx(0.5)


def test_a_persons_order_puts_what_they_kept_first_and_grids_land_in_the_crop():
    kept = np.zeros((64, 64), np.float32)
    kept[:, :16] = 1.0  # kept the left quarter
    order = alignment.person_order(alignment.Cropped(kept, kept))
    first = np.zeros(64 * 64, bool)
    first[order[: 64 * 16]] = True
    assert first.reshape(64, 64)[:, :16].all()
    grid = np.zeros((4, 4), bool)
    grid[0, 0] = True
    full = alignment.in_image(grid, (200, 100), crop_fraction=1.0)  # crop: x 50–150
    assert full[:25, 50:75].all() and full.sum() == 25 * 25
