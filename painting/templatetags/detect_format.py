"""The detect task's words on the page: a score, and a round's line in the history strip."""

from django import template

from .. import detection_results

register = template.Library()


@register.filter
def score(value: float | None) -> str:
    """0.9134 -> '0.91'; None (the object is not found) -> 'gone'."""
    return "gone" if value is None else f"{value:.2f}"


@register.filter
def detection_summary(round_, exploration) -> str:
    return detection_results.summary_of(round_, exploration)
