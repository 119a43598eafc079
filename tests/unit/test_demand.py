import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from mining.models.demand import (
    QUANTILES,
    DemandModel,
    DemandNet,
    RuleForecaster,
    TreeForecaster,
    forecast_many,
    load_forecaster,
    pinball_loss,
    quantile_multipliers,
    rule_forecast,
    window_features,
)
from training.forecasting import (
    Panel,
    forecast_metrics,
    load_panel,
    mase_scale,
    mean_wape_statistic,
    periods_from_dates,
    series_error_sums,
    simple_baselines,
    windows,
)
from training.intervals import ratio_of_sums
from training.train_demand import DemandConfig, choose_served, plan_origins


def test_pinball_loss_known_values() -> None:
    pred = torch.tensor([[[1.0, 2.0, 3.0]]])  # p10, p50, p90 for one step
    target = torch.tensor([[2.5]])
    mask = torch.tensor([[True]])
    # p10: 0.1 * 1.5; p50: 0.5 * 0.5; p90: (0.9 - 1) * -0.5 = 0.05
    assert float(pinball_loss(pred, target, mask)) == pytest.approx((0.15 + 0.25 + 0.05) / 3)
    assert float(pinball_loss(pred, target, torch.tensor([[False]]))) == 0.0
    # Weighted by level: a window three times as large counts three times as much.
    pred2 = torch.tensor([[[1.0, 2.0, 3.0]], [[0.0, 0.0, 0.0]]])
    target2 = torch.tensor([[2.5], [1.0]])  # second window: 0.1 + 0.5 + 0.9, over 3 quantiles
    w = torch.tensor([1.0, 3.0])
    want = (1 * (0.45 / 3) + 3 * (1.5 / 3)) / 4
    assert float(pinball_loss(pred2, target2, torch.ones(2, 1, dtype=torch.bool), weight=w)) == pytest.approx(want)


def test_forecast_metrics_known_values() -> None:
    target = np.array([[10.0, np.nan, 20.0], [0.0, 5.0, 5.0]])
    q = np.stack([target - 1, target, target + 1], -1)
    q[0, 2] = [18, 21, 25]  # one miss of 1 inside the interval
    q[1, 1] = [6, 7, 8]  # one miss of 2 outside it
    m = forecast_metrics(target, np.nan_to_num(q), np.array([1.0, 2.0]))
    assert m["wape"] == pytest.approx(3 / 40)
    assert m["mase"] == pytest.approx(((1 / 2) / 1 + (2 / 3) / 2) / 2)
    assert m["coverage_80"] == pytest.approx(4 / 5)


def _panel() -> Panel:
    rows = [("a", p, float(p), 1.0) for p in range(1, 11) if p not in (4, 5)] + [
        ("b", p, 2.0, 0.5) for p in range(3, 11)
    ]
    return load_panel(pd.DataFrame(rows, columns=["series_id", "period", "units", "price"]), ["price"])


def test_gaps_stay_gaps() -> None:
    panel = _panel()
    assert panel.periods.tolist() == list(range(1, 11))
    assert np.isnan(panel.units[0, 3]) and np.isnan(panel.units[0, 4]) and panel.units[0, 5] == 6.0
    assert np.isnan(panel.units[1, :2]).all()  # before series b starts
    assert panel.covs[1, 0, 0] == 0.5  # plans exist for every period
    w = windows(panel, np.array([5]), history=4, horizon=2)
    # history of series a: periods 3..6 -> 3, gap, gap, 6 (not 1, 2, 3, 6 shifted together)
    np.testing.assert_array_equal(w["units"][0], [3.0, np.nan, np.nan, 6.0])
    np.testing.assert_array_equal(w["target"][0], [7.0, 8.0])
    scale = mase_scale(panel, w["series"], w["origin"])
    assert scale[0] == pytest.approx(1.0)  # |2-1| and |3-2| only: the gap is not bridged
    base = simple_baselines(w, 2)
    assert base["last_value"][0, :, 0].tolist() == [6.0, 6.0]
    assert base["median_4"][0, 0, 0] == pytest.approx(4.5)  # the window holds 3, gap, gap, 6
    assert sorted(base) == ["last_value", "median_4", "moving_average_4"]  # 13-period windows cut to the history


