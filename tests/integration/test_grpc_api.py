"""Every gRPC method, the health check and reflection on the real server's gRPC port; bad input
gets INVALID_ARGUMENT with the message HTTP gives for the same request."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import grpc
import httpx
import pytest
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from gateway.proto import demand_mining_pb2 as pb
from gateway.proto import demand_mining_pb2_grpc as pb_grpc
from tests.integration.conftest import Server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def channel(served: Server) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(served.grpc_target) as ch:
        health = health_pb2_grpc.HealthStub(ch)
        deadline = time.monotonic() + 60
        while (
            health.Check(health_pb2.HealthCheckRequest(service="demandmining.v1.DemandMining"), timeout=10).status
            != health_pb2.HealthCheckResponse.SERVING
        ):
            assert time.monotonic() < deadline, "gRPC health never reached SERVING"
            time.sleep(0.5)
        yield ch


@pytest.fixture(scope="module")
def stub(channel: grpc.Channel) -> pb_grpc.DemandMiningStub:
    return pb_grpc.DemandMiningStub(channel)


def test_health_and_reflection(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    assert (
        health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10).status
        == health_pb2.HealthCheckResponse.SERVING
    )
    refl = reflection_pb2_grpc.ServerReflectionStub(channel)
    answers = list(
        refl.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10)
    )
    names = {s.name for s in answers[0].list_services_response.service}
    assert {"demandmining.v1.DemandMining", "grpc.health.v1.Health"} <= names


def test_text_methods_match_http(stub: pb_grpc.DemandMiningStub, server: str) -> None:
    texts = ["质量很好，物流也快，屏幕很清晰但是电池不耐用", "The Samsung TV broke after a week"]
    for rpc, path in [("Sentiment", "/sentiment"), ("Classify", "/classify"), ("Ner", "/ner"), ("Aspects", "/aspects")]:
        got = json_format.MessageToDict(
            getattr(stub, rpc)(pb.TextsRequest(texts=texts), timeout=60), preserving_proto_field_name=True
        )
        want = httpx.post(f"{server}{path}", json={"texts": texts}, timeout=60).json()
        assert len(got["results"]) == 2
        for g, w in zip(got["results"], want["results"]):
            assert g.get("lang") == w["lang"]
            if "label" in w:
                # A null label (the model was not sure) is an absent field in the message.
                assert g.get("label") == w["label"] and g["score"] == pytest.approx(w["score"])
                assert g.get("reason") == w.get("reason")
            elif "aspects" in w:
                assert g.get("models", []) == w["models"]
                # proto3 leaves a 0 offset out of the message: absent means 0.
                assert [(a["aspect"], a.get("start", 0), a["end"], a["polarity"]) for a in g.get("aspects", [])] == [
                    (a["aspect"], a["start"], a["end"], a["polarity"]) for a in w["aspects"]
                ]
            else:
                assert len(g.get("entities", [])) == len(w["entities"])
    kw = stub.Keywords(pb.KeywordsRequest(texts=texts, top_k=2), timeout=60)
    assert all(len(r.keywords) <= 2 for r in kw.results)


def test_mine_events_profile_trends_recommend(stub: pb_grpc.DemandMiningStub) -> None:
    user = f"grpc-{uuid.uuid4().hex[:8]}"
    mined = stub.Mine(pb.MineRequest(texts=["wireless earbuds with long battery life"], user_id=user, n=3), timeout=60)
    assert mined.results[0].lang == "en" and mined.results[0].demand.summary
    assert mined.HasField("user") and mined.user.profile.n_events == 1 and len(mined.user.recommendations.items) == 3
    ev = pb.Event(key=f"{user}-buy", user_id=user, type="purchase", item_id="50")
    ev.ts.GetCurrentTime()
    first = stub.PostEvents(pb.EventsRequest(events=[ev]), timeout=60)
    again = stub.PostEvents(pb.EventsRequest(events=[ev]), timeout=60)
    assert first.results[0].status == "stored" and again.results[0].status == "duplicate" and again.duplicates == 1
    profile = stub.GetProfile(pb.ProfileRequest(user_id=user), timeout=30)
    assert profile.n_events == 2 and profile.recent_items[0].item_id == "50"
    trends = stub.GetTrends(pb.TrendsRequest(window="1h"), timeout=30)
    assert trends.events.current >= 2 and trends.window.seconds == 3600
    recs = stub.Recommend(pb.RecommendRequest(requests=[pb.UserRequest(user_id=user, n=4)]), timeout=60)
    assert recs.results[0].source == "als_folded_in" and recs.results[0].history_events == 1
    assert "50" not in [i.item_id for i in recs.results[0].items]
    sim = stub.SimilarItems(pb.SimilarRequest(item_ids=["50"], n=3), timeout=30)
    assert len(sim.results[0].similar) == 3


def test_forecast_and_inventory(stub: pb_grpc.DemandMiningStub, series: dict, server: str) -> None:
    msg = json_format.ParseDict(series, pb.SeriesInput())
    got = stub.Forecast(pb.ForecastRequest(series=[msg]), timeout=60).results[0]
    want = httpx.post(f"{server}/forecast", json={"series": [series]}, timeout=60).json()["results"][0]
    assert list(got.quantiles.p50) == pytest.approx(want["quantiles"]["p50"], rel=1e-6)
    plan = stub.InventoryPlan(pb.InventoryRequest(series=msg, lead_time=3, service_level=0.9, on_hand=10), timeout=60)
    assert plan.lead_time == 3 and plan.order_up_to >= plan.expected_demand and plan.assumptions


# (rpc, request message, HTTP path, the same request as JSON)
BAD = [
    ("Sentiment", pb.TextsRequest(texts=[]), "/sentiment", {"texts": []}),
    ("Sentiment", pb.TextsRequest(texts=["x" * 2001]), "/sentiment", {"texts": ["x" * 2001]}),
    ("Keywords", pb.KeywordsRequest(texts=["ok"], top_k=0), "/keywords", {"texts": ["ok"], "top_k": 0}),
    ("Mine", pb.MineRequest(texts=["ok"], event_type="shout"), "/mine", {"texts": ["ok"], "event_type": "shout"}),
    (
        "PostEvents",
        pb.EventsRequest(events=[pb.Event(key="k", user_id="u", type="view")]),
        "/events",
        {"events": [{"key": "k", "user_id": "u", "type": "view"}]},
    ),
    (
        "Recommend",
        pb.RecommendRequest(requests=[pb.UserRequest(user_id="u", n=101)]),
        "/recommend",
        {"requests": [{"user_id": "u", "n": 101}]},
    ),
    ("SimilarItems", pb.SimilarRequest(item_ids=["no-such-item"]), "/similar-items", {"item_ids": ["no-such-item"]}),
]


@pytest.mark.parametrize(("rpc", "request_msg", "path", "body"), BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_input_same_message(
    stub: pb_grpc.DemandMiningStub, server: str, rpc: str, request_msg: object, path: str, body: dict
) -> None:
    with pytest.raises(grpc.RpcError) as err:
        getattr(stub, rpc)(request_msg, timeout=30)
    http = httpx.post(f"{server}{path}", json=body, timeout=30)
    expected = {400: grpc.StatusCode.INVALID_ARGUMENT, 404: grpc.StatusCode.NOT_FOUND}[http.status_code]
    assert err.value.code() == expected
    assert err.value.details() == http.json()["error"]


def test_unknown_user_profile_is_not_found(stub: pb_grpc.DemandMiningStub, server: str) -> None:
    with pytest.raises(grpc.RpcError) as err:
        stub.GetProfile(pb.ProfileRequest(user_id="nobody-at-all"), timeout=30)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert err.value.details() == httpx.get(f"{server}/users/nobody-at-all/profile", timeout=30).json()["error"]
