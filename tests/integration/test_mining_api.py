"""/mine, /events, profiles, trends and event-driven recommendations on a real server."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from tests.integration.conftest import answered_by

pytestmark = pytest.mark.integration

TEXTS = [
    "有没有更大容量的充电宝？电池不耐用",
    "Looking for a Sony 65 in TV, the old one broke. Mail me at jo@example.com",
]


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def test_mine_returns_every_part(server: str, trained_models: dict[str, str]) -> None:
    r = httpx.post(f"{server}/mine", json={"texts": TEXTS, "top_k": 3}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body.get("user") is None and len(body["results"]) == 2
    zh, en = body["results"]
    assert (zh["lang"], en["lang"]) == ("zh", "en")
    assert zh["sentiment"]["model"] == answered_by(trained_models["sentiment-zh"]) and en["category"][
        "model"
    ] == answered_by(trained_models["classification-en"])
    for text, res in zip(TEXTS, body["results"]):
        assert 1 <= len(res["keywords"]) <= 3
        assert all(
            text[e["start"] : e["end"]] == e["text"] for e in res["entities"] if e["type"] != "PER"
        )  # offsets into the text as sent
        assert all(e["text"] == "<NAME>" for e in res["entities"] if e["type"] == "PER")
        assert res["demand"]["intent"] == "request"  # "有没有" and "Looking for" state a want
    # Each summary in its text's language.
    assert zh["demand"]["summary"].startswith("顾客想要") and en["demand"]["summary"].startswith("customer wants ")
    # The Chinese text's category comes from the Chinese model (a label or null), never the English one.
    assert zh["category"]["model"] == answered_by(trained_models["classification-zh"])
    assert zh["demand"]["category"] == zh["category"]["label"]
    # Single texts go through the same composite path as the standalone endpoints.
    alone = httpx.post(f"{server}/sentiment", json={"texts": TEXTS}, timeout=60).json()["results"]
    for mined, single in zip(body["results"], alone):
        assert mined["sentiment"]["probabilities"] == pytest.approx(single["probabilities"])


def test_mine_with_user_records_once_and_updates_profile(server: str) -> None:
    user = f"miner-{uuid.uuid4().hex[:8]}"
    body = {"texts": TEXTS, "user_id": user, "request_id": "r-1", "event_type": "review", "n": 4}
    first = httpx.post(f"{server}/mine", json=body, timeout=60).json()
    assert [e["status"] for e in first["user"]["events"]] == ["stored", "stored"]
    profile = first["user"]["profile"]
    assert profile["user_id"] == user and profile["n_events"] == 2 and profile["sentiment"]["n"] == 2
    assert len(first["user"]["recommendations"]["items"]) == 4
    # PII never reaches the store: nothing derived from the e-mail address is in the profile.
    terms = {t["term"] for t in profile["keywords"] + profile["entities"]}
    assert not {t for t in terms if "example" in t or "jo@" in t}
    retry = httpx.post(f"{server}/mine", json=body, timeout=60).json()
    assert [e["status"] for e in retry["user"]["events"]] == ["duplicate", "duplicate"]
    assert retry["user"]["profile"]["n_events"] == 2


def test_events_drive_profile_recommendations_and_trends(server: str) -> None:
    user = f"shopper-{uuid.uuid4().hex[:8]}"
    before = httpx.post(f"{server}/recommend", json={"requests": {"user_id": user, "n": 5}}, timeout=60).json()[
        "results"
    ][0]
    assert before["source"] == "popularity" and before["history_events"] == 0
    r = httpx.get(f"{server}/users/{user}/profile", timeout=30)
    assert r.status_code == 404 and user in r.json()["error"]

    now = time.time()
    events = [
        {"key": f"{user}-1", "user_id": user, "type": "view", "item_id": "50", "ts": now - 30},
        {"key": f"{user}-2", "user_id": user, "type": "purchase", "item_id": "181", "ts": now - 20},
        {
            "key": f"{user}-3",
            "user_id": user,
            "type": "review",
            "item_id": "181",
            "text": "Great film, loved it",
            "ts": iso(now - 10),
        },
        {"key": f"{user}-4", "user_id": user, "type": "search", "text": "wireless earbuds", "ts": iso(now)},
    ]
    r = httpx.post(f"{server}/events", json={"events": events}, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == 4 and [x["status"] for x in r.json()["results"]] == ["stored"] * 4
    retry = httpx.post(f"{server}/events", json={"events": events[:2]}, timeout=60).json()
    assert retry == {
        "results": [
            {"key": e["key"], "id": x["id"], "status": "duplicate"} for e, x in zip(events[:2], r.json()["results"][:2])
        ],
        "stored": 0,
        "duplicates": 2,
    }

    profile = httpx.get(f"{server}/users/{user}/profile", params={"top": 5}, timeout=30).json()
    assert profile["n_events"] == 4 and profile["sentiment"]["n"] == 1  # a search holds no sentiment
    assert [i["item_id"] for i in profile["recent_items"]] == ["181", "50"]
    assert profile["recent_items"][0]["type"] == "review"
    assert any("earbud" in k["term"] for k in profile["keywords"])

    after = httpx.post(f"{server}/recommend", json={"requests": {"user_id": user, "n": 5}}, timeout=60).json()[
        "results"
    ][0]
    assert after["source"] == "als_folded_in" and after["history_events"] == 3
    assert not {"50", "181"} & {i["item_id"] for i in after["items"]}
    assert [i["item_id"] for i in after["items"]] != [i["item_id"] for i in before["items"]]


def test_trends_compare_windows(server: str) -> None:
    end = time.time() - 3 * 86400  # a window no other test writes into
    tag = uuid.uuid4().hex[:6]
    old = [
        {
            "key": f"t-{tag}-old-{k}",
            "user_id": f"tr{k}",
            "type": "search",
            "text": "coffee grinder",
            "ts": end - 5400 + k,
        }
        for k in range(3)
    ]
    new = [
        {
            "key": f"t-{tag}-new-{k}",
            "user_id": f"tr{k}",
            "type": "search",
            "text": "wireless earbuds",
            "ts": end - 600 + k,
        }
        for k in range(4)
    ]
    assert httpx.post(f"{server}/events", json={"events": old + new}, timeout=60).json()["stored"] == 7
    r = httpx.get(f"{server}/trends", params={"window": "1h", "end": iso(end), "top": 20}, timeout=30)
    assert r.status_code == 200, r.text
    t = r.json()
    assert t["events"] == {"current": 4, "previous": 3} and t["window"]["seconds"] == 3600
    rising, falling = t["keyword"]["rising"], t["keyword"]["falling"]
    assert any("earbud" in x["term"] and x["current"] == 4 and x["previous"] == 0 for x in rising)
    assert any(("coffee" in x["term"] or "grinder" in x["term"]) and x["change"] == -3 for x in falling)
    # Searches state needs and hold no sentiment: no share to compare.
    assert t["sentiment"] == {"current_positive_share": None, "previous_positive_share": None, "shift": None}


BAD_HTTP = [
    ("/mine", {"texts": []}, 400, "texts"),
    ("/mine", {"texts": ["ok"], "top_k": 0}, 400, "top_k"),
    ("/mine", {"texts": "x" * 2001}, 400, "at most 2000 characters"),
    ("/mine", {"texts": ["ok"], "user_id": ""}, 400, "user_id"),
    ("/events", {"events": []}, 400, "events"),
    ("/events", {"events": [{"key": "k", "user_id": "u", "type": "fly", "ts": 1.7e9}]}, 400, "events[0].type"),
    ("/events", {"events": [{"key": "k", "user_id": "u", "type": "view", "ts": 1.7e9}]}, 400, "item_id is required"),
    ("/events", {"events": [{"key": "k", "user_id": "u", "type": "search", "ts": 1.7e9}]}, 400, "text is required"),
    (
        "/events",
        {"events": [{"key": "k", "user_id": "u", "type": "view", "item_id": "1", "ts": "2026-01-01T00:00:00"}]},
        400,
        "timezone",
    ),
    (
        "/events",
        {"events": [{"key": "k", "user_id": "u", "type": "view", "item_id": "1", "ts": "2999-01-01T00:00:00Z"}]},
        400,
        "between 2000-01-01 and now",
    ),
    (
        "/events",
        {"events": [{"key": "k", "user_id": "u", "type": "view", "item_id": "1", "ts": "yesterday"}]},
        400,
        "events[0].ts",
    ),
    (
        "/events",
        {"events": [{"key": "k", "user_id": "u", "type": "view", "item_id": "1", "ts": 1.7e9}] * 2},
        400,
        "appears more than once",
    ),
    (
        "/events",
        {"events": [{"key": "k", "user_id": "u", "type": "view", "item_id": "1", "ts": 1.7e9}] * 257},
        400,
        "events: Value should have at most 256 items after validation, not 257",
    ),
]


@pytest.mark.parametrize(("path", "body", "status", "needle"), BAD_HTTP)
def test_bad_inputs_http(server: str, path: str, body: dict, status: int, needle: str) -> None:
    r = httpx.post(f"{server}{path}", json=body, timeout=60)
    assert r.status_code == status, r.text
    assert needle in r.json()["error"]


def test_bad_requests_http_other(server: str) -> None:
    r = httpx.post(
        f"{server}/events", content=b'{"events": [', headers={"content-type": "application/json"}, timeout=30
    )
    assert r.status_code == 400 and r.json()["error"].startswith("body: Invalid JSON: EOF while parsing a list"), r.text
    r = httpx.post(f"{server}/mine", json={"texts": ["x" * 1000] * 5000}, timeout=30)  # ~5 MB body
    assert r.status_code == 413 and "over the limit" in r.json()["error"]
    for params, needle in [({"window": "3w"}, "window"), ({"top": 0}, "top"), ({"end": "2999-01-01T00:00:00Z"}, "end")]:
        r = httpx.get(f"{server}/trends", params=params, timeout=30)
        assert r.status_code == 400 and needle in r.json()["error"], (params, r.text)
    r = httpx.get(f"{server}/users/u/profile", params={"top": 99}, timeout=30)
    assert r.status_code == 400 and "top" in r.json()["error"]
