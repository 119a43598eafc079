"""Demand forecasting: one global network over all sales series, with known future covariates and
quantile outputs, plus the window featurisation training and serving share.

A trained ``demand`` artifact holds one forecaster: the network (:class:`DemandModel`) or, where
the network did not beat the baselines on validation, the best of them: a rule on each series' own
history (:class:`RuleForecaster`, parameters in JSON) or the gradient-boosted global model
(:class:`TreeForecaster`, its trees as arrays in safetensors). :func:`load_forecaster` reads any
of them; each has a ``name`` saying what answers.

Shapes: B windows, L history periods, H horizon periods, C covariates, Q quantiles. Units are
the table's units (items sold per period). Missing periods are NaN in ``units``: they enter the
network as an explicit ``observed = 0`` flag with the value zeroed, and are left out of the loss,
so gaps are never closed up by shifting periods together.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from mining.limits import MAX_HISTORY
from mining.models.spec import read_spec

if TYPE_CHECKING:
    from sklearn.ensemble import HistGradientBoostingRegressor

QUANTILES = (0.1, 0.5, 0.9)
RULES = ("last_value", "moving_average", "median", "seasonal_naive")


def window_features(
    units: np.ndarray, cov_hist: np.ndarray, cov_future: np.ndarray, cov_mean: np.ndarray, cov_std: np.ndarray
) -> dict[str, torch.Tensor]:
    """Network inputs for a batch of windows.

    Each window is scaled by its own level (mean of the observed history + 1), so one network
    serves series of any size; the log of that level is an input too.

    Args:
        units: (B, L) float, NaN where the period is missing (or before the series began).
        cov_hist: (B, L, C) covariates of the history periods.
        cov_future: (B, H, C) covariates planned for the forecast periods.
        cov_mean, cov_std: (C,) standardisation of the covariates, from training.
    Returns:
        ``hist`` (B, L, 3 + C) float32: scaled units, observed flag, log level, covariates;
        ``future`` (B, H, 1 + C): log level, covariates; ``scale`` (B,) float32.
    """
    observed = ~np.isnan(units)
    counts = observed.sum(1)
    level = np.where(counts > 0, np.nansum(units, 1) / np.maximum(counts, 1), 0.0) + 1.0
    scaled = np.where(observed, units / level[:, None], 0.0)
    log_level = np.log(level)[:, None]
    ch = (cov_hist - cov_mean) / cov_std
    cf = (cov_future - cov_mean) / cov_std
    B, L = units.shape
    H = cov_future.shape[1]
    hist = np.concatenate([scaled[..., None], observed[..., None], np.repeat(log_level, L, 1)[..., None], ch], -1)
    future = np.concatenate([np.repeat(log_level, H, 1)[..., None], cf], -1)
    return {
        "hist": torch.as_tensor(np.nan_to_num(hist), dtype=torch.float32),
        "future": torch.as_tensor(np.nan_to_num(future), dtype=torch.float32),
        "scale": torch.as_tensor(level, dtype=torch.float32),
    }


class _QuantileHead(nn.Module):
    """Monotone quantiles: the lowest quantile plus non-negative increments, so p10 <= p50 <= p90."""

    def __init__(self, width: int, n_quantiles: int) -> None:
        super().__init__()
        self.out = nn.Linear(width, n_quantiles)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raw = self.out(x)
        return torch.cat([raw[..., :1], raw[..., :1] + torch.cumsum(nn.functional.softplus(raw[..., 1:]), -1)], -1)


class DemandNet(nn.Module):
    """Global quantile forecaster, ``arch`` ``lstm`` (encoder-decoder) or ``transformer``.

    Args:
        n_covariates: C.
        horizon: H.
        history: L.
        arch: ``lstm`` or ``transformer``.
        hidden: LSTM units / Transformer width.
        layers: LSTM or Transformer layers.
        dropout: dropout inside the encoder.
        n_quantiles: Q.
    """

    def __init__(
        self,
        n_covariates: int,
        horizon: int,
        history: int,
        arch: str = "lstm",
        hidden: int = 64,
        layers: int = 2,
        dropout: float = 0.1,
        n_quantiles: int = len(QUANTILES),
    ) -> None:
        super().__init__()
        if arch not in ("lstm", "transformer"):
            raise ValueError(f"arch must be 'lstm' or 'transformer', got {arch!r}")
        self.arch, self.horizon, self.history = arch, horizon, history
        hist_in, fut_in = 3 + n_covariates, 1 + n_covariates
        if arch == "lstm":
            inner = dropout if layers > 1 else 0.0  # LSTM dropout acts between layers only
            self.encoder: nn.Module = nn.LSTM(hist_in, hidden, num_layers=layers, batch_first=True, dropout=inner)
            self.decoder = nn.LSTM(fut_in + horizon, hidden, num_layers=layers, batch_first=True, dropout=inner)
        else:
            self.hist_proj = nn.Linear(hist_in, hidden)
            self.fut_proj = nn.Linear(fut_in, hidden)
            self.position = nn.Parameter(torch.randn(history + horizon, hidden) * 0.02)
            layer = nn.TransformerEncoderLayer(
                hidden, nhead=4, dim_feedforward=4 * hidden, dropout=dropout, batch_first=True, norm_first=True
            )
            self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = _QuantileHead(hidden, n_quantiles)

    def forward(self, hist: torch.Tensor, future: torch.Tensor) -> torch.Tensor:
        """
        Args:
            hist: (B, L, 3 + C); future: (B, H, 1 + C) (see :func:`window_features`).
        Returns:
            (B, H, Q) quantiles in units of the window's scale.
        """
        if self.arch == "lstm":
            _, state = self.encoder(hist)
            step = torch.eye(self.horizon, device=future.device).expand(future.shape[0], -1, -1)
            out, _ = self.decoder(torch.cat([future, step], -1), state)
            return self.head(out)
        tokens = torch.cat([self.hist_proj(hist), self.fut_proj(future)], 1) + self.position
        return self.head(self.encoder(tokens)[:, -self.horizon :])


def pinball_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    quantiles: Sequence[float] = QUANTILES,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean quantile (pinball) loss over observed targets.

    Args:
        pred: (B, H, Q); target: (B, H) (any value where unobserved); mask: (B, H) bool.
        weight: optional (B,) per-window weight. Targets are in units of each window's level, so
            weighting by the level makes the loss proportional to the error in units sold: what
            WAPE (total absolute error over total demand) scores, where unweighted windows of slow
            sellers count as much as those of best sellers.
    """
    q = torch.tensor(quantiles, dtype=pred.dtype, device=pred.device)
    diff = target.unsqueeze(-1) - pred
    loss = torch.maximum(q * diff, (q - 1) * diff).mean(-1)
    w = mask.to(pred.dtype) if weight is None else mask * weight.to(pred.dtype).unsqueeze(-1)
    return (loss * w).sum() / w.sum().clamp(min=1e-9)