def test_windows_refuse_an_origin_without_room() -> None:
    with pytest.raises(ValueError, match="leaves fewer than 12 periods"):
        windows(_panel(), np.array([5]), history=4, horizon=12)


@pytest.mark.parametrize("arch", ["lstm", "transformer"])
def test_network_shapes_monotone_quantiles_and_round_trip(arch: str, tmp_path) -> None:
    torch.manual_seed(0)
    net = DemandNet(n_covariates=1, horizon=3, history=5, arch=arch, hidden=8, layers=1)
    model = DemandModel(
        net.eval(),
        ["price"],
        np.array([1.0]),
        np.array([0.5]),
        {"n_covariates": 1, "horizon": 3, "history": 5, "arch": arch, "hidden": 8, "layers": 1},
    )
    units = np.array([[1, 2, np.nan, 4, 5], [np.nan] * 4 + [7.0]])
    cov_h, cov_f = np.ones((2, 5, 1)), np.ones((2, 3, 1))
    pred = model.predict(units, cov_h, cov_f)
    assert pred.shape == (2, 3, len(QUANTILES)) and (pred >= 0).all()
    assert (np.diff(pred, axis=-1) >= 0).all()
    assert model.predict(units, cov_h, cov_f[:, :2]).shape == (2, 2, 3)
    model.save(tmp_path)
    np.testing.assert_allclose(
        DemandModel.load(tmp_path, torch.device("cpu")).predict(units, cov_h, cov_f), pred, rtol=1e-5
    )
    loaded = load_forecaster(tmp_path, torch.device("cpu"))
    assert isinstance(loaded, DemandModel) and loaded.name == "network"
    feats = window_features(units, cov_h, cov_f, np.array([1.0]), np.array([0.5]))
    assert feats["hist"].shape == (2, 5, 4) and feats["scale"].tolist() == [4.0, 8.0]


def test_ensemble_forecasts_the_mean_of_its_members_and_round_trips(tmp_path) -> None:  # noqa: ANN001
    args = {"n_covariates": 1, "horizon": 3, "history": 5, "arch": "lstm", "hidden": 8, "layers": 1}
    nets = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        nets.append(DemandNet(**args).eval())
    stats = (["price"], np.array([1.0]), np.array([0.5]), args)
    units = np.array([[1, 2, np.nan, 4, 5], [3.0] * 5])
    cov_h, cov_f = np.ones((2, 5, 1)), np.ones((2, 3, 1))
    one, two = (DemandModel(n, *stats).predict(units, cov_h, cov_f) for n in nets)
    both = DemandModel(nets, *stats)
    pred = both.predict(units, cov_h, cov_f)
    np.testing.assert_allclose(pred, np.sort((one + two) / 2, -1), rtol=1e-5)
    both.save(tmp_path)
    reloaded = DemandModel.load(tmp_path, torch.device("cpu"))
    assert len(reloaded.nets) == 2
    np.testing.assert_allclose(reloaded.predict(units, cov_h, cov_f), pred, rtol=1e-5)


def _model(horizon: int = 4) -> DemandModel:
    args = {"n_covariates": 1, "horizon": horizon, "history": 6, "arch": "lstm", "hidden": 4, "layers": 1}
    return DemandModel(DemandNet(**args).eval(), ["price"], np.array([1.0]), np.array([1.0]), args)


