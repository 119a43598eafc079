"""Inventory advice from demand forecasts: how much to reorder for a lead time and a service level."""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np

from mining.models.forecast_rules import COUNT_BANDS_BELOW

# z of the 90% quantile: turns the p10-p90 spread into a standard deviation under normality.
_Z90 = NormalDist().inv_cdf(0.9)


def count_quantile(mean: float, variance: float, level: float) -> float:
    """The ``level`` quantile of a count with this mean and variance: Poisson where the variance
    is no more than the mean, else the negative binomial with both (units, a whole number)."""
    from scipy.stats import nbinom, poisson  # lazily: only slow movers' plans need it

    if mean <= 0:
        return 0.0
    if variance <= mean * (1 + 1e-9):
        return float(poisson.ppf(level, mean))
    n = mean * mean / (variance - mean)
    return float(nbinom.ppf(level, n, n / (n + mean)))


def reorder_plan(
    quantiles: dict[str, list[float]],
    lead_time: int,
    service_level: float,
    on_hand: float,
    on_order: float,
    dependence: str = "independent",
    counts: bool = False,
) -> dict[str, Any]:
    """Order-up-to advice from per-period forecast quantiles.

    Demand over the lead time is the sum of the first ``lead_time`` periods. Each period's demand
    is taken as normal with mean p50 and standard deviation (p90 - p10) / (2 z90); the periods are
    independent (standard deviations add in quadrature) or ``comonotonic`` (they add up, a
    cautious choice when a promotion lifts every period at once). The order-up-to level is the
    ``service_level`` quantile of that sum; the order is what tops the inventory position
    (on hand + on order) up to it.

    With ``counts`` (the history is whole units) and a forecast under
    :data:`mining.models.forecast_rules.COUNT_BANDS_BELOW` a period, the lead-time demand is a
    count instead: a negative binomial with the same mean and the same variance, each period's at
    least its mean (a count's chance variation). Why: at a few units a period the normal sum's
    quantile falls short of the skewed count's. On Dominick's series thinned to 0.25-2.6 units a
    week (``python -m training.eval_demand_scale --test``, 95% asked) slow movers are stocked
    enough 0.87-0.94 of the time with 2.1-2.9 times their demand, as the full-size series are
    (0.87); with the mean + 1 level of before, 0.94-1.0 with 2.2-6.6 times.

    Returns:
        ``reorder_quantity``, ``order_up_to``, ``expected_demand``, ``safety_stock`` (units) and
        ``assumptions`` (plain sentences, for the response).
    """
    p10, p50, p90 = (np.array(quantiles[k][:lead_time]) for k in ("p10", "p50", "p90"))
    sigma = np.maximum(p90 - p10, 0.0) / (2 * _Z90)
    mean = float(p50.sum())
    count = counts and float(p50.max(initial=0.0)) < COUNT_BANDS_BELOW
    if count:
        sigma = np.maximum(sigma, np.sqrt(np.maximum(p50, 0.0)))
    spread = float(np.sqrt((sigma**2).sum())) if dependence == "independent" else float(sigma.sum())
    if count:
        target = count_quantile(mean, spread**2, service_level)
    else:
        target = max(0.0, mean + NormalDist().inv_cdf(service_level) * spread)
    order = max(0.0, target - on_hand - on_order)
    return {
        "reorder_quantity": math.ceil(order - 1e-9),
        "order_up_to": round(target, 3),
        "expected_demand": round(mean, 3),
        "safety_stock": round(target - mean, 3),
        "assumptions": [
            f"demand over the lead time is the sum of the first {lead_time} forecast periods",
            "each period's demand is normal with mean p50 and standard deviation (p90 - p10) / 2.563"
            if not count
            else "demand is a count (whole units, under 500 a period): the lead time's is negative binomial with "
            "the sum of p50 as its mean and each period's variance ((p90 - p10) / 2.563)^2, at least its p50",
            "periods are independent"
            if dependence == "independent"
            else "periods move together (comonotonic): standard deviations add",
            f"service level {service_level} is the probability of not running out before the order arrives "
            "(cycle service level)",
            "inventory position = on hand + on order; no backorders or lost-sales adjustment",
        ],
    }
