"""The understanding tests' scores, as HIVE reports them: per condition, phase and measure, each
participant's accuracy, their mean ± SD (split by the model's right and wrong predictions) with
a one-sample t-test against chance, and the paired post − pre difference with a 95% CI.

Plain Python: the web process computes them without scipy (Student's t distribution from the
regularised incomplete beta function; a test holds the results to scipy's)."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

# measure: (what is scored, chance)
MEASURES = {
    "distinction: model's answer": ("distinction", 1, 0.25),
    "distinction: correct class": ("distinction", 2, 0.25),
    "agreement": ("agreement", 1, 0.5),
    "simulation": ("simulation", 1, 0.25),
}
SPLITS = ("all", "model right", "model wrong")


# --- Student's t distribution -----------------------------------------------------------------


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (Lentz's method)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for numerator in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                          -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):  # fmt: skip
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return h


def incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1 - math.exp(log_front) * _beta_fraction(b, a, 1 - x) / b


def t_cdf(t: float, df: float) -> float:
    tail = 0.5 * incomplete_beta(df / 2, 0.5, df / (df + t * t))
    return 1 - tail if t > 0 else tail


def t_two_sided_p(t: float, df: float) -> float:
    return min(1.0, incomplete_beta(df / 2, 0.5, df / (df + t * t)))


def t_quantile(p: float, df: float) -> float:
    """The t value below which a share p of the distribution lies (bisection on t_cdf)."""
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        if t_cdf(middle, df) < p:
            low = middle
        else:
            high = middle
        if high - low < 1e-12:
            break
    return (low + high) / 2


# --- Scores -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """Participants' accuracies in one cell: n, mean, SD, and the t-test against chance."""

    n: int
    mean: float | None
    sd: float | None
    chance: float
    t: float | None
    p: float | None

    @property
    def above_chance(self) -> bool:
        return self.p is not None and self.p < 0.05 and self.mean > self.chance


def summary(values: list[float], chance: float) -> Summary:
    n = len(values)
    if n == 0:
        return Summary(0, None, None, chance, None, None)
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if n > 1 else None
    t = p = None
    if sd:
        t = (mean - chance) / (sd / math.sqrt(n))
        p = t_two_sided_p(t, n - 1)
    return Summary(n, mean, sd, chance, t, p)


@dataclass(frozen=True)
class Difference:
    """The paired post − pre difference of participants' accuracies, with its 95% CI."""

    n: int
    mean: float | None
    low: float | None
    high: float | None
    t: float | None
    p: float | None


def paired(pre: dict, post: dict) -> Difference:
    """Over the participants with a score in both phases (dicts by participant)."""
    both = sorted(set(pre) & set(post))
    diffs = [post[k] - pre[k] for k in both]
    n = len(diffs)
    if n == 0:
        return Difference(0, None, None, None, None, None)
    mean = statistics.fmean(diffs)
    if n < 2:
        return Difference(n, mean, None, None, None, None)
    sd = statistics.stdev(diffs)
    half = t_quantile(0.975, n - 1) * sd / math.sqrt(n)
    t = mean / (sd / math.sqrt(n)) if sd else None
    p = t_two_sided_p(t, n - 1) if t is not None else None
    return Difference(n, mean, mean - half, mean + half, t, p)


def accuracies(answers: Iterable[dict]) -> dict:
    """Each participant's accuracy per (condition, phase, measure, split): answers are dicts
    with participant, condition, phase, kind, model_right, correct_1, correct_2."""
    scored: dict = defaultdict(lambda: defaultdict(list))
    for a in answers:
        for measure, (kind, question, _chance) in MEASURES.items():
            if a["kind"] != kind:
                continue
            correct = a["correct_1"] if question == 1 else a["correct_2"]
            if correct is None:
                continue
            splits = ["all"]
            if a["model_right"] is not None:
                splits.append("model right" if a["model_right"] else "model wrong")
            for split in splits:
                cell = (a["condition"], a["phase"], measure, split)
                scored[cell][a["participant"]].append(float(correct))
    return {
        cell: {who: statistics.fmean(values) for who, values in by_participant.items()}
        for cell, by_participant in scored.items()
    }


@dataclass(frozen=True)
class Row:
    condition: str
    measure: str
    split: str
    chance: float
    pre: Summary
    post: Summary
    change: Difference


def score_rows(answers: Iterable[dict]) -> list[Row]:
    """The dashboard's table: a row per condition, measure and split that has answers."""
    cells = accuracies(answers)
    conditions = sorted({cell[0] for cell in cells})
    rows = []
    for condition in conditions:
        for measure, (_kind, _q, chance) in MEASURES.items():
            for split in SPLITS:
                pre = cells.get((condition, "pre", measure, split), {})
                post = cells.get((condition, "post", measure, split), {})
                if not pre and not post:
                    continue
                rows.append(
                    Row(
                        condition,
                        measure,
                        split,
                        chance,
                        summary(list(pre.values()), chance),
                        summary(list(post.values()), chance),
                        paired(pre, post),
                    )
                )
    return rows


# --- The plot ---------------------------------------------------------------------------------

PLOT_W, PLOT_H, PAD = 220, 150, 28


@dataclass(frozen=True)
class Panel:
    measure: str
    chance_y: float
    lines: list  # (condition, colour, (x1, y1, x2, y2), pre label, post label)


COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _y(value: float) -> float:
    return round(PLOT_H - PAD - value * (PLOT_H - 2 * PAD), 1)


def plot_panels(rows: list[Row]) -> list[Panel]:
    """Small multiples, one per measure: each condition's mean accuracy before and after (all
    predictions), a line from pre to post, against the chance level."""
    conditions = sorted({r.condition for r in rows})
    colour = {c: COLOURS[i % len(COLOURS)] for i, c in enumerate(conditions)}
    panels = []
    for measure, (_kind, _q, chance) in MEASURES.items():
        lines = []
        for row in rows:
            if row.measure != measure or row.split != "all":
                continue
            if row.pre.mean is None or row.post.mean is None:
                continue
            x1, x2 = PAD + 20, PLOT_W - PAD - 20
            coords = (x1, _y(row.pre.mean), x2, _y(row.post.mean))
            lines.append((row.condition, colour[row.condition], coords))
        if lines:
            panels.append(Panel(measure, _y(chance), lines))
    return panels
