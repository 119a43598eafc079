"""Calibration and abstention for classifiers: a temperature fitted on validation, and the
probability under which a served classifier answers ``null`` instead of a label.

Why: a classifier's top probability is only a useful "do I know" signal once it is calibrated,
and the threshold is a trade between precision (how often a given label is right) and coverage
(how many texts get one). Both are chosen on the validation split and stored in the model's
metadata; serving reads them (``mining.models.textclf.Abstention``). Where out-of-domain texts
cap the threshold, the share of them answered is reported on a half the threshold was not set on.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mining.models.textclf import temper

TEMPERATURES = np.exp(np.linspace(np.log(0.25), np.log(8.0), 61))
THRESHOLDS = np.round(np.arange(0.0, 1.0, 0.01), 2)
# Never a label whose calibrated probability says it is more likely wrong than right, whatever
# precision an easy validation set reaches below it (Bitext's English intents reach 0.9 at any
# threshold, so real messages unlike them got a label at 0.28).
MIN_THRESHOLD = 0.5
# Nor where the answers nearest the threshold are coin flips: precision over every answered text
# hides them behind the confident ones (a two-class model right on 93% of validation would answer
# at 0.51, where it is right about half the time). The answered validation texts of lowest
# probability, MARGIN_SHARE of the validation set and at least MARGIN_MIN of them, must be right
# at least this often.
MIN_MARGINAL_PRECISION = 0.75
MARGIN_SHARE, MARGIN_MIN = 0.05, 20


def marginal_precision(top: np.ndarray, right: np.ndarray, threshold: float) -> float | None:
    """Accuracy of the answered texts nearest ``threshold``: of the texts whose top probability
    ``top`` ((n,)) is at least ``threshold``, the :data:`MARGIN_SHARE` of n (at least
    :data:`MARGIN_MIN`) of lowest probability, with every text tied with the last of them;
    ``right`` ((n,) bool) says which are right. ``None`` when none is answered."""
    answered = np.flatnonzero(top >= threshold)
    if not len(answered):
        return None
    k = max(MARGIN_MIN, int(np.ceil(MARGIN_SHARE * len(top))))
    # Ties at the k-th lowest probability all count: which of equal texts is "nearest" is arbitrary.
    cutoff = np.sort(top[answered])[min(k, len(answered)) - 1]
    return float(right[answered[top[answered] <= cutoff]].mean())


def fit_temperature(p: np.ndarray, y: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of ``y`` ((n,) class ids) under
    ``p`` ((n, K) probabilities), on a log grid from 0.25 to 8."""
    rows = np.arange(len(y))
    nll = [float(-np.log(temper(p, t)[rows, y] + 1e-12).mean()) for t in TEMPERATURES]
    return float(TEMPERATURES[int(np.argmin(nll))])


def split_outside(m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays (fit half, check half) of ``m`` out-of-domain texts after a seeded shuffle: the
    threshold is set on the first, and the share answered is reported on the second, which it never
    saw. The fit half gets the odd text out."""
    order = np.random.default_rng(seed).permutation(m)
    cut = (m + 1) // 2
    return np.sort(order[:cut]), np.sort(order[cut:])


def choose_threshold(
    p: np.ndarray,
    y: np.ndarray,
    min_precision: float,
    p_outside: np.ndarray | None = None,
    max_outside_answered: float = 0.05,
    p_outside_check: np.ndarray | None = None,
) -> dict[str, Any]:
    """The lowest top-probability threshold whose answered validation texts reach
    ``min_precision`` and whose answers nearest it reach :data:`MIN_MARGINAL_PRECISION`
    (:func:`marginal_precision`), at least :data:`MIN_THRESHOLD`, raised where needed so that at
    most ``max_outside_answered`` of the out-of-domain texts ``p_outside`` get an answer.

    Args:
        p: (n, K) calibrated validation probabilities; y: (n,) their class ids.
        min_precision: accuracy required of the answered texts, 0-1.
        p_outside: (m, K) calibrated probabilities of texts that belong to none of the classes,
            the ones the threshold is set on.
        p_outside_check: (m2, K) further such texts the threshold is not set on (see
            :func:`split_outside`); where given, ``outside_answered`` is measured on them.
    Returns:
        ``threshold`` and, at it, ``val_precision``, ``val_marginal_precision``, ``val_coverage``
        (share answered) and, with
        ``p_outside``, ``outside_answered`` (share of out-of-domain texts answered, 0-1) with
        ``outside_answered_on`` saying on which texts; with ``p_outside_check`` also
        ``outside_answered_fit`` (the share on the texts the threshold was set on) and both counts.
    """
    top, right = p.max(1), p.argmax(1) == y
    threshold = float(THRESHOLDS[-1])
    for t in THRESHOLDS[THRESHOLDS >= MIN_THRESHOLD]:
        kept = top >= t
        if (
            kept.any()
            and right[kept].mean() >= min_precision
            and (marginal_precision(top, right, float(t)) or 0.0) >= MIN_MARGINAL_PRECISION
        ):
            threshold = float(t)
            break
    out: dict[str, Any] = {
        "min_precision": min_precision,
        "floor": MIN_THRESHOLD,
        "min_marginal_precision": MIN_MARGINAL_PRECISION,
    }
    if p_outside is not None and len(p_outside):
        q = float(np.quantile(p_outside.max(1), 1 - max_outside_answered))
        # Strictly above the quantile, on the threshold grid: a text at the quantile is declined too.
        threshold = max(threshold, float(np.floor(q * 100 + 1e-9) / 100 + 0.01))
        fit_share = float((p_outside.max(1) >= threshold).mean())
        if p_outside_check is not None and len(p_outside_check):
            out["outside_answered"] = float((p_outside_check.max(1) >= threshold).mean())
            out["outside_answered_on"] = "held-out half of the out-of-domain texts"
            out["outside_answered_fit"] = fit_share
            out["n_outside_fit"], out["n_outside_check"] = len(p_outside), len(p_outside_check)
        else:
            out["outside_answered"] = fit_share
            out["outside_answered_on"] = "the out-of-domain texts the threshold was set on"
        out["max_outside_answered"] = max_outside_answered
    kept = top >= threshold
    out.update(
        threshold=threshold,
        val_precision=float(right[kept].mean()) if kept.any() else None,
        val_marginal_precision=marginal_precision(top, right, threshold),
        val_coverage=float(kept.mean()),
    )
    return out
