"""Inventory advice from demand forecasts: how much to reorder for a lead time and a service level."""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np

# z of the 90% quantile: turns the p10-p90 spread into a standard deviation under normality.
_Z90 = NormalDist().inv_cdf(0.9)


def reorder_plan(
    quantiles: dict[str, list[float]],
    lead_time: int,
    service_level: float,
    on_hand: float,
    on_order: float,
    dependence: str = "independent",
) -> dict[str, Any]:
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
            "periods are independent"
            if dependence == "independent"
            else "periods move together (comonotonic): standard deviations add",
            f"service level {service_level} is the probability of not running out before the order arrives "
            "(cycle service level)",
            "inventory position = on hand + on order; no backorders or lost-sales adjustment",
        ],
    }
