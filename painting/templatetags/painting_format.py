"""The one place that formats probabilities for people."""

from django import template

from painting import agreement
from painting.inference import registry
from painting.masking import Fill

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
def kept_reading(share: float) -> str:
    return agreement.reading(share)


@register.filter
def fill_label(value: str) -> str:
    return Fill(value).label


@register.filter
def plain_fill(value: str) -> str:
    return Fill(value).plain_label


@register.filter
def model_title(name: str) -> str:
    """A model's name as people read it: "ResNet-50", not "resnet50"."""
    return registry.title_of(name)
