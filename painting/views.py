"""Thin views: find what the visitor owns, call a service, render a page or its partial."""

from __future__ import annotations

import time

from django.conf import settings
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.cache import get_conditional_response
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from . import (
    costs,
    detection_results,
    images,
    masking,
    quotas,
    ratelimit,
    review,
    selectors,
    services,
    storage,
    timing,
)
from .forms import LateEventsForm, LatencyForm, PreviewForm, RoundForm, UploadForm, first_error
from .inference import methods, registry
from .models import Exploration, Picture, Round, Task
from .responses import error as _error
from .studies import checks, queries, rules
from .studies.pages import session_participants, study_context
from .visitors import visitor_id

EXPLORE = "painting/explore.html"


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _get_exploration_for(request: HttpRequest, exploration_id) -> Exploration:
    """The exploration, if this browser owns it (staff may look at any, not change it); 404
    otherwise. A browser owns what it made (its visitor id) and, in a study, whatever its
    participant made in any browser: the same participant link reopened elsewhere goes on."""
    explorations = Exploration.objects.select_related(
        "picture", "participant__study", "participant__condition"
    )
    if request.user.is_staff and request.method == "GET":
        return get_object_or_404(explorations, pk=exploration_id)
    visitor, participants = visitor_id(request), session_participants(request)
    if not visitor and not participants:
        raise Http404
    owned = Q(participant__in=participants)
    if visitor:
        owned |= Q(visitor=visitor)
    return get_object_or_404(explorations.filter(owned), pk=exploration_id)


def _get_round_for(request: HttpRequest, exploration_id, round_id) -> Round:
    exploration = _get_exploration_for(request, exploration_id)
    return get_object_or_404(
        Round.objects.select_related("exploration"), pk=round_id, exploration=exploration
    )


def _go_to(request: HtmxHttpRequest, url: str) -> HttpResponse:
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _refused(request: HtmxHttpRequest, exploration: Exploration) -> HttpResponse | None:
    """The refusal of a write to an exploration that takes no more (its participant finished
    the study, or its time is up), or None: every writing view asks this first. When time is
    up, the study bar comes along out of band, with Next (or Finish) open."""
    reason = queries.write_refusal(exploration)
    if not reason:
        return None
    response = _error(request, reason, status=403)
    if request.htmx and (study := study_context(request, exploration)):
        bar = {"study": study, "study_oob": True}
        response.content += render_to_string(EXPLORE + "#study-bar", bar, request).encode()
    return response


def _left_out(request: HtmxHttpRequest, exploration: Exploration, part: str) -> HttpResponse | None:
    """403 for a part of the page that the participant's condition leaves out (staff may
    still look), or None."""
    if getattr(queries.shown_to(exploration.participant), part):
        return None
    if request.user.is_staff and request.method == "GET":
        return None
    return _error(request, "This is not part of the study in your condition.", status=403)


def _round_fragments(request: HttpRequest, round_: Round, *, new: bool = False) -> HttpResponse:
    """The result panel for a round, plus its history entry, swapped in out of band: appended
    when the round is new, replaced otherwise. In a study, the study bar comes along out of
    band too: a round that finishes may open Next."""
    study = study_context(request, round_.exploration)
    shown = queries.shown_to(round_.exploration.participant)
    context = {
        "round": round_,
        "item": round_,
        "exploration": round_.exploration,
        **_result_of(round_),
        "analysis": selectors.analysis_of(round_, shown.fills),
        "oob": "append" if new else "replace",
        "shown": shown,
        "study": study,
        "alignment": review.alignment_rows(round_.alignment, shown.explanation),
    }
    history = EXPLORE + ("#history-append" if new else "#history-item")
    html = render_to_string(EXPLORE + "#result", context, request)
    html += render_to_string(history, context, request)
    if study:
        html += render_to_string(
            EXPLORE + "#study-bar", {"study": study, "study_oob": True}, request
        )
    return HttpResponse(html)


def _result_of(round_: Round) -> dict:
    """A round's result: a classifier's (`result`) or a detector's (`detection`)."""
    exploration = round_.exploration
    if exploration.task == Task.DETECT:
        return {"result": None, "detection": detection_results.result_of(round_, exploration)}
    return {"result": selectors.result_in_context(round_), "detection": None}


