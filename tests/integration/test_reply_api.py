"""``/reply`` on the real server over HTTP and gRPC: the stored intent model, slots, the built-in
knowledge base, and a user's events filling the reply and raising hand-over."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import grpc
import httpx
import pytest
from google.protobuf import json_format

from gateway.proto import demand_mining_pb2 as pb
from gateway.proto import demand_mining_pb2_grpc as pb_grpc
from tests.integration.conftest import SHOP_VALUES, Server, answered_by

pytestmark = pytest.mark.integration


def _reply(server: str, body: dict) -> dict:
    r = httpx.post(f"{server}/reply", json=body, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize(
    ("text", "lang", "order"),
    [
        ("我的订单号是20231105889，怎么还没发货？", "zh", "20231105889"),
        ("Where is my order 4471-2203?", "en", "4471-2203"),
    ],
)
def test_reply_reads_the_text_and_suggests_replies_in_its_language(
    server: str, trained_models: dict[str, str], text: str, lang: str, order: str
) -> None:
    body = _reply(server, {"text": text, "k": 3})
    assert body["lang"] == lang
    intent = body["intent"]
    assert intent["model"] == answered_by(trained_models["intent"])
    assert (intent["label"] is None) == (intent["reason"] is not None)
    slot = next(s for s in body["slots"] if s["type"] == "order_id")
    assert slot["text"] == order and text[slot["start"] : slot["end"]] == order
    assert 1 <= len(body["replies"]) <= 3
    cjk = [any("\u4e00" <= ch <= "\u9fff" for ch in r["text"]) for r in body["replies"]]
    assert cjk == [lang == "zh"] * len(cjk)
    assert all(0.0 <= r["score"] <= 1.0 for r in body["replies"])
    assert isinstance(body["handoff"]["needed"], bool)
    # the store's reply ranker, built on the built-in knowledge base the server reads, ranks them
    assert body["ranker"].startswith(f"{trained_models['replies']} (")


def test_the_shops_values_fill_the_built_in_english_replies(server: str) -> None:
    replies = _reply(server, {"text": "How can I contact customer support about my order?", "k": 10})["replies"]
    shown = [v for r in replies for v in SHOP_VALUES.values() if v in r["text"]]
    assert shown, [r["text"] for r in replies]  # about two thirds of the English replies hold one
    assert not [n for r in replies for n in SHOP_VALUES if n in r["missing"] or "{{" + n + "}}" in r["text"]]


def test_a_purchase_fills_the_reply_and_repeats_hand_over(server: str) -> None:
    user = f"u-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).isoformat()
    r = httpx.post(
        f"{server}/events",
        json={"events": [{"key": f"{user}-p", "user_id": user, "type": "purchase", "item_id": "50", "ts": now}]},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    answers = [_reply(server, {"text": "转人工！我的快递到底到哪了", "user_id": user}) for _ in range(2)]
    assert answers[0]["context"]["last_item"]["item_id"] == "50"
    assert answers[0]["context"]["last_order"]["order_id"] is None  # the purchase gave no number
    assert answers[0]["event"]["status"] == "stored"
    # The explicit request for a person hands over whatever the model says.
    assert all(a["handoff"]["needed"] and a["handoff"]["reason"].startswith("asks for a human") for a in answers)
    profile = httpx.get(f"{server}/users/{user}/profile", timeout=60).json()
    assert profile["n_events"] == 3


def test_an_order_posted_over_grpc_fills_the_order_and_its_state_of_a_grpc_reply(served: Server) -> None:
    user = f"u-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    events = [
        pb.Event(key="p", user_id=user, type="purchase", item_id="50", order_id="SO-88", ts=now),
        pb.Event(key="s", user_id=user, type="order", order_id="SO-88", status="out for delivery", ts=now),
    ]
    with grpc.insecure_channel(served.grpc_target) as ch:
        stub = pb_grpc.DemandMiningStub(ch)
        posted = stub.PostEvents(pb.EventsRequest(events=events), timeout=60)
        got = stub.Reply(pb.ReplyRequest(text="Where is my order?", user_id=user, k=3), timeout=60)
        with pytest.raises(grpc.RpcError) as err:
            stub.PostEvents(
                pb.EventsRequest(events=[pb.Event(key="x", user_id=user, type="order", order_id="SO-88", ts=now)]),
                timeout=60,
            )
    assert posted.stored == 2
    order = got.context.last_order
    assert (order.item_id, order.order_id, order.status) == ("50", "SO-88", "out for delivery")
    # The built-in replies that hold an order number get this one.
    with_number = [r.text for r in got.replies if "SO-88" in r.text]
    assert with_number or not any("{{Order Number}}" in r.text for r in got.replies)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "order_id and status are required for an order event" in (err.value.details() or "")


def test_grpc_reply_matches_http(served: Server, server: str) -> None:
    text = "I want a refund for order 88123, the blender broke"
    http = _reply(server, {"text": text, "k": 2})
    with grpc.insecure_channel(served.grpc_target) as ch:
        got = pb_grpc.DemandMiningStub(ch).Reply(pb.ReplyRequest(text=text, k=2), timeout=60)
    as_dict = json_format.MessageToDict(
        got, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    assert as_dict["intent"]["label" if http["intent"]["label"] else "reason"] == (
        http["intent"]["label"] or http["intent"]["reason"]
    )
    assert [s["text"] for s in as_dict["slots"]] == [s["text"] for s in http["slots"]]
    assert [r["text"] for r in as_dict["replies"]] == [r["text"] for r in http["replies"]]
    assert as_dict["handoff"]["needed"] == http["handoff"]["needed"]
    assert as_dict["ranker"] == http["ranker"]
    with grpc.insecure_channel(served.grpc_target) as ch, pytest.raises(grpc.RpcError) as err:
        pb_grpc.DemandMiningStub(ch).Reply(pb.ReplyRequest(text=" ", k=2), timeout=60)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "text" in (err.value.details() or "")
