"""Staff-only review screens: replay an exploration, a summary per image, a study's dashboard."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Count
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from . import detection_results, export_jobs, review, selectors, storage
from .inference import methods
from .models import Exploration, Picture, Study, StudyExport, Task
from .studies import dashboard, pilots
from .views import HtmxHttpRequest


@staff_member_required
@require_GET
def replay(request: HttpRequest, exploration_id):
    exploration = get_object_or_404(
        Exploration.objects.select_related("picture", "participant"), pk=exploration_id
    )
    rounds = selectors.history_of(exploration)
    if exploration.task == Task.DETECT:  # boxes, not a class: no confidence chart
        results = detection_results.results_of(rounds, exploration)
        context = {"exploration": exploration, "steps": list(zip(rounds, results, strict=True))}
        return render(request, "painting/replay.html", context)
    context = {
        "exploration": exploration,
        "steps": list(zip(rounds, selectors.results_of(rounds), strict=True)),
        "chart": review.confidence_chart(rounds),
    }
    return render(request, "painting/replay.html", context)


@staff_member_required
@require_GET
def image_summary(request: HttpRequest, picture_id):
    """Everything people did with a photo, pooled over every exploration, or over one study
    (?study=SLUG, or ?study=free for free play) and one of its conditions (&condition=NAME)."""
    picture = get_object_or_404(Picture, pk=picture_id)
    pool = _pool_of(request, picture)
    if isinstance(pool, HttpResponse):
        return pool
    explorations = (
        pool.explorations.select_related("participant")
        .annotate(round_count=Count("rounds"))
        .order_by("-updated_at")
    )
    context = {
        "picture": picture,
        "pool": pool,
        "pool_query": urlencode(pool.query),
        "explorations": explorations,
        "alignments": review.image_alignment(picture, pool.explorations),
        "rise": review.rise_summary(picture, pool.explorations),
    }
    return render(request, "painting/image_summary.html", context)


def _pool_of(request: HttpRequest, picture: Picture):
    """The pool the query asks for, or a 400 saying what is wrong with it."""
    try:
        return selectors.image_pool(
            picture, request.GET.get("study", ""), request.GET.get("condition", "")
        )
    except selectors.PoolError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")


@staff_member_required
@require_GET
def importance_map(request: HttpRequest, picture_id):
    picture = get_object_or_404(Picture, pk=picture_id)
    pool = _pool_of(request, picture)
    if isinstance(pool, HttpResponse):
        return pool
    kept, _count = review.kept_fraction_map(picture, pool.explorations)
    png = review.heatmap_png(kept, (picture.width, picture.height))
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "private, no-cache"
    return response


@staff_member_required
@require_GET
def image_explanation(request: HttpRequest, picture_id, model_name: str, method: str):
    """One method's map of an image with one model (from the latest exploration that has it)."""
    picture = get_object_or_404(Picture, pk=picture_id)
    name = (
        Exploration.objects.filter(
            picture=picture, model_name=model_name, explanations__has_key=method
        )
        .order_by("-created_at")
        .values_list(f"explanations__{method}", flat=True)
        .first()
    )
    if not name or method not in methods.METHODS:
        raise Http404
    try:
        values = review.stored_map(name)
    except FileNotFoundError:
        raise Http404("This map is no longer stored.") from None
    response = HttpResponse(review.heatmap_png(values), content_type="image/png")
    response["Cache-Control"] = "private, no-cache"
    return response


DASHBOARD = "painting/study_dashboard.html"


@staff_member_required
@require_GET
def study_dashboard(request: HtmxHttpRequest, slug: str):
    """Who started, finished, withdrew, per condition, and time and rounds per image: the page,
    or (its own poll, every few seconds) only its figures."""
    study = get_object_or_404(Study, slug=slug)
    with_pilots = request.GET.get("pilots") == "1"
    context = {"study": study, **dashboard.study_dashboard(study, with_pilots)}
    template = DASHBOARD + "#dashboard" if request.htmx else DASHBOARD
    response = render(request, template, context)
    response["Cache-Control"] = "private, no-store"
    return response


@staff_member_required
@require_GET
def study_preview(request: HttpRequest, slug: str):
    """ "Preview as a participant": the study link with a new one-time pilot token (pilots.py).
    Nothing is written until the consent."""
    study = get_object_or_404(Study, slug=slug)
    response = redirect(pilots.link_for(study))
    response["Cache-Control"] = "private, no-store"
    return response


EXPORTS = "painting/study_exports.html"


@staff_member_required
@require_http_methods(["GET", "POST"])
def study_exports(request: HtmxHttpRequest, slug: str):
    """The study's exports: POST asks for a new one (built by the exports worker); the page
    polls itself while one is on its way, then offers the download."""
    study = get_object_or_404(Study, slug=slug)
    if request.method == "POST":
        export_jobs.request_export(study, request.user.get_username())
        return redirect("painting:study-exports", slug=study.slug)
    exports = list(study.exports.all()[:20])
    context = {
        "study": study,
        "exports": exports,
        "waiting": any(e.status in export_jobs.UNFINISHED for e in exports),
        "keep_hours": settings.XAI_EXPORT_KEEP_HOURS,
    }
    response = render(request, EXPORTS + "#exports" if request.htmx else EXPORTS, context)
    response["Cache-Control"] = "private, no-store"
    return response


@staff_member_required
@require_GET
def export_download(request: HttpRequest, export_id):
    export = get_object_or_404(StudyExport, pk=export_id, status=StudyExport.Status.DONE)
    response = storage.serve(export.file, "application/zip")
    if isinstance(response, FileResponse):
        response["Content-Disposition"] = f'attachment; filename="{export.file_name}"'
    response["Cache-Control"] = "private, no-store"
    return response
