"""The one place that formats probabilities for people."""

from django import template

register = template.Library()


@register.filter
def percent(probability: float | None) -> str:
    """0.8883 -> '88.8%'."""
    if probability is None:
        return "–"
    return f"{probability * 100:.1f}%"


@register.filter
def points(change: float | None) -> str:
    """A change in probability as signed percentage points: 0.123 -> '+12.3 pts'."""
    if change is None:
        return "–"
    value = change * 100
    if abs(value) < 0.05:
        return "±0.0 pts"
    sign = "+" if value > 0 else "−"
    return f"{sign}{abs(value):.1f} pts"


@register.filter
def bar_width(probability: float) -> int:
    """Whole-percent width for a bar (a class name, not a style: the CSP forbids inline styles)."""
    return max(0, min(100, round(probability * 100)))