def _request(**kw):
    r = {
        "units": [5.0] * 10,
        "covariates": {"price": [1.0] * 10},
        "horizon": 3,
        "future_covariates": {"price": [1.0] * 3},
    }
    return {**r, **kw}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"units": [1.0, None, 2.0]}, "units: need at least 8 periods with a value, got 2"),
        ({"units": [5.0] * 9 + [-1.0]}, "units: must be >= 0; period 9 is negative"),
        ({"horizon": 5, "future_covariates": {"price": [1.0] * 5}}, "horizon: 1-4 periods, got 5"),
        (
            {"covariates": {"price": [1.0] * 9}},
            "covariates: every series needs 10 values (one per history period); got {'price': 9}",
        ),
        (
            {"future_covariates": {"promo": [1.0] * 3}},
            "future_covariates: the model uses ['price']; missing ['price'], unknown ['promo']",
        ),
        ({"future_covariates": {"price": [1.0, None, 1.0]}}, "future_covariates: values must be finite numbers"),
    ],
)
def test_forecast_requests_are_checked(change: dict, message: str) -> None:
    from mining.models.demand import forecast_many

    out = forecast_many(_model(), [_request(), _request(**change)])
    assert "quantiles" in out[0] and len(out[0]["quantiles"]["p50"]) == 3
    assert out[1] == {"error": message} or message in out[1].get("error", ""), out[1]


def test_short_history_is_left_padded_with_gaps() -> None:
    from mining.models.demand import prepare

    units, cov_h, cov_f = prepare(_model(), _request(units=[1.0, None] + [2.0] * 7, covariates={"price": [3.0] * 9}))
    assert units.shape == (6,) and cov_h.shape == (6, 1) and cov_f.shape == (3, 1)
    units, _, _ = prepare(_model(), _request(units=[4.0] * 8, covariates={"price": [1.0] * 8}))
    assert np.isnan(units).sum() == 0  # 8 periods, history 6: the last 6 are kept


def test_reorder_plan_closed_form() -> None:
    from statistics import NormalDist

    from mining.inventory import reorder_plan

    z90 = NormalDist().inv_cdf(0.9)
    # Each period: mean 100, sd 10 -> p10 / p90 = 100 -+ 10 z90. Two periods, independent:
    # sd of the sum = 10 sqrt(2); at a 97.5% service level z = 1.96.
    q = {"p10": [100 - 10 * z90] * 3, "p50": [100.0] * 3, "p90": [100 + 10 * z90] * 3}
    plan = reorder_plan(q, lead_time=2, service_level=0.975, on_hand=50, on_order=20)
    target = 200 + NormalDist().inv_cdf(0.975) * 10 * np.sqrt(2)
    assert plan["order_up_to"] == pytest.approx(target, abs=1e-3)
    assert plan["reorder_quantity"] == int(np.ceil(target - 70))
    assert plan["safety_stock"] == pytest.approx(target - 200, abs=1e-3)
    together = reorder_plan(q, 2, 0.975, 50, 20, dependence="comonotonic")
    assert together["order_up_to"] == pytest.approx(200 + NormalDist().inv_cdf(0.975) * 20, abs=1e-3)
    assert reorder_plan(q, 2, 0.5, on_hand=500, on_order=0)["reorder_quantity"] == 0
    # Whole units, 100 a period: a count, whose quantile is about the normal's, in whole units.
    assert reorder_plan(q, 2, 0.975, 50, 20, counts=True)["order_up_to"] == np.ceil(target)
    big = {k: [v * 10 for v in vals] for k, vals in q.items()}  # 1,000 a period: the normal rule
    assert reorder_plan(big, 2, 0.975, 0, 0, counts=True) == reorder_plan(big, 2, 0.975, 0, 0)


