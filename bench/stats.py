"""The benchmark's arithmetic, apart from any server so it can be tested on known answers."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# Targets of the headline keys (CPU, 2 cores): "min" keys must reach the value, "max" keys stay under.
TARGETS: dict[str, tuple[str, float]] = {
    "batching_speedup_recall": ("min", 3.0),
    "batching_speedup_sentiment_zh": ("min", 2.0),
    "vs_naive_speedup": ("min", 1.0),
    "served_over_limit": ("min", 0.8),
    "cold_start_s": ("max", 15.0),
    "after_burst_c1_ratio": ("max", 1.2),
    "mine_speedup": ("min", 2.0),
    "mine_p95_ratio": ("max", 1.0),
    "max_accuracy_drop": ("max", 1.0),
    "c1_vs_naive": ("min", 1.0),
}
# batching_never_worse: on/off throughput at least this, p95 at most that, for every cell.
NEVER_WORSE_RPS, NEVER_WORSE_P95 = 0.95, 1.1


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between closest ranks (numpy's default);
    NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summarize(completions: Iterable[tuple[float, float, int]], window: tuple[float, float]) -> dict[str, Any]:
    """One load cell from its completions ``(finished_at_s, latency_s, status)``.

    Only completions that finish inside ``window`` (start, end) in seconds count: the ramp before
    it and the requests still in flight after it would otherwise bias the rate of slow models.
    Returns ``rps`` (200s per second of window), ``p50_ms``/``p95_ms``/``p99_ms`` of the 200s,
    ``ok`` and ``errors`` (status -> count for every other status; -1 is a transport error).
    """
    start, end = window
    if end <= start:
        raise ValueError(f"window must have end > start, got {window}")
    latencies: list[float] = []
    errors: dict[str, int] = {}
    for finished, latency, status in completions:
        if not start <= finished < end:
            continue
        if status == 200:
            latencies.append(latency)
        else:
            errors[str(status)] = errors.get(str(status), 0) + 1
    ms = {f"p{q}_ms": round(percentile(latencies, q) * 1000, 1) for q in (50, 95, 99)}
    return {"rps": round(len(latencies) / (end - start), 1), **ms, "ok": len(latencies), "errors": errors}


def ratios(
    on: Mapping[str, Mapping[str, Mapping[str, Any]]], off: Mapping[str, Mapping[str, Mapping[str, Any]]]
) -> dict[str, dict[str, float]]:
    """Batching on over off throughput per endpoint and concurrency: ``{"recall": {"c64": 3.1}}``."""
    return {n: {c: round(on[n][c]["rps"] / max(off[n][c]["rps"], 1e-9), 3) for c in on[n]} for n in on}


def worse_cells(
    on: Mapping[str, Mapping[str, Mapping[str, Any]]], off: Mapping[str, Mapping[str, Mapping[str, Any]]]
) -> list[str]:
    """The cells where batching lost: on/off throughput under 0.95x, p95 over 1.1x, or any 503
    with batching on. ``batching_never_worse`` is true when this is empty."""
    bad = []
    for n in on:
        for c in on[n]:
            a, b = on[n][c], off[n][c]
            reasons = []
            if a["rps"] < NEVER_WORSE_RPS * b["rps"]:
                reasons.append(f"rps {a['rps']} < {NEVER_WORSE_RPS} x {b['rps']}")
            if a["p95_ms"] > NEVER_WORSE_P95 * b["p95_ms"]:
                reasons.append(f"p95 {a['p95_ms']} > {NEVER_WORSE_P95} x {b['p95_ms']} ms")
            if a["errors"].get("503"):
                reasons.append(f"{a['errors']['503']} x 503")
            if reasons:
                bad.append(f"{n} {c}: " + ", ".join(reasons))
    return bad


def batching_ceiling(cores: int, floor_rps: float, rps_off: float, best_items_per_s: float) -> float:
    """The most batching can multiply an endpoint's served throughput by, from measured costs.

    With the cores saturated a request costs ``cores / rps`` CPU seconds. With batching off that
    is ``cores / rps_off``. A perfectly batched request still pays the path every request pays
    alone, measured as a request that runs no model (``floor_rps`` at the same concurrency: HTTP,
    validation, a thread hop, JSON), plus the model's best per-item time in process
    (``1 / best_items_per_s``, any batch size and thread count). Rounded to 3 places.
    """
    cost_off = cores / max(rps_off, 1e-9)
    best = cores / max(floor_rps, 1e-9) + 1 / max(best_items_per_s, 1e-9)
    return round(cost_off / best, 3)


def verdict(headline: Mapping[str, Any]) -> dict[str, bool]:
    """Per target key: met or not (``batching_never_worse`` must be true)."""
    met = {k: (headline[k] >= v if kind == "min" else headline[k] <= v) for k, (kind, v) in TARGETS.items()}
    met["batching_never_worse"] = bool(headline["batching_never_worse"])
    return met
