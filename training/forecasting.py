"""Demand forecasting's data and scoring: the sales panel and its windows, the forecast metrics
(WAPE, MASE, pinball, 80% coverage) with their bootstrap statistic, and the simple and
gradient-boosted baselines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mining.models.demand import (
    QUANTILES,
    gbm_features,
    rule_forecast,
    rule_name,
)
from training.intervals import Statistic, ratio_of_sums


# --- Panel ---------------------------------------------------------------------------------------
@dataclass
class Panel:
    """Sales on a calendar grid: S series x P consecutive periods.

    ``units`` is (S, P) with NaN where a period has no row (a gap, or before a series starts);
    ``covs`` is (S, P, C), carried forward over gaps (and backward before the first row) so every
    period has a plan; ``periods`` holds the P period numbers.
    """

    series: list[str]
    periods: np.ndarray
    units: np.ndarray
    covs: np.ndarray
    covariates: list[str]


def periods_from_dates(values: pd.Series) -> tuple[np.ndarray, str]:
    """Calendar dates (ISO strings or datetimes) as consecutive period numbers, and the step found:
    ``day``, ``week`` (every 7 days, any weekday) or ``month`` (one date per calendar month, any
    day). The first date is period 0; a date with no row between two others is a gap.

    Why: a shop's sales export has dates, and the panel needs the integer grid the ``period``
    column documents. The step is the smallest gap between distinct dates: each date must lie on
    it, so irregular dates are refused rather than squeezed onto a grid.

    Raises:
        ValueError: a value is no date, or the dates are not whole steps apart.
    """
    dates = pd.to_datetime(values, errors="coerce")
    if dates.isna().any():
        bad = values[dates.isna()].head(3).tolist()
        raise ValueError(f"column 'period' holds neither numbers nor dates: e.g. {bad}")
    days = (dates - dates.min()).dt.days.to_numpy()
    months = (dates.dt.year * 12 + dates.dt.month).to_numpy()
    months = months - months.min()
    distinct = np.unique(days)
    step = int(np.diff(distinct).min()) if len(distinct) > 1 else 1
    if 28 <= step <= 31 and len(np.unique(months)) == len(distinct):
        return months.astype(np.int64), "month"
    if step in (1, 7) and not (days % step).any():
        return (days // step).astype(np.int64), "day" if step == 1 else "week"
    raise ValueError(
        f"column 'period': the dates are not one day, one week or one month apart (smallest gap {step} days, "
        "dates off that grid): give period numbers instead"
    )


def load_panel(df: pd.DataFrame, covariates: list[str]) -> Panel:
    """Pivot a validated sales table onto the full period grid (gaps stay NaN)."""
    if (df["units"] < 0).any():
        raise ValueError(f"units must be >= 0; {int((df['units'] < 0).sum())} rows are negative")
    if df.duplicated(["series_id", "period"]).any():
        raise ValueError("a (series_id, period) pair appears more than once")
    periods = np.arange(df["period"].min(), df["period"].max() + 1)
    series = sorted(df["series_id"].unique())
    grid = df.set_index(["series_id", "period"]).reindex(pd.MultiIndex.from_product([series, periods]))
    units = grid["units"].to_numpy(float).reshape(len(series), len(periods))
    shape = (len(series), len(periods), len(covariates))
    if not covariates:  # pandas cannot transform a frame without columns
        return Panel(series, periods, units, np.zeros(shape), covariates)
    covs = grid[covariates].groupby(level=0).transform(lambda c: c.ffill().bfill())
    return Panel(series, periods, units, covs.to_numpy(float).reshape(shape), covariates)


def windows(panel: Panel, origins: np.ndarray, history: int, horizon: int) -> dict[str, np.ndarray]:
    """All (series, origin) windows: history up to and including ``origin`` (a period index),
    forecast periods ``origin + 1 .. origin + horizon``. Windows whose history has no observation
    or whose future has none are dropped.

    Returns:
        ``units`` (N, L), ``cov_hist`` (N, L, C), ``cov_future`` (N, H, C), ``target`` (N, H) with
        NaN where unobserved, ``series`` (N,) series index, ``origin`` (N,) period index.
    """
    S, P = panel.units.shape
    pad = np.full((S, history), np.nan)
    units = np.concatenate([pad, panel.units], 1)
    covs = np.concatenate([np.repeat(panel.covs[:, :1], history, 1), panel.covs], 1)
    out: dict[str, list[np.ndarray]] = {
        k: [] for k in ("units", "cov_hist", "cov_future", "target", "series", "origin")
    }
    for t in origins:
        if t + horizon >= P:
            raise ValueError(f"origin {t} leaves fewer than {horizon} periods after it")
        u = units[:, t + 1 : t + 1 + history]  # padded index t + history is period index t
        target = panel.units[:, t + 1 : t + 1 + horizon]
        keep = (~np.isnan(u)).any(1) & (~np.isnan(target)).any(1)
        out["units"].append(u[keep])
        out["cov_hist"].append(covs[keep, t + 1 : t + 1 + history])
        out["cov_future"].append(panel.covs[keep, t + 1 : t + 1 + horizon])
        out["target"].append(target[keep])
        out["series"].append(np.flatnonzero(keep))
        out["origin"].append(np.full(int(keep.sum()), t))
    return {k: np.concatenate(v) for k, v in out.items()}


def training_origins(until: int, horizon: int, stride: int = 1) -> np.ndarray:
    """Origins (period indices) of the windows whose targets all lie at or before ``until``."""
    return np.arange(4, until - horizon + 1, stride)


# --- Metrics -------------------------------------------------------------------------------------
def mase_scale(panel: Panel, series: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """Per window: mean absolute change between consecutive observed periods of the series up to
    the origin (the in-sample naive forecast's error); gaps are skipped, not bridged."""
    diffs = np.abs(np.diff(panel.units, axis=1))  # NaN where either side is missing
    out = np.empty(len(series))
    for k, (s, t) in enumerate(zip(series, origin)):
        d = diffs[s, :t]
        d = d[~np.isnan(d)]
        out[k] = d.mean() if len(d) and d.mean() > 0 else np.nan
    return out


def forecast_metrics(target: np.ndarray, quantiles: np.ndarray, scale: np.ndarray) -> dict[str, float]:
    """WAPE and MASE of the median, pinball loss scaled by total demand, and p10-p90 coverage.

    Args:
        target: (N, H) actuals, NaN where unobserved (left out of every metric).
        quantiles: (N, H, Q) forecasts in :data:`QUANTILES` order; a point forecast may pass Q = 1.
        scale: (N,) MASE scale per window (NaN: window left out of MASE).
    """
    mask = ~np.isnan(target)
    y = np.where(mask, target, 0.0)
    p50 = quantiles[..., quantiles.shape[-1] // 2]
    err = np.abs(y - p50) * mask
    out = {"wape": float(err.sum() / y.sum())}
    per_window = err.sum(1) / np.maximum(mask.sum(1), 1)
    ok = ~np.isnan(scale) & (mask.sum(1) > 0)
    out["mase"] = float(np.mean(per_window[ok] / scale[ok])) if ok.any() else float("nan")
    if quantiles.shape[-1] == len(QUANTILES):
        q = np.array(QUANTILES)
        diff = y[..., None] - quantiles
        pin = np.maximum(q * diff, (q - 1) * diff).mean(-1) * mask
        out["pinball"] = float(pin.sum() / y.sum())
        inside = (y >= quantiles[..., 0]) & (y <= quantiles[..., -1])
        out["coverage_80"] = float(inside[mask].mean())
    return out


def series_error_sums(target: np.ndarray, p50: np.ndarray, series: np.ndarray, n_series: int) -> np.ndarray:
    """Per series: (sum of |actual - p50|, sum of actuals) over its windows' observed periods.

    Args:
        target: (N, H) actuals, NaN where unobserved; p50: (N, H); series: (N,) series index.
    Returns:
        (n_series, 2) float64; a series without windows has (0, 0).
    """
    mask = ~np.isnan(target)
    y = np.where(mask, target, 0.0)
    err = (np.abs(y - p50) * mask).sum(1)
    return np.stack(
        [np.bincount(series, err, minlength=n_series), np.bincount(series, y.sum(1), minlength=n_series)], 1
    )


def mean_wape_statistic(sums: np.ndarray) -> Statistic:
    """Bootstrap statistic of the headline: the mean over origins of WAPE (a ratio of sums over the
    resampled series at each origin). ``sums`` is (S, O, 2) from :func:`series_error_sums`."""
    per_origin = [ratio_of_sums(sums[:, k, 0], sums[:, k, 1]) for k in range(sums.shape[1])]
    return lambda idx: float(np.mean([stat(idx) for stat in per_origin]))


# --- Baselines -----------------------------------------------------------------------------------
def baseline_rules(history: int, season: int) -> list[tuple[str, int]]:
    """The rule baselines as (rule, window): windows longer than the history are cut to it, and the
    seasonal naive joins when ``1 <= season <= history``."""
    rules = [("last_value", 1), ("moving_average", 4), ("moving_average", 13), ("median", 13)]
    out = list(dict.fromkeys((r, min(w, history)) for r, w in rules))
    return out + ([("seasonal_naive", season)] if 1 <= season <= history else [])


def simple_baselines(w: dict[str, np.ndarray], horizon: int, season: int = 0) -> dict[str, np.ndarray]:
    """Point forecasts (N, H, 1) of every rule baseline (see :func:`baseline_rules`) from each
    window's history alone (calendar windows: gaps count as periods, their values are skipped)."""
    L = w["units"].shape[1]
    return {rule_name(r, k): rule_forecast(w["units"], r, k, horizon)[..., None] for r, k in baseline_rules(L, season)}


def fit_gbm(
    train_w: dict[str, np.ndarray], horizon: int, seed: int, max_rows: int = 0, level_offset: float = 0.0
) -> Any:
    """Gradient-boosted global model (absolute error, weighted by level so it minimises WAPE), one
    model over all horizon steps with ``h`` as a feature, predicting units / level (see
    :func:`mining.models.demand.gbm_features`, with its ``level_offset``), on at most ``max_rows``
    (window, step) rows drawn at random (0: all). Returns the fitted ``HistGradientBoostingRegressor``."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    Xs, ys, ws = [], [], []
    for h in range(1, horizon + 1):
        X, level = gbm_features(train_w["units"], train_w["cov_hist"], train_w["cov_future"], h, level_offset)
        y = train_w["target"][:, h - 1]
        ok = ~np.isnan(y)
        Xs.append(X[ok])
        ys.append(y[ok] / level[ok])
        ws.append(level[ok])
    model = HistGradientBoostingRegressor(
        loss="absolute_error",
        max_iter=500,
        learning_rate=0.05,
        max_leaf_nodes=63,
        min_samples_leaf=50,
        l2_regularization=1.0,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=30,
        random_state=seed,
    )
    X, y, weight = np.concatenate(Xs), np.concatenate(ys), np.concatenate(ws)
    if max_rows and len(y) > max_rows:
        keep = np.sort(np.random.default_rng(seed).choice(len(y), max_rows, replace=False))
        X, y, weight = X[keep], y[keep], weight[keep]
    model.fit(X, y, sample_weight=weight)
    return model


def gbm_predict(model: Any, w: dict[str, np.ndarray], horizon: int, level_offset: float = 0.0) -> np.ndarray:
    """(N, H) point forecasts in units of a model from :func:`fit_gbm` (with the same ``level_offset``)."""
    out = np.zeros((len(w["units"]), horizon))
    for h in range(1, horizon + 1):
        X, level = gbm_features(w["units"], w["cov_hist"], w["cov_future"], h, level_offset)
        out[:, h - 1] = np.maximum(model.predict(X) * level, 0.0)
    return out
