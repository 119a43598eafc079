"""The demand forecaster's network training and the choices made on validation origins: the
learning rate, windows per epoch and epoch count of the network (:func:`choose_settings`), its
ensemble of seeds (:func:`fit_members`), and whether it or a baseline serves (:func:`choose_served`)."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from mining.models.demand import (
    QUANTILES,
    DemandModel,
    DemandNet,
    Forecaster,
    RuleForecaster,
    TreeForecaster,
    pinball_loss,
    rule_name,
    window_features,
)
from training.forecasting import Panel, baseline_rules, training_origins, windows

if TYPE_CHECKING:
    from training.train_demand import DemandConfig


def parse_floats(text: str) -> list[float]:
    """The numbers of a comma-separated flag value ("1e-3,3e-3"), empty items skipped."""
    return [float(x) for x in text.split(",") if x.strip()]


def parse_ints(text: str) -> list[int]:
    """The integers of a comma-separated flag value ("24,18,12"), empty items skipped."""
    return [int(x) for x in text.split(",") if x.strip()]


def log_line(msg: str) -> None:
    """One progress line on stderr, prefixed ``[demand]``."""
    print(f"[demand] {msg}", file=sys.stderr, flush=True)


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
    # (windows x periods, C); a table without covariates has C = 0, and numpy cannot infer -1 beside 0.
    flat = train_w["cov_hist"].reshape(-1, len(panel.covariates)) if panel.covariates else np.zeros((1, 0))
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


def wape(target: np.ndarray, p50: np.ndarray) -> float:
    """Weighted absolute percentage error of ``p50`` against ``target`` (same shape, e.g. (N, H)
    units; NaN targets skipped): sum of absolute errors over sum of actuals, a fraction."""
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
    lrs, wpes = parse_floats(cfg.lr), parse_ints(cfg.windows_per_epoch)
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
            log_line(
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
            scores.append(wape(w["target"], p50))
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
    log_line(f"chosen lr {chosen['lr']:g}, {chosen['windows_per_epoch']} windows per epoch, {chosen['epochs']} epochs; "
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
