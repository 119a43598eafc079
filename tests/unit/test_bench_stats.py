"""The benchmark's statistics on inputs with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.stats import batching_ceiling, percentile, ratios, summarize, verdict, worse_cells


def test_percentile_matches_numpy_linear_interpolation() -> None:
    rng = np.random.default_rng(0)
    values = list(rng.exponential(size=101))
    for q in (0, 50, 95, 99, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    assert percentile([3.0], 95) == 3.0
    assert math.isnan(percentile([], 50))


def test_summarize_counts_only_the_window() -> None:
    # 10 answers a second for 10 s, 100 ms each; a 500 at t=5.05 and a transport error at t=5.15
    completions = [(i / 10, 0.1, 200) for i in range(100)] + [(5.05, 0.01, 500), (5.15, 0.01, -1)]
    cell = summarize(completions, (2.0, 7.0))
    assert cell["ok"] == 50 and cell["rps"] == 10.0
    assert cell["p50_ms"] == cell["p99_ms"] == 100.0
    assert cell["errors"] == {"500": 1, "-1": 1}
    with pytest.raises(ValueError, match="end > start"):
        summarize(completions, (3.0, 3.0))


def cell(rps: float, p95: float, errors: dict[str, int] | None = None) -> dict[str, object]:
    return {"rps": rps, "p95_ms": p95, "errors": errors or {}}


def test_ratios_and_the_cells_where_batching_lost() -> None:
    on = {"recall": {"c1": cell(100, 10), "c64": cell(300, 50)}, "ner": {"c64": cell(20, 900, {"503": 2})}}
    off = {"recall": {"c1": cell(110, 8), "c64": cell(100, 200)}, "ner": {"c64": cell(20, 1000)}}
    assert ratios(on, off) == {"recall": {"c1": 0.909, "c64": 3.0}, "ner": {"c64": 1.0}}
    lost = worse_cells(on, off)
    assert lost == ["recall c1: rps 100 < 0.95 x 110, p95 10 > 1.1 x 8 ms", "ner c64: 2 x 503"]


def test_batching_ceiling_from_measured_costs() -> None:
    # 2 cores: 10 ms a request with batching off; 4 ms of no-model path + 1 ms of model at best
    assert batching_ceiling(2, floor_rps=500, rps_off=200, best_items_per_s=1000) == 2.0
    # a free model: the no-model floor alone bounds the gain
    assert batching_ceiling(2, floor_rps=400, rps_off=300, best_items_per_s=1e12) == round(400 / 300, 3)


def test_verdict_per_target() -> None:
    headline = {
        "batching_speedup_recall": 3.0,
        "batching_speedup_sentiment_zh": 1.9,
        "vs_naive_speedup": 1.2,
        "served_over_limit": 0.8,
        "cold_start_s": 15.1,
        "after_burst_c1_ratio": 1.0,
        "mine_speedup": 2.0,
        "mine_p95_ratio": 1.01,
        "max_accuracy_drop": 0.4,
        "c1_vs_naive": 0.99,
        "batching_never_worse": True,
    }
    met = verdict(headline)
    assert met == {
        "batching_speedup_recall": True,
        "batching_speedup_sentiment_zh": False,
        "vs_naive_speedup": True,
        "served_over_limit": True,
        "cold_start_s": False,
        "after_burst_c1_ratio": True,
        "mine_speedup": True,
        "mine_p95_ratio": False,
        "max_accuracy_drop": True,
        "c1_vs_naive": False,
        "batching_never_worse": True,
    }


def test_gpu_check_exits_cleanly_without_cuda(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from bench import gpu

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu.main([]) == 0
    assert "no CUDA device here" in capsys.readouterr().out
