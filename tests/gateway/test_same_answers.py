"""Every endpoint on a fixed payload set with a fixed clock, over HTTP, SageMaker's ``/invocations``
and gRPC, compared with recorded answers (status and body): a change to the gateway's structure
must leave each answer as it was.

``UPDATE_ANSWERS=1`` rewrites ``answers.json`` from the code under test; ``UPDATE_CALLS=1`` rewrites
``mine_calls.json``, the runner calls each ``/mine`` with a ``user_id`` makes (the answers must not
move when those counts do)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from bentoml.exceptions import ServiceUnavailable
from google.protobuf import json_format
from starlette.testclient import TestClient

import service
from gateway.grpc_server import SERVICE, build_server
from gateway.proto import demand_mining_pb2 as pb
from mining.events import EventStore, StoreUnavailable
from mining.settings import Settings
from tests.support.fakes import FakeRunner, RunnerSlot, fake_describe, fake_next, fake_runners, store_settings

HERE = Path(__file__).parent
ANSWERS, CALLS = HERE / "answers.json", HERE / "mine_calls.json"
TS = "2026-11-28T09:30:00Z"
# 2026-11-28T12:00:00Z: the gateway's and the store's clock in every case.
NOW = 1795867200.0
RUNNERS = RunnerSlot()


@pytest.fixture(scope="module")
def app() -> Iterator[Any]:
    """One ASGI app for the module, with a metrics registry of its own (as in test_pii_store), so
    it can live beside the other modules' apps in one run."""
    from bentoml._internal.configuration.containers import BentoMLContainer
    from prometheus_client import CollectorRegistry

    patch = pytest.MonkeyPatch()
    metrics = BentoMLContainer.metrics_client.get()
    assert metrics.registry is not None  # set up first: the client notes its process then
    patch.setattr(metrics, "_registry", CollectorRegistry())
    patch.setattr(service, "SETTINGS", Settings(grpc_port=0))
    patch.setattr(service, "connect_runners", RUNNERS)
    yield service.DemandMining.to_asgi()
    patch.undo()


def _runners(default: str) -> dict[str, FakeRunner]:
    runners = fake_runners()
    runners["sequence"] = FakeRunner(
        predict=fake_next,
        describe=fake_describe,
        strategy=lambda: {"default": default, "blend_weight": 0.5, "model": "f"},
    )
    return runners


class Recorder:
    """Runs requests on one transport after another and keeps each answer under its name."""

    def __init__(self, client: TestClient, runners: dict[str, FakeRunner]) -> None:
        self.client, self.runners = client, runners
        self.answers: dict[str, Any] = {}
        self.calls: dict[str, dict[str, int]] = {}
        self.instance = service.DemandMining.inner()

    def _keep(self, name: str, answer: Any) -> None:
        assert name not in self.answers, name
        self.answers[name] = json.loads(json.dumps(answer))

    def http(self, name: str, method: str, path: str, body: Any = None, count: bool = False) -> None:
        for r in self.runners.values():
            r.calls.clear()
        r = self.client.request(method, path, json=body) if body is not None else self.client.request(method, path)
        self._keep(name, {"status": r.status_code, "body": r.json()})
        if count:
            counts: dict[str, int] = {}
            for key, runner in sorted(self.runners.items()):
                for api, _ in runner.calls:
                    counts[f"{key}.{api}"] = counts.get(f"{key}.{api}", 0) + 1
            self.calls[name] = counts

    def invocations(self, name: str, route: str, body: Any) -> None:
        self.http(name, "POST", "/invocations", {"route": route, "body": body})

    def grpc(self, name: str, method: str, request: Any, reply_cls: Any) -> None:
        self._keep(name, asyncio.run(_grpc_call(self.instance.dispatch, method, request, reply_cls)))


async def _grpc_call(dispatch: Callable[..., Any], method: str, request: Any, reply_cls: Any) -> dict[str, Any]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server, _ = build_server(port, dispatch, host="127.0.0.1")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary(f"/{SERVICE}/{method}")
            try:
                raw = await call(request.SerializeToString(), timeout=30)
            except grpc.aio.AioRpcError as e:
                return {"code": e.code().name, "details": e.details()}
            reply = reply_cls.FromString(raw)
            return {"code": "OK", "body": json_format.MessageToDict(reply, preserving_proto_field_name=True)}
    finally:
        await server.stop(None)


