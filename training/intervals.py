"""Uncertainty of held-out numbers: a 95% bootstrap interval on each headline metric and a paired
bootstrap interval on each model-minus-baseline difference.

A metric is given as a *statistic*: a function of an index array (a resample of the test items,
with repeats) that returns the metric on those items. Model and baseline are resampled with the
same indices, so the difference's interval accounts for their scoring the same items. "ahead" is
said only where the paired interval excludes zero on the better side; otherwise "level" or
"behind". The blocks written here are the store metadata's ``ci95`` and ``vs_baseline``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Statistic = Callable[[np.ndarray], float]
Verdict = Literal["ahead", "level", "behind"]
N_BOOT = 1000
LEVEL = 0.95
# Fewer held-out items than this and no verdict but "level" is given: a bootstrap over a handful of
# items (one sales series, one test user) has an interval of a point or two and would call any
# difference "ahead".
MIN_ITEMS = 10


def mean_of(values: Sequence[float] | np.ndarray) -> Statistic:
    """Statistic of a per-item score (accuracy from 0/1 correctness, nDCG per user, ...)."""
    v = np.asarray(values, dtype=np.float64)
    return lambda idx: float(v[idx].mean()) if len(idx) else float("nan")


def ratio_of_sums(numerator: Sequence[float] | np.ndarray, denominator: Sequence[float] | np.ndarray) -> Statistic:
    """Statistic sum(numerator) / sum(denominator) over items: WAPE from (|error|, actual) per
    series, micro F1 pieces, ..."""
    num, den = np.asarray(numerator, dtype=np.float64), np.asarray(denominator, dtype=np.float64)

    def stat(idx: np.ndarray) -> float:
        d = den[idx].sum()
        return float(num[idx].sum() / d) if d else float("nan")

    return stat


def f1_of_counts(counts: Sequence[Sequence[int]] | np.ndarray) -> Statistic:
    """Micro F1 from per-item ``(tp, fp, fn)`` rows, shape (n, 3): entity or span F1 per sentence."""
    c = np.asarray(counts, dtype=np.float64).reshape(-1, 3)

    def stat(idx: np.ndarray) -> float:
        tp, fp, fn = c[idx].sum(axis=0)
        return float(2 * tp / (2 * tp + fp + fn)) if tp else 0.0

    return stat


def macro_f1_of(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, n_classes: int) -> Statistic:
    """Macro-F1 over ``n_classes`` (a class absent from both counting 0) of the resampled items."""
    t, p = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)

    def stat(idx: np.ndarray) -> float:
        ti, pi = t[idx], p[idx]
        cm = np.zeros((n_classes, n_classes), dtype=np.int64)
        np.add.at(cm, (ti, pi), 1)
        tp = np.diag(cm).astype(np.float64)
        denom = cm.sum(0) + cm.sum(1)
        f1 = np.divide(2 * tp, denom, out=np.zeros(n_classes), where=denom > 0)
        return float(f1.mean())

    return stat


def _resamples(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) int64 indices drawn with replacement; fixed by ``seed`` so a rerun agrees."""
    if n <= 0:
        raise ValueError(f"a bootstrap needs at least one item, got n={n}")
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def _interval(values: np.ndarray, level: float) -> list[float]:
    lo, hi = np.nanquantile(values, [(1 - level) / 2, 1 - (1 - level) / 2])
    return [round(float(lo), 4), round(float(hi), 4)]


def bootstrap_ci(stat: Statistic, n: int, n_boot: int = N_BOOT, seed: int = 0, level: float = LEVEL) -> list[float]:
    """Percentile bootstrap interval ``[low, high]`` of ``stat`` over ``n`` test items."""
    return _interval(np.array([stat(idx) for idx in _resamples(n, n_boot, seed)]), level)


def paired_difference(
    model: Statistic,
    baseline: Statistic,
    n: int,
    higher_is_better: bool = True,
    n_boot: int = N_BOOT,
    seed: int = 0,
    level: float = LEVEL,
) -> dict[str, Any]:
    """Model minus baseline on the same ``n`` items, with its paired bootstrap interval.

    Returns:
        ``{"diff", "ci95": [low, high], "verdict"}``; ``verdict`` is ``ahead`` when the interval
        lies wholly on the better side of 0 (above for ``higher_is_better``, below otherwise),
        ``behind`` when wholly on the worse side, else ``level``; with fewer than
        :data:`MIN_ITEMS` items always ``level``, and ``too_few_items`` holds ``n``.
    """
    everything = np.arange(n)
    diff = model(everything) - baseline(everything)
    boots = np.array([model(idx) - baseline(idx) for idx in _resamples(n, n_boot, seed)])
    lo, hi = _interval(boots, level)
    better_lo, better_hi = (lo, hi) if higher_is_better else (-hi, -lo)
    verdict: Verdict = "ahead" if better_lo > 0 else "behind" if better_hi < 0 else "level"
    if n < MIN_ITEMS:
        return {"diff": round(float(diff), 4), "ci95": [lo, hi], "verdict": "level", "too_few_items": n}
    return {"diff": round(float(diff), 4), "ci95": [lo, hi], "verdict": verdict}


@dataclass(frozen=True)
class Headline:
    """One headline metric of a model, scored per item for the model and its baseline."""

    metric: str
    model: Statistic
    baseline: Statistic | None
    baseline_name: str
    higher_is_better: bool = True


def uncertainty(headlines: Sequence[Headline], n: int, seed: int = 0, n_boot: int = N_BOOT) -> dict[str, Any]:
    """The ``ci95`` and ``vs_baseline`` blocks of a model's store metadata.

    Args:
        headlines: the model's headline metrics, each with model and baseline statistics over the
            same ``n`` test items.
        n: number of test items (sentences, users, series, ...).
    Returns:
        ``{"ci95": {metric: [low, high]}, "vs_baseline": {metric: {"baseline", "diff", "ci95",
        "verdict"}}, "n_test_items": n}``; a headline without a baseline gets no ``vs_baseline`` row.
    """
    ci: dict[str, list[float]] = {}
    vs: dict[str, dict[str, Any]] = {}
    for h in headlines:
        ci[h.metric] = bootstrap_ci(h.model, n, n_boot=n_boot, seed=seed)
        if h.baseline is not None:
            row = paired_difference(h.model, h.baseline, n, h.higher_is_better, n_boot=n_boot, seed=seed)
            vs[h.metric] = {"baseline": h.baseline_name, **row}
    return {"ci95": ci, "vs_baseline": vs, "n_test_items": int(n)}


def worst_verdict(vs_baseline: Mapping[str, Mapping[str, Any]]) -> Verdict | None:
    """The weakest verdict over a model's headline rows (behind < level < ahead); None for none."""
    order: tuple[Verdict, ...] = ("behind", "level", "ahead")
    ranks = [order.index(row["verdict"]) for row in vs_baseline.values() if "verdict" in row]
    return order[min(ranks)] if ranks else None
