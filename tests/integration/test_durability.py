"""API keys, and the crash test: SIGKILL the server while events are posted, restart it on the
same store, and find every acknowledged event; on each backend (SQLite file, PostgreSQL)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.proto import demand_mining_pb2 as pb
from gateway.proto import demand_mining_pb2_grpc as pb_grpc
from mining.events import open_store
from tests.integration.conftest import Server

pytestmark = pytest.mark.integration

KEY = "test-key-123"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def guarded(
    request: pytest.FixtureRequest, trained_models: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("guarded")
    if request.param == "postgres":
        store = request.getfixturevalue("pg_cluster").database()
        env = {"DEMAND_MINING_EVENTS_URL": store}
    else:
        store = str(tmp / "events.sqlite3")
        env = {"DEMAND_MINING_EVENTS_DB": store}
    srv = Server(tmp / "serve.log", {**env, "DEMAND_MINING_API_KEYS": f"other-key,{KEY}"})
    srv.store = store  # type: ignore[attr-defined]
    try:
        yield srv.start()
    finally:
        srv.stop()


def test_api_key_required_except_health(guarded: Server) -> None:
    body = {"texts": ["fine"]}
    assert httpx.post(f"{guarded.url}/sentiment", json=body, timeout=30).status_code == 401
    r = httpx.post(f"{guarded.url}/sentiment", json=body, headers={"X-API-Key": "wrong"}, timeout=30)
    assert r.status_code == 401 and "API key" in r.json()["error"] and "wrong" not in r.text
    assert httpx.post(f"{guarded.url}/sentiment", json=body, headers={"X-API-Key": KEY}, timeout=60).status_code == 200
    assert (
        httpx.post(
            f"{guarded.url}/sentiment", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=60
        ).status_code
        == 200
    )
    assert httpx.get(f"{guarded.url}/users/u/profile", timeout=30).status_code == 401
    for open_path in ("/readyz", "/livez", "/metrics"):
        assert httpx.get(f"{guarded.url}{open_path}", timeout=30).status_code == 200
    log = guarded.log.read_text()
    assert KEY not in log and "wrong" not in log
    with grpc.insecure_channel(guarded.grpc_target) as ch:
        stub = pb_grpc.DemandMiningStub(ch)
        with pytest.raises(grpc.RpcError) as err:
            stub.Sentiment(pb.TextsRequest(texts=["fine"]), timeout=30)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        ok = stub.Sentiment(pb.TextsRequest(texts=["fine"]), metadata=[("x-api-key", KEY)], timeout=60)
        assert len(ok.results) == 1
        # Every runner answered above, so health must turn SERVING (it polls readiness every 0.5 s).
        deadline, status = time.monotonic() + 10, None
        while time.monotonic() < deadline:
            status = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=""), timeout=10).status
            if status == health_pb2.HealthCheckResponse.SERVING:
                break
            time.sleep(0.2)
        assert status == health_pb2.HealthCheckResponse.SERVING


def test_acknowledged_events_survive_sigkill(guarded: Server) -> None:
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def post(worker: int) -> None:
        with httpx.Client(headers={"X-API-Key": KEY}, timeout=30) as client:
            k = 0
            while not stop.is_set():
                keys = [f"crash-{worker}-{k}-{j}" for j in range(3)]
                events = [
                    {"key": key, "user_id": f"c{worker}", "type": "click", "item_id": str(50 + j), "ts": time.time()}
                    for j, key in enumerate(keys)
                ]
                events[0] = {**events[0], "type": "search", "text": "usb c charger", "item_id": None}
                k += 1
                try:
                    r = client.post(f"{guarded.url}/events", json={"events": events})
                except httpx.HTTPError:
                    continue  # the server died mid-request: not acknowledged, may or may not be stored
                if r.status_code == 200:
                    with lock:
                        acked.extend(x["key"] for x in r.json()["results"])
                elif r.status_code == 503:  # overloaded: a client waits as told (at most 1 s here)
                    time.sleep(min(float(r.headers.get("retry-after", "1")), 1.0))

    threads = [threading.Thread(target=post, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(acked) < 60 and time.monotonic() < deadline:
        time.sleep(0.05)
    guarded.kill()
    stop.set()
    for t in threads:
        t.join(30)
    assert len(acked) >= 60, f"only {len(acked)} events acknowledged before the kill"
    stored = open_store(guarded.store).keys()  # type: ignore[attr-defined]
    assert set(acked) <= stored, f"{len(set(acked) - stored)} acknowledged events lost"
    guarded.start()  # same store, restarted
    # The user with the most acknowledged events: on a busy machine one worker may have had none
    # acknowledged before the kill (its user then rightly has no profile).
    per_worker = Counter(k.split("-")[1] for k in acked)
    worker, n_acked = per_worker.most_common(1)[0]
    deadline = time.monotonic() + 30
    while True:  # a client retries a 503 after its Retry-After; anything else must be the profile
        r = httpx.get(f"{guarded.url}/users/c{worker}/profile", headers={"X-API-Key": KEY}, timeout=30)
        if r.status_code != 503 or time.monotonic() > deadline:
            break
        time.sleep(float(r.headers.get("retry-after", "1")))
    assert r.status_code == 200, f"{r.status_code}: {r.text}"
    assert r.json()["n_events"] >= n_acked
