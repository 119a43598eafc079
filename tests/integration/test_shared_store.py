"""Two ``bentoml serve`` instances on one PostgreSQL database, as behind a load balancer: what one
stores, the other reads; keys, conflicts and deletions hold across them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from tests.integration.conftest import Server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pair(
    trained_models: dict[str, str], pg_cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    url = pg_cluster.database()
    tmp = tmp_path_factory.mktemp("shared")
    a = Server(tmp / "a.log", {"DEMAND_MINING_EVENTS_URL": url, "DEMAND_MINING_WORKERS": "1"})
    b = Server(tmp / "b.log", {"DEMAND_MINING_EVENTS_URL": url, "DEMAND_MINING_WORKERS": "1"})
    try:
        yield a.start(), b.start()
    finally:
        a.stop()
        b.stop()


def test_events_posted_to_one_instance_are_read_identically_from_the_other(pair: tuple[Server, Server]) -> None:
    a, b = pair
    now = time.time()
    texts = [
        "华为手机电池不耐用，充电很慢",
        "The Sony headphones sound great but the battery dies fast",
        "想买一台联想笔记本电脑，预算五千",
        "Samsung TV screen cracked on arrival, want a refund",
    ]
    events = [
        {
            "key": f"s{k}",
            "user_id": f"shared-{k % 2}",
            "type": "review",
            "text": t,
            "item_id": str(50 + k),
            "ts": now - k,
        }
        for k, t in enumerate(texts)
    ]
    events += [{"key": "p1", "user_id": "shared-0", "type": "purchase", "item_id": "50", "ts": now}]
    r = httpx.post(f"{a.url}/events", json={"events": events}, timeout=120)
    assert r.status_code == 200 and r.json()["stored"] == 5, r.text
    end = datetime.fromtimestamp(now + 60, UTC).isoformat()
    for user in ("shared-0", "shared-1"):
        from_a = httpx.get(f"{a.url}/users/{user}/profile", timeout=30).json()
        from_b = httpx.get(f"{b.url}/users/{user}/profile", timeout=30).json()
        assert from_a == from_b and from_b["n_events"] == (3 if user == "shared-0" else 2)
    params = {"window": "1h", "end": end}
    trends_a = httpx.get(f"{a.url}/trends", params=params, timeout=30).json()
    trends_b = httpx.get(f"{b.url}/trends", params=params, timeout=30).json()
    assert trends_a == trends_b and trends_b["events"]["current"] == 5

    # A client retrying through the other instance: the same event is a duplicate, another body a 409.
    retry = httpx.post(f"{b.url}/events", json={"events": events[:1]}, timeout=120)
    assert retry.status_code == 200 and retry.json()["results"][0]["status"] == "duplicate", retry.text
    assert retry.json()["results"][0]["id"] == r.json()["results"][0]["id"]
    reused = httpx.post(f"{b.url}/events", json={"events": [{**events[0], "text": "另一条评论"}]}, timeout=120)
    assert reused.status_code == 409 and "key 's0'" in reused.json()["error"], reused.text

    # Recommendations on either instance fold in the purchase stored through the first.
    rec = httpx.post(f"{b.url}/recommend", json={"requests": {"user_id": "shared-0", "n": 3}}, timeout=60).json()
    assert rec["results"][0]["history_events"] == 3  # reviews of items 50 and 52, the purchase of 50

    # Deleting through one instance removes the user for both.
    gone = httpx.delete(f"{b.url}/users/shared-1", timeout=30)
    assert gone.status_code == 200 and gone.json()["events"] == 2, gone.text
    assert httpx.get(f"{a.url}/users/shared-1/profile", timeout=30).status_code == 404
    after = httpx.get(f"{a.url}/trends", params=params, timeout=30).json()
    assert after == httpx.get(f"{b.url}/trends", params=params, timeout=30).json()
    assert after["events"]["current"] == 3
