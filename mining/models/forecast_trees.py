"""The gradient-boosted global forecaster: one tree model per quantile over window features of
every series (:class:`TreeForecaster`, its trees as arrays in safetensors)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mining.models.forecast_rules import QUANTILES, counts_only, quantiles_from_point
from mining.models.spec import read_spec

if TYPE_CHECKING:
    from sklearn.ensemble import HistGradientBoostingRegressor


def gbm_features(
    units: np.ndarray, cov_hist: np.ndarray, cov_future: np.ndarray, h: int, level_offset: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Features of each window for forecast step ``h`` (1-based) and the window's level.

    Lags, rolling means / median / spread over calendar windows (gaps skipped), periods since the
    last observation, the covariates planned for the target period and at the origin, and ``h``.
    The level is the mean of the last 13 observed periods (of the whole history where those sold
    nothing; 1 where it never sold), so a series is read the same at any size.

    Args:
        units: (B, L) history, NaN where missing; cov_hist: (B, L, C); cov_future: (B, >= h, C).
        level_offset: added to the level; 1.0 reproduces the features before the level was
            scale-free (mean + 1: a series selling 0.4 a week was forecast 1.2, see
            ``training.eval_demand_scale``).
    Returns:
        (X (B, F) float64, level (B,)): the model predicts units / level.
    """
    u = units
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-gap spans become NaN, then -1 below
        recent, overall = np.nan_to_num(np.nanmean(u[:, -13:], 1)), np.nan_to_num(np.nanmean(u, 1))
        level = np.where(recent > 0, recent, np.where(overall > 0, overall, 1.0)) + level_offset
        observed = ~np.isnan(u)
        last_idx = u.shape[1] - 1 - np.argmax(observed[:, ::-1], 1)
        last = u[np.arange(len(u)), last_idx]
        stats = [
            last,
            np.nanmean(u[:, -4:], 1),
            np.nanmean(u[:, -13:], 1),
            np.nanmedian(u[:, -13:], 1),
            np.nanmean(u[:, -26:], 1),
            np.nanmax(u[:, -13:], 1),
            np.nanstd(u[:, -13:], 1),
            np.nanmean(u, 1),
        ]
        lags = [u[:, -k] for k in range(1, 5)]
    rel = [np.nan_to_num(s / level, nan=-1.0) for s in stats + lags]
    since = u.shape[1] - 1 - last_idx
    fut, now = cov_future[:, h - 1], cov_hist[:, -1]
    X = np.column_stack([*rel, np.log(level), since, observed[:, -13:].sum(1), fut, now, fut - now, np.full(len(u), h)])
    return X.astype(np.float64), level


