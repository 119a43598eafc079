"""The gRPC transport in process, over a fake dispatcher: undecodable messages are the client's
error, request errors keep their status and message, and no exception text reaches a client."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import grpc
import pytest

from gateway.errors import RequestError
from gateway.grpc_server import SERVICE, build_server
from gateway.proto import demand_mining_pb2 as pb


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _dispatch(rpc: str, payload: dict[str, Any]) -> dict[str, Any]:
    texts = payload.get("texts") or []
    if not texts:
        raise RequestError(400, "texts: Value should have at least 1 item after validation, not 0")
    if texts[0] == "boom":
        raise RuntimeError("secret internals /srv/app.py line 7")
    if texts[0] == "slow":
        await asyncio.sleep(5)
    return {"results": [{"lang": "en", "label": "positive", "score": 0.9, "probabilities": {}, "model": "m"}]}


async def _call(method: str, body: bytes, **limits: Any) -> tuple[grpc.StatusCode, str, bytes | None]:
    port = _free_port()
    server, _ = build_server(port, _dispatch, host="127.0.0.1", **limits)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary(f"/{SERVICE}/{method}")  # raw bytes both ways
            try:
                reply = await call(body, timeout=10)
            except grpc.aio.AioRpcError as e:
                return e.code(), e.details() or "", None
            return grpc.StatusCode.OK, "", reply
    finally:
        await server.stop(None)


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xff\xff\xff",  # not a protobuf message
        b"\x0a\x02\xff\xfe",  # field 1 (texts) holding bytes that are not UTF-8
    ],
)
def test_undecodable_message_is_invalid_argument(body: bytes) -> None:
    code, details, _ = asyncio.run(_call("Sentiment", body))
    assert (code, details) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "request: not a valid demandmining.v1.TextsRequest message",
    )


def test_request_errors_keep_their_message_and_failures_hide_theirs() -> None:
    code, details, _ = asyncio.run(_call("Sentiment", pb.TextsRequest(texts=[]).SerializeToString()))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("texts: Value should have at least 1 item")
    code, details, _ = asyncio.run(_call("Sentiment", pb.TextsRequest(texts=["boom"]).SerializeToString()))
    assert code == grpc.StatusCode.INTERNAL and "secret" not in details and "RuntimeError" not in details
    code, _, reply = asyncio.run(_call("Sentiment", pb.TextsRequest(texts=["fine"]).SerializeToString()))
    assert code == grpc.StatusCode.OK and reply is not None
    assert pb.LabelResponse.FromString(reply).results[0].label == "positive"


def test_transport_limits_match_http() -> None:
    big = pb.TextsRequest(texts=["x" * 2000]).SerializeToString()
    code, _, _ = asyncio.run(_call("Sentiment", big, max_message_bytes=1024))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    code, details, _ = asyncio.run(
        _call("Sentiment", pb.TextsRequest(texts=["slow"]).SerializeToString(), timeout_s=0.2)
    )
    assert (code, details) == (grpc.StatusCode.DEADLINE_EXCEEDED, "Sentiment: no answer within 0.2 s")
