"""The detect task's words on the page: a score, and a round's line in the history strip."""

from django import template

from .. import detection_results

register = template.Library()


@register.filter
def score(value: float | None) -> str:
    """0.9134 -> '0.91'; None (the object is not found) -> 'gone'."""
    return "gone" if value is None else f"{value:.2f}"


@register.simple_tag(takes_context=True)
def detection_summary(context, round_) -> str:
    """The round's line in the history strip: from the page's `detection_summaries` (the
    whole strip's, made at once), else for this round alone (a round swapped in)."""
    summaries = context.get("detection_summaries") or {}
    if round_.pk in summaries:
        return summaries[round_.pk]
    return detection_results.summary_of(round_, context["exploration"])