class _Clock:
    """The ``time`` module with ``time()`` fixed at :data:`NOW`."""

    def time(self) -> float:
        return NOW

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@pytest.fixture()
def start(
    app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[dict[str, FakeRunner], Settings], Recorder]]:
    """Starts the service over the given fakes and settings, one at a time. The gateway's and the
    event store's modules read a fixed clock (gRPC's own deadlines keep the real one)."""
    clock = _Clock()
    for name, module in list(sys.modules.items()):
        if name.startswith(("gateway.", "mining.events")) and getattr(module, "time", None) is time:
            monkeypatch.setattr(module, "time", clock)
    clients: list[TestClient] = []

    def run(runners: dict[str, FakeRunner], settings: Settings) -> Recorder:
        while clients:
            clients.pop().__exit__(None, None, None)
        monkeypatch.setattr(service, "SETTINGS", settings)
        monkeypatch.setattr(RUNNERS, "runners", runners)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return Recorder(client, runners)

    yield run
    while clients:
        clients.pop().__exit__(None, None, None)


def _events(user: str, prefix: str, stated: str) -> list[dict[str, Any]]:
    return [
        {"key": f"{prefix}1", "user_id": user, "type": "click", "item_id": "5", "ts": TS},
        {"key": f"{prefix}2", "user_id": user, "type": "search", "text": stated, "ts": "2026-11-28T09:31:00Z"},
        {"key": f"{prefix}3", "user_id": user, "type": "purchase", "item_id": "50", "ts": "2026-11-28T09:32:00Z"},
        {"key": f"{prefix}4", "user_id": user, "type": "view", "item_id": "117", "ts": "2026-11-28T09:33:00Z"},
    ]


