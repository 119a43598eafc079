"""/aspects on a real server: aspects with offsets into the text as sent and a polarity each, bad
input, /mine's aspects and summary, and aspect polarity in profiles and trends (gRPC: test_grpc_api)."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

pytestmark = pytest.mark.integration

# Sentences of the kind the Chinese training data holds (phones, cameras): the small test model
# has seen 屏幕 and 电池 judged many times. Leading spaces and full-width text test the offsets.
ZH = ["  这款手机的屏幕很清晰，但是电池不耐用。", "ＡＰＰＬＥ的电池太差了，屏幕还可以"]
EN = ["The screen is bright but the battery life is short."]


def check_offsets(text: str, result: dict) -> None:
    end = -1
    for a in result["aspects"]:
        assert text[a["start"] : a["end"]] == a["aspect"] and a["start"] >= end
        end = a["end"]
        assert a["polarity"] in ("positive", "negative", "neutral") and 0 <= a["score"] <= 1
        if a["opinion"] is not None:
            op = a["opinion"]
            assert text[op["start"] : op["end"]] == op["text"] and op["polarity"] in ("positive", "negative")


def test_aspects_index_the_text_as_sent(server: str, trained_models: dict[str, str]) -> None:
    r = httpx.post(f"{server}/aspects", json={"texts": ZH + EN}, timeout=120)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["lang"] for x in results] == ["zh", "zh", "en"]
    assert results[0]["models"] == [trained_models["aspects-zh"]]
    assert results[2]["models"] == [trained_models["aspects-en"]]
    for text, result in zip(ZH + EN, results):
        check_offsets(text, result)
    found = {a["aspect"] for res in results[:2] for a in res["aspects"]}
    assert {"屏幕", "电池"} & found, results[:2]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"texts": []}, "texts: Value should have at least 1 item"),
        ({"texts": [" \n "]}, "texts[0]: Value error, text is blank"),
        ({"texts": ["x" * 2001]}, "texts[0]: String should have at most 2000 characters"),
        ({"texts": ["ok"] * 65}, "texts: Value should have at most 64 items"),
        ({"texts": [3]}, "texts[0]: Input should be a valid string"),
        ({"text": ["ok"]}, "texts: Field required"),
    ],
)
def test_bad_input(server: str, body: object, message: str) -> None:
    r = httpx.post(f"{server}/aspects", json=body, timeout=60)
    assert r.status_code == 400 and message in r.json()["error"], r.text


def test_mine_profile_and_trends_carry_aspect_polarity(server: str) -> None:
    mined = httpx.post(f"{server}/mine", json={"texts": ZH[:1]}, timeout=60).json()["results"][0]
    judged = [(a["aspect"], a["polarity"]) for a in mined["demand"]["aspects"]]
    assert judged, mined
    assert "评价：" in mined["demand"]["summary"] and judged[0][0] in mined["demand"]["summary"]

    user = f"aspects-{uuid.uuid4().hex[:8]}"
    now = time.time()
    events = [
        {"key": f"{user}-{k}", "user_id": user, "type": "review", "item_id": "50", "text": ZH[0], "ts": now - k}
        for k in range(3)
    ]
    assert httpx.post(f"{server}/events", json={"events": events}, timeout=60).json()["stored"] == 3
    profile = httpx.get(f"{server}/users/{user}/profile", timeout=30).json()
    listed = {(a["term"], side) for side in ("liked", "disliked") for a in profile["aspects"][side] if a["count"] == 3}
    want = {(term.lower(), "liked" if pol == "positive" else "disliked") for term, pol in judged if pol != "neutral"}
    assert want <= listed, (want, profile["aspects"])
    trends = httpx.get(f"{server}/trends", params={"window": "1h", "top": 50}, timeout=30).json()["aspect"]
    rising = {t["term"]: t for t in trends["rising"]}
    term, polarity = judged[0]
    assert rising[term.lower()]["current"] >= 3
    if polarity == "negative":
        assert term.lower() in {t["term"] for t in trends["complaints_rising"]}