@require_GET
def home(
    request: HtmxHttpRequest,
    form: UploadForm | None = None,
    status: int = 200,
    upload_error: str = "",
):
    visitor = visitor_id(request)
    gallery, uploads = selectors.pictures_for(visitor)
    try:
        model_name, model_problem = services.current_model_name(_chosen_model(request)), ""
    except registry.WeightsMissing as exc:
        model_name, model_problem = "", str(exc)
    context = {
        "gallery": gallery,
        "uploads": uploads,
        "explorations": selectors.explorations_of(visitor)[:24] if visitor else [],
        "form": form or UploadForm(),
        "upload_error": upload_error,
        "model_title": registry.title_of(model_name) if model_name else "",
        "model_name": model_name,
        "models": [(name, registry.title_of(name)) for name in registry.available_models()],
        "model_problem": model_problem,
        "task": _chosen_task(request),
        "can_detect": bool(registry.available_detectors()),
    }
    return render(request, "painting/home.html", context, status=status)


@require_POST
def upload(request: HtmxHttpRequest):
    visitor = visitor_id(request, create=True)
    if refused := ratelimit.refusal(request, "upload", visitor):
        return _home_again(request, upload_error=refused, status=429)
    if refused := costs.upload_refusal(request, visitor):
        return _home_again(request, upload_error=refused, status=429)
    sent = sum(f.size for f in request.FILES.values())
    address = ratelimit.client_address(request)
    try:
        quotas.check(visitor, adding_bytes=sent, upload=True, address=address)
    except quotas.QuotaExceeded as exc:
        return _home_again(request, upload_error=str(exc), status=403)
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _home_again(request, form=form, status=400)
    picture = services.add_picture(
        form.cleaned_data["image"],
        title=form.title(),
        owner=visitor,
        client=ratelimit.client_key(request),
    )
    quotas.charge(address, picture.stored_bytes)
    response = _explore(request, picture)
    # open_upload gave back what its decode freed; where the first round ran in this process
    # too (XAI_EAGER), what that freed in the memory a large decode left behind goes back now.
    images.release_freed_memory()
    return response


def _chosen_model(request: HttpRequest) -> str:
    return request.session.get("model", "")


@require_POST
def choose_model(request: HtmxHttpRequest):
    """Which classifier this browser's new explorations use (any whose weights are here)."""
    name = request.POST.get("model", "")
    if name not in registry.available_models():
        return _home_again(
            request, upload_error=f"No model called {name!r} is installed.", status=400
        )
    request.session["model"] = name
    return _go_to(request, reverse("painting:home"))


def _chosen_task(request: HttpRequest) -> str:
    return request.session.get("task", Task.CLASSIFY)


@require_POST
def choose_task(request: HtmxHttpRequest):
    """What this browser's new explorations ask of the model: classify or detect."""
    task = request.POST.get("task", "")
    if task not in Task.values:
        return _home_again(request, upload_error=f"No task called {task[:40]!r}.", status=400)
    if task == Task.DETECT and not registry.available_detectors():
        return _home_again(request, upload_error="No object detector is installed.", status=400)
    request.session["task"] = task
    return _go_to(request, reverse("painting:home"))


def _home_again(request: HtmxHttpRequest, **context) -> HttpResponse:
    """The home page again, after a refused upload, with what went wrong."""
    request.method = "GET"
    return home(request, **context)


@require_POST
def explore_picture(request: HtmxHttpRequest, picture_id):
    picture = get_object_or_404(Picture, pk=picture_id)
    visitor = visitor_id(request, create=True)
    if not picture.visible_to(visitor):
        raise Http404
    if refused := ratelimit.refusal(request, "explore", visitor):
        return _error(request, refused, status=429)
    if refused := costs.exploration_refusal(request, visitor, picture):
        return _error(request, refused, status=429)
    return _explore(request, picture)


def _explore(request: HtmxHttpRequest, picture: Picture) -> HttpResponse:
    """Resume this browser's exploration of the picture, or start one (`fresh` or none yet)."""
    visitor = visitor_id(request, create=True)
    chosen, cap = _chosen_model(request), settings.XAI_MAX_PENDING_ROUNDS
    client = ratelimit.client_key(request)
    task = _chosen_task(request)
    try:
        exploration = (
            services.start_exploration(
                visitor,
                picture,
                services.current_model_name(chosen, task),
                max_pending=cap,
                client=client,
                task=task,
            )
            if request.POST.get("fresh")
            else services.resume_or_start(
                visitor, picture, chosen, max_pending=cap, client=client, task=task
            )
        )
    except registry.WeightsMissing as exc:
        return _error(request, str(exc), status=503)
    except services.Busy as exc:
        return _error(request, str(exc), status=429)
    return _go_to(request, exploration_url(exploration))


