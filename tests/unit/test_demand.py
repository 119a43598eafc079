import numpy as np
import pandas as pd
import pytest
import torch

from mining.models.demand import QUANTILES, DemandModel, DemandNet, pinball_loss, window_features
from training.train_demand import Panel, forecast_metrics, load_panel, mase_scale, simple_baselines, windows


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
    assert base["median_13"][0, 0, 0] == pytest.approx(4.5)  # the window holds 3, gap, gap, 6


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
            "8,4",
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
            "--threads",
            "1",
            "--report-dir",
            str(tmp_path),
        ]
    )
    assert out["baseline"]["all"]["median_13"]["wape"] > 0.2
    assert out["test_wape"] < 0.12 and out["tag"].startswith("demand:")
    assert 0.5 <= out["test_coverage_80"] <= 1.0
