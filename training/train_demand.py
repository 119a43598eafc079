"""Train the global demand forecaster with a rolling-origin backtest and save it into the store.

    python -m training.train_demand                        # Dominick's orange juice, LSTM
    python -m training.train_demand --arch transformer
    python -m training.train_demand --data sales.csv       # your (series_id, period, units, covariates...) table

Backtest: at each origin (default: 24, 18 and 12 periods before the end) every model is fitted on
the periods up to the origin only and forecasts the next ``horizon`` periods of every series.
Baselines on exactly the same windows: last value, moving averages (4 and 13 periods), the median
of the last 13 periods, and a gradient-boosted global model on lags, rolling statistics and the
known future covariates. Metrics over all windows: WAPE and MASE of p50, scaled pinball loss, and
the share of actuals inside [p10, p90].
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from mining.models.demand import QUANTILES, DemandModel, DemandNet, pinball_loss, window_features
from training import data
from training.common import fingerprint, parse_config, set_seed
from training.store import save_to_store


@dataclass
class DemandConfig:
    """Train a global quantile demand forecaster (LSTM or Transformer) with a rolling-origin backtest."""

    data: str = field(default="", metadata={"help": "CSV/Parquet sales table; default: Dominick's orange juice"})
    covariates: str = field(
        default="",
        metadata={
            "help": "comma-separated covariate columns; default: every numeric column besides series_id, period, units"
        },
    )
    arch: str = field(default="lstm", metadata={"help": "network", "choices": ["lstm", "transformer"]})
    history: int = field(default=52, metadata={"help": "history periods the network reads"})
    horizon: int = field(default=12, metadata={"help": "periods forecast"})
    origins: str = field(default="24,18,12", metadata={"help": "backtest origins, as periods before the last one"})
    hidden: int = field(default=64, metadata={"help": "LSTM units / Transformer width"})
    members: int = field(
        default=1, metadata={"help": "networks in the ensemble, each seeded differently; forecasts are their mean"}
    )
    layers: int = field(default=2, metadata={"help": "encoder layers"})
    dropout: float = field(default=0.1, metadata={"help": "dropout"})
    epochs: int = field(default=30, metadata={"help": "maximum epochs"})
    patience: int = field(default=4, metadata={"help": "stop after this many epochs without a better validation WAPE"})
    batch_size: int = field(default=256, metadata={"help": "windows per batch"})
    windows_per_epoch: int = field(
        default=20000,
        metadata={"help": "training windows drawn per epoch (0: all); neighbouring windows overlap heavily"},
    )
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate"})
    weight_by_level: bool = field(
        default=False,
        metadata={
            "help": "weight each window's loss by its level, so training minimises error in units (WAPE); "
            "measured level with the unweighted loss at origin 148 (within the spread between seeds)"
        },
    )
    max_train_samples: int = field(default=0, metadata={"help": "use only this many series (0: all)"})
    seed: int = field(default=42, metadata={"help": "random seed"})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0: torch default)"})
    save: bool = field(default=True, metadata={"help": "fit on all periods and save into the BentoML store"})
    report_dir: str = field(default="reports", metadata={"help": "where metrics.json goes"})


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
    covs = grid[covariates].groupby(level=0).transform(lambda c: c.ffill().bfill())
    return Panel(
        series, periods, units, covs.to_numpy(float).reshape(len(series), len(periods), len(covariates)), covariates
    )


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
    out["mase"] = float(np.mean(per_window[ok] / scale[ok]))
    if quantiles.shape[-1] == len(QUANTILES):
        q = np.array(QUANTILES)
        diff = y[..., None] - quantiles
        pin = np.maximum(q * diff, (q - 1) * diff).mean(-1) * mask
        out["pinball"] = float(pin.sum() / y.sum())
        inside = (y >= quantiles[..., 0]) & (y <= quantiles[..., -1])
        out["coverage_80"] = float(inside[mask].mean())
    return out


# --- Baselines -----------------------------------------------------------------------------------
def _tail(units: np.ndarray, n: int) -> np.ndarray:
    return units[:, -n:]


def simple_baselines(w: dict[str, np.ndarray], horizon: int) -> dict[str, np.ndarray]:
    """Point forecasts (N, H, 1) from each window's history alone (calendar windows: gaps count
    as periods, their values are skipped)."""
    u = w["units"]
    last = np.array([row[~np.isnan(row)][-1] for row in u])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-gap tails: handled below
        preds = {
            "last_value": last,
            "moving_average_4": np.nanmean(_tail(u, 4), 1),
            "moving_average_13": np.nanmean(_tail(u, 13), 1),
            "median_13": np.nanmedian(_tail(u, 13), 1),
        }
    out = {}
    for name, p in preds.items():
        p = np.where(np.isnan(p), last, p)  # a window whose last 4 periods are all gaps
        out[name] = np.repeat(p[:, None, None], horizon, 1)
    return out


def gbm_features(w: dict[str, np.ndarray], h: int) -> tuple[np.ndarray, np.ndarray]:
    """Features of each window for horizon step ``h`` (1-based) and the window's level.

    Lags, rolling means / median / spread over calendar windows, periods since the last
    observation, the covariates planned for the target period and at the origin, and ``h``.
    Returns (X (N, F) float, level (N,)): targets are modelled as units / level.
    """
    u = w["units"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        level = np.nan_to_num(np.nanmean(_tail(u, 13), 1)) + 1.0
        observed = ~np.isnan(u)
        last_idx = u.shape[1] - 1 - np.argmax(observed[:, ::-1], 1)
        last = u[np.arange(len(u)), last_idx]
        stats = [
            last,
            np.nanmean(_tail(u, 4), 1),
            np.nanmean(_tail(u, 13), 1),
            np.nanmedian(_tail(u, 13), 1),
            np.nanmean(_tail(u, 26), 1),
            np.nanmax(_tail(u, 13), 1),
            np.nanstd(_tail(u, 13), 1),
            np.nanmean(u, 1),
        ]
        lags = [u[:, -k] for k in range(1, 5)]
    rel = [np.nan_to_num(s / level, nan=-1.0) for s in stats + lags]
    since = u.shape[1] - 1 - last_idx
    fut, now = w["cov_future"][:, h - 1], w["cov_hist"][:, -1]
    X = np.column_stack([*rel, np.log(level), since, observed[:, -13:].sum(1), fut, now, fut - now, np.full(len(u), h)])
    return X, level


def gbm_forecast(train_w: dict[str, np.ndarray], test_w: dict[str, np.ndarray], horizon: int, seed: int) -> np.ndarray:
    """Gradient-boosted global model (absolute error, weighted by level so it minimises WAPE),
    one model over all horizon steps with ``h`` as a feature. Returns (N_test, H, 1)."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    Xs, ys, ws = [], [], []
    for h in range(1, horizon + 1):
        X, level = gbm_features(train_w, h)
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
    model.fit(np.concatenate(Xs), np.concatenate(ys), sample_weight=np.concatenate(ws))
    out = np.zeros((len(test_w["units"]), horizon, 1))
    for h in range(1, horizon + 1):
        X, level = gbm_features(test_w, h)
        out[:, h - 1, 0] = np.maximum(model.predict(X) * level, 0.0)
    return out