def exploration_url(exploration: Exploration) -> str:
    return reverse("painting:explore", args=[exploration.pk])


def _sent_to_finish(request: HttpRequest, exploration: Exploration) -> bool:
    """Over the study's time, a participant still taking part goes to Finish (staff may look)."""
    participant = exploration.participant
    if participant is None or request.user.is_staff or queries.refusal(participant):
        return False
    return queries.study_time_is_up(participant)


@require_GET
def explore(request: HtmxHttpRequest, exploration_id):
    exploration = _get_exploration_for(request, exploration_id)
    if _sent_to_finish(request, exploration):
        return redirect("painting:study-finish", slug=exploration.participant.study.slug)
    rounds = selectors.history_of(exploration)
    latest = rounds[-1] if rounds else None
    shown = queries.shown_to(exploration.participant)
    context = {
        "exploration": exploration,
        "picture": exploration.picture,
        "model_title": registry.title_of(exploration.model_name),
        "crop_fraction": registry.crop_fraction_of(exploration.model_name),
        "rounds": rounds,
        "detection_summaries": detection_results.summaries_of(rounds, exploration)
        if exploration.task == Task.DETECT
        else None,
        "round": latest,
        **(_result_of(latest) if latest else {"result": None, "detection": None}),
        "analysis": selectors.analysis_of(latest, shown.fills) if latest else None,
        "alignment": review.alignment_rows(latest.alignment, shown.explanation) if latest else [],
        "explanation_menu": selectors.explanation_menu(shown.explanation),
        "heatmap_scale": review.heatmap_scale(),
        "shown": shown,
        "study": study_context(request, exploration),
    }
    response = render(request, EXPLORE, context)
    if exploration.participant_id:
        # The browser's Back button must ask again (an image left with Next is closed), not
        # show a stored copy that still offers Classify.
        response["Cache-Control"] = "no-store"
    return response


def _wait(wait, round_: Round) -> Round:
    """A round deleted while its request waits (a withdrawal, a purge) is gone: 404, not 500."""
    try:
        return wait(round_, settings.XAI_POLL_WAIT_SECONDS)
    except Round.DoesNotExist:
        raise Http404 from None


def _mask_form_options(exploration: Exploration) -> dict:
    """What a mask sent for this exploration is checked against (forms.MaskForm): the
    picture's size, and the fills and edits its participant's condition offers."""
    shown = queries.shown_to(exploration.participant)
    picture = exploration.picture
    return {
        "size": (picture.width, picture.height),
        "fills": shown.fills,
        "edits_allowed": shown.edits,
    }


@require_POST
def classify(request: HtmxHttpRequest, exploration_id):
    with timing.recording() as stages:
        with timing.stage("lookup"):
            exploration = _get_exploration_for(request, exploration_id)
            refused = _refused(request, exploration)
        if refused:
            return refused
        with timing.stage("ratelimit"):
            refused = ratelimit.refusal(request, "classify", exploration.visitor)
            refused = refused or costs.spent_refusal(request, exploration.visitor)
            fill = request.POST.get("fill", "")  # parsed by the CSRF middleware already
            refused = refused or costs.dear_refusal(exploration.picture, fill, exploration.task)
        if refused:
            return _error(request, refused, status=429)
        try:  # before the mask is read: a flood's refused rounds cost next to nothing
            services.refuse_if_busy(
                exploration.visitor,
                settings.XAI_MAX_PENDING_ROUNDS,
                ratelimit.client_key(request),
            )
        except services.Busy as exc:
            return _error(request, str(exc), status=429)
        return _classify(request, exploration, stages)