def test_a_slow_movers_plan_is_a_counts_quantile() -> None:
    """One unit a period, a band narrower than chance's (sd 0.78 < 1): over three periods the
    lead-time demand is Poisson(3), whose 95% quantile is 6 (P(<= 5) = 0.916, P(<= 6) = 0.966);
    read as a normal sum it would be 3 + 1.645 * 0.78 * sqrt(3) = 5.2."""
    from mining.inventory import reorder_plan

    q = {"p10": [0.0] * 3, "p50": [1.0] * 3, "p90": [2.0] * 3}
    plan = reorder_plan(q, lead_time=3, service_level=0.95, on_hand=1, on_order=0, counts=True)
    assert (plan["order_up_to"], plan["reorder_quantity"], plan["expected_demand"]) == (6.0, 5, 3.0)
    assert any("negative binomial" in a for a in plan["assumptions"])
    assert reorder_plan(q, 3, 0.95, 1, 0)["order_up_to"] == pytest.approx(5.22, abs=0.01)
    # Wider than chance: the negative binomial with that variance (mean 3, variance 12 -> n = 1,
    # geometric with P(> k) = 0.75^(k + 1): first under 5% at k = 10).
    wide = {"p10": [0.0] * 3, "p50": [1.0] * 3, "p90": [2 * 2.5631] * 3}
    assert reorder_plan(wide, 3, 0.95, 0, 0, counts=True)["order_up_to"] == 10.0


def test_training_smoke_learns_a_promotion_effect(tmp_path) -> None:  # noqa: ANN001
    """Sales double in promotion weeks, nothing else moves: the network must learn the uplift from
    the planned covariate and beat the medians, which cannot see it."""
    from training import train_demand

    rng = np.random.default_rng(0)
    rows = []
    for s in range(12):
        level = 50 * (s + 1)
        for p in range(1, 81):
            if rng.random() < 0.03:
                continue  # a gap
            deal = float(rng.random() < 0.3)
            rows.append((f"s{s}", p, level * (1 + deal) * rng.uniform(0.95, 1.05), deal))
    path = tmp_path / "sales.csv"
    pd.DataFrame(rows, columns=["series_id", "period", "units", "deal"]).to_csv(path, index=False)
    out = train_demand.main(
        [
            "--data",
            str(path),
            "--history",
            "16",
            "--horizon",
            "4",
            "--origins",
            "12,8,4",
            "--epochs",
            "25",
            "--patience",
            "25",
            "--hidden",
            "16",
            "--layers",
            "1",
            "--windows-per-epoch",
            "0",
            "--lr",
            "0.005",
            "--seeds",
            "1",
            "--threads",
            "1",
            "--report-dir",
            str(tmp_path),
        ]
    )
    assert out["baseline"]["all"]["median_13"]["wape"] > 0.2
    assert out["served"]["model"] == "lstm"
    assert out["test_wape"] < 0.12 and out["tag"].startswith("demand:")
    assert 0.5 <= out["test_coverage_80"] <= 1.0


def test_rules_known_values() -> None:
    nan = np.nan
    units = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [1.0, nan, 3.0, 4.0, nan, nan]])
    np.testing.assert_array_equal(rule_forecast(units, "last_value", 1, 2), [[6, 6], [4, 4]])
    np.testing.assert_array_equal(rule_forecast(units, "moving_average", 3, 1), [[5], [4]])  # gaps skipped
    np.testing.assert_array_equal(rule_forecast(units, "median", 4, 1), [[4.5], [3.5]])
    # Season 4: steps 1..5 read periods 3, 4, 5, 6 back one season, then again 3 (two seasons back).
    np.testing.assert_array_equal(rule_forecast(units, "seasonal_naive", 4, 5)[0], [3, 4, 5, 6, 3])
    # Series 2's periods 5 and 6 are gaps: those steps fall back to the last observed value, 4.
    np.testing.assert_array_equal(rule_forecast(units, "seasonal_naive", 4, 4)[1], [3, 4, 4, 4])
    with pytest.raises(ValueError, match="window must be 1-6"):
        rule_forecast(units, "median", 7, 1)


def test_quantile_multipliers_known_values() -> None:
    point = np.full((5, 2), 10.0)
    actual = np.array([[5.0, 10], [10, 10], [10, 10], [15, 10], [20, np.nan]])
    m = quantile_multipliers(point, actual)
    want = np.quantile([0.5, 1.0, 1.0, 1.5, 2.0], QUANTILES)
    np.testing.assert_allclose(m[0], [want[0], 1.0, want[2]])
    np.testing.assert_allclose(m[1], [1.0, 1.0, 1.0])  # every ratio 1: no spread
    assert quantile_multipliers(np.zeros((2, 1)), np.ones((2, 1))).tolist() == [[1.0, 1.0, 1.0]]