# --- The network ---------------------------------------------------------------------------------
def _tensors(w: dict[str, np.ndarray], cov_mean: np.ndarray, cov_std: np.ndarray) -> dict[str, torch.Tensor]:
    f = window_features(w["units"], w["cov_hist"], w["cov_future"], cov_mean, cov_std)
    target = torch.as_tensor(np.nan_to_num(w["target"]), dtype=torch.float32) / f["scale"][:, None]
    return {**f, "target": target, "mask": torch.as_tensor(~np.isnan(w["target"]))}


def fit_network(
    cfg: DemandConfig, panel: Panel, last: int, epochs: int | None = None, member: int = 0
) -> tuple[DemandModel, dict]:
    """Fit on targets up to period index ``last``. With ``epochs`` None, the last ``horizon``
    periods are held out for early stopping and the best epoch count is returned in the log;
    otherwise train exactly ``epochs`` epochs on everything up to ``last``. ``member`` seeds the
    initialisation and the window order (ensemble member ``k`` uses ``seed + k``)."""
    H, L = cfg.horizon, cfg.history
    stop_at = last - H if epochs is None else last
    train_origins = np.arange(4, stop_at - H + 1)
    train_w = windows(panel, train_origins, L, H)
    flat = train_w["cov_hist"].reshape(-1, len(panel.covariates))
    cov_mean, cov_std = flat.mean(0), flat.std(0) + 1e-6
    tr = _tensors(train_w, cov_mean, cov_std)
    val = _tensors(windows(panel, np.array([stop_at]), L, H), cov_mean, cov_std) if epochs is None else None
    args: dict[str, Any] = {
        "n_covariates": len(panel.covariates),
        "horizon": H,
        "history": L,
        "arch": cfg.arch,
        "hidden": cfg.hidden,
        "layers": cfg.layers,
        "dropout": cfg.dropout,
    }
    torch.manual_seed(cfg.seed + member)
    net = DemandNet(**args)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    rng = np.random.default_rng(cfg.seed + member)
    best, best_state, best_epoch, bad, log = np.inf, None, 0, 0, []
    for epoch in range(epochs or cfg.epochs):
        t0, net_loss, n = time.time(), 0.0, 0
        net.train()
        order = rng.permutation(len(tr["target"]))
        if cfg.windows_per_epoch:
            order = order[: cfg.windows_per_epoch]
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
            net_loss, n = net_loss + float(loss.detach()) * len(idx), n + len(idx)
        entry = {"epoch": epoch + 1, "train_pinball": net_loss / n, "seconds": round(time.time() - t0, 1)}
        if val is not None:
            net.eval()
            with torch.no_grad():
                p50 = net(val["hist"], val["future"])[..., 1] * val["scale"][:, None]
            y = val["target"] * val["scale"][:, None]
            wape = float(((p50 - y).abs() * val["mask"]).sum() / (y * val["mask"]).sum())
            entry["val_wape"] = wape
            if wape < best:
                best, best_epoch, bad = wape, epoch + 1, 0
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
    return DemandModel(net.eval(), panel.covariates, cov_mean, cov_std, args), {"epochs": log, "best_epoch": best_epoch}