def _classify(request: HtmxHttpRequest, exploration: Exploration, stages: dict) -> HttpResponse:
    if checks.is_answered(exploration):
        return _error(request, checks.CheckAlreadyAnswered.message, status=409)
    check = checks.check_of(exploration)
    picture = exploration.picture
    # The body was parsed by the CSRF middleware already: that is in Server-Timing's `django`.
    with timing.stage("validate"):  # the mask's decode and checks
        form = RoundForm(
            request.POST,
            request.FILES,
            **_mask_form_options(exploration),
            segments=picture.segment_count,
            # An attention check asks for the painting only.
            prediction_required=bool(exploration.participant_id)
            and exploration.participant.study.ask_prediction
            and check is None,
        )
        valid = form.is_valid()
    if not valid:
        return _error(request, first_error(form))
    data = form.cleaned_data
    address = ratelimit.client_address(request)
    try:
        quotas.check(exploration.visitor, adding_bytes=data["strokes"].size.bytes, address=address)
    except quotas.QuotaExceeded as exc:
        return _error(request, str(exc), status=403)
    painted = masking.painted_fraction(data["mask"])
    task = exploration.task
    if refused := costs.refusal(request, exploration.visitor, picture, data["fill"], painted, task):
        return _error(request, refused, status=429)
    try:
        round_ = rules.submit_round(
            exploration,
            check,
            data,
            max_pending=settings.XAI_MAX_PENDING_ROUNDS,
            client=ratelimit.client_key(request),
        )
    except checks.CheckAlreadyAnswered as exc:
        return _error(request, exc.message, status=409)
    except checks.CheckNotPainted as exc:
        return _error(request, exc.message, status=400)
    except rules.ScreenedOut:
        # The study link sends them to the screened-out URL with its code.
        slug = exploration.participant.study.slug
        return _go_to(request, reverse("painting:study", args=[slug]))
    except services.Busy as exc:
        return _error(request, str(exc), status=429)
    quotas.charge(address, round_.stored_bytes)
    if not request.htmx:
        return redirect(exploration_url(exploration))
    # Answer with the result itself when it comes in time: no second request, no poll delay.
    with timing.stage("wait"):
        round_ = _wait(services.wait_for_round, round_)
    woke_at = time.time()
    with timing.stage("render"):
        response = _round_fragments(request, round_, new=True)
    if settings.XAI_SERVER_TIMING:
        breakdown = timing.round_breakdown(stages, round_.stages, woke_at)
        response["Server-Timing"] = timing.server_timing(breakdown)
    return response


@require_POST
def preview(request: HtmxHttpRequest, exploration_id):
    """The picture the model would be shown for the canvas's mask, a fill and the edits, as a
    PNG, for what the page cannot compute itself (blur, inpaint, ROAD). Writes nothing."""
    exploration = _get_exploration_for(request, exploration_id)
    if refused := ratelimit.refusal(request, "preview", exploration.visitor):
        return _error(request, refused, status=429)
    picture = exploration.picture
    form = PreviewForm(request.POST, request.FILES, **_mask_form_options(exploration))
    if not form.is_valid():
        return _error(request, first_error(form))
    data = form.cleaned_data
    try:
        png = services.preview_png(
            picture, data["mask"], data["fill"], data["edits"], exploration.visitor
        )
    except services.Busy as exc:
        return _error(request, str(exc), status=429)
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def round_result(request: HtmxHttpRequest, exploration_id, round_id):
    round_ = _get_round_for(request, exploration_id, round_id)
    if not request.htmx:
        return redirect(exploration_url(round_.exploration))
    if request.GET.get("wait"):
        round_ = _wait(services.wait_for_round, round_)
    return _round_fragments(request, round_)


@require_POST
def retry(request: HtmxHttpRequest, exploration_id, round_id):
    round_ = _get_round_for(request, exploration_id, round_id)
    if refused := _refused(request, round_.exploration):
        return refused
    exploration = round_.exploration
    if refused := ratelimit.refusal(request, "classify", exploration.visitor):
        return _error(request, refused, status=429)
    fill, painted = round_.fill, round_.masked_fraction
    picture, task = exploration.picture, exploration.task
    if refused := costs.refusal(request, exploration.visitor, picture, fill, painted, task):
        return _error(request, refused, status=429)
    try:
        round_ = services.retry_round(
            round_,
            max_pending=settings.XAI_MAX_PENDING_ROUNDS,
            client=ratelimit.client_key(request),
        )
    except services.Busy as exc:
        return _error(request, str(exc), status=429)
    if not request.htmx:
        return redirect(exploration_url(round_.exploration))
    return _round_fragments(request, round_)


