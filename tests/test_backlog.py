"""Optional work (analyses, explanation methods a person picks, alignment scores) has its own
queue and worker, bounded per visitor, per address and in all: past a bound the ask is refused
at once, never queued behind strangers' work, and the work a page needs has another worker."""

import pytest
from django.test import Client
from django.urls import reverse

from painting import backlog, model_view, selectors
from painting.models import Round
from tests.helpers import HTMX, classify, mask_png, start
from xaiproject.celery import app as celery_app

MASK = mask_png((600, 400), (0, 0, 200, 200))


def queue_of(task: str) -> str:
    return celery_app.amqp.router.route({}, task)["queue"].name


def test_the_work_a_page_needs_never_shares_a_queue_with_optional_work():
    needed = {queue_of(f"painting.tasks.{t}") for t in ("segment_picture", "compute_saliency")}
    optional = {
        queue_of(f"painting.tasks.{t}")
        for t in ("analyse_round", "compute_explanation", "score_alignment")
    }
    assert needed == {"analysis"} and optional == {"optional"}
    assert queue_of("painting.tasks.classify_round") == "inference"


def test_optional_work_is_bounded_per_visitor_per_address_and_in_all(settings):
    settings.XAI_MAX_PENDING_ANALYSES = 1
    settings.XAI_MAX_PENDING_ANALYSES_PER_ADDRESS = 2
    settings.XAI_MAX_PENDING_ANALYSES_TOTAL = 3
    backlog.admit("job-1", "v1", "net-a")
    with pytest.raises(backlog.Full, match="Your previous analysis is still running"):
        backlog.admit("job-2", "v1", "net-a")
    backlog.admit("job-2", "v2", "net-a")
    with pytest.raises(backlog.Full, match="Your network has as many analyses"):
        backlog.admit("job-3", "v3", "net-a")  # a third session from the same address
    backlog.admit("job-3", "v3", "net-b")
    with pytest.raises(backlog.Full, match="busy with other people's analyses"):
        backlog.admit("job-4", "v4", "net-c")  # a stranger, once the queue is full
    backlog.release("job-1")
    backlog.admit("job-4", "v4", "net-c")  # room again as soon as one is done
    with pytest.raises(backlog.Full):
        backlog.admit("job-5", "v5", "net-d")


def ask_analysis(client, round_, **extra):
    url = reverse("painting:analysis", args=[round_.exploration_id, round_.pk])
    return client.post(url, headers=HTMX, **extra)


def test_a_full_queue_refuses_an_analysis_at_once_and_keeps_nothing(
    client, gallery, on_commit, settings
):
    settings.XAI_MAX_PENDING_ANALYSES_TOTAL = 1
    exploration = start(client, gallery["coffee"], on_commit)
    classify(client, exploration, on_commit, MASK)
    round_ = exploration.rounds.get(index=1)
    backlog.admit("analysis:stranger", "stranger", "elsewhere")
    refused = ask_analysis(client, round_)
    assert refused.status_code == 429
    assert "busy with other people" in refused.content.decode()
    round_.refresh_from_db()
    assert round_.analysis_status == Round.AnalysisStatus.NONE


def test_an_explanation_method_counts_against_the_same_bounds(client, gallery, on_commit):
    exploration = start(client, gallery["coffee"], on_commit)
    classify(client, exploration, on_commit, MASK)
    with on_commit(execute=False):  # the analysis stays queued
        assert ask_analysis(client, exploration.rounds.get(index=1)).status_code == 200
        refused = client.get(f"/e/{exploration.pk}/explanations/eigencam.png")
    assert refused.status_code == 429
    assert "Your previous analysis is still running" in refused.content.decode()
    assert not selectors.explanation_of(exploration, "eigencam")


def test_the_worker_gives_the_place_back_when_the_work_is_done(
    client, gallery, on_commit, settings
):
    settings.XAI_MAX_PENDING_ANALYSES_TOTAL = 1
    exploration = start(client, gallery["coffee"], on_commit)
    classify(client, exploration, on_commit, MASK)
    with on_commit(execute=True):  # the task runs (here, in this process) and is done
        assert ask_analysis(client, exploration.rounds.get(index=1)).status_code == 200
    assert exploration.rounds.get(index=1).analysis_status == Round.AnalysisStatus.DONE
    other = Client(REMOTE_ADDR="10.9.9.9")
    theirs = start(other, gallery["coffee"], on_commit)
    classify(other, theirs, on_commit, MASK)
    with on_commit(execute=False):
        assert ask_analysis(other, theirs.rounds.get(index=1)).status_code == 200


def test_rounds_answered_while_their_alignment_waits_send_no_more_tasks(client, gallery, on_commit):
    exploration = start(client, gallery["coffee"], on_commit)
    with on_commit(execute=False):  # the rounds are saved; nothing runs
        for n in range(2):  # as many as one visitor may have waiting
            classify(client, exploration, None, mask_png((600, 400), (0, 0, 100 + 50 * n, 200)))
    rounds = list(exploration.rounds.filter(index__gte=1).order_by("index"))
    Round.objects.filter(pk__in=[r.pk for r in rounds]).update(status=Round.Status.DONE)
    assert [model_view.first_to_score(r.pk) for r in rounds] == [True, False]
    model_view.score_alignment(rounds[0].pk)  # the one task scores both
    assert all(Round.objects.get(pk=r.pk).alignment for r in rounds)
    assert model_view.first_to_score(rounds[1].pk)  # the next round answered sends one again