def test_rule_forecaster_answers_from_json_alone(tmp_path) -> None:  # noqa: ANN001
    mult = np.array([[0.5, 1.0, 2.0]] * 3)
    model = RuleForecaster("moving_average", 2, history=6, horizon=3, covariates=["price"], multipliers=mult)
    model.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json"]
    loaded = load_forecaster(tmp_path)
    assert isinstance(loaded, RuleForecaster) and loaded.name == "moving_average_2"
    # Not whole units (kilograms, say): the multipliers give p10 and p90 (count_bands below).
    req = {"units": [1.0] * 8 + [4.5, 5.5], "covariates": {"price": [1.0] * 10}, "horizon": 2,
           "future_covariates": {"price": [1.0] * 2}}  # fmt: skip
    assert forecast_many(loaded, [req]) == [{"quantiles": {"p10": [2.5, 2.5], "p50": [5.0, 5.0], "p90": [10.0, 10.0]}}]
    with pytest.raises(ValueError, match="rule must be one of"):
        RuleForecaster("mean", 2, 6, 3, ["price"], mult)


def test_tree_forecaster_reproduces_sklearn_without_pickle(tmp_path) -> None:  # noqa: ANN001
    from sklearn.ensemble import HistGradientBoostingRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4))
    X[rng.random(X.shape) < 0.1] = np.nan  # missing values take each split's learnt side
    y = np.nan_to_num(X[:, 0]) * 2 + np.where(np.isnan(X[:, 1]), 3.0, 0.0) + rng.normal(0, 0.1, 400)
    gbm = HistGradientBoostingRegressor(loss="absolute_error", max_iter=15, random_state=0).fit(X, y)
    model = TreeForecaster.from_sklearn(gbm, 6, 2, ["price"], np.ones((2, 3)))
    X_new = rng.normal(size=(50, 4))
    X_new[::7, 1] = np.nan
    np.testing.assert_allclose(model.raw_predict(X_new), gbm.predict(X_new), rtol=1e-12, atol=1e-12)
    model.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "trees.safetensors"]
    loaded = load_forecaster(tmp_path)
    assert isinstance(loaded, TreeForecaster) and loaded.name == "gbm"
    np.testing.assert_allclose(loaded.raw_predict(X_new), gbm.predict(X_new), rtol=1e-12, atol=1e-12)
    # The level its trees were fitted on travels with them; a model saved before the key was
    # fitted on the mean + 1 and keeps reading so.
    spec = json.loads((tmp_path / "model.json").read_text())
    assert spec["level_offset"] == 0.0 and loaded.level_offset == 0.0
    del spec["level_offset"]
    (tmp_path / "model.json").write_text(json.dumps(spec))
    assert load_forecaster(tmp_path).level_offset == 1.0  # type: ignore[union-attr]


def test_choose_served_prefers_the_network_only_when_it_is_ahead() -> None:
    baselines = {"gbm": 0.30, "seasonal_naive_52": 0.40}
    assert choose_served("lstm", 0.29, baselines)["model"] == "lstm"
    tie = choose_served("lstm", 0.30, baselines)
    assert tie["model"] == "gbm" and "not ahead" in tie["reason"]
    assert tie["val_wape"] == {"network": 0.30, "gbm": 0.30}


def test_plan_origins_keeps_validation_before_the_headline() -> None:
    cfg = DemandConfig(origins="24,18,12", horizon=12)
    headline, val = plan_origins(cfg, 121)
    assert headline == [96, 102, 108] and val == [84]  # 84 + 12 = 96: validation targets end at the first origin
    with pytest.raises(ValueError, match="must end by the earliest headline origin"):
        plan_origins(DemandConfig(origins="24,18,12", val_origins="30", horizon=12), 121)
    with pytest.raises(ValueError, match="no training window"):
        plan_origins(DemandConfig(origins="12", horizon=12), 30)


