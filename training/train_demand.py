"""Train the global demand forecaster: settings chosen on validation origins, a headline from later
rolling backtest origins, and the saved model is whichever won on validation.

    python -m training.train_demand                        # Dominick's orange juice, LSTM
    python -m training.train_demand --arch transformer
    python -m training.train_demand --data sales.csv       # your (series_id, period, units, covariates...) table

Origins are periods before the last one; at an origin every model is fitted on the periods up to
it only and forecasts the next ``horizon`` periods of every series.

- Validation origins (``--val-origins``; default: one horizon before the earliest headline origin,
  so no validation target lies after it) choose everything: the learning rate and windows per
  epoch (a grid), the epoch count (early stopping), and what is served: the network, or the best
  baseline on validation where the network does not beat it.
- Headline origins (``--origins``, default 24, 18 and 12) give the reported numbers: the mean over
  them of the served model's WAPE, each origin's value, and a 95% bootstrap interval resampling
  series. Nothing is chosen on them.
- The saved model is fitted on every period with the chosen settings.

Baselines on exactly the same windows: last value, moving averages (4 and 13 periods), the median
of the last 13 periods, seasonal naive (one season back) and a gradient-boosted global model on
lags, rolling statistics and the known future covariates. Every baseline can be served: a rule
stores its parameters in JSON, the boosted model its trees as arrays (no pickle). Metrics: WAPE and
MASE of p50, pinball loss over total demand, and the share of actuals inside [p10, p90].
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mining.models.demand import (
    QUANTILES,
    Forecaster,
    quantile_multipliers,
)
from training import data
from training.common import fingerprint, parse_config
from training.demand_net import (
    choose_served,
    choose_settings,
    fit_members,
    log_line,
    parse_ints,
    served_forecaster,
    wape,
)
from training.forecasting import (
    Panel,
    fit_gbm,
    forecast_metrics,
    gbm_predict,
    load_panel,
    mase_scale,
    mean_wape_statistic,
    periods_from_dates,
    series_error_sums,
    simple_baselines,
    training_origins,
    windows,
)
from training.intervals import Headline, uncertainty
from training.run import Report, Saved, TrainConfig, finish_run, sample_cap_field, setup_run


@dataclass
class DemandConfig(TrainConfig):
    """Train a global quantile demand forecaster (LSTM or Transformer): settings chosen on validation
    origins, headline from later rolling backtest origins."""

    data: str = field(default="", metadata={"help": "CSV/Parquet sales table; default: Dominick's orange juice"})
    covariates: str = field(
        default="",
        metadata={
            "help": "comma-separated covariate columns; default: every numeric column besides series_id, period, units"
        },
    )
    arch: str = field(default="lstm", metadata={"help": "network", "choices": ["lstm", "transformer"]})
    history: int = field(default=52, metadata={"help": "history periods every forecaster reads"})
    horizon: int = field(default=12, metadata={"help": "periods forecast"})
    origins: str = field(
        default="24,18,12",
        metadata={
            "help": "headline backtest origins, as periods before the last one; the headline is the mean over them "
            "(use at least 3) and nothing is chosen on them"
        },
    )
    val_origins: str = field(
        default="",
        metadata={
            "help": "validation origins (periods before the last one) on which every setting and the served model are "
            "chosen; each must end its horizon by the earliest headline origin (default: exactly one horizon before it)"
        },
    )
    hidden: int = field(default=64, metadata={"help": "LSTM units / Transformer width"})
    members: int = field(
        default=1, metadata={"help": "networks in the ensemble, each seeded differently; forecasts are their mean"}
    )
    layers: int = field(default=2, metadata={"help": "encoder layers"})
    dropout: float = field(default=0.1, metadata={"help": "dropout"})
    epochs: int = field(default=30, metadata={"help": "maximum epochs; early stopping on validation chooses the count"})
    patience: int = field(default=3, metadata={"help": "stop after this many epochs without a better validation WAPE"})
    batch_size: int = field(default=256, metadata={"help": "windows per batch"})
    windows_per_epoch: str = field(
        default="5000",
        metadata={
            "help": "training windows per epoch, comma-separated candidates chosen on validation (0: one pass over "
            "all windows); windows are drawn as a stream of shuffled passes, so an epoch may be more or less than one"
        },
    )
    lr: str = field(
        default="1e-3,3e-3",
        metadata={"help": "Adam learning rates, comma-separated candidates chosen on validation"},
    )
    weight_by_level: bool = field(
        default=False,
        metadata={"help": "weight each window's loss by its level, so training minimises error in units (WAPE)"},
    )
    season: int = field(
        default=52,
        metadata={
            "help": "season of the seasonal-naive baseline in periods (0 or more than --history: no such baseline)"
        },
    )
    gbm_stride: int = field(
        default=2,
        metadata={"help": "the boosted baseline trains on every n-th origin's windows (neighbours overlap heavily)"},
    )
    gbm_max_rows: int = field(
        default=80000,
        metadata={
            "help": "the boosted baseline trains on at most this many (window, step) rows, drawn at random (0: all)"
        },
    )
    seeds: int = field(
        default=3,
        metadata={
            "help": "seeds the chosen settings are trained with on validation: their spread is recorded and their "
            "mean WAPE is what the network brings against the baselines"
        },
    )
    max_train_samples: int = sample_cap_field("series")
    save: bool = field(default=True, metadata={"help": "fit what serves on all periods and save it into the store"})


def baseline_points(
    cfg: DemandConfig, panel: Panel, origin: int, test_w: dict[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], Any]:
    """Every baseline's (N, H) point forecasts of ``test_w`` (the windows at ``origin``), the boosted
    model fitted on windows whose targets end by ``origin``; returns them and that fitted model."""
    H = cfg.horizon
    points = {name: p[..., 0] for name, p in simple_baselines(test_w, H, cfg.season).items()}
    train_w = windows(panel, training_origins(origin, H, cfg.gbm_stride), cfg.history, H)
    gbm = fit_gbm(train_w, H, cfg.seed, cfg.gbm_max_rows)
    points["gbm"] = gbm_predict(gbm, test_w, H)
    return points, gbm


# --- Backtest ------------------------------------------------------------------------------------
def backtest_origin(
    cfg: DemandConfig, panel: Panel, origin: int, chosen: dict[str, Any], multipliers: dict[str, np.ndarray]
) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Fit every model on periods up to ``origin`` (the network with the chosen settings) and score
    the next ``horizon`` periods; a baseline's p10 / p90 use ``multipliers`` (from an earlier origin).

    Returns:
        (metrics by model, per-series error sums (S, 2) by model, point forecasts (N, H) by model
        with ``"target"`` the actuals).
    """
    H, L = cfg.horizon, cfg.history
    test_w = windows(panel, np.array([origin]), L, H)
    scale = mase_scale(panel, test_w["series"], test_w["origin"])
    t0 = time.time()
    points, _ = baseline_points(cfg, panel, origin, test_w)
    base_seconds = round(time.time() - t0, 1)
    results: dict[str, Any] = {}
    sums: dict[str, np.ndarray] = {}
    for name, p in points.items():
        q = np.maximum(p, 0.0)[..., None] * multipliers[name][None]
        results[name] = forecast_metrics(test_w["target"], np.sort(q, -1), scale)
        sums[name] = series_error_sums(test_w["target"], p, test_w["series"], len(panel.series))
    results["gbm"]["seconds"] = base_seconds
    t0 = time.time()
    pred = fit_members(cfg, panel, origin, chosen).predict(test_w["units"], test_w["cov_hist"], test_w["cov_future"])
    results["network"] = {
        **forecast_metrics(test_w["target"], pred, scale),
        "seconds": round(time.time() - t0, 1),
    }
    sums["network"] = series_error_sums(
        test_w["target"], pred[..., len(QUANTILES) // 2], test_w["series"], len(panel.series)
    )
    return results, sums, {**points, "target": test_w["target"]}


def _read_table(cfg: DemandConfig) -> tuple[pd.DataFrame, list[str], Path]:
    path = Path(cfg.data) if cfg.data else data.sales_table()
    raw = data.read_frame(path, as_text=False)
    covariates = [c for c in cfg.covariates.split(",") if c] or [
        c for c in raw.columns if c not in ("series_id", "period", "units") and pd.api.types.is_numeric_dtype(raw[c])
    ]
    if "period" in raw.columns and not pd.api.types.is_numeric_dtype(raw["period"]):
        numbers, step = periods_from_dates(raw["period"])
        usual = {"day": 7, "week": 52, "month": 12}[step]
        print(
            f"[demand] period: dates read as {step}s, {raw['period'][numbers == 0].iloc[0]} = period 0"
            + (
                f"; seasonal naive uses --season {cfg.season}, {step}s usually --season {usual}"
                if cfg.season != usual
                else ""
            )
        )
        raw = raw.assign(period=numbers)
    df = pd.concat([data.SALES.validate(raw, str(path)), raw[covariates].reset_index(drop=True)], axis=1)
    if cfg.max_train_samples:
        keep = sorted(df["series_id"].unique())[: cfg.max_train_samples]
        df = df[df["series_id"].isin(keep)]
    return df, covariates, path


def plan_origins(cfg: DemandConfig, n_periods: int) -> tuple[list[int], list[int]]:
    """(headline origins, validation origins) as period indices, ascending; raises ``ValueError``
    where a validation target would reach past the earliest headline origin or an origin leaves
    no training window."""
    H, last = cfg.horizon, n_periods - 1
    headline = sorted(last - k for k in parse_ints(cfg.origins))
    if not headline:
        raise ValueError("--origins: give at least one headline origin")
    val = sorted(last - k for k in parse_ints(cfg.val_origins)) if cfg.val_origins else [headline[0] - H]
    late = [last - v for v in val if v + H > headline[0]]
    if late:
        raise ValueError(
            f"--val-origins {late}: a validation origin's {H} target periods must end by the earliest headline "
            f"origin ({last - headline[0]} periods before the last); use {last - headline[0] + H} or more"
        )
    if len(training_origins(val[0], H)) == 0:
        raise ValueError(
            f"validation origin {last - val[0]} periods before the last leaves no training window before it; "
            f"the table has {n_periods} periods, the horizon is {H}: use fewer or later origins"
        )
    return headline, val


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Choose settings on validation, backtest the headline origins, then (with ``--save``) fit what
    serves on every period and save it. Returns the metrics."""
    cfg = parse_config(DemandConfig, argv)
    setup_run(cfg)
    started = time.time()
    df, covariates, path = _read_table(cfg)
    panel = load_panel(df, covariates)
    P, H = len(panel.periods), cfg.horizon
    headline, val_origins = plan_origins(cfg, P)
    period = {int(o): int(panel.periods[o]) for o in headline + val_origins}
    log_line(
        f"{len(panel.series)} series x {P} periods, {np.isnan(panel.units).mean():.1%} of cells missing; covariates "
        f"{covariates}; validation origins {[period[o] for o in val_origins]}, "
        f"headline origins {[period[o] for o in headline]} (periods)"
    )

    # 1. Every choice on the validation origins.
    t0 = time.time()
    selection = choose_settings(cfg, panel, val_origins)
    chosen = selection["chosen"]
    base_val: dict[str, list[float]] = {}
    val_points: dict[str, np.ndarray] = {}
    for v in val_origins:
        w = windows(panel, np.array([v]), cfg.history, H)
        points, _ = baseline_points(cfg, panel, v, w)
        for name, p in points.items():
            base_val.setdefault(name, []).append(wape(w["target"], p))
        val_points, val_target = points, w["target"]
    baselines_val = {name: float(np.mean(v)) for name, v in base_val.items()}
    # p10 / p90 of a baseline at the headline origins: its error ratios at the latest validation origin.
    multipliers = {name: quantile_multipliers(p, val_target) for name, p in val_points.items()}
    served = choose_served(cfg.arch, selection["network_val_wape"], baselines_val)
    served_name = "network" if served["model"] == cfg.arch else served["model"]
    seconds = {"validation": round(time.time() - t0, 1)}
    log_line(f"served: {served['model']} ({served['reason']})")

    # 2. The headline origins: scored, never chosen on.
    t0 = time.time()
    per_origin: dict[int, Any] = {}
    sums: dict[str, list[np.ndarray]] = {}
    last_points: dict[str, np.ndarray] = {}
    for o in headline:
        results, s, last_points = backtest_origin(cfg, panel, o, chosen, multipliers)
        per_origin[period[o]] = results
        for name, arr in s.items():
            sums.setdefault(name, []).append(arr)
        log_line(f"origin {period[o]}: " + ", ".join(f"{k} WAPE {v['wape']:.3f}" for k, v in results.items()))
    seconds["headline"] = round(time.time() - t0, 1)
    models = list(per_origin[period[headline[0]]])
    mean = {
        m: {
            k: float(np.mean([per_origin[o][m][k] for o in per_origin]))
            for k in ("wape", "mase", "pinball", "coverage_80")
        }
        for m in models
    }
    by_origin = {m: {str(o): round(per_origin[o][m]["wape"], 4) for o in per_origin} for m in models}
    baselines = [m for m in models if m != "network"]
    best_base = min(baselines, key=lambda m: mean[m]["wape"])  # the strongest comparison, named after the fact
    stacked = {m: np.stack(v, 1) for m, v in sums.items()}  # (S, O, 2)
    metrics: dict[str, Any] = {
        "test_wape": mean[served_name]["wape"],
        "test_wape_by_origin": by_origin[served_name],
        "test_mase": mean[served_name]["mase"],
        "test_pinball": mean[served_name]["pinball"],
        "test_coverage_80": mean[served_name]["coverage_80"],
        "val_wape": selection["network_val_wape"] if served_name == "network" else baselines_val[served_name],
        "network_test_wape": mean["network"]["wape"],
        "network_test_wape_by_origin": by_origin["network"],
        "network_test_coverage_80": mean["network"]["coverage_80"],
        "network_val_wape": selection["network_val_wape"],
        "headline": f"mean over {len(headline)} backtest origins",
        "per_origin": per_origin,
    }
    if mean[best_base]["wape"] > 0:
        metrics["wape_ratio_to_best_baseline"] = mean[served_name]["wape"] / mean[best_base]["wape"]
    headlines = [
        Headline(
            "test_wape",
            mean_wape_statistic(stacked[served_name]),
            mean_wape_statistic(stacked[best_base]),
            best_base,
            higher_is_better=False,
        )
    ]
    if served_name != "network":  # the network's own numbers stay beside what serves
        headlines.append(
            Headline(
                "network_test_wape",
                mean_wape_statistic(stacked["network"]),
                mean_wape_statistic(stacked[best_base]),
                best_base,
                higher_is_better=False,
            )
        )
    intervals = uncertainty(headlines, len(panel.series))
    baseline_metrics = {
        "name": best_base,
        "test_wape": mean[best_base]["wape"],
        "test_mase": mean[best_base]["mase"],
        "test_wape_by_origin": by_origin[best_base],
        "all": {m: {**v, "by_origin": by_origin[m]} for m, v in mean.items() if m != "network"},
        "val_wape": {m: round(v, 4) for m, v in baselines_val.items()},
    }
    ci, vs = intervals["ci95"]["test_wape"], intervals["vs_baseline"]["test_wape"]
    summary = (
        f"[demand] headline (served {served['model']}): WAPE {metrics['test_wape']:.4f} [{ci[0]:.4f}, {ci[1]:.4f}], "
        f"by origin {metrics['test_wape_by_origin']}; best baseline {best_base} {mean[best_base]['wape']:.4f}: "
        f"difference {vs['diff']:+.4f} {vs['ci95']} ({vs['verdict']}); network {mean['network']['wape']:.4f}"
    )
    if "network_test_wape" in intervals["vs_baseline"]:
        row = intervals["vs_baseline"]["network_test_wape"]
        summary += (
            f"\n[demand] network (not served): WAPE {metrics['network_test_wape']:.4f} "
            f"{intervals['ci95']['network_test_wape']}, by origin {metrics['network_test_wape_by_origin']}; "
            f"against {best_base}: {row['diff']:+.4f} {row['ci95']} ({row['verdict']})"
        )
    result: dict[str, Any] = {
        **metrics,
        "baseline": baseline_metrics,
        "served": served,
        "selection": {k: v for k, v in selection.items() if k != "seed_spread"},
        "seed_spread": selection["seed_spread"],
        **intervals,
    }

    # 3. What serves, fitted on every period.
    def saved() -> Saved:
        t0 = time.time()
        last = P - 1
        model: Forecaster
        if served_name == "network":
            model = fit_members(cfg, panel, last, chosen)
        else:
            # p10 / p90 from the baseline's errors at the latest headline origin, the most recent full horizon.
            mult = quantile_multipliers(last_points[served_name], last_points["target"])
            gbm = None
            if served_name == "gbm":
                train_w = windows(panel, training_origins(last, H, cfg.gbm_stride), cfg.history, H)
                gbm = fit_gbm(train_w, H, cfg.seed, cfg.gbm_max_rows)
            model = served_forecaster(cfg, panel, served_name, mult, gbm)
        seconds["final_fit"] = round(time.time() - t0, 1)
        rows = [f"{s}\t{p}\t{u}" for s, p, u in df[["series_id", "period", "units"]].itertuples(index=False)]
        observed = ~np.isnan(panel.units)
        data_meta = {
            "name": str(path) if cfg.data else "Dominick's orange juice (store x brand, weekly)",
            "sha256": fingerprint(rows),
            "n_train": len(df),
            "n_val": int(sum(observed[:, v + 1 : v + 1 + H].sum() for v in val_origins)),
            "n_test": int(sum(observed[:, o + 1 : o + 1 + H].sum() for o in headline)),
            "validation_origins": [period[v] for v in val_origins],
            "headline_origins": [period[o] for o in headline],
        }
        seconds["total"] = round(time.time() - started, 1)
        extra = {
            "covariates": covariates,
            "quantiles": list(QUANTILES),
            "served": served,
            "selection": result["selection"],
            "seed_spread": selection["seed_spread"],
            **intervals,
            "seconds": dict(seconds),
        }
        return Saved("demand", None, cfg.arch, model.save, data_meta, metadata=extra,
                     note=f": {model.name} fitted on all periods")  # fmt: skip

    def report() -> dict[str, Any]:
        seconds["total"] = round(time.time() - started, 1)
        result["seconds"] = seconds
        return result

    return finish_run(
        cfg,
        "demand",
        result,
        metrics=metrics,
        baseline_metrics=baseline_metrics,
        summary=summary,
        report=Report(report),
        saved=saved,
        report_name=f"demand-{cfg.arch}",
    )


if __name__ == "__main__":
    main()
