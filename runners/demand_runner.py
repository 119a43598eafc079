"""Demand runner: quantile forecasts for series sent with the request, and reorder advice."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import bentoml
import numpy as np

from runners.dispatch import patch_dispatcher
from runners.serving import DEPENDENCY_CONFIG, batching, model_path, set_torch_threads

if TYPE_CHECKING:
    from runners.demand import DemandModel

MIN_OBSERVED = 8  # periods with a value: fewer cannot set a level for the series
MAX_HISTORY = 520
# z of the 90% quantile: turns the p10-p90 spread into a standard deviation under normality.
_Z90 = NormalDist().inv_cdf(0.9)


class ForecastInputError(ValueError):
    """A request the model cannot forecast; the message names the field and what was expected."""


def prepare(model: DemandModel, request: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
            raise ForecastInputError(f"{field_name}: the model uses {model.covariates}; missing {missing}, "
                                     f"unknown {extra}")
        lengths = {c: len(given[c]) for c in model.covariates}
        want = length if length is not None else horizon
        bad = {c: n for c, n in lengths.items() if n != want}
        if bad:
            raise ForecastInputError(f"{field_name}: every series needs {want} values (one per "
                                     f"{'history' if length is not None else 'forecast'} period); got {bad}")
        arr = np.array([[float(given[c][k]) if given[c][k] is not None else np.nan for c in model.covariates]
                        for k in range(want)], dtype=float).reshape(want, len(model.covariates))
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


def forecast_many(model: DemandModel, requests: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per request: ``{"quantiles": {"p10": [...], "p50": [...], "p90": [...]}}`` (one value per
    forecast period, units), or ``{"error": message}`` for a request that cannot be forecast."""
    from runners.demand import QUANTILES

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
    for horizon, ks in by_horizon.items():
        pred = model.predict(np.stack([arrays[k][0] for k in ks]), np.stack([arrays[k][1] for k in ks]),
                             np.stack([arrays[k][2] for k in ks]))
        for k, p in zip(ks, pred):
            out[ok[k]] = {"quantiles": {f"p{round(q * 100)}": [round(float(v), 3) for v in p[:, j]]
                                        for j, q in enumerate(QUANTILES)}}
    return out


def reorder_plan(quantiles: dict[str, list[float]], lead_time: int, service_level: float, on_hand: float,
                 on_order: float, dependence: str = "independent") -> dict[str, Any]:
    """Order-up-to advice from per-period forecast quantiles.

    Demand over the lead time is the sum of the first ``lead_time`` periods. Each period's demand
    is taken as normal with mean p50 and standard deviation (p90 - p10) / (2 z90); the periods are
    independent (standard deviations add in quadrature) or ``comonotonic`` (they add up, a
    cautious choice when a promotion lifts every period at once). The order-up-to level is the
    ``service_level`` quantile of that sum; the order is what tops the inventory position
    (on hand + on order) up to it.

    Returns:
        ``reorder_quantity``, ``order_up_to``, ``expected_demand``, ``safety_stock`` (units) and
        ``assumptions`` (plain sentences, for the response).
    """
    p10, p50, p90 = (np.array(quantiles[k][:lead_time]) for k in ("p10", "p50", "p90"))
    sigma = np.maximum(p90 - p10, 0.0) / (2 * _Z90)
    spread = float(np.sqrt((sigma**2).sum())) if dependence == "independent" else float(sigma.sum())
    mean = float(p50.sum())
    z = NormalDist().inv_cdf(service_level)
    target = max(0.0, mean + z * spread)
    order = max(0.0, target - on_hand - on_order)
    return {
        "reorder_quantity": math.ceil(order - 1e-9),
        "order_up_to": round(target, 3),
        "expected_demand": round(mean, 3),
        "safety_stock": round(target - mean, 3),
        "assumptions": [
            f"demand over the lead time is the sum of the first {lead_time} forecast periods",
            "each period's demand is normal with mean p50 and standard deviation (p90 - p10) / 2.563",
            "periods are independent" if dependence == "independent"
            else "periods move together (comonotonic): standard deviations add",
            f"service level {service_level} is the probability of not running out before the order arrives "
            "(cycle service level)",
            "inventory position = on hand + on order; no backorders or lost-sales adjustment",
        ],
    }


@bentoml.service(name="DemandRunner", threads=4, **DEPENDENCY_CONFIG)
class DemandRunner:
    """Forecasts from the ``demand`` model (``$DEMAND_MODEL`` overrides the tag)."""

    def __init__(self) -> None:
        patch_dispatcher()  # see runners/dispatch.py: no cork after a burst
        from runners.demand import DemandModel

        set_torch_threads()
        path, tag = model_path(os.environ.get("DEMAND_MODEL", "demand:latest"))
        self.model = DemandModel.load(path)
        self.models, self.tags = {"demand": self.model}, {"demand": tag}

    @bentoml.api(**batching(256, 1000))
    def predict(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Batched forecasts: one request dict per series in, one result per series out."""
        return [{**r, "model": self.tags["demand"]} for r in forecast_many(self.model, requests)]

    @bentoml.api
    def spec(self) -> dict[str, Any]:
        """What the model expects: covariate names, history and horizon lengths, quantiles."""
        from runners.demand import QUANTILES

        return {"covariates": self.model.covariates, "history": self.model.history, "horizon": self.model.horizon,
                "quantiles": list(QUANTILES), "min_observed": MIN_OBSERVED, "model": self.tags["demand"]}
