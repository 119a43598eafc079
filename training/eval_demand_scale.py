"""How the boosted demand model forecasts slow movers: series as small as most of a shop's items.

    python -m training.eval_demand_scale            # the validation origin: what chose the settings
    python -m training.eval_demand_scale --test     # the earliest headline origin, read once

Every series of the sales table sells hundreds to thousands of units a period, where most items
of an online shop sell a few a week. Each series is thinned binomially (every unit sold kept with
probability ``f``: the same weeks, promotions and prices, at ``f`` times the size, with the chance
variation of a small count), for ``f`` from 1 to 3e-5 (0.4 units a period at the validation origin).
The boosted model is fitted on the unthinned windows before the origin, as the trainer fits it
(once per way of reading the level below), and its quantile multipliers on the unthinned windows
one horizon earlier, as served; then each forecasts the thinned windows at the origin:

- ``before``: the window's level is its mean + 1 and p10 / p90 are the point times the multipliers;
- ``after``: the level is the mean itself (:func:`mining.models.forecast_trees.gbm_features`) and
  a series of whole units under :data:`mining.models.forecast_rules.COUNT_BANDS_BELOW` a period
  gets its p10 / p90 from a count distribution (:func:`mining.models.forecast_rules.count_bands`).

Per factor: the pinball loss of p10 / p50 / p90 over total demand (lower is better), the share of
actuals inside p10-p90 (0.8 is calibrated), WAPE and the forecast's bias (sum of p50 / sum of
actuals), with the paired bootstrap interval of the pinball difference over series; and each
window's ``/inventory/plan`` (``before``: the normal sum; ``after``: a count where the history is
whole units, :func:`mining.inventory.reorder_plan`): the share of windows stocked enough for
their lead time's actual demand, and the stock planned over that demand.

Output: a table on stderr and the metrics as a dict (``main``'s return).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mining.inventory import reorder_plan
from mining.models.forecast_rules import (
    COUNT_BANDS_BELOW,
    QUANTILES,
    counts_only,
    quantile_multipliers,
    quantiles_from_point,
)
from training.common import parse_config
from training.forecasting import fit_gbm, forecast_metrics, gbm_predict, load_panel, training_origins, windows
from training.intervals import paired_difference, ratio_of_sums
from training.train_demand import DemandConfig, _read_table, plan_origins


@dataclass
class DemandScaleConfig(DemandConfig):
    test: bool = field(
        default=False, metadata={"help": "score the earliest headline origin instead of the validation origin"}
    )
    factors: str = field(
        default="1,0.1,0.01,0.001,0.0003,0.0001,0.00003",
        metadata={"help": "thinning factors: the share of each series' units kept"},
    )
    count_below: float = field(
        default=COUNT_BANDS_BELOW,
        metadata={"help": "after: count bands for series forecast under this many units a period (what chose the cut)"},
    )
    lead_time: int = field(default=3, metadata={"help": "periods of the reorder plan each window gets"})
    service_level: float = field(default=0.95, metadata={"help": "the plan's service level asked"})


def plan_scores(
    target: np.ndarray, q: np.ndarray, lead_time: int, service_level: float, counts: np.ndarray | None
) -> dict[str, float]:
    """Each window's reorder plan (nothing on hand) against its actual lead-time demand: the share
    of windows stocked enough (the cycle service level reached) and the summed order-up-to levels
    over the summed demand. Windows with a gap in the lead time are left out."""
    demand = target[:, :lead_time].sum(1)
    ok = ~np.isnan(demand)
    levels = np.array(
        [
            reorder_plan(
                {"p10": q[i, :, 0].tolist(), "p50": q[i, :, 1].tolist(), "p90": q[i, :, 2].tolist()},
                lead_time,
                service_level,
                0.0,
                0.0,
                counts=bool(counts[i]) if counts is not None else False,
            )["order_up_to"]
            for i in np.flatnonzero(ok)
        ]
    )
    return {
        "stocked_enough": float((demand[ok] <= levels).mean()),
        "stock_over_demand": float(levels.sum() / demand[ok].sum()),
    }


def thinned(w: dict[str, np.ndarray], f: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``w`` with its history and targets thinned binomially (each whole unit kept with
    probability ``f``; NaN stays NaN); ``f`` = 1 returns ``w``."""
    if f >= 1.0:
        return w
    out = dict(w)
    for key in ("units", "target"):
        a = w[key]
        seen = ~np.isnan(a)
        t = np.full(a.shape, np.nan)
        t[seen] = rng.binomial(np.round(a[seen]).astype(np.int64), f)
        out[key] = t
    return out


