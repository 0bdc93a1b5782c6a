"""The detect task's own requests (docs/detection.md): the threshold of the boxes shown,
following one object, and the model's view of a box (D-RISE). Thin, as views.py's: they go
through its ownership gate and refusals, and answer with its fragments."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from . import detection_view, ratelimit, services
from .forms import FollowForm, ThresholdForm, first_error
from .models import Exploration, Task
from .responses import error as _error
from .views import (
    HtmxHttpRequest,
    _get_exploration_for,
    _left_out,
    _map_response,
    _refused,
    _round_fragments,
    exploration_url,
)


def _detect_exploration_for(request: HtmxHttpRequest, exploration_id) -> Exploration:
    exploration = _get_exploration_for(request, exploration_id)
    if exploration.task != Task.DETECT:
        raise Http404
    return exploration


def _box_change_refused(request: HtmxHttpRequest, exploration: Exploration) -> HttpResponse | None:
    """What a change of the boxes shown (threshold, follow) is answered with instead: the
    exploration takes no more, or the visitor is over its limit."""
    if refused := _refused(request, exploration):
        return refused
    if refused := ratelimit.refusal(request, "boxes", exploration.visitor):
        return _error(request, refused, status=429)
    return None


@require_POST
def threshold(request: HtmxHttpRequest, exploration_id):
    """The score from which a detect exploration's boxes are shown (the page filters at once;
    this keeps it for the next page and the export)."""
    exploration = _detect_exploration_for(request, exploration_id)
    if refused := _box_change_refused(request, exploration):
        return refused
    form = ThresholdForm(request.POST)
    if not form.is_valid():
        return _error(request, first_error(form))
    services.set_detection_threshold(exploration, form.cleaned_data["threshold"])
    return HttpResponse(status=204)


@require_POST
def follow(request: HtmxHttpRequest, exploration_id):
    """Follow one object (a box) of a detect exploration, or none; the result of the round on
    screen again, leading with that object's score across rounds."""
    exploration = _detect_exploration_for(request, exploration_id)
    if refused := _box_change_refused(request, exploration):
        return refused
    form = FollowForm(request.POST)
    if not form.is_valid():
        return _error(request, first_error(form))
    round_ = exploration.rounds.filter(pk=form.cleaned_data["round"]).first()
    if round_ is None:
        return _error(request, "No such round in this exploration.", status=404)
    try:
        services.follow_object(exploration, round_, form.cleaned_data["object"])
    except services.NotAnObject as exc:
        return _error(request, str(exc))
    if not request.htmx:
        return redirect(exploration_url(exploration))
    round_.exploration = exploration
    return _round_fragments(request, round_)


@require_GET
def box_view(request: HttpRequest, exploration_id, object_id: int):
    """The model's view of one box of the original picture (D-RISE), as a heat overlay:
    computed by the analysis worker on first asking, bounded like the other methods' maps."""
    exploration = _detect_exploration_for(request, exploration_id)
    if left_out := _left_out(request, exploration, "model_view"):
        return left_out
    if detection_view.box_in_original(exploration, object_id) is None:
        return _error(request, "The model's view is there for the boxes of the original.", 404)
    method = detection_view.method_for(object_id)
    return _map_response(request, exploration, method, "of this box (D-RISE)")
