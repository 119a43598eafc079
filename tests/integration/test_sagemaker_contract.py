"""The SageMaker hosting contract on the real server: GET /ping, POST /invocations routed by the
custom attribute or an envelope, and the same answers as the direct endpoints."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.integration
ATTR = "X-Amzn-SageMaker-Custom-Attributes"


def test_ping(server: str) -> None:
    r = httpx.get(f"{server}/ping", timeout=30)
    assert r.status_code == 200 and r.json() == {"status": "ready"}


def test_invocations_route_by_attribute_and_envelope(server: str) -> None:
    body = {"texts": ["质量很好", "terrible, broke in a day"]}
    direct = httpx.post(f"{server}/sentiment", json=body, timeout=60).json()
    by_attr = httpx.post(f"{server}/invocations", json=body, headers={ATTR: "route=/sentiment"}, timeout=60)
    assert by_attr.status_code == 200 and by_attr.json() == direct
    envelope = httpx.post(
        f"{server}/invocations",
        json={"route": "/recommend", "body": {"requests": {"user_id": "196", "n": 3}}},
        timeout=60,
    )
    assert envelope.status_code == 200 and len(envelope.json()["results"][0]["items"]) == 3


@pytest.mark.parametrize(
    ("headers", "body", "status", "needle"),
    [
        ({}, {"texts": ["x"]}, 400, "route: expected one of"),
        ({ATTR: "route=/nope"}, {"texts": ["x"]}, 400, "got '/nope'"),
        ({ATTR: "route=/sentiment"}, {"texts": []}, 400, "texts"),
        ({ATTR: "route=/similar-items"}, {"item_ids": ["no-such-item"]}, 404, "no-such-item"),
        ({ATTR: "route=/sentiment"}, ["not", "an", "object"], 400, "expected a JSON object"),
    ],
)
def test_invocations_errors(server: str, headers: dict, body: object, status: int, needle: str) -> None:
    r = httpx.post(f"{server}/invocations", json=body, headers=headers, timeout=60)
    assert r.status_code == status, r.text
    assert needle in r.json()["error"]


def test_boto3_invoke_client_end_to_end(server: str) -> None:
    from infra.sagemaker import InvocationError, invoke, local_runtime

    runtime = local_runtime(server)
    mined = invoke(runtime, "local", "/mine", {"texts": ["Looking for a quieter robot vacuum"]})
    assert mined["results"][0]["demand"]["intent"] == "request"
    with pytest.raises(InvocationError) as err:
        invoke(runtime, "local", "/sentiment", {"texts": []})
    assert err.value.status == 400
