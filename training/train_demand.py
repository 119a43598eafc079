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

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from mining.models.demand import (
    QUANTILES,
    DemandModel,
    DemandNet,
    Forecaster,
    RuleForecaster,
    TreeForecaster,
    pinball_loss,
    quantile_multipliers,
    rule_name,
    window_features,
)
from training import data
from training.common import fingerprint, parse_config
from training.forecasting import (
    Panel,
    baseline_rules,
    fit_gbm,
    forecast_metrics,
    gbm_predict,
    load_panel,
    mase_scale,
    mean_wape_statistic,
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


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _log(msg: str) -> None:
    print(f"[demand] {msg}", file=sys.stderr, flush=True)


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


# --- The network ---------------------------------------------------------------------------------
def _tensors(w: dict[str, np.ndarray], cov_mean: np.ndarray, cov_std: np.ndarray) -> dict[str, torch.Tensor]:
    f = window_features(w["units"], w["cov_hist"], w["cov_future"], cov_mean, cov_std)
    target = torch.as_tensor(np.nan_to_num(w["target"]), dtype=torch.float32) / f["scale"][:, None]
    return {**f, "target": target, "mask": torch.as_tensor(~np.isnan(w["target"]))}


def fit_network(
    cfg: DemandConfig,
    panel: Panel,
    until: int,
    lr: float,
    windows_per_epoch: int,
    epochs: int,
    seed: int,
    val_origin: int | None = None,
) -> tuple[DemandModel, dict[str, Any]]:
    """Fit one network on the windows whose targets end by period index ``until``.

    Training windows come as one stream of shuffled passes over all of them, ``windows_per_epoch``
    per epoch (0: one pass). With ``val_origin``, the WAPE of p50 on that origin's windows is
    measured after every epoch, training stops after ``cfg.patience`` epochs without a better one
    and the best epoch's weights are kept; otherwise exactly ``epochs`` epochs are trained.

    Returns:
        the model and ``{"epochs": per-epoch log, "best_epoch", "val_wape": per-epoch list}``.
    """
    H, L = cfg.horizon, cfg.history
    train_w = windows(panel, training_origins(until, H), L, H)
    flat = train_w["cov_hist"].reshape(-1, len(panel.covariates))
    cov_mean, cov_std = flat.mean(0), flat.std(0) + 1e-6
    tr = _tensors(train_w, cov_mean, cov_std)
    val = None if val_origin is None else _tensors(windows(panel, np.array([val_origin]), L, H), cov_mean, cov_std)
    args: dict[str, Any] = {
        "n_covariates": len(panel.covariates),
        "horizon": H,
        "history": L,
        "arch": cfg.arch,
        "hidden": cfg.hidden,
        "layers": cfg.layers,
        "dropout": cfg.dropout,
    }
    torch.manual_seed(seed)
    net = DemandNet(**args)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    n = len(tr["target"])
    per_epoch = windows_per_epoch or n
    stream = np.empty(0, np.int64)
    best, best_state, best_epoch, bad = np.inf, None, 0, 0
    log: list[dict[str, Any]] = []
    for epoch in range(epochs):
        t0, net_loss = time.time(), 0.0
        while len(stream) < per_epoch:
            stream = np.concatenate([stream, rng.permutation(n)])
        order, stream = stream[:per_epoch], stream[per_epoch:]
        net.train()
        for idx in np.array_split(order, max(1, len(order) // cfg.batch_size)):
            idx_t = torch.as_tensor(idx)
            loss = pinball_loss(
                net(tr["hist"][idx_t], tr["future"][idx_t]),
                tr["target"][idx_t],
                tr["mask"][idx_t],
                weight=tr["scale"][idx_t] if cfg.weight_by_level else None,
            )
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            net_loss += float(loss.detach()) * len(idx)
        entry: dict[str, Any] = {
            "epoch": epoch + 1,
            "train_pinball": net_loss / len(order),
            "seconds": round(time.time() - t0, 1),
        }
        if val is not None:
            net.eval()
            with torch.no_grad():
                p50 = net(val["hist"], val["future"])[..., len(QUANTILES) // 2] * val["scale"][:, None]
            y = val["target"] * val["scale"][:, None]
            entry["val_wape"] = float(((p50 - y).abs() * val["mask"]).sum() / (y * val["mask"]).sum())
            if entry["val_wape"] < best:
                best, best_epoch, bad = entry["val_wape"], epoch + 1, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                bad += 1
        log.append(entry)
        print(
            f"[demand-{cfg.arch}] epoch {epoch + 1}: train pinball {entry['train_pinball']:.4f}"
            + (f", val WAPE {entry['val_wape']:.4f}" if "val_wape" in entry else "")
            + f" ({entry['seconds']} s)",
            file=sys.stderr,
            flush=True,
        )
        if val is not None and bad >= cfg.patience:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    model = DemandModel(net.eval(), panel.covariates, cov_mean, cov_std, args)
    return model, {
        "epochs": log,
        "best_epoch": best_epoch or len(log),
        "val_wape": [e["val_wape"] for e in log if "val_wape" in e],
    }


def fit_members(
    cfg: DemandConfig, panel: Panel, until: int, chosen: dict[str, Any], seed: int | None = None
) -> DemandModel:
    """The network with the chosen settings (``lr``, ``windows_per_epoch``, ``epochs``) fitted on
    the windows whose targets end by ``until``: ``cfg.members`` of them, seeded ``seed + k``."""
    base = cfg.seed if seed is None else seed
    members = [
        fit_network(cfg, panel, until, chosen["lr"], chosen["windows_per_epoch"], chosen["epochs"], base + k)[0]
        for k in range(cfg.members)
    ]
    first = members[0]
    return DemandModel([m.net for m in members], first.covariates, first.cov_mean, first.cov_std, first.args)


def _wape(target: np.ndarray, p50: np.ndarray) -> float:
    mask = ~np.isnan(target)
    y = np.where(mask, target, 0.0)
    return float((np.abs(y - p50) * mask).sum() / y.sum())


# --- Choices on validation -----------------------------------------------------------------------
def choose_settings(cfg: DemandConfig, panel: Panel, val_origins: list[int]) -> dict[str, Any]:
    """Learning rate x windows per epoch on the validation origins, epochs by early stopping, then
    the chosen settings retrained with ``cfg.seeds`` seeds for their spread.

    Returns:
        ``{"grid": [{"lr", "windows_per_epoch", "epochs", "val_wape"}...], "chosen": {...},
        "seed_spread": {...}, "network_val_wape": mean over seeds}``; ``val_wape`` is the mean over
        validation origins of each run's best epoch, ``epochs`` the median of those best epochs.
    """
    lrs, wpes = _floats(cfg.lr), _ints(cfg.windows_per_epoch)
    if not lrs or not wpes:
        raise ValueError(
            f"--lr and --windows-per-epoch need at least one value each, got {cfg.lr!r}, {cfg.windows_per_epoch!r}"
        )
    grid: list[dict[str, Any]] = []
    for lr in lrs:
        for wpe in wpes:
            runs = [fit_network(cfg, panel, v, lr, wpe, cfg.epochs, cfg.seed, val_origin=v)[1] for v in val_origins]
            row: dict[str, Any] = {
                "lr": lr,
                "windows_per_epoch": wpe,
                "epochs": int(np.median([r["best_epoch"] for r in runs])),
                "val_wape": float(np.mean([min(r["val_wape"]) for r in runs])),
                "runs": runs,
            }
            grid.append(row)
            _log(
                f"validation: lr {lr:g}, {wpe} windows per epoch: WAPE {row['val_wape']:.4f} at {row['epochs']} epochs"
            )
    best = min(grid, key=lambda r: r["val_wape"])
    chosen = {k: best[k] for k in ("lr", "windows_per_epoch", "epochs")}
    # Seed cfg.seed at the chosen epoch count, read off its early-stopping run; other seeds retrained for it.
    by_seed = {
        cfg.seed: float(np.mean([r["val_wape"][min(chosen["epochs"], len(r["val_wape"])) - 1] for r in best["runs"]]))
    }
    for k in range(1, cfg.seeds):
        scores = []
        for v in val_origins:
            model, _ = fit_network(
                cfg, panel, v, chosen["lr"], chosen["windows_per_epoch"], chosen["epochs"], cfg.seed + k
            )
            w = windows(panel, np.array([v]), cfg.history, cfg.horizon)
            p50 = model.predict(w["units"], w["cov_hist"], w["cov_future"])[..., len(QUANTILES) // 2]
            scores.append(_wape(w["target"], p50))
        by_seed[cfg.seed + k] = float(np.mean(scores))
    values = np.array(list(by_seed.values()))
    spread = {
        "metric": "val_wape",
        "on": "validation",
        "settings": chosen,
        "by_seed": {str(s): round(v, 4) for s, v in by_seed.items()},
        "mean": round(float(values.mean()), 4),
        "std": round(float(values.std(ddof=1)), 4) if len(values) > 1 else 0.0,
        "range": round(float(values.max() - values.min()), 4),
    }
    _log(f"chosen lr {chosen['lr']:g}, {chosen['windows_per_epoch']} windows per epoch, {chosen['epochs']} epochs; "
         f"validation WAPE by seed {spread['by_seed']}")  # fmt: skip
    table = [{k: v for k, v in r.items() if k != "runs"} for r in grid]
    return {"grid": table, "chosen": chosen, "seed_spread": spread, "network_val_wape": float(values.mean())}


def choose_served(arch: str, network_val: float, baselines_val: dict[str, float]) -> dict[str, Any]:
    """What the saved model answers from, decided on validation WAPE.

    Args:
        arch: the network's architecture.
        network_val: the network's validation WAPE (mean over seeds and validation origins).
        baselines_val: each baseline's validation WAPE; every baseline can be saved and served.
    Returns:
        ``{"model", "reason", "val_wape": {"network": ..., best baseline: ...}}``: ``model`` is
        ``arch`` where the network's WAPE is below the best baseline's, else that baseline's name.
    """
    best = min(baselines_val, key=lambda name: baselines_val[name])
    gap = f"validation WAPE: network {network_val:.4f}, best baseline {best} {baselines_val[best]:.4f}"
    out: dict[str, Any] = {"val_wape": {"network": round(network_val, 4), best: round(baselines_val[best], 4)}}
    if network_val < baselines_val[best]:
        return {"model": arch, "reason": f"{gap}: the network is ahead", **out}
    return {"model": best, "reason": f"{gap}: the network is not ahead, so {best} answers", **out}


def served_forecaster(
    cfg: DemandConfig, panel: Panel, served: str, multipliers: np.ndarray, gbm: Any = None
) -> Forecaster:
    """A baseline as a servable forecaster: a rule from its name, or the fitted boosted model."""
    if served == "gbm":
        return TreeForecaster.from_sklearn(gbm, cfg.history, cfg.horizon, panel.covariates, multipliers)
    for r, w in baseline_rules(cfg.history, cfg.season):
        if rule_name(r, w) == served:
            return RuleForecaster(r, w, cfg.history, cfg.horizon, panel.covariates, multipliers)
    raise ValueError(f"no baseline named {served!r}")


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
    raw = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    covariates = [c for c in cfg.covariates.split(",") if c] or [
        c for c in raw.columns if c not in ("series_id", "period", "units") and pd.api.types.is_numeric_dtype(raw[c])
    ]
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
    headline = sorted(last - k for k in _ints(cfg.origins))
    if not headline:
        raise ValueError("--origins: give at least one headline origin")
    val = sorted(last - k for k in _ints(cfg.val_origins)) if cfg.val_origins else [headline[0] - H]
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
    _log(
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
            base_val.setdefault(name, []).append(_wape(w["target"], p))
        val_points, val_target = points, w["target"]
    baselines_val = {name: float(np.mean(v)) for name, v in base_val.items()}
    # p10 / p90 of a baseline at the headline origins: its error ratios at the latest validation origin.
    multipliers = {name: quantile_multipliers(p, val_target) for name, p in val_points.items()}
    served = choose_served(cfg.arch, selection["network_val_wape"], baselines_val)
    served_name = "network" if served["model"] == cfg.arch else served["model"]
    seconds = {"validation": round(time.time() - t0, 1)}
    _log(f"served: {served['model']} ({served['reason']})")

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
        _log(f"origin {period[o]}: " + ", ".join(f"{k} WAPE {v['wape']:.3f}" for k, v in results.items()))
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
