"""The gateway middleware on a bare ASGI app: one error shape, Retry-After on 503, 2xx untouched."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from gateway.middleware import GatewayMiddleware


def call(status: int, body: Any) -> tuple[int, dict[bytes, bytes], Any]:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raw = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": raw})

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "path": "/sentiment", "method": "POST", "headers": [(b"content-length", b"2")]}
    asyncio.run(GatewayMiddleware(app)(scope, receive, send))
    start, payload = sent[0], b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], dict(start["headers"]), json.loads(payload)


@pytest.mark.parametrize("status", [400, 404, 503])
def test_errors_get_one_shape(status: int) -> None:
    code, headers, body = call(status, [{"error": "texts: at most 64 texts"}])
    assert code == status and body == {
        "error": "texts: at most 64 texts",
        "detail": [{"error": "texts: at most 64 texts"}],
    }
    assert (headers.get(b"retry-after") == b"1") == (status == 503)
    assert headers[b"content-length"] == str(len(json.dumps(body, ensure_ascii=False).encode())).encode()


def test_success_passes_through() -> None:
    assert call(200, {"results": [1]}) == (
        200,
        {b"content-type": b"application/json", b"content-length": b"16"},
        {"results": [1]},
    )