class TreeForecaster:
    """The gradient-boosted global model (one regressor over all forecast steps, on
    :func:`gbm_features`, predicting units / level) as plain arrays: every tree's nodes in one flat
    table, so the artifact is safetensors + JSON and prediction is numpy. Quantiles come from
    per-step multipliers of its point forecast, as for :class:`RuleForecaster`."""

    kind = "demand_gbm"
    name = "gbm"
    _FIELDS = ("feature", "threshold", "missing_left", "left", "right", "leaf", "value", "roots")

    def __init__(
        self,
        trees: dict[str, np.ndarray],
        baseline: float,
        history: int,
        horizon: int,
        covariates: list[str],
        multipliers: np.ndarray,
        level_offset: float = 0.0,
    ) -> None:
        missing = [k for k in self._FIELDS if k not in trees]
        if missing:
            raise ValueError(f"tree arrays lack {missing}")
        self.trees = {k: np.asarray(trees[k]) for k in self._FIELDS}
        self.baseline, self.history, self.horizon = float(baseline), int(history), int(horizon)
        # The level the trees were fitted on (gbm_features): a ratio to the mean + 1 is never
        # exactly 1, so trees fitted so split on values a ratio to the mean itself reaches.
        self.level_offset = float(level_offset)
        self.covariates = list(covariates)
        self.multipliers = np.asarray(multipliers, np.float64).reshape(horizon, len(QUANTILES))

    @classmethod
    def from_sklearn(
        cls,
        model: HistGradientBoostingRegressor,
        history: int,
        horizon: int,
        covariates: list[str],
        multipliers: np.ndarray,
        level_offset: float = 0.0,
    ) -> TreeForecaster:
        """Copy a fitted single-output ``HistGradientBoostingRegressor`` with an identity link
        (squared or absolute error) and no categorical features, fitted on :func:`gbm_features`
        with ``level_offset``, into arrays."""
        nodes = [predictors[0].nodes for predictors in model._predictors]
        if any(n["is_categorical"].any() for n in nodes):
            raise ValueError("categorical splits cannot be exported")
        offsets = np.cumsum([0] + [len(n) for n in nodes[:-1]]).astype(np.int64)
        flat = np.concatenate(nodes)
        shift = np.repeat(offsets, [len(n) for n in nodes])
        trees = {
            "feature": flat["feature_idx"].astype(np.int64),
            "threshold": flat["num_threshold"].astype(np.float64),
            "missing_left": flat["missing_go_to_left"].astype(np.bool_),
            "left": flat["left"].astype(np.int64) + shift,
            "right": flat["right"].astype(np.int64) + shift,
            "leaf": flat["is_leaf"].astype(np.bool_),
            "value": flat["value"].astype(np.float64),
            "roots": offsets,
        }
        baseline = float(np.ravel(model._baseline_prediction)[0])
        return cls(trees, baseline, history, horizon, covariates, multipliers, level_offset)

    def raw_predict(self, X: np.ndarray) -> np.ndarray:
        """(N,) the regressor's output for features ``X`` (N, F): the baseline plus every tree's
        leaf value (NaN features follow each split's learnt missing-value side)."""
        t = self.trees
        X = np.asarray(X, np.float64)
        rows = np.arange(len(X))[:, None]
        node = np.broadcast_to(t["roots"], (len(X), len(t["roots"]))).copy()
        while True:
            inner = ~t["leaf"][node]
            if not inner.any():
                break
            x = X[rows, t["feature"][node]]
            go_left = np.where(np.isnan(x), t["missing_left"][node], x <= t["threshold"][node])
            node = np.where(inner, np.where(go_left, t["left"][node], t["right"][node]), node)
        return self.baseline + t["value"][node].sum(1)

    def point_forecast(self, units: np.ndarray, cov_hist: np.ndarray, cov_future: np.ndarray) -> np.ndarray:
        """(B, H') point forecasts in units for (B, L) histories and (B, H', C) plans."""
        H = cov_future.shape[1]
        feats = [gbm_features(units, cov_hist, cov_future, h, self.level_offset) for h in range(1, H + 1)]
        X = np.concatenate([f[0] for f in feats])
        level = np.concatenate([f[1] for f in feats])
        return np.maximum(self.raw_predict(X) * level, 0.0).reshape(H, len(units)).T

    def predict(self, units: np.ndarray, cov_hist: np.ndarray, cov_future: np.ndarray) -> np.ndarray:
        """Same contract as :meth:`DemandModel.predict`."""
        H = cov_future.shape[1]
        if self.horizon < H:
            raise ValueError(f"horizon {H} exceeds the model's {self.horizon}")
        point = self.point_forecast(units, cov_hist, cov_future)
        return quantiles_from_point(point, self.multipliers, counts_only(units))

    def save(self, path: Path) -> None:
        from safetensors.numpy import save_file as save_arrays

        path.mkdir(parents=True, exist_ok=True)
        spec = {
            "kind": self.kind,
            "baseline": self.baseline,
            "history": self.history,
            "horizon": self.horizon,
            "covariates": self.covariates,
            "quantiles": list(QUANTILES),
            "multipliers": self.multipliers.tolist(),
            "level_offset": self.level_offset,
            "n_trees": len(self.trees["roots"]),
        }
        (path / "model.json").write_text(json.dumps(spec, indent=1))
        save_arrays(
            {k: np.ascontiguousarray(v.astype(np.uint8) if v.dtype == np.bool_ else v) for k, v in self.trees.items()},
            str(path / "trees.safetensors"),
        )

    @classmethod
    def load(cls, path: Path) -> TreeForecaster:
        from safetensors.numpy import load_file as load_arrays

        path = Path(path)
        spec = read_spec(path, cls.kind)
        trees = load_arrays(str(path / "trees.safetensors"))
        for k in ("missing_left", "leaf"):
            trees[k] = trees[k].astype(np.bool_)
        # A model saved without the key was fitted on the mean + 1 level.
        offset = float(spec.get("level_offset", 1.0))
        return cls(
            trees, spec["baseline"], spec["history"], spec["horizon"], spec["covariates"], spec["multipliers"], offset
        )