def test_headline_statistic_is_the_mean_of_origin_wapes() -> None:
    target = np.array([[10.0, np.nan], [20.0, 20.0], [5.0, 5.0]])
    p50 = np.array([[12.0, 0.0], [20.0, 10.0], [0.0, 5.0]])
    sums = series_error_sums(target, p50, np.array([0, 1, 1]), 3)
    np.testing.assert_allclose(sums, [[2, 10], [15, 50], [0, 0]])
    other = np.array([[0.0, 10], [5, 10], [1, 1]])  # a second origin's (|error|, actual) per series
    stat = mean_wape_statistic(np.stack([sums, other], 1))
    everything = np.arange(3)
    assert stat(everything) == pytest.approx((17 / 60 + 6 / 21) / 2)
    assert stat(np.array([1, 1])) == pytest.approx((ratio_of_sums([15], [50])(np.array([0])) + 0.5) / 2)


def _seasonal_table(path) -> None:  # noqa: ANN001
    """Six series repeating a 4-period pattern exactly, with a price that moves nothing."""
    rng = np.random.default_rng(0)
    pattern = [10.0, 30.0, 20.0, 50.0]
    rows = [(f"s{s}", p, (s + 1) * pattern[p % 4], float(rng.random())) for s in range(6) for p in range(1, 41)]
    pd.DataFrame(rows, columns=["series_id", "period", "units", "price"]).to_csv(path, index=False)


def test_a_network_that_loses_on_validation_is_not_served(tmp_path) -> None:  # noqa: ANN001
    """Seasonal naive is exact here and a 1-epoch tiny network is not: the saved artifact answers
    from the seasonal rule and every answer says so."""
    import bentoml

    from runners.demand import DemandRunner
    from training import train_demand

    path = tmp_path / "sales.csv"
    _seasonal_table(path)
    flags = ["--data", str(path), "--history", "8", "--horizon", "4", "--season", "4", "--origins", "12,8,4",
             "--hidden", "4", "--layers", "1", "--epochs", "1", "--lr", "1e-3", "--windows-per-epoch", "64",
             "--seeds", "2", "--threads", "1", "--report-dir", str(tmp_path)]  # fmt: skip
    out = train_demand.main(flags)
    assert out["served"]["model"] == "seasonal_naive_4" and "not ahead" in out["served"]["reason"]
    assert out["test_wape"] == pytest.approx(0.0) and out["network_test_wape"] > 0.05
    assert len(out["test_wape_by_origin"]) == 3 and set(out["seed_spread"]["by_seed"]) == {"42", "43"}
    assert out["vs_baseline"]["test_wape"]["verdict"] in ("ahead", "level")
    stored = bentoml.models.get(out["tag"])
    assert stored.info.metadata["served"]["model"] == "seasonal_naive_4"
    # Parameters only, no pickle (model.yaml is the store's own record).
    assert sorted(f.name for f in Path(stored.path).iterdir()) == ["model.json", "model.yaml"]
    assert json.loads(Path(stored.path, "model.json").read_text())["kind"] == "demand_rule"
    model = load_forecaster(Path(stored.path))
    assert isinstance(model, RuleForecaster)
    # (Sizes past COUNT_BANDS_BELOW: a smaller count would get chance's band around it.)
    req = {"units": [1000.0, 3000.0, 2000.0, 5000.0] * 3, "covariates": {"price": [0.5] * 12}, "horizon": 4,
           "future_covariates": {"price": [0.5] * 4}}  # fmt: skip
    answer = forecast_many(model, [req])[0]["quantiles"]
    assert answer["p50"] == [1000.0, 3000.0, 2000.0, 5000.0]  # one season back from each forecast period
    assert answer["p10"] == answer["p50"] == answer["p90"]  # validation errors were all zero: no spread
    runner = SimpleNamespace(tags={"demand": out["tag"]}, model=model)
    assert DemandRunner.inner.answered_by.fget(runner) == f"{out['tag']} (seasonal_naive_4)"