def _main_flow(rec: Recorder) -> None:
    """Every endpoint with the default strategy 'als', on a store that fills as the calls go."""
    h = rec.http
    h("sentiment", "POST", "/sentiment", {"texts": ["质量很好", "The bag was torn and stale."]})
    h("classify", "POST", "/classify", {"texts": ["Sony TV remote", "华为手机"]})
    h("ner", "POST", "/ner", {"texts": ["我想买华为手机", "Sony headphones"]})
    h("aspects", "POST", "/aspects", {"texts": ["电池太差", "The TV broke"]})
    h("keywords", "POST", "/keywords", {"texts": ["one two three four"], "top_k": 2})
    h(
        "mine",
        "POST",
        "/mine",
        {"texts": ["有没有华为的充电宝？", "Looking for a Sony TV, the old one broke"], "top_k": 3},
    )
    h("events", "POST", "/events", {"events": _events("u1", "e", "funny comedy 华为 手机 太贵")})
    h("events.retry", "POST", "/events", {"events": _events("u1", "e", "funny comedy 华为 手机 太贵")[:2]})
    mine = {"texts": ["Sony TV, write to jo@example.com please"], "user_id": "u1", "request_id": "r1", "n": 4}
    h("mine.user.items", "POST", "/mine", mine, count=True)
    h("mine.user.retry", "POST", "/mine", mine)
    fresh = {"texts": ["funny Sony TV please"], "user_id": "fresh", "request_id": "r2", "n": 3, "event_type": "search"}
    h("mine.user.no_items", "POST", "/mine", fresh, count=True)
    quiet = {"texts": ["hello there"], "user_id": "quiet", "request_id": "r3", "n": 2}
    h("mine.user.no_items.no_demand", "POST", "/mine", quiet, count=True)
    h("mine.409", "POST", "/mine", {**mine, "texts": ["something else"]})
    h("profile", "GET", "/users/u1/profile?top=5")
    h("profile.404", "GET", "/users/nobody/profile")
    h("profile.400", "GET", "/users/a%00b/profile")
    h("trends", "GET", "/trends?window=7d&end=2026-11-29T00:00:00Z&top=5")
    h("trends.now", "GET", "/trends?window=1h")
    h("trends.400", "GET", "/trends?window=5s")
    for strategy in ("als", "sequence", "blend", None):
        body = {"user_id": "u1", "n": 5, "explain": True, **({"strategy": strategy} if strategy else {})}
        h(f"recommend.{strategy}", "POST", "/recommend", {"requests": body})
    h(
        "recommend.many",
        "POST",
        "/recommend",
        {
            "requests": [
                {"user_id": "u1", "n": 3, "strategy": "sequence", "deny": ["a", "42"]},
                {"user_id": "new", "n": 2, "recent": [{"item_id": "7", "weight": 2}]},
                {"user_id": "fresh", "n": 4, "strategy": "blend"},
            ]
        },
    )
    for name, allow in (("list", ["100", "5-next", "a"]), ("empty", []), ("null", None)):
        body = {"user_id": "u1", "n": 4, "strategy": "sequence", "allow": allow}
        h(f"recommend.allow.{name}", "POST", "/recommend", {"requests": body})
        rec.invocations(f"invocations.recommend.allow.{name}", "/recommend", {"requests": body})
        rec.invocations(f"invocations.recommend.allow.{name}.listed", "/recommend", {"requests": [body]})
        user = pb.UserRequest(user_id="u1", n=4, strategy="sequence", allow=allow or [])
        rec.grpc(
            f"grpc.recommend.allow.{name}", "Recommend", pb.RecommendRequest(requests=[user]), pb.RecommendResponse
        )
    h("recommend.400", "POST", "/recommend", {"requests": {"user_id": "u1", "strategy": "magic"}})
    h("similar", "POST", "/similar-items", {"item_ids": ["1", "2"], "n": 3})
    h("similar.404", "POST", "/similar-items", {"item_ids": ["x", "1"]})
    series = {"series_id": "s1", "units": [float(k % 5) for k in range(12)], "horizon": 3}
    h("forecast", "POST", "/forecast", {"series": [series]})
    h("forecast.400", "POST", "/forecast", {"series": [{"units": [1.0] * 3, "horizon": 2}]})
    h("forecast.spec", "POST", "/forecast/spec", {})
    plan = {"series": series, "lead_time": 2, "service_level": 0.9, "on_hand": 5.0, "on_order": 1.0}
    h("inventory.plan", "POST", "/inventory/plan", plan)
    h("inventory.plan.comonotonic", "POST", "/inventory/plan", {**plan, "dependence": "comonotonic"})
    h("inventory.plan.400", "POST", "/inventory/plan", {**plan, "lead_time": 5})
    h("next.2", "GET", "/users/u1/next?n=2")
    h("next.4", "GET", "/users/u1/next?n=4")
    h("next.nobody", "GET", "/users/nobody/next")
    h("next.400", "GET", "/users/u1/next?n=0")
    h("sentiment.400", "POST", "/sentiment", {"texts": []})
    h("events.400.dup", "POST", "/events", {"events": [_events("u5", "k", "x")[0]] * 2})
    h("events.409", "POST", "/events", {"events": [{**_events("u1", "e", "other words")[1]}]})
    h("similar.400", "POST", "/similar-items", {"item_ids": []})
    rec.invocations("invocations.sentiment", "/sentiment", {"texts": ["很好"]})
    rec.invocations("invocations.mine.user", "/mine", {**quiet, "request_id": "r4"})
    rec.invocations("invocations.profile", "/profile", {"user_id": "u1", "top": 3})
    rec.invocations("invocations.profile.404", "/profile", {"user_id": "nobody"})
    rec.invocations("invocations.next", "/next", {"user_id": "u1", "n": 3})
    rec.invocations("invocations.events.409", "/events", {"events": [_events("u1", "e", "other words")[1]]})
    rec.invocations("invocations.forecast.400", "/forecast", {"series": [{"units": [1.0] * 3, "horizon": 2}]})
    rec.invocations("invocations.400", "/ner", {"texts": []})
    rec.grpc("grpc.sentiment", "Sentiment", pb.TextsRequest(texts=["很好"]), pb.LabelResponse)
    rec.grpc("grpc.sentiment.400", "Sentiment", pb.TextsRequest(texts=[]), pb.LabelResponse)
    rec.grpc("grpc.profile.404", "GetProfile", pb.ProfileRequest(user_id="nobody"), pb.Profile)
    rec.grpc("grpc.similar.404", "SimilarItems", pb.SimilarRequest(item_ids=["x"]), pb.SimilarResponse)
    rec.grpc("grpc.next", "NextItems", pb.NextRequest(user_id="u1", n=2), pb.NextNeeds)
    h("delete", "DELETE", "/users/u1")
    h("delete.profile.404", "GET", "/users/u1/profile")
    h("delete.again", "DELETE", "/users/u1")
    h("delete.400", "DELETE", "/users/" + "x" * 300)


def _by_default_strategy(rec: Recorder, default: str) -> None:
    """``/mine`` for a user with item events and for one without, under another default strategy."""
    rec.http(f"{default}.events", "POST", "/events", {"events": _events("s1", "s", "funny comedy")})
    body = {"texts": ["funny Sony TV"], "user_id": "s1", "request_id": "q1", "n": 3}
    rec.http(f"{default}.mine.user.items", "POST", "/mine", body, count=True)
    rec.http(f"{default}.mine.user.items.n1", "POST", "/mine", {**body, "request_id": "q1b", "n": 1}, count=True)
    fresh = {"texts": ["comedy please"], "user_id": "s2", "request_id": "q2", "n": 2, "event_type": "search"}
    rec.http(f"{default}.mine.user.no_items", "POST", "/mine", fresh, count=True)
    quiet = {"texts": ["hello there"], "user_id": "s3", "request_id": "q3", "n": 2}
    rec.http(f"{default}.mine.user.no_items.no_demand", "POST", "/mine", quiet, count=True)
    rec.http(f"{default}.next", "GET", "/users/s1/next?n=3")
    rec.http(f"{default}.recommend", "POST", "/recommend", {"requests": {"user_id": "s1", "n": 3}})


