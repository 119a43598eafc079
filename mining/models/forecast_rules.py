"""The rule forecasters a demand network must beat: last value, moving average, median and
seasonal naive on each series' own history, with quantiles from multipliers fitted on validation
(:class:`RuleForecaster`, parameters in JSON)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mining.models.spec import read_spec

if TYPE_CHECKING:
    pass

QUANTILES = (0.1, 0.5, 0.9)
RULES = ("last_value", "moving_average", "median", "seasonal_naive")


def _last_observed(units: np.ndarray) -> np.ndarray:
    """(B,) the last non-NaN value of each row of ``units`` (B, L); 0 for a row without one."""
    observed = ~np.isnan(units)
    idx = units.shape[1] - 1 - np.argmax(observed[:, ::-1], 1)
    return np.where(observed.any(1), units[np.arange(len(units)), idx], 0.0)


def rule_name(rule: str, window: int) -> str:
    """Name of a rule forecaster, e.g. ``moving_average_13`` (``last_value`` has no window)."""
    return rule if rule == "last_value" else f"{rule}_{window}"


def rule_forecast(units: np.ndarray, rule: str, window: int, horizon: int) -> np.ndarray:
    """Point forecasts of a rule that reads each series' own history only.

    Rules: ``last_value``; ``moving_average`` / ``median`` of the observed values among the last
    ``window`` periods; ``seasonal_naive``: the value one season (``window`` periods) before each
    forecast period, repeated for steps beyond one season. Gaps are skipped, never closed up; where
    a rule's periods are all gaps it falls back to the last observed value.

    Args:
        units: (B, L) history in units, NaN where missing; ``window`` <= L.
    Returns:
        (B, horizon) float64, units.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    B, L = units.shape
    if not 1 <= window <= L:
        raise ValueError(f"window must be 1-{L} (the history length), got {window}")
    last = _last_observed(units)
    if rule == "last_value":
        return np.repeat(last[:, None], horizon, 1)
    if rule == "seasonal_naive":
        steps = np.arange(1, horizon + 1)
        idx = L - 1 + steps - window * np.ceil(steps / window).astype(int)
        point = units[:, idx]
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-gap spans: the fallback below
            tail = units[:, L - window :]
            level = np.nanmean(tail, 1) if rule == "moving_average" else np.nanmedian(tail, 1)
        point = np.repeat(level[:, None], horizon, 1)
    return np.where(np.isnan(point), last[:, None], point)


