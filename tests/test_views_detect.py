"""The detect task's pages: choosing it, its rounds (the real detector, in this process),
following an object, the threshold; and what hostile requests get (4xx, nothing written)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from painting import detection_results
from painting.models import Exploration, Round, Task
from tests.helpers import HTMX, classify, mask_png, start

pytestmark = pytest.mark.real_model


def detect_exploration(client, gallery, on_commit, slug="grace-hopper") -> Exploration:
    response = client.post(reverse("painting:choose-task"), {"task": "detect"})
    assert response.status_code == 302
    exploration = start(client, gallery[slug], on_commit)
    assert exploration.task == Task.DETECT and exploration.model_name == "yolov3-tiny"
    return exploration


def box_of(round_: Round, label: str) -> dict:
    return max((d for d in round_.detections if d["label"] == label), key=lambda d: d["score"])


def test_it_detects_in_the_original_and_records_the_weights(client, gallery, on_commit):
    exploration = detect_exploration(client, gallery, on_commit)
    original = exploration.rounds.get(index=0)
    assert original.status == Round.Status.DONE
    assert {"person", "tie"} <= {d["label"] for d in original.detections}
    assert len(original.weights_sha256) == 64 and original.stages["model"] > 0
    assert original.top[0]["label"] == original.detections[0]["label"]
    page = client.get(reverse("painting:explore", args=[exploration.pk])).content.decode()
    assert 'id="detection-data"' in page and "data-detection-boxes" in page
    assert "Boxes from score" in page and ">Detect</button>" in page


def test_painting_over_the_tie_lowers_it_and_says_so(client, gallery, on_commit):
    exploration = detect_exploration(client, gallery, on_commit)
    tie = box_of(exploration.rounds.get(index=0), "tie")
    x0, y0, x1, y1 = (round(v) for v in tie["box"])
    response = classify(client, exploration, on_commit, mask_png((512, 600), (x0, y0, x1, y1)))
    assert response.status_code == 200
    round_ = exploration.rounds.get(index=1)
    # The answer came after the response (the task runs on commit): the result as polled.
    url = reverse("painting:round", args=[exploration.pk, round_.pk])
    body = client.get(url, headers=HTMX).content.decode()
    after = [d for d in round_.detections if d["label"] == "tie"]
    assert not after or max(d["score"] for d in after) < tie["score"] / 2
    # "tie 0.48 → 0.12" or "tie: gone", in the result and in the history strip
    assert f"tie {tie['score']:.2f} → " in body or "tie: gone" in body
    assert "data-detection-summary" in body


def test_following_an_object_leads_the_result_with_its_scores(client, gallery, on_commit):
    exploration = detect_exploration(client, gallery, on_commit)
    original = exploration.rounds.get(index=0)
    tie_id = 1 + original.detections.index(box_of(original, "tie"))
    response = client.post(
        reverse("painting:follow", args=[exploration.pk]),
        {"object": tie_id, "round": original.pk},
        headers=HTMX,
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "Following tie" in body and "Stop following" in body
    exploration.refresh_from_db()
    assert exploration.followed == tie_id
    response = client.post(
        reverse("painting:follow", args=[exploration.pk]),
        {"object": "", "round": original.pk},
        headers=HTMX,
    )
    assert response.status_code == 200 and "Following" not in response.content.decode()
    exploration.refresh_from_db()
    assert exploration.followed is None


@pytest.mark.parametrize("value", ["1.5", "0", "-1", "abc", "nan", "inf", "", "0.05"])
def test_a_threshold_out_of_range_is_refused(client, gallery, on_commit, value):
    exploration = detect_exploration(client, gallery, on_commit)
    url = reverse("painting:threshold", args=[exploration.pk])
    response = client.post(url, {"threshold": value}, headers=HTMX)
    assert response.status_code == 400
    exploration.refresh_from_db()
    assert exploration.detection_threshold == 0.3
    assert client.post(url, {"threshold": "0.5"}, headers=HTMX).status_code == 204
    exploration.refresh_from_db()
    assert exploration.detection_threshold == 0.5


def test_a_box_not_in_the_round_and_foreign_rounds_are_refused(client, gallery, on_commit):
    exploration = detect_exploration(client, gallery, on_commit)
    original = exploration.rounds.get(index=0)
    tie_id = 1 + original.detections.index(box_of(original, "tie"))
    # The whole lower half painted: her tie is gone from round 1.
    classify(client, exploration, on_commit, mask_png((512, 600), (0, 300, 511, 599)))
    round_ = exploration.rounds.get(index=1)
    assert tie_id not in detection_results.tracked(exploration.pk).ids[1]
    url = reverse("painting:follow", args=[exploration.pk])
    data = {"object": tie_id, "round": round_.pk}
    assert client.post(url, data, headers=HTMX).status_code == 400  # not in that round
    for data, status in [
        ({"object": len(original.detections) + 1, "round": original.pk}, 400),
        ({"object": 999, "round": original.pk}, 400),
        ({"object": 0, "round": original.pk}, 400),
        ({"object": "x", "round": original.pk}, 400),
        ({"object": 1}, 400),
        ({"object": 1, "round": "not-a-uuid"}, 400),
        ({"object": 1, "round": "3f1c1c3e-0000-4000-8000-000000000000"}, 404),
    ]:
        assert client.post(url, data, headers=HTMX).status_code == status, data
    other = detect_exploration(client.__class__(), gallery, on_commit)  # another visitor's
    assert (
        client.post(
            reverse("painting:follow", args=[other.pk]), {"object": 1, "round": original.pk}
        ).status_code
        == 404
    )
    exploration.refresh_from_db()
    assert exploration.followed is None


def test_a_classify_exploration_has_no_boxes_to_follow(client, gallery, on_commit):
    exploration = start(client, gallery["coffee"], on_commit)
    assert exploration.task == Task.CLASSIFY
    original = exploration.rounds.get(index=0)
    for name, data in [
        ("painting:follow", {"object": 1, "round": original.pk}),
        ("painting:threshold", {"threshold": "0.5"}),
    ]:
        assert client.post(reverse(name, args=[exploration.pk]), data).status_code == 404


def test_an_unknown_task_is_refused(client, gallery):
    for task in ["segment", "", "DETECT"]:
        response = client.post(reverse("painting:choose-task"), {"task": task})
        assert response.status_code == 400
    assert "task" not in client.session


def test_threshold_and_follow_are_rate_limited(client, gallery, on_commit, settings):
    settings.XAI_RATE_LIMITS = {**settings.XAI_RATE_LIMITS, "boxes": (3, 60)}
    exploration = detect_exploration(client, gallery, on_commit)
    url = reverse("painting:threshold", args=[exploration.pk])
    codes = [client.post(url, {"threshold": "0.3"}).status_code for _ in range(5)]
    assert codes == [204, 204, 204, 429, 429]


def test_the_model_s_view_of_a_followed_box_is_computed_and_bounded(
    client, gallery, on_commit, settings
):
    settings.XAI_DRISE_MASKS = 8
    exploration = detect_exploration(client, gallery, on_commit)
    original = exploration.rounds.get(index=0)
    tie_id = 1 + original.detections.index(box_of(original, "tie"))
    url = reverse("painting:box-view", args=[exploration.pk, tie_id])
    with on_commit(execute=True):
        response = client.get(url)
    if response.status_code == 404:  # computed after the response (the task ran on commit)
        response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    exploration.refresh_from_db()
    assert list(exploration.explanations) == [f"box-{tie_id}"]
    # Following it offers the view in the result, and a masked round reads its agreement.
    client.post(
        reverse("painting:follow", args=[exploration.pk]), {"object": tie_id, "round": original.pk}
    )
    x0, y0, x1, y1 = (round(v) for v in box_of(original, "tie")["box"])
    classify(client, exploration, on_commit, mask_png((512, 600), (x0, y0, x1, y1)))
    round_ = exploration.rounds.get(index=1)
    body = client.get(
        reverse("painting:round", args=[exploration.pk, round_.pk]), headers=HTMX
    ).content.decode()
    assert "Show where the model looks for it" in body and "data-agreement" in body


def test_the_model_s_view_is_only_for_boxes_of_the_original(client, gallery, on_commit, settings):
    settings.XAI_RATE_LIMITS = {**settings.XAI_RATE_LIMITS, "analysis": (2, 60)}
    exploration = detect_exploration(client, gallery, on_commit)
    count = len(exploration.rounds.get(index=0).detections)
    for object_id in (0, count + 1, 999999):
        response = client.get(reverse("painting:box-view", args=[exploration.pk, object_id]))
        assert response.status_code == 404
    exploration.refresh_from_db()
    assert exploration.explanations == {}
    # Asking is rate-limited like the other methods' maps (nothing computed past the limit).
    settings.XAI_RATE_LIMITS = {**settings.XAI_RATE_LIMITS, "analysis": (0, 60)}
    response = client.get(reverse("painting:box-view", args=[exploration.pk, 1]))
    assert response.status_code == 429
    exploration.refresh_from_db()
    assert exploration.explanations == {}


def test_the_replay_shows_each_round_s_boxes_and_changes(client, gallery, on_commit, staff):
    exploration = detect_exploration(client, gallery, on_commit)
    tie = box_of(exploration.rounds.get(index=0), "tie")
    x0, y0, x1, y1 = (round(v) for v in tie["box"])
    classify(client, exploration, on_commit, mask_png((512, 600), (x0, y0, x1, y1)))
    response = staff.get(reverse("painting:replay", args=[exploration.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count('<svg class="boxes-svg"') == 2
    assert f"tie {tie['score']:.2f}</text>" in body
    assert f"tie {tie['score']:.2f} → " in body or "tie: gone" in body
    # The image's summary page takes detect explorations in.
    summary = reverse("painting:image-summary", args=[exploration.picture_id])
    assert staff.get(summary).status_code == 200


def test_a_classifier_s_maps_and_analyses_are_not_asked_of_a_detector(client, gallery, on_commit):
    exploration = detect_exploration(client, gallery, on_commit)
    classify(client, exploration, on_commit, mask_png((512, 600), (0, 0, 100, 100)))
    round_ = exploration.rounds.get(index=1)
    for method in ("gradcam", "scorecam"):
        url = reverse("painting:explanation", args=[exploration.pk, method])
        assert client.get(url).status_code == 404
    url = reverse("painting:analysis", args=[exploration.pk, round_.pk])
    assert client.post(url, headers=HTMX).status_code == 404
    round_.refresh_from_db()
    exploration.refresh_from_db()
    assert round_.analysis_status == Round.AnalysisStatus.NONE and exploration.explanations == {}


def test_the_history_strip_and_the_replay_read_the_rounds_once(
    client, gallery, on_commit, staff, django_assert_max_num_queries
):
    """However many rounds an exploration has, its page and its replay track them once (they
    were read again for each round's line), and each line is what the round alone says."""
    exploration = detect_exploration(client, gallery, on_commit)
    original = exploration.rounds.get(index=0)
    tie = box_of(original, "tie")
    x0, y0, x1, y1 = (round(v) for v in tie["box"])
    classify(client, exploration, on_commit, mask_png((512, 600), (x0, y0, x1, y1)))
    painted = exploration.rounds.get(index=1)
    page, replay = (
        reverse("painting:explore", args=[exploration.pk]),
        reverse("painting:replay", args=[exploration.pk]),
    )
    with CaptureQueriesContext(connection) as two_rounds:
        client.get(page)
    with CaptureQueriesContext(connection) as two_rounds_replayed:
        staff.get(replay)
    for index in range(2, 22):  # the tie gone and back, by turns
        source = painted if index % 2 else original
        Round.objects.create(
            exploration=exploration,
            index=index,
            status=Round.Status.DONE,
            detections=source.detections,
            top=source.top,
        )
    with django_assert_max_num_queries(len(two_rounds)):
        body = client.get(page).content.decode()
    with django_assert_max_num_queries(len(two_rounds_replayed)):
        assert staff.get(replay).status_code == 200
    rounds = list(exploration.rounds.order_by("index"))
    alone = [detection_results.summary_of(r, exploration) for r in rounds]
    assert detection_results.summaries_of(rounds, exploration) == {
        r.pk: line for r, line in zip(rounds, alone, strict=True)
    }
    assert body.count("data-detection-summary") == 22 and alone[3] == alone[5] != alone[4]