class DemandModel:
    """Trained :class:`DemandNet` members (one or an ensemble of differently seeded ones) with
    their covariate names and standardisation: the artifact. An ensemble forecasts the mean of
    its members' quantiles: the networks' forecasts vary from seed to seed by more than the gap
    between good and bad models, and the mean of several varies much less."""

    kind = "demand_net"
    name = "network"

    def __init__(
        self,
        nets: DemandNet | Sequence[DemandNet],
        covariates: list[str],
        cov_mean: np.ndarray,
        cov_std: np.ndarray,
        args: dict[str, Any],
    ) -> None:
        self.nets = [nets] if isinstance(nets, DemandNet) else list(nets)
        if not self.nets:
            raise ValueError("a demand model needs at least one network")
        self.covariates, self.args = covariates, args
        self.cov_mean, self.cov_std = np.asarray(cov_mean, np.float32), np.asarray(cov_std, np.float32)

    @property
    def net(self) -> DemandNet:
        """The first member (all members share history, horizon and inputs)."""
        return self.nets[0]

    @property
    def history(self) -> int:
        return self.net.history

    @property
    def horizon(self) -> int:
        return self.net.horizon

    @torch.inference_mode()
    def predict(
        self, units: np.ndarray, cov_hist: np.ndarray, cov_future: np.ndarray, batch_size: int = 512
    ) -> np.ndarray:
        """Quantile forecasts in units.

        Args:
            units: (B, L) history, NaN where missing; L must equal the model's history length
                (left-pad shorter histories with NaN).
            cov_hist: (B, L, C); cov_future: (B, H', C) with H' <= the model's horizon.
        Returns:
            (B, H', Q) float32, non-negative, quantiles in :data:`QUANTILES` order.
        """
        device = next(self.net.parameters()).device
        B, H = units.shape[0], cov_future.shape[1]
        if self.horizon < H:
            raise ValueError(f"horizon {H} exceeds the model's {self.horizon}")
        if self.horizon > H:  # the network always forecasts its full horizon; repeat the last plan
            cov_future = np.concatenate([cov_future, np.repeat(cov_future[:, -1:], self.horizon - H, 1)], 1)
        out = np.zeros((B, self.horizon, len(QUANTILES)), np.float32)
        for s in range(0, B, batch_size):
            f = window_features(
                units[s : s + batch_size],
                cov_hist[s : s + batch_size],
                cov_future[s : s + batch_size],
                self.cov_mean,
                self.cov_std,
            )
            hist, future = f["hist"].to(device), f["future"].to(device)
            pred = torch.stack([net.eval()(hist, future).float().cpu() for net in self.nets]).mean(0)
            # Averaging can leave quantiles out of order by a hair; sorting restores p10 <= p50 <= p90.
            pred = pred.sort(-1).values
            out[s : s + batch_size] = (pred * f["scale"][:, None, None]).numpy()
        return np.maximum(out[:, :H], 0.0)

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        spec = {
            "kind": self.kind,
            "args": self.args,
            "covariates": self.covariates,
            "quantiles": list(QUANTILES),
            "cov_mean": self.cov_mean.tolist(),
            "cov_std": self.cov_std.tolist(),
            "members": len(self.nets),
        }
        (path / "model.json").write_text(json.dumps(spec, indent=1))
        for k, net in enumerate(self.nets):
            name = "weights.safetensors" if k == 0 else f"weights-{k}.safetensors"
            save_file({n: v.contiguous().cpu() for n, v in net.state_dict().items()}, str(path / name))

    @classmethod
    def load(cls, path: Path, device: torch.device | None = None) -> DemandModel:
        from mining.artifacts import load_weights, pick_device

        path = Path(path)
        spec = read_spec(path, cls.kind)
        nets = []
        for k in range(int(spec.get("members", 1))):
            net = DemandNet(**spec["args"])
            load_weights(net, path / ("weights.safetensors" if k == 0 else f"weights-{k}.safetensors"))
            nets.append(net.to(device or pick_device()).eval())
        return cls(nets, spec["covariates"], np.array(spec["cov_mean"]), np.array(spec["cov_std"]), spec["args"])


