"""A round's status moves only through RoundQuerySet's methods, and only along
Round.TRANSITIONS: each method, tried from every status, lands where the table allows."""

from datetime import timedelta

from django.utils import timezone

from painting.models import Round
from tests.helpers import new_exploration

MOVES = {
    "start": lambda rounds: rounds.start(),
    "answer": lambda rounds: rounds.answer(top=[]),
    "fail": lambda rounds: rounds.fail("Something went wrong."),
    "fail_stale": lambda rounds: rounds.fail_stale(),
    "retry": lambda rounds: rounds.retry(),
}


def _round(gallery) -> Round:
    return Round.objects.create(exploration=new_exploration(gallery), index=0, fill="mean")


def test_every_move_keeps_to_the_transitions(gallery, settings):
    settings.XAI_ROUND_STALE_SECONDS = 60
    round_ = _round(gallery)
    long_ago = timezone.now() - timedelta(hours=1)
    for name, move in MOVES.items():
        for status in Round.Status:
            Round.objects.filter(pk=round_.pk).update(status=status, created_at=long_ago)
            move(Round.objects.filter(pk=round_.pk))
            after = Round.objects.get(pk=round_.pk).status
            assert after == status or after in Round.TRANSITIONS[status], (name, status, after)


def test_each_move_does_what_it_says(gallery, settings):
    settings.XAI_ROUND_STALE_SECONDS = 60
    round_ = _round(gallery)
    rounds = Round.objects.filter(pk=round_.pk)
    assert rounds.start() == 1 and rounds.get().status == Round.Status.RUNNING
    assert rounds.fail_stale() == 0  # not stale yet
    rounds.update(created_at=timezone.now() - timedelta(minutes=5))
    assert rounds.fail_stale() == 1 and "in time" in rounds.get().error
    assert rounds.retry() == 1
    retried = rounds.get()
    assert retried.status == Round.Status.PENDING and retried.error == ""
    assert retried.started_at is None and retried.created_at > timezone.now() - timedelta(minutes=1)
    assert rounds.answer(top=[]) == 1 and rounds.get().status == Round.Status.DONE
    assert rounds.fail("too late") == 0 and rounds.get().status == Round.Status.DONE