@require_POST
def latency(request: HtmxHttpRequest, exploration_id, round_id):
    """Classify to result on screen, as the browser measured it, sent once the result shows:
    the owner's own round only, and only the first report counts."""
    round_ = _get_round_for(request, exploration_id, round_id)
    # A round sent in time may show its result after the time is up: its latency still counts.
    if reason := queries.refusal(round_.exploration.participant):
        return _error(request, reason, status=403)
    form = LatencyForm(request.POST)
    if not form.is_valid():
        return _error(request, first_error(form))
    services.record_latency(round_, form.cleaned_data["ms"])
    return HttpResponse(status=204)


@require_POST
def late_events(request: HtmxHttpRequest, exploration_id):
    """Focus, blur and tab events the page logged after its last Classify, sent (a beacon) as
    the person leaves it: appended to the latest round's brush log."""
    exploration = _get_exploration_for(request, exploration_id)
    # Like the latency: events up to leaving an image whose time ran out still count.
    if reason := queries.refusal(exploration.participant):
        return _error(request, reason, status=403)
    if refused := ratelimit.refusal(request, "events", exploration.visitor):
        return _error(request, refused, status=429)
    form = LateEventsForm(request.POST)
    if not form.is_valid():
        return _error(request, first_error(form))
    address = ratelimit.client_address(request)
    sent = len(request.POST["events"])
    try:
        quotas.check(exploration.visitor, adding_bytes=sent, address=address)
    except quotas.QuotaExceeded as exc:
        return _error(request, str(exc), status=403)
    try:
        added = services.add_late_events(exploration, form.cleaned_data["events"])
    except services.LogFull as exc:
        return _error(request, str(exc))
    if added is None:
        return _error(request, "This image has no round to add the events to.", status=409)
    quotas.charge(address, sent)
    return HttpResponse(status=204)


# The photo's own file is a PNG (gallery) or a JPEG (uploads): its type follows its name.
PICTURE_FILES = {
    "image.png": ("file", None),
    "thumb.jpg": ("thumbnail", "image/jpeg"),
    "segments.png": ("segments", "image/png"),
}
ROUND_FILES = {
    "mask.png": ("mask", "image/png"),
    "masked.png": ("masked_image", "image/png"),
    "thumb.jpg": ("thumbnail", "image/jpeg"),
}
# The canvas reads the pixels of a mask (restoring a round) and of the Region map, which it may
# only do from this origin.
SAME_ORIGIN_FILES = {"mask.png", "segments.png"}


@require_GET
def picture_file(request: HttpRequest, picture_id, name: str):
    picture = get_object_or_404(Picture, pk=picture_id)
    visible = request.user.is_staff or picture.visible_to(visitor_id(request))
    if name not in PICTURE_FILES or not visible:
        raise Http404
    field, content_type = PICTURE_FILES[name]
    if name == "segments.png" and not picture.segments:
        services.ask_for_segments(picture)
        # Not there yet (not a server failure): 404 with a time to ask again.
        response = _error(request, "The image's regions are still being prepared.", status=404)
        response["Retry-After"] = "2"
        return response
    return storage.serve(
        getattr(picture, field), content_type, same_origin=name in SAME_ORIGIN_FILES
    )


@require_GET
def round_file(request: HttpRequest, exploration_id, round_id, name: str):
    round_ = _get_round_for(request, exploration_id, round_id)
    if name not in ROUND_FILES:
        raise Http404
    field, content_type = ROUND_FILES[name]
    if round_.mask and name in ("masked.png", "thumb.jpg"):
        composed = _composed_round_file(request, round_, name)
        if composed is not None:
            return composed
    return storage.serve(
        getattr(round_, field), content_type, same_origin=name in SAME_ORIGIN_FILES
    )


def _composed_round_file(request: HttpRequest, round_: Round, name: str) -> HttpResponse | None:
    """A masked round's picture, which is not stored (the same pixels the model saw, composed
    from original, mask and fill), or its thumbnail before the worker has stored it; None
    where the stored file answers. Composing is bounded (services._composing): a refusal is a
    429 to retry. What is composed never changes: a browser that has it gets 304 for its ETag."""
    if name == "thumb.jpg" and round_.thumbnail:
        return None
    if name == "thumb.jpg" and round_.status != Round.Status.DONE:
        raise Http404  # the worker writes it just after the answer
    etag = f'"{round_.pk}-{name}"'
    if not_modified := get_conditional_response(request, etag=etag):
        return not_modified
    visitor = visitor_id(request)
    compose = services.masked_png if name == "masked.png" else services.thumbnail_jpeg
    try:
        if refused := ratelimit.refusal(request, "image", visitor):
            raise services.Busy(refused)
        data = compose(round_, visitor)
    except services.Busy as exc:
        response = _error(request, str(exc), status=429)
        response["Retry-After"] = "1"
        return response
    response = storage.immutable(HttpResponse(data, content_type=ROUND_FILES[name][1]))
    response["ETag"] = etag
    return response


