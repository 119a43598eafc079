"""Next needs on a real server: /users/{id}/next reads the stored events at request time,
/recommend runs each strategy, and a stated need lifts matching items with the reason in explain."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.integration.conftest import named_with_fallback

pytestmark = pytest.mark.integration


def test_next_items_follow_posted_events(server: str, trained_models: dict[str, str]) -> None:
    now = time.time()
    first = [
        {"key": "q1", "user_id": "next-it", "type": "view", "item_id": "50", "ts": now - 30},
        {"key": "q2", "user_id": "next-it", "type": "click", "item_id": "181", "ts": now - 20},
    ]
    assert httpx.post(f"{server}/events", json={"events": first}, timeout=60).json()["stored"] == 2
    before = httpx.get(f"{server}/users/next-it/next", params={"n": 5}, timeout=60)
    assert before.status_code == 200, before.text
    b = before.json()
    assert (
        b["source"] == "sequence"
        and named_with_fallback(b["model"], trained_models["sequence"])
        and b["reason"] is None
    )
    assert [(e["item_id"], e["type"]) for e in b["sequence"]] == [("50", "view"), ("181", "click")]
    assert len(b["items"]) == 5 and not {"50", "181"} & {i["item_id"] for i in b["items"]}
    assert all(i["title"] and i["categories"] for i in b["items"])  # the MovieLens items table
    assert b["categories"] and abs(sum(c["share"] for c in b["categories"]) - 1.0) < 1e-6
    buy = {"key": "q3", "user_id": "next-it", "type": "purchase", "item_id": "100", "ts": now - 10}
    assert httpx.post(f"{server}/events", json={"events": [buy]}, timeout=60).json()["stored"] == 1
    after = httpx.get(f"{server}/users/next-it/next", params={"n": 5}, timeout=60).json()
    assert [e["item_id"] for e in after["sequence"]] == ["50", "181", "100"]
    assert [(i["item_id"], i["score"]) for i in after["items"]] != [(i["item_id"], i["score"]) for i in b["items"]]
    assert "100" not in {i["item_id"] for i in after["items"]}
    cold = httpx.get(f"{server}/users/never-seen/next", timeout=60).json()
    assert cold["source"] == "popularity" and "0 known item events" in cold["reason"]


def test_recommend_strategies_and_a_stated_need(server: str) -> None:
    now = time.time()
    events = [
        {"key": "w1", "user_id": "wants-comedy", "type": "click", "item_id": "1", "ts": now - 30},
        {"key": "w2", "user_id": "wants-comedy", "type": "search", "text": "looking for a comedy", "ts": now - 20},
    ]
    assert httpx.post(f"{server}/events", json={"events": events}, timeout=120).json()["stored"] == 2
    for strategy in ("als", "sequence", "blend"):
        body = {"requests": {"user_id": "wants-comedy", "n": 10, "strategy": strategy, "explain": True}}
        r = httpx.post(f"{server}/recommend", json=body, timeout=60)
        assert r.status_code == 200, r.text
        result = r.json()["results"][0]
        assert result["strategy"] == strategy and len(result["items"]) == 10
        # "comedy" was a keyword of the search: comedies among the candidates are lifted, and say so
        assert "comedy" in result["demand"], result
        lifted = [i for i in result["items"] if i["demand"]]
        assert lifted and all("comedy" in i["demand"] for i in lifted)
    plain = httpx.post(f"{server}/recommend", json={"requests": {"user_id": "no-needs", "n": 5}}, timeout=60).json()
    assert plain["results"][0]["demand"] == []