# --- Baseline forecasters ----------------------------------------------------------------------
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


def _quantiles_from_point(point: np.ndarray, multipliers: np.ndarray) -> np.ndarray:
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
        return _quantiles_from_point(rule_forecast(units, self.rule, self.window, H), self.multipliers)

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


def gbm_features(
    units: np.ndarray, cov_hist: np.ndarray, cov_future: np.ndarray, h: int
) -> tuple[np.ndarray, np.ndarray]:
    """Features of each window for forecast step ``h`` (1-based) and the window's level.

    Lags, rolling means / median / spread over calendar windows (gaps skipped), periods since the
    last observation, the covariates planned for the target period and at the origin, and ``h``.

    Args:
        units: (B, L) history, NaN where missing; cov_hist: (B, L, C); cov_future: (B, >= h, C).
    Returns:
        (X (B, F) float64, level (B,)): the model predicts units / level.
    """
    u = units
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-gap spans become NaN, then -1 below
        level = np.nan_to_num(np.nanmean(u[:, -13:], 1)) + 1.0
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
    ) -> None:
        missing = [k for k in self._FIELDS if k not in trees]
        if missing:
            raise ValueError(f"tree arrays lack {missing}")
        self.trees = {k: np.asarray(trees[k]) for k in self._FIELDS}
        self.baseline, self.history, self.horizon = float(baseline), int(history), int(horizon)
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
    ) -> TreeForecaster:
        """Copy a fitted single-output ``HistGradientBoostingRegressor`` with an identity link
        (squared or absolute error) and no categorical features into arrays."""
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
        return cls(trees, float(np.ravel(model._baseline_prediction)[0]), history, horizon, covariates, multipliers)

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
        feats = [gbm_features(units, cov_hist, cov_future, h) for h in range(1, H + 1)]
        X = np.concatenate([f[0] for f in feats])
        level = np.concatenate([f[1] for f in feats])
        return np.maximum(self.raw_predict(X) * level, 0.0).reshape(H, len(units)).T

    def predict(self, units: np.ndarray, cov_hist: np.ndarray, cov_future: np.ndarray) -> np.ndarray:
        """Same contract as :meth:`DemandModel.predict`."""
        H = cov_future.shape[1]
        if self.horizon < H:
            raise ValueError(f"horizon {H} exceeds the model's {self.horizon}")
        return _quantiles_from_point(self.point_forecast(units, cov_hist, cov_future), self.multipliers)

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
        return cls(trees, spec["baseline"], spec["history"], spec["horizon"], spec["covariates"], spec["multipliers"])


Forecaster: TypeAlias = DemandModel | RuleForecaster | TreeForecaster


def load_forecaster(path: Path, device: torch.device | None = None) -> Forecaster:
    """Whichever forecaster a ``demand`` artifact holds (``model.json`` ``kind`` says which)."""
    kind = json.loads((Path(path) / "model.json").read_text()).get("kind")
    if kind == RuleForecaster.kind:
        return RuleForecaster.load(path)
    if kind == TreeForecaster.kind:
        return TreeForecaster.load(path)
    return DemandModel.load(path, device)