def pinball_by_series(target: np.ndarray, q: np.ndarray, series: np.ndarray, n: int) -> np.ndarray:
    """(n, 2): per series, the summed mean pinball loss over its observed periods and its summed actuals."""
    seen = ~np.isnan(target)
    y = np.where(seen, target, 0.0)
    levels = np.array(QUANTILES)
    diff = y[..., None] - q
    loss = (np.maximum(levels * diff, (levels - 1) * diff).mean(-1) * seen).sum(1)
    return np.stack([np.bincount(series, loss, minlength=n), np.bincount(series, y.sum(1), minlength=n)], 1)


def scores(target: np.ndarray, q: np.ndarray) -> dict[str, float]:
    """:func:`training.forecasting.forecast_metrics` (pinball over total demand, p10-p90 coverage,
    WAPE of p50) and the bias (sum p50 / sum actual)."""
    metrics = forecast_metrics(target, q, np.full(len(target), np.nan))
    del metrics["mase"]  # no MASE scale here: thinning changes it
    seen = ~np.isnan(target)
    p50 = q[..., len(QUANTILES) // 2]
    return {**metrics, "bias": float((p50 * seen).sum() / np.where(seen, target, 0.0).sum())}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    cfg = parse_config(DemandScaleConfig, argv)
    df, covariates, _ = _read_table(cfg)
    panel = load_panel(df, covariates)
    H, L = cfg.horizon, cfg.history
    headline, val = plan_origins(cfg, len(panel.periods))
    origin = headline[0] if cfg.test else val[-1]
    train_w = windows(panel, training_origins(origin, H, cfg.gbm_stride), L, H)
    calib_w = windows(panel, np.array([origin - H]), L, H)
    test_w = windows(panel, np.array([origin]), L, H)
    n_series = len(panel.series)
    systems: dict[str, tuple[float, bool]] = {"before": (1.0, False), "after": (0.0, True)}
    # Each fitted on its own level: trees fitted on ratios to the mean + 1 (never exactly 1) split
    # where ratios to the mean itself fall, so one model cannot stand for both.
    models = {name: fit_gbm(train_w, H, cfg.seed, cfg.gbm_max_rows, offset) for name, (offset, _) in systems.items()}
    mults = {
        name: quantile_multipliers(gbm_predict(models[name], calib_w, H, offset), calib_w["target"])
        for name, (offset, _) in systems.items()
    }
    out: dict[str, Any] = {"origin": "test" if cfg.test else "validation", "period": int(panel.periods[origin])}
    print(f"origin {out['origin']} (period {out['period']}), {len(test_w['units'])} series", file=sys.stderr)
    print(
        f"{'f':>8} {'units':>9} | {'pinball before / after':>22} {'diff [95% CI]':>26} | coverage | bias",
        file=sys.stderr,
    )
    for f in (float(x) for x in cfg.factors.split(",")):
        w = thinned(test_w, f, np.random.default_rng(cfg.seed))
        row: dict[str, Any] = {"mean_units": float(np.nanmean(w["target"]))}
        sums = {}
        for name, (offset, count_aware) in systems.items():
            point = gbm_predict(models[name], w, H, offset)
            counts = counts_only(w["units"]) if count_aware else None
            q = quantiles_from_point(point, mults[name], counts, cfg.count_below).astype(np.float64)
            row[name] = {
                **scores(w["target"], q),
                **plan_scores(w["target"], q, cfg.lead_time, cfg.service_level, counts),
            }
            sums[name] = pinball_by_series(w["target"], q, w["series"], n_series)
        kept = sums["after"][:, 1] > 0
        a, b = sums["after"][kept], sums["before"][kept]
        row["after_minus_before_pinball"] = paired_difference(
            ratio_of_sums(a[:, 0], a[:, 1]), ratio_of_sums(b[:, 0], b[:, 1]), int(kept.sum()), higher_is_better=False
        )
        out[f"f={f:g}"] = row
        d = row["after_minus_before_pinball"]
        print(
            f"{f:>8g} {row['mean_units']:>9.2f} | {row['before']['pinball']:>10.4f} / {row['after']['pinball']:<9.4f}"
            f" {d['diff']:>+8.4f} [{d['ci95'][0]:+.4f}, {d['ci95'][1]:+.4f}] {d['verdict']:<6} |"
            f" {row['before']['coverage_80']:.2f} / {row['after']['coverage_80']:.2f} |"
            f" {row['before']['bias']:.2f} / {row['after']['bias']:.2f} |"
            f" plan {row['before']['stocked_enough']:.3f}, {row['before']['stock_over_demand']:.2f} /"
            f" {row['after']['stocked_enough']:.3f}, {row['after']['stock_over_demand']:.2f}",
            file=sys.stderr,
        )
    return out


if __name__ == "__main__":
    main()