@require_GET
def saliency(request: HttpRequest, exploration_id):
    """The model's view by Grad-CAM (the first URL it had)."""
    return explanation(request, exploration_id, methods.DEFAULT)


@require_GET
def explanation(request: HttpRequest, exploration_id, method: str):
    """One explanation method's map of the original class, as a heat overlay; in a study
    whose condition fixes the method, only that one (staff may look at any)."""
    exploration = _get_exploration_for(request, exploration_id)
    if left_out := _left_out(request, exploration, "model_view"):
        return left_out
    if method not in methods.METHODS or exploration.task == Task.DETECT:
        raise Http404  # a detector's view is per box (box_view)
    fixed = queries.shown_to(exploration.participant).explanation
    if fixed and method != fixed and not request.user.is_staff:
        return _error(request, "This is not part of the study in your condition.", status=403)
    return _map_response(request, exploration, method, f"by {methods.title_of(method)}")


def _map_response(
    request: HttpRequest, exploration: Exploration, method: str, what: str
) -> HttpResponse:
    """A map of the model's view as a heat overlay, asked of the analysis worker when it is
    not stored yet (XAI_EXPLANATION_METHODS are computed unasked), within the visitor's limits;
    `what` names it in the messages ("by Grad-CAM", "of this box")."""
    try:
        values = selectors.explanation_of(exploration, method)
        if values is None:
            if not services.explanation_on_its_way(exploration, method):
                if refused := ratelimit.refusal(request, "analysis", exploration.visitor):
                    return _error(request, refused, status=429)
                try:
                    services.request_explanation(
                        exploration, method, client=ratelimit.client_key(request)
                    )
                except services.Busy as exc:
                    return _error(request, str(exc), status=429)
            values = services.wait_for_explanation(
                exploration, method, settings.XAI_POLL_WAIT_SECONDS
            )
    except FileNotFoundError:
        return _error(request, f"The model's view {what} is no longer stored.", status=404)
    if values is None:
        message = f"The model's view {what} is not ready yet."
        return _error(request, message + " Try again in a moment.", status=404)
    return storage.immutable(HttpResponse(review.heatmap_png(values), content_type="image/png"))


def _analysis_fragment(request: HttpRequest, round_: Round) -> HttpResponse:
    shown = queries.shown_to(round_.exploration.participant)
    context = {
        "round": round_,
        "exploration": round_.exploration,
        "analysis": selectors.analysis_of(round_, shown.fills),
        "shown": shown,
    }
    return render(request, EXPLORE + "#analysis", context)


@require_http_methods(["GET", "POST"])
def analysis(request: HtmxHttpRequest, exploration_id, round_id):
    """Other fills and deletion curves for a finished round: POST asks, GET waits for them."""
    round_ = _get_round_for(request, exploration_id, round_id)
    if round_.index == 0 or round_.status != Round.Status.DONE:
        raise Http404
    if round_.exploration.task == Task.DETECT:
        raise Http404  # other fills and deletion curves are a classifier's
    if left_out := _left_out(request, round_.exploration, "analysis"):
        return left_out
    if request.method == "POST":
        if refused := _refused(request, round_.exploration):
            return refused
        if refused := ratelimit.refusal(request, "analysis", round_.exploration.visitor):
            return _error(request, refused, status=429)
        try:
            round_ = services.request_analysis(
                round_,
                max_pending=settings.XAI_MAX_PENDING_ANALYSES,
                client=ratelimit.client_key(request),
            )
        except services.Busy as exc:
            return _error(request, str(exc), status=429)
    if round_.analysis_status == Round.AnalysisStatus.PENDING:
        round_ = _wait(services.wait_for_analysis, round_)
    return _analysis_fragment(request, round_)
