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


def quantiles_from_point(point: np.ndarray, multipliers: np.ndarray) -> np.ndarray:
    """(B, H', Q) float32 non-negative quantiles from (B, H') points and (H, Q) multipliers."""
    q = np.maximum(point, 0.0)[..., None] * multipliers[None, : point.shape[1]]
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
        return quantiles_from_point(rule_forecast(units, self.rule, self.window, H), self.multipliers)

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