# --- Serving: requests in, quantiles out ---------------------------------------------------------
MIN_OBSERVED = 8  # periods with a value: fewer cannot set a level for the series


class ForecastInputError(ValueError):
    """A request the model cannot forecast; the message names the field and what was expected."""


def prepare(model: Forecaster, request: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrays for one request: units (L,), history covariates (L, C), future covariates (H, C).

    ``request``: ``units`` (history, oldest first; None marks a period without data),
    ``covariates`` (name -> one value per history period), ``horizon`` (periods to forecast) and
    ``future_covariates`` (name -> one planned value per forecast period). Raises
    :class:`ForecastInputError` naming the problem.
    """
    horizon = int(request.get("horizon") or 0)
    if not 1 <= horizon <= model.horizon:
        raise ForecastInputError(f"horizon: 1-{model.horizon} periods, got {horizon}")
    units = request.get("units") or []
    if len(units) > MAX_HISTORY:
        raise ForecastInputError(f"units: at most {MAX_HISTORY} periods, got {len(units)}")
    values = np.array([np.nan if u is None else float(u) for u in units], dtype=float)
    if (values[~np.isnan(values)] < 0).any():
        raise ForecastInputError(f"units: must be >= 0; period {int(np.flatnonzero(values < 0)[0])} is negative")
    observed = int((~np.isnan(values)).sum())
    if observed < MIN_OBSERVED:
        raise ForecastInputError(f"units: need at least {MIN_OBSERVED} periods with a value, got {observed}")
    hist, fut = request.get("covariates") or {}, request.get("future_covariates") or {}
    arrays = []
    for field_name, given, length in (("covariates", hist, len(values)), ("future_covariates", fut, None)):
        missing = [c for c in model.covariates if c not in given]
        extra = [c for c in given if c not in model.covariates]
        if missing or extra:
            raise ForecastInputError(
                f"{field_name}: the model uses {model.covariates}; missing {missing}, unknown {extra}"
            )
        lengths = {c: len(given[c]) for c in model.covariates}
        want = length if length is not None else horizon
        bad = {c: n for c, n in lengths.items() if n != want}
        if bad:
            raise ForecastInputError(
                f"{field_name}: every series needs {want} values (one per "
                f"{'history' if length is not None else 'forecast'} period); got {bad}"
            )
        arr = np.array(
            [
                [float(given[c][k]) if given[c][k] is not None else np.nan for c in model.covariates]
                for k in range(want)
            ],
            dtype=float,
        ).reshape(want, len(model.covariates))
        if np.isnan(arr).any() or not np.isfinite(arr).all():
            raise ForecastInputError(f"{field_name}: values must be finite numbers; found a missing or infinite one")
        arrays.append(arr)
    L = model.history
    if len(values) >= L:
        values, arrays[0] = values[-L:], arrays[0][-L:]
    else:  # left-pad: periods before the series' history are missing, not zero
        pad = L - len(values)
        values = np.concatenate([np.full(pad, np.nan), values])
        arrays[0] = np.concatenate([np.repeat(arrays[0][:1], pad, 0), arrays[0]])
    return values, arrays[0], arrays[1]


def forecast_many(model: Forecaster, requests: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per request: ``{"quantiles": {"p10": [...], "p50": [...], "p90": [...]}}`` (one value per
    forecast period, units), or ``{"error": message}`` for a request that cannot be forecast."""
    out: list[dict[str, Any]] = [{} for _ in requests]
    ok, arrays = [], []
    for i, r in enumerate(requests):
        if not isinstance(r, dict):
            raise TypeError(f"requests must be dicts; item {i} is {type(r).__name__}")
        try:
            arrays.append(prepare(model, r))
            ok.append(i)
        except ForecastInputError as e:
            out[i] = {"error": str(e)}
    by_horizon: dict[int, list[int]] = {}
    for k, (_, _, fut) in enumerate(arrays):
        by_horizon.setdefault(len(fut), []).append(k)
    for _horizon, ks in by_horizon.items():
        pred = model.predict(
            np.stack([arrays[k][0] for k in ks]),
            np.stack([arrays[k][1] for k in ks]),
            np.stack([arrays[k][2] for k in ks]),
        )
        for k, p in zip(ks, pred):
            out[ok[k]] = {
                "quantiles": {
                    f"p{round(q * 100)}": [round(float(v), 3) for v in p[:, j]] for j, q in enumerate(QUANTILES)
                }
            }
    return out
