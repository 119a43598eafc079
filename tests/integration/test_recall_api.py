"""/recommend and /similar-items on a real server, over ALS trained on MovieLens-100k."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.integration


def test_recommend_known_new_and_unknown_users(server: str, trained_models: dict[str, str]) -> None:
    body = {
        "requests": [
            {"user_id": "196", "n": 5, "explain": True},
            {
                "user_id": "new-user",
                "n": 5,
                "recent": [
                    {"item_id": "50", "weight": 5},
                    {"item_id": "172", "weight": 4},
                    {"item_id": "no-such-item"},
                ],
            },
            {"user_id": "nobody", "n": 3, "deny": ["50"]},
            {"user_id": "196", "n": 3, "allow": ["50", "100", "181", "258"], "exclude_seen": False},
        ]
    }
    r = httpx.post(f"{server}/recommend", json=body, timeout=60)
    assert r.status_code == 200, r.text
    known, new, cold, allowed = r.json()["results"]
    assert known["source"] == "als" and len(known["items"]) == 5 and known["model"] == trained_models["recall"]
    assert all(item["because"] for item in known["items"])
    assert new["source"] == "als_folded_in" and new["unknown_items"] == ["no-such-item"]
    assert not {"50", "172"} & {i["item_id"] for i in new["items"]}  # what they just saw is excluded
    assert cold["source"] == "popularity" and "50" not in [i["item_id"] for i in cold["items"]]
    assert {i["item_id"] for i in allowed["items"]} <= {"50", "100", "181", "258"} and len(allowed["items"]) == 3
    one = httpx.post(f"{server}/recommend", json={"requests": {"user_id": "196", "n": 5}}, timeout=60).json()
    assert [i["item_id"] for i in one["results"][0]["items"]] == [i["item_id"] for i in known["items"]]


def test_similar_items(server: str) -> None:
    r = httpx.post(f"{server}/similar-items", json={"item_ids": ["50", "181"], "n": 4}, timeout=60)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["item_id"] for x in results] == ["50", "181"]
    assert all(len(x["similar"]) == 4 and x["item_id"] not in [s["item_id"] for s in x["similar"]] for x in results)
    r = httpx.post(f"{server}/similar-items", json={"item_ids": ["50", "no-such-item"]}, timeout=60)
    assert r.status_code == 404 and "no-such-item" in r.json()["error"]


@pytest.mark.parametrize(
    ("route", "body", "message"),
    [
        ("/recommend", {"requests": []}, "requests: Value should have at least 1 item"),
        ("/recommend", {"requests": [{"n": 5}]}, "requests[0].user_id: Field required"),
        (
            "/recommend",
            {"requests": [{"user_id": "1", "n": 0}]},
            "requests[0].n: Input should be greater than or equal to 1",
        ),
        (
            "/recommend",
            {"requests": [{"user_id": "1", "recent": [{"item_id": "5", "weight": -1}]}]},
            "requests[0].recent[0].weight: Input should be greater than 0",
        ),
        (
            "/recommend",
            {"requests": [{"user_id": " "}]},
            "requests[0].user_id: String should have at least 1 character",
        ),
        ("/similar-items", {"item_ids": []}, "item_ids: Value should have at least 1 item"),
        ("/similar-items", {"item_ids": ["50"], "n": 101}, "n: Input should be less than or equal to 100"),
    ],
)
def test_bad_input(server: str, route: str, body: object, message: str) -> None:
    r = httpx.post(f"{server}{route}", json=body, timeout=60)
    assert r.status_code == 400 and message in r.json()["error"], r.text