def backtest_origin(cfg: DemandConfig, panel: Panel, origin: int) -> dict[str, Any]:
    """Fit every model on periods up to ``origin`` and score the next ``horizon`` periods."""
    H, L = cfg.horizon, cfg.history
    test_w = windows(panel, np.array([origin]), L, H)
    scale = mase_scale(panel, test_w["series"], test_w["origin"])
    results: dict[str, Any] = {}
    for name, pred in simple_baselines(test_w, H).items():
        results[name] = forecast_metrics(test_w["target"], pred, scale)
    t0 = time.time()
    gbm_train = windows(panel, np.arange(4, origin - H + 1, 2), L, H)  # every 2nd origin: same signal, half the rows
    results["gbm"] = forecast_metrics(test_w["target"], gbm_forecast(gbm_train, test_w, H, cfg.seed), scale)
    results["gbm"]["seconds"] = round(time.time() - t0, 1)
    t0 = time.time()
    nets, best_epochs, member_wape = [], [], []
    for k in range(cfg.members):
        _, log = fit_network(cfg, panel, origin, member=k)
        member_model, _ = fit_network(cfg, panel, origin, epochs=max(1, log["best_epoch"]), member=k)
        nets.append(member_model.net)
        best_epochs.append(max(1, log["best_epoch"]))
        if cfg.members > 1:
            one = member_model.predict(test_w["units"], test_w["cov_hist"], test_w["cov_future"])
            member_wape.append(forecast_metrics(test_w["target"], one, scale)["wape"])
    model = DemandModel(nets, member_model.covariates, member_model.cov_mean, member_model.cov_std, member_model.args)
    pred = model.predict(test_w["units"], test_w["cov_hist"], test_w["cov_future"])
    results["network"] = {
        **forecast_metrics(test_w["target"], pred, scale),
        "seconds": round(time.time() - t0, 1),
        "epochs": int(np.median(best_epochs)),
        **({"member_wape": member_wape} if member_wape else {}),
    }
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Backtest, then (with ``--save``) fit on every period and save. Returns the metrics."""
    cfg = parse_config(DemandConfig, argv)
    set_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    path = Path(cfg.data) if cfg.data else data.sales_table()
    raw = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    covariates = [c for c in cfg.covariates.split(",") if c] or [
        c for c in raw.columns if c not in ("series_id", "period", "units") and pd.api.types.is_numeric_dtype(raw[c])
    ]
    df = pd.concat([data.SALES.validate(raw, str(path)), raw[covariates].reset_index(drop=True)], axis=1)
    if cfg.max_train_samples:
        keep = sorted(df["series_id"].unique())[: cfg.max_train_samples]
        df = df[df["series_id"].isin(keep)]
    panel = load_panel(df, covariates)
    P = len(panel.periods)
    origins = [P - 1 - int(k) for k in cfg.origins.split(",")]
    print(
        f"[demand] {len(panel.series)} series x {P} periods, {np.isnan(panel.units).mean():.1%} of cells missing; "
        f"covariates {covariates}; origins (periods) {[int(panel.periods[o]) for o in origins]}",
        file=sys.stderr,
        flush=True,
    )
    per_origin = {}
    for o in origins:
        per_origin[int(panel.periods[o])] = backtest_origin(cfg, panel, o)
        r = per_origin[int(panel.periods[o])]
        print(
            f"[demand] origin {int(panel.periods[o])}: " + ", ".join(f"{k} WAPE {v['wape']:.3f}" for k, v in r.items()),
            file=sys.stderr,
            flush=True,
        )
    models = per_origin[next(iter(per_origin))].keys()
    mean = {m: {k: float(np.mean([per_origin[o][m][k] for o in per_origin])) for k in ("wape", "mase")} for m in models}
    for m in models:
        for k in ("pinball", "coverage_80"):
            if k in per_origin[next(iter(per_origin))][m]:
                mean[m][k] = float(np.mean([per_origin[o][m][k] for o in per_origin]))
    best_base = min((m for m in models if m != "network"), key=lambda m: mean[m]["wape"])
    metrics = {
        "test_wape": mean["network"]["wape"],
        "test_mase": mean["network"]["mase"],
        "test_pinball": mean["network"]["pinball"],
        "test_coverage_80": mean["network"]["coverage_80"],
        "wape_ratio_to_best_baseline": mean["network"]["wape"] / mean[best_base]["wape"],
        "per_origin": per_origin,
    }
    baseline_metrics = {
        "name": best_base,
        "test_wape": mean[best_base]["wape"],
        "test_mase": mean[best_base]["mase"],
        "all": {m: v for m, v in mean.items() if m != "network"},
    }
    print(
        f"[demand] mean over origins: network WAPE {metrics['test_wape']:.3f} MASE {metrics['test_mase']:.3f} "
        f"coverage {metrics['test_coverage_80']:.3f}; best baseline {best_base} WAPE {baseline_metrics['test_wape']:.3f}",
        file=sys.stderr,
        flush=True,
    )
    report = Path(cfg.report_dir) / f"demand-{cfg.arch}"
    report.mkdir(parents=True, exist_ok=True)
    (report / "metrics.json").write_text(json.dumps({"metrics": metrics, "baselines": mean}, indent=2))
    result: dict[str, Any] = {**metrics, "baseline": baseline_metrics}
    if cfg.save:
        epochs = int(np.median([per_origin[o]["network"]["epochs"] for o in per_origin]))
        members = [fit_network(cfg, panel, P - 1, epochs=epochs, member=k)[0] for k in range(cfg.members)]
        first = members[0]
        model = DemandModel([m.net for m in members], first.covariates, first.cov_mean, first.cov_std, first.args)
        rows = [f"{s}\t{p}\t{u}" for s, p, u in df[["series_id", "period", "units"]].itertuples(index=False)]
        metadata = {
            "metrics": metrics,
            "baseline_metrics": baseline_metrics,
            "params": asdict(cfg),
            "data": {
                "name": str(path) if cfg.data else "Dominick's orange juice (store x brand, weekly)",
                "sha256": fingerprint(rows),
                "n_train": len(df),
                "n_val": 0,
                "n_test": int(sum(np.sum(~np.isnan(panel.units[:, o + 1 : o + 1 + cfg.horizon])) for o in origins)),
            },
            "label_map": {},
            "covariates": covariates,
            "quantiles": list(QUANTILES),
        }
        result["tag"] = save_to_store("demand", None, cfg.arch, metadata, model.save)
        print(f"[demand] saved {result['tag']} (fitted on all periods, {epochs} epochs)", file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
