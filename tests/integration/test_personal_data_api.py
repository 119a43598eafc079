"""Personal data on the real server: names and street addresses sent through ``/events``, ``/mine``
and ``/reply`` (over HTTP and gRPC) reach neither the event store nor any answer read back from it,
in either language; the parts of the messages that are not personal are kept."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid

import grpc
import httpx
import pytest
from google.protobuf import json_format

from gateway.proto import demand_mining_pb2 as pb
from gateway.proto import demand_mining_pb2_grpc as pb_grpc
from tests.integration.conftest import Server

pytestmark = pytest.mark.integration

# (message, what of it is personal): each is found by a rule, whatever the tiny NER models make of it.
MESSAGES = [
    ("我叫张伟，住在北京市朝阳区建国路88号3号楼，华为手机还没到", ["张伟", "建国路88号"]),
    ("收件人：王小明，地址改成上海市浦东新区张江路1000弄5号楼302室", ["王小明", "张江路", "302室"]),
    ("My name is John Smith, ship the Sony TV to 42 Baker Street", ["John Smith", "Baker Street"]),
    ("please ask Maria Garcia where my refund is", ["Maria Garcia", "Garcia"]),
]


def test_names_and_addresses_never_reach_the_store_or_an_answer(served: Server) -> None:
    server, user = served.url, f"pii-{uuid.uuid4().hex[:8]}"
    events = [
        {"key": f"k{i}", "user_id": user, "type": "message", "text": text, "ts": "2026-12-01T10:00:00Z"}
        for i, (text, _) in enumerate(MESSAGES)
    ]
    r = httpx.post(f"{server}/events", json={"events": events}, timeout=120)
    assert r.status_code == 200 and r.json()["stored"] == len(MESSAGES), r.text
    again = httpx.post(f"{server}/events", json={"events": events}, timeout=120)
    assert again.status_code == 200 and again.json()["duplicates"] == len(MESSAGES), again.text
    texts = [t for t, _ in MESSAGES]
    answers = [
        httpx.post(f"{server}/mine", json={"texts": texts, "user_id": user, "request_id": "pii"}, timeout=120),
        httpx.post(f"{server}/reply", json={"text": texts[1], "user_id": user}, timeout=120),
        httpx.post(f"{server}/keywords", json={"texts": texts, "top_k": 10}, timeout=120),
        httpx.get(f"{server}/users/{user}/profile", params={"top": 50}, timeout=60),
    ]
    with grpc.insecure_channel(served.grpc_target) as channel:
        request = pb.ReplyRequest(text=texts[0], user_id=user)
        grpc_reply = pb_grpc.DemandMiningStub(channel).Reply(request, timeout=120)
    secrets = [s for _, found in MESSAGES for s in found]
    for a in answers:
        assert a.status_code == 200, a.text
        assert [s for s in secrets if s in a.text] == [], a.text
    grpc_text = json.dumps(json_format.MessageToDict(grpc_reply), ensure_ascii=False)
    assert [s for s in secrets if s in grpc_text] == [], grpc_text

    with sqlite3.connect(served.env["DEMAND_MINING_EVENTS_DB"]) as db:
        stored = db.execute("SELECT text, analysis FROM events WHERE user_id = ?", (user,)).fetchall()
        terms = [t for (t,) in db.execute("SELECT term FROM terms WHERE user_id = ?", (user,))]
    kept = json.dumps([stored, terms], ensure_ascii=False)
    assert [s for s in secrets if s in kept] == [], kept
    texts_kept = [t for t, _ in stored]
    assert len(texts_kept) == len(MESSAGES) * 2 + 2  # /events, /mine, and the two replies
    assert any("华为手机还没到" in t for t in texts_kept) and any("Sony TV" in t for t in texts_kept)
    assert sum("<NAME>" in t for t in texts_kept) >= 6 and sum("<ADDRESS>" in t for t in texts_kept) >= 4


def test_the_log_holds_the_field_and_rule_a_request_broke_but_not_its_personal_data(served: Server) -> None:
    tag = uuid.uuid4().int % 10**8
    phone, email = f"139{tag:08d}", f"u{tag}@example.com"
    refused = [
        ("/reply", {"text": f"call {phone} or {email} " + "a" * 3000}, "text: String should have at most"),
        (
            "/events",
            {"events": [{"key": f"k{tag}", "user_id": "u", "type": "message", "text": phone, "ts": f"x{phone}"}]},
            "events.0.ts: Input should be a valid datetime",
        ),
    ]
    for path, body, _ in refused:
        r = httpx.post(f"{served.url}{path}", json=body, timeout=60)
        assert r.status_code == 400, r.text
        assert phone not in r.text and email not in r.text, r.text
    # an id that is an e-mail address reaches the access log's path
    assert httpx.get(f"{served.url}/users/{email}/profile", timeout=60).status_code == 404
    log = ""
    for _ in range(50):  # the server writes its log lines as the requests end
        log = served.log.read_text(errors="replace")
        if all(f"refused: {rule}" in log for _, _, rule in refused) and "/users/<EMAIL>/profile" in log:
            break
        time.sleep(0.1)
    assert all(f"refused: {rule}" in log for _, _, rule in refused), log[-3000:]
    assert "/users/<EMAIL>/profile" in log, log[-3000:]
    assert phone not in log and email not in log