def quantile_multipliers(point: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Per forecast step, the :data:`QUANTILES` of actual / point over windows with a positive
    point forecast and an observed actual: a point forecaster's p10 / p90 are its point forecast
    times these. The median's multiplier is fixed at 1 (p50 is the point forecast itself) and the
    others are kept on their side of it, so quantiles never cross.

    Args:
        point: (N, H) point forecasts; actual: (N, H) actuals, NaN where unobserved.
    Returns:
        (H, Q) float64 multipliers; a step without any usable window gets all ones.
    """
    mid = len(QUANTILES) // 2
    out = np.ones((point.shape[1], len(QUANTILES)))
    for h in range(point.shape[1]):
        ok = (point[:, h] > 0) & ~np.isnan(actual[:, h])
        if ok.any():
            out[h] = np.quantile(actual[ok, h] / point[ok, h], QUANTILES)
    out[:, :mid] = np.minimum(out[:, :mid], 1.0)
    out[:, mid] = 1.0
    out[:, mid + 1 :] = np.maximum(out[:, mid + 1 :], 1.0)
    return out


# Below this many units a period, a count series' p10 and p90 come from a count distribution
# (:func:`count_bands`); chosen on the validation origin among 20, 100, 500 and every size.
COUNT_BANDS_BELOW = 500.0
# (p90 - p10) of a normal distribution in standard deviations.
_NORMAL_P10_P90 = 2.5631


def counts_only(units: np.ndarray) -> np.ndarray:
    """(B,) whether each history row of ``units`` (B, L; NaN where missing) holds whole numbers only."""
    observed = ~np.isnan(units)
    return np.all(~observed | (units == np.round(np.where(observed, units, 0.0))), 1)


def count_bands(point: np.ndarray, multipliers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(p10, p90), each (B, H'), of a negative binomial count with mean ``point`` (B, H') and
    variance ``point + a * point**2``, ``a`` the squared relative spread of the step's multipliers
    ((m90 - m10) / 2.563 per unit of the point forecast).

    Why: multipliers learnt on series selling thousands a week carry their relative spread only;
    a series selling about one a week varies mostly by chance, which that spread misses. On
    Dominick's series thinned to such sizes (``python -m training.eval_demand_scale``) the p10-p90
    band held 11% of the actuals at 0.4 units a week, 90% with this."""
    from scipy.stats import nbinom  # lazily: only counts below COUNT_BANDS_BELOW need it

    spread = np.maximum((multipliers[: point.shape[1], -1] - multipliers[: point.shape[1], 0]) / _NORMAL_P10_P90, 1e-3)
    n = np.broadcast_to(1.0 / spread**2, point.shape)
    mean = np.maximum(point, 1e-9)
    p = n / (n + mean)
    low, high = (nbinom.ppf(q, n, p) for q in (QUANTILES[0], QUANTILES[-1]))
    return np.minimum(low, point), np.maximum(high, point)


def quantiles_from_point(
    point: np.ndarray, multipliers: np.ndarray, counts: np.ndarray | None = None, below: float = COUNT_BANDS_BELOW
) -> np.ndarray:
    """(B, H', Q) float32 non-negative quantiles from (B, H') points and (H, Q) multipliers; p50
    is the point. Where ``counts`` (B,) marks a series of whole units and its point is under
    ``below`` units, p10 and p90 are :func:`count_bands`'."""
    point = np.maximum(point, 0.0)
    q = point[..., None] * multipliers[None, : point.shape[1]]
    if counts is not None:
        small = counts[:, None] & (point < below)
        if small.any():
            low, high = count_bands(point, multipliers)
            q[..., 0] = np.where(small, low, q[..., 0])
            q[..., -1] = np.where(small, high, q[..., -1])
    return np.sort(q, -1).astype(np.float32)


class RuleForecaster:
    """A rule on each series' own history (see :func:`rule_forecast`) with per-step quantile
    multipliers (see :func:`quantile_multipliers`): the served fallback where no learned model beat
    it. Reads no covariates, but keeps the network's names so requests look the same."""

    kind = "demand_rule"

    def __init__(
        self, rule: str, window: int, history: int, horizon: int, covariates: list[str], multipliers: np.ndarray
    ) -> None:
        rule_forecast(np.zeros((1, history)), rule, window, 1)  # refuses an unknown rule or a window past the history
        self.rule, self.window, self.history, self.horizon = rule, int(window), int(history), int(horizon)
        self.covariates = list(covariates)
        self.multipliers = np.asarray(multipliers, np.float64).reshape(horizon, len(QUANTILES))

    @property
    def name(self) -> str:
        return rule_name(self.rule, self.window)

    def predict(self, units: np.ndarray, cov_hist: np.ndarray, cov_future: np.ndarray) -> np.ndarray:
        """Same contract as :meth:`DemandModel.predict`: (B, L) history, (B, H', C) plans ->
        (B, H', Q) float32 quantiles in units."""
        H = cov_future.shape[1]
        if self.horizon < H:
            raise ValueError(f"horizon {H} exceeds the model's {self.horizon}")
        point = rule_forecast(units, self.rule, self.window, H)
        return quantiles_from_point(point, self.multipliers, counts_only(units))

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        spec = {
            "kind": self.kind,
            "rule": self.rule,
            "window": self.window,
            "history": self.history,
            "horizon": self.horizon,
            "covariates": self.covariates,
            "quantiles": list(QUANTILES),
            "multipliers": self.multipliers.tolist(),
        }
        (path / "model.json").write_text(json.dumps(spec, indent=1))

    @classmethod
    def load(cls, path: Path) -> RuleForecaster:
        spec = read_spec(path, cls.kind)
        return cls(
            spec["rule"], spec["window"], spec["history"], spec["horizon"], spec["covariates"], spec["multipliers"]
        )
