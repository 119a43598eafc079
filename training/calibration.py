"""Calibration and abstention for classifiers: a temperature fitted on validation, and the
probability under which a served classifier answers ``null`` instead of a label.

Why: a classifier's top probability is only a useful "do I know" signal once it is calibrated,
and the threshold is a trade between precision (how often a given label is right) and coverage
(how many texts get one). Both are chosen on the validation split and stored in the model's
metadata; serving reads them (``mining.models.textclf.Abstention``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mining.models.textclf import temper

TEMPERATURES = np.exp(np.linspace(np.log(0.25), np.log(8.0), 61))
THRESHOLDS = np.round(np.arange(0.0, 1.0, 0.01), 2)


def fit_temperature(p: np.ndarray, y: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of ``y`` ((n,) class ids) under
    ``p`` ((n, K) probabilities), on a log grid from 0.25 to 8."""
    rows = np.arange(len(y))
    nll = [float(-np.log(temper(p, t)[rows, y] + 1e-12).mean()) for t in TEMPERATURES]
    return float(TEMPERATURES[int(np.argmin(nll))])


def choose_threshold(
    p: np.ndarray,
    y: np.ndarray,
    min_precision: float,
    p_outside: np.ndarray | None = None,
    max_outside_answered: float = 0.05,
) -> dict[str, Any]:
    """The lowest top-probability threshold whose answered validation texts reach
    ``min_precision``, raised where needed so that at most ``max_outside_answered`` of the
    out-of-domain texts ``p_outside`` get an answer.

    Args:
        p: (n, K) calibrated validation probabilities; y: (n,) their class ids.
        min_precision: accuracy required of the answered texts, 0-1.
        p_outside: (m, K) calibrated probabilities of texts that belong to none of the classes.
    Returns:
        ``threshold`` and, at it, ``val_precision``, ``val_coverage`` (share answered) and, with
        ``p_outside``, ``outside_answered``.
    """
    top, right = p.max(1), p.argmax(1) == y
    threshold = float(THRESHOLDS[-1])
    for t in THRESHOLDS:
        kept = top >= t
        if kept.any() and right[kept].mean() >= min_precision:
            threshold = float(t)
            break
    out: dict[str, Any] = {"min_precision": min_precision}
    if p_outside is not None and len(p_outside):
        q = float(np.quantile(p_outside.max(1), 1 - max_outside_answered))
        # Strictly above the quantile, on the threshold grid: a text at the quantile is declined too.
        threshold = max(threshold, float(np.floor(q * 100 + 1e-9) / 100 + 0.01))
        out["outside_answered"] = float((p_outside.max(1) >= threshold).mean())
        out["max_outside_answered"] = max_outside_answered
    kept = top >= threshold
    out.update(
        threshold=threshold,
        val_precision=float(right[kept].mean()) if kept.any() else None,
        val_coverage=float(kept.mean()),
    )
    return out