@pytest.mark.parametrize(
    ("dates", "numbers", "step"),
    [
        (["2024-01-01", "2024-01-02", "2024-01-05", "2024-01-01"], [0, 1, 4, 0], "day"),
        (["2024-01-03", "2024-01-10", "2024-01-31"], [0, 1, 4], "week"),  # Wednesdays, a gap of two
        (["2024-01-31", "2024-02-29", "2024-04-30", "2025-01-15"], [0, 1, 3, 12], "month"),  # any day of the month
    ],
)
def test_dates_become_consecutive_period_numbers(dates: list[str], numbers: list[int], step: str) -> None:
    found, unit = periods_from_dates(pd.Series(dates))
    assert found.tolist() == numbers and unit == step


@pytest.mark.parametrize(
    ("dates", "message"),
    [
        (["2024-01-01", "2024-01-04", "2024-01-11"], "smallest gap 3 days"),  # neither days nor weeks
        (["2024-01-01", "2024-01-08", "2024-01-10"], "smallest gap 2 days"),
        (["2024-01-01", "soon"], r"neither numbers nor dates: e.g. \['soon'\]"),
    ],
)
def test_dates_off_a_grid_are_refused(dates: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        periods_from_dates(pd.Series(dates))


def test_a_daily_sales_table_without_covariates_trains(tmp_path: Path) -> None:
    from training import train_demand

    rng = np.random.default_rng(1)
    days = pd.date_range("2024-03-01", periods=40, freq="D").strftime("%Y-%m-%d")
    rows = [(f"s{s}", d, float(rng.poisson(10 * (s + 1)))) for s in range(4) for d in days]
    path = tmp_path / "sales.csv"
    pd.DataFrame(rows, columns=["series_id", "period", "units"]).to_csv(path, index=False)
    out = train_demand.main(
        ["--data", str(path), "--history", "8", "--horizon", "2", "--origins", "6,4,2", "--epochs", "2",
         "--hidden", "8", "--layers", "1", "--seeds", "1", "--threads", "1", "--season", "7", "--no-save",
         "--report-dir", str(tmp_path)]
    )  # fmt: skip
    assert 0 < out["test_wape"] < 1 and out["served"]["model"]


def test_a_series_that_sold_nothing_is_forecast_zero() -> None:
    from mining.models.demand import forecast_many

    class Ones:
        """A forecaster that answers 1 unit a period at every quantile, whatever it reads."""

        covariates, horizon, history = ["price"], 4, 6

        def predict(self, units: np.ndarray, cov_hist: np.ndarray, cov_future: np.ndarray) -> np.ndarray:
            return np.ones((len(units), cov_future.shape[1], 3))

    model = Ones()
    zero, gaps_and_zeros, sold_once = forecast_many(  # type: ignore[arg-type]
        model,
        [
            _request(units=[0.0] * 10),
            _request(units=[None, 0.0, None, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
            _request(units=[0.0] * 9 + [3.0]),
        ],
    )
    assert zero == gaps_and_zeros == {"quantiles": {q: [0.0] * 3 for q in ("p10", "p50", "p90")}}
    # One sale in the window is evidence of demand: the model answers.
    assert sold_once == {"quantiles": {q: [1.0] * 3 for q in ("p10", "p50", "p90")}}
    # Sales older than the window the model reads (6 periods here) are not: zero again.
    (old,) = forecast_many(model, [_request(units=[4.0] * 2 + [0.0] * 8)])  # type: ignore[arg-type]
    assert old["quantiles"]["p50"] == [0.0] * 3


def test_count_bands_of_a_certain_mean_are_poissons() -> None:
    """With no spread of its own (multipliers all 1) a count's band is Poisson's: mean 2 gives
    p10 0 (P(0) = 0.135 > 0.1) and p90 4 (P(<= 3) = 0.857, P(<= 4) = 0.947)."""
    from mining.models.forecast_rules import count_bands

    low, high = count_bands(np.array([[2.0, 0.0]]), np.ones((2, 3)))
    assert low.tolist() == [[0.0, 0.0]] and high.tolist() == [[4.0, 0.0]]
    # A spread of its own widens the band: mean 2, relative spread 1 (variance 2 + 4): geometric,
    # P(> k) = (2/3)^(k + 1), first under 0.1 at k = 5.
    _, wider = count_bands(np.array([[2.0]]), np.array([[1 - 1.28155, 1.0, 1 + 1.28155]]))
    assert wider[0, 0] == 5.0


def test_whole_units_under_the_cut_get_count_bands_and_the_rest_the_multipliers() -> None:
    from mining.models.forecast_rules import COUNT_BANDS_BELOW, counts_only, quantiles_from_point

    mult = np.array([[0.6, 1.0, 1.75]])
    point = np.array([[0.4], [0.4], [2 * COUNT_BANDS_BELOW]])
    q = quantiles_from_point(point, mult, np.array([True, False, True]))
    assert q[0, 0].tolist() == [0.0, pytest.approx(0.4), 1.0]  # a count: 0 to 1 around its mean
    np.testing.assert_allclose(q[1, 0], [0.24, 0.4, 0.7], rtol=1e-6)  # kilograms: the multipliers
    np.testing.assert_allclose(q[2, 0], [600, 1000, 1750], rtol=1e-6)  # a count this large: the multipliers
    assert counts_only(np.array([[1.0, np.nan, 0.0], [0.5, 1.0, 1.0], [np.nan, np.nan, np.nan]])).tolist() == [
        True,
        False,
        True,
    ]


def test_the_boosted_models_features_read_a_series_the_same_at_any_size() -> None:
    """0.5 a week reads as 500 a week does, at a thousandth of the level (the level had been the
    mean + 1, so a series selling 0.4 a week was forecast about 1.2)."""
    from mining.models.forecast_trees import gbm_features

    rng = np.random.default_rng(0)
    shape = rng.uniform(0.5, 1.5, (1, 20))
    cov_h, cov_f = np.zeros((2, 20, 1)), np.zeros((2, 1, 1))
    X, level = gbm_features(np.concatenate([shape * 0.5, shape * 500]), cov_h, cov_f, 1)
    np.testing.assert_allclose(level, [0.5 * shape[0, -13:].mean(), 500 * shape[0, -13:].mean()])
    np.testing.assert_allclose(X[0, :12], X[1, :12])  # every relative statistic and lag
    _, old = gbm_features(shape * 0.5, cov_h[:1], cov_f[:1], 1, level_offset=1.0)
    assert old[0] == pytest.approx(level[0] + 1.0)
    # Nothing sold in the last 13 periods: the whole history's mean; never sold: 1.
    quiet = np.array([[6.0] * 7 + [0.0] * 13, [0.0] * 20])
    _, lv = gbm_features(quiet, cov_h, cov_f, 1)
    assert lv.tolist() == [pytest.approx(42 / 20), 1.0]


def test_thinning_keeps_gaps_and_never_adds_units() -> None:
    from training.eval_demand_scale import pinball_by_series, thinned

    nan = np.nan
    w = {"units": np.array([[100.0, nan, 40.0]]), "target": np.array([[nan, 1000.0]]), "series": np.array([0])}
    assert thinned(w, 1.0, np.random.default_rng(0)) is w
    t = thinned(w, 0.1, np.random.default_rng(0))
    assert np.isnan(t["units"][0, 1]) and np.isnan(t["target"][0, 0])
    assert 0 <= t["units"][0, 0] <= 100 and 50 <= t["target"][0, 1] <= 150  # about 100 of 1,000
    # Pinball of p10 / p50 / p90 = 8 / 10 / 12 against an actual of 10: (0.2 + 0 + 0.2) / 3.
    sums = pinball_by_series(np.array([[10.0, nan]]), np.array([[[8.0, 10, 12], [0, 0, 0]]]), np.array([0]), 2)
    np.testing.assert_allclose(sums, [[0.4 / 3, 10.0], [0.0, 0.0]])
