"""Fuzzing a real server: hostile JSON for every route (wrong types, huge and tiny numbers, deep
nesting, odd Unicode, schema-shaped bodies with random leaves) must get a 4xx that names what was
wrong, or a 200 that fits the response schema; never a 5xx. On each event store (SQLite,
PostgreSQL); bounded to about a minute each."""

from __future__ import annotations

import json
import string
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from gateway.schemas import (
    AspectsResponse,
    ClassifyResponse,
    EventsResponse,
    ForecastResponse,
    KeywordsResponse,
    MineResponse,
    NerResponse,
    RecommendResponse,
    ReplyResponse,
    SentimentResponse,
    Trends,
)
from tests.integration.conftest import Server

pytestmark = pytest.mark.integration

RESPONSES: dict[str, type[BaseModel]] = {
    "/sentiment": SentimentResponse,
    "/classify": ClassifyResponse,
    "/ner": NerResponse,
    "/aspects": AspectsResponse,
    "/keywords": KeywordsResponse,
    "/mine": MineResponse,
    "/reply": ReplyResponse,
    "/events": EventsResponse,
    "/recommend": RecommendResponse,
    "/forecast": ForecastResponse,
    "/trends": Trends,
}
POSTS = [*RESPONSES.keys() - {"/trends"}, "/similar-items", "/inventory/plan", "/invocations"]
FIELDS = [
    "texts", "text", "top_k", "user_id", "event_type", "request_id", "n", "events", "key", "type", "item_id",
    "ts", "requests", "recent", "allow", "deny", "explain", "item_ids", "series", "units", "horizon",
    "covariates", "future_covariates", "lead_time", "service_level", "on_hand", "route", "body", "order_id", "status",
    "history", "k",
]  # fmt: skip

odd_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from("\u200b\u202e\ufeff＠．"),
    max_size=40,
)
leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | odd_text
    | st.sampled_from(["2026-11-28T09:30:00Z", "purchase", "review", "/mine", "/forecast", "1e309", "", " "])
)
json_value = st.recursive(
    leaf,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.sampled_from(FIELDS) | odd_text, inner, max_size=6),
    max_leaves=30,
)
shaped = st.dictionaries(st.sampled_from(FIELDS), json_value, min_size=1, max_size=6)


def _check(r: httpx.Response, path: str) -> None:
    assert r.status_code < 500 or (r.status_code == 503 and "retry-after" in r.headers), (path, r.status_code, r.text)
    if 400 <= r.status_code < 500:
        body = r.json()
        assert isinstance(body.get("error"), str) and body["error"], (path, r.text)
        assert "Traceback" not in r.text and "Error(" not in body["error"], (path, r.text)
    elif r.status_code == 200 and path in RESPONSES:
        RESPONSES[path].model_validate(r.json())


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def client(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The session's server (SQLite event store), then one on a PostgreSQL database: every
    example runs against both stores."""
    if request.param == "sqlite":
        with httpx.Client(base_url=request.getfixturevalue("server"), timeout=60) as c:
            yield c
        return
    request.getfixturevalue("trained_models")
    url = request.getfixturevalue("pg_cluster").database()
    srv = Server(tmp_path_factory.mktemp("fuzz-pg") / "serve.log", {"DEMAND_MINING_EVENTS_URL": url})
    try:
        srv.start()
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            yield c
    finally:
        srv.stop()


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(path=st.sampled_from(POSTS), body=json_value | shaped)
def test_post_bodies_never_5xx(client: httpx.Client, path: str, body: Any) -> None:
    _check(client.post(path, content=json.dumps(body), headers={"content-type": "application/json"}), path)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(
    raw=st.binary(max_size=200)
    | st.sampled_from([b"[" * 5000, b'{"texts": ' + b"[" * 3000, b"\xff\xfe", b'{"texts": ["a"]', b"Infinity"]),
    path=st.sampled_from(POSTS),
    ctype=st.sampled_from(
        ["application/json", "text/plain", "multipart/form-data", "", "application/json; charset=gbk"]
        + ["application/json; charset=utf-16", "application/json; charset=rot13", "application/json; charset=x"]
    ),
    coding=st.sampled_from(["", "gzip", "deflate", "br", "gzip, gzip"]),
)
def test_broken_bodies_never_5xx(client: httpx.Client, raw: bytes, path: str, ctype: str, coding: str) -> None:
    headers = {"content-type": ctype} if ctype else {}
    if coding:
        headers["content-encoding"] = coding
    _check(client.post(path, content=raw, headers=headers), path)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(
    user=st.text(alphabet=string.printable, min_size=1, max_size=300),
    query=st.dictionaries(st.sampled_from(["window", "end", "top", "min_count"]), odd_text, max_size=4),
)
def test_reads_and_deletes_never_5xx(client: httpx.Client, user: str, query: dict[str, str]) -> None:
    _check(client.get("/trends", params=query), "/trends")
    path = "/users/" + quote(user, safe="")
    _check(client.get(f"{path}/profile", params={"top": query.get("top", "5")}), "/profile")
    _check(client.delete(path), "/delete")
