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
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from mining.limits import MAX_HISTORY
from mining.models.forecast_rules import (  # re-exported: the forecasting library's public names
    QUANTILES as QUANTILES,
)
from mining.models.forecast_rules import (
    RULES as RULES,
)
from mining.models.forecast_rules import (
    RuleForecaster as RuleForecaster,
)
from mining.models.forecast_rules import (
    quantile_multipliers as quantile_multipliers,
)
from mining.models.forecast_rules import (
    rule_forecast as rule_forecast,
)
from mining.models.forecast_rules import (
    rule_name as rule_name,
)
from mining.models.forecast_trees import TreeForecaster as TreeForecaster
from mining.models.forecast_trees import gbm_features as gbm_features
from mining.models.spec import read_spec

if TYPE_CHECKING:
    pass


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
    forecast period, units; all zero for a series that sold nothing in any observed period of the
    window the model reads), or ``{"error": message}`` for a request that cannot be forecast."""
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
            if not np.nanmax(arrays[k][0]) > 0:
                # Nothing sold in any observed period the model reads: the median, and every
                # quantile, of what the evidence shows is zero. The global model learnt from
                # series that sell (its window level has 1 added), and it answered about half a
                # unit a period for a product that had sold none, which inventory plans reordered.
                p = np.zeros_like(p)
            out[ok[k]] = {
                "quantiles": {
                    f"p{round(q * 100)}": [round(float(v), 3) for v in p[:, j]] for j, q in enumerate(QUANTILES)
                }
            }
    return out