def _without_events(rec: Recorder) -> None:
    event = _events("u", "o", "x")[0]
    rec.http("off.events", "POST", "/events", {"events": [event]})
    rec.http("off.profile", "GET", "/users/u/profile")
    rec.http("off.trends", "GET", "/trends")
    rec.http("off.next", "GET", "/users/u/next")
    rec.http("off.delete", "DELETE", "/users/u")
    rec.http("off.mine.user", "POST", "/mine", {"texts": ["手机"], "user_id": "u", "request_id": "r"})
    rec.http("off.mine", "POST", "/mine", {"texts": ["手机"]})
    rec.http("off.recommend", "POST", "/recommend", {"requests": {"user_id": "u", "recent": [{"item_id": "1"}]}})
    rec.invocations("off.invocations.profile", "/profile", {"user_id": "u"})
    rec.invocations("off.invocations.events", "/events", {"events": [event]})
    rec.grpc("off.grpc.profile", "GetProfile", pb.ProfileRequest(user_id="u"), pb.Profile)


def _busy_store(rec: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    def locked(self: EventStore, *args: Any) -> Any:
        raise StoreUnavailable("event store unavailable: database is locked")

    for method in ("add", "profile"):
        monkeypatch.setattr(EventStore, method, locked)
    event = _events("b", "b", "x")[0]
    rec.http("busy.events", "POST", "/events", {"events": [event]})
    rec.http("busy.profile", "GET", "/users/b/profile")
    rec.invocations("busy.invocations.events", "/events", {"events": [event]})
    rec.grpc("busy.grpc.profile", "GetProfile", pb.ProfileRequest(user_id="b"), pb.Profile)
    rec.runners["sentiment"].fail = ServiceUnavailable("sentiment queue is full")
    rec.http("busy.runner", "POST", "/sentiment", {"texts": ["great"]})
    rec.invocations("busy.invocations.runner", "/sentiment", {"texts": ["great"]})


def _compare(path: Path, env: str, found: dict[str, Any]) -> None:
    if os.environ.get(env) == "1":
        path.write_text(json.dumps(found, ensure_ascii=False, indent=1, sort_keys=True) + "\n")
    recorded = json.loads(path.read_text())
    assert sorted(found) == sorted(recorded)
    assert [name for name in recorded if found[name] != recorded[name]] == []


def test_every_answer_is_the_recorded_one(
    start: Callable[[dict[str, FakeRunner], Settings], Recorder], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers: dict[str, Any] = {}
    calls: dict[str, Any] = {}
    rec = start(fake_runners(), store_settings(str(tmp_path / "main.sqlite3"), grpc_port=0))
    _main_flow(rec)
    answers |= rec.answers
    calls |= rec.calls
    for default in ("sequence", "blend"):
        rec = start(_runners(default), store_settings(str(tmp_path / f"{default}.sqlite3"), grpc_port=0))
        _by_default_strategy(rec, default)
        answers |= rec.answers
        calls |= rec.calls
    rec = start(fake_runners(), Settings(grpc_port=0, events_enabled=False))
    _without_events(rec)
    answers |= rec.answers
    rec = start(fake_runners(), store_settings(str(tmp_path / "busy.sqlite3"), grpc_port=0))
    _busy_store(rec, monkeypatch)
    answers |= rec.answers
    for allow in ("list", "empty", "null"):  # one meaning of allow, [] included, over HTTP and /invocations
        http = answers[f"recommend.allow.{allow}"]
        assert answers[f"invocations.recommend.allow.{allow}"] == answers[f"invocations.recommend.allow.{allow}.listed"]
        assert answers[f"invocations.recommend.allow.{allow}"] == http
    assert answers["recommend.allow.empty"]["body"]["results"][0]["items"] == []
    # /mine with a user: one call of each model, one look-up in the items table
    for name, counts in calls.items():
        assert counts["recall.predict"] == 1 and counts.get("sequence.predict", 0) <= 1, name
        assert counts.get("sequence.describe", 0) <= 1, name
    _compare(ANSWERS, "UPDATE_ANSWERS", answers)
    _compare(CALLS, "UPDATE_CALLS", calls)
