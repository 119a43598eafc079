"""/forecast and /inventory/plan on a real server, over the network trained on orange-juice series."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

pytestmark = pytest.mark.integration


def test_forecast_quantiles(server: str, series: dict, trained_models: dict[str, str]) -> None:
    spec = httpx.post(f"{server}/forecast/spec", json={}, timeout=60).json()
    assert spec["covariates"] == ["price", "deal", "feature", "rel_price"] and spec["horizon"] >= 6
    r = httpx.post(f"{server}/forecast", json={"series": [series, {**series, "series_id": "copy"}]}, timeout=60)
    assert r.status_code == 200, r.text
    a, b = r.json()["results"]
    # The network answers under its tag; a baseline that replaced it on validation is named beside it.
    tag, forecaster = trained_models["demand"], spec["forecaster"]
    assert a["model"] == (tag if forecaster == "network" else f"{tag} ({forecaster})") and b["series_id"] == "copy"
    q = a["quantiles"]
    assert all(len(q[k]) == 6 for k in ("p10", "p50", "p90"))
    assert all(lo <= mid <= hi for lo, mid, hi in zip(q["p10"], q["p50"], q["p90"]))
    assert a["quantiles"] == b["quantiles"]


def test_inventory_plan(server: str, series: dict) -> None:
    body = {"series": series, "lead_time": 3, "service_level": 0.95, "on_hand": 100, "on_order": 0}
    r = httpx.post(f"{server}/inventory/plan", json=body, timeout=60)
    assert r.status_code == 200, r.text
    plan = r.json()
    assert plan["expected_demand"] == pytest.approx(sum(plan["forecast"]["p50"]), rel=1e-3)
    assert plan["order_up_to"] >= plan["expected_demand"] and plan["safety_stock"] >= 0
    assert plan["reorder_quantity"] == max(0, int(np.ceil(plan["order_up_to"] - 100 - 1e-9)))
    assert len(plan["forecast"]["p50"]) == 3 and plan["assumptions"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"units": [1.0, None, 2.0], "covariates": None},
            "series[0].units: need at least 8 periods with a value, got 2",
        ),
        ({"units": "neg"}, "units[29]: Input should be greater than or equal to 0"),
        ({"horizon": 60}, "horizon: Input should be less than or equal to 52"),
        ({"covariates": "short"}, "series[0].covariates: every series needs 30 values"),
        ({"future_covariates": "drop_price"}, "series[0].future_covariates: the model uses"),
    ],
)
def test_forecast_bad_input(server: str, series: dict, change: dict, message: str) -> None:
    s = dict(series)
    if change.get("units") == "neg":
        s["units"] = series["units"][:-1] + [-5.0]
    elif "units" in change:
        s["units"] = change["units"]
        s["covariates"] = {k: v[:3] for k, v in series["covariates"].items()}
    if change.get("covariates") == "short":
        s["covariates"] = {k: v[1:] for k, v in series["covariates"].items()}
    if change.get("future_covariates") == "drop_price":
        s["future_covariates"] = {k: v for k, v in series["future_covariates"].items() if k != "price"}
    if "horizon" in change:
        s["horizon"] = change["horizon"]
    r = httpx.post(f"{server}/forecast", json={"series": [s]}, timeout=60)
    assert r.status_code == 400 and message in r.json()["error"], r.text


def test_inventory_bad_input(server: str, series: dict) -> None:
    r = httpx.post(
        f"{server}/inventory/plan",
        json={"series": series, "lead_time": 8, "service_level": 0.95, "on_hand": 0},
        timeout=60,
    )
    assert r.status_code == 400 and "series.horizon: must cover the lead time (8 periods), got 6" in r.json()["error"]
    r = httpx.post(
        f"{server}/inventory/plan",
        json={"series": series, "lead_time": 2, "service_level": 1.5, "on_hand": 0},
        timeout=60,
    )
    assert r.status_code == 400 and "service_level: Input should be less than or equal to 0.999" in r.json()["error"]
