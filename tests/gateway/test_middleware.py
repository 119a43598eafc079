"""The gateway middleware on a bare ASGI app: one error shape, Retry-After on 503, 2xx untouched."""

from __future__ import annotations

import asyncio
import codecs
import gzip
import json
import zlib
from typing import Any

import pytest

from gateway.middleware import GatewayMiddleware


def _through(
    middleware: GatewayMiddleware, path: str, request: bytes, headers: list[tuple[bytes, bytes]]
) -> list[dict[str, Any]]:
    """The messages ``middleware`` sends for one POST of ``request`` to ``path``."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": request, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(middleware({"type": "http", "path": path, "method": "POST", "headers": headers}, receive, send))
    return sent


def call(status: int, body: Any, request: bytes = b"{}") -> tuple[int, dict[bytes, bytes], Any]:
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

    length = str(len(request)).encode()
    sent = _through(GatewayMiddleware(app), "/sentiment", request, [(b"content-length", length)])
    start, payload = sent[0], b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], dict(start["headers"]), json.loads(payload)


@pytest.mark.parametrize("status", [400, 404, 503, 504])
def test_errors_get_one_shape(status: int) -> None:
    code, headers, body = call(status, [{"error": "texts: at most 64 texts"}])
    assert code == status and body == {
        "error": "texts: at most 64 texts",
        "detail": [{"error": "texts: at most 64 texts"}],
    }
    assert (headers.get(b"retry-after") == b"1") == (status == 503)
    assert headers[b"content-length"] == str(len(json.dumps(body, ensure_ascii=False).encode())).encode()


BENTOML_400 = {
    "error": "1 validation error for Input",
    "detail": [{"loc": ["texts", 0], "msg": "String should have at most 2000 characters", "type": "string_too_long"}],
}


def test_a_400_says_what_arrived_read_from_the_refused_body() -> None:
    """BentoML's detail has no input: the middleware reads the location in the body it forwarded,
    and says the string's length, not its text."""
    secret = "mail me at someone@example.com " * 70
    code, _, body = call(400, BENTOML_400, json.dumps({"texts": [secret]}).encode())
    assert code == 400 and body["error"] == (
        f"texts[0]: String should have at most 2000 characters (got a string of {len(secret)} characters)"
    )
    assert body["detail"][0]["arrived"] == f"a string of {len(secret)} characters"
    assert "example.com" not in json.dumps(body)


@pytest.mark.parametrize("request_body", [b"not json", b"\xff\xfe", b"[" * 5000 + b"]" * 5000])
def test_a_400_for_a_body_that_is_no_json_is_left_as_the_rule(request_body: bytes) -> None:
    code, _, body = call(400, BENTOML_400, request_body)
    assert code == 400 and body["error"] == "texts[0]: String should have at most 2000 characters"


def test_success_passes_through() -> None:
    assert call(200, {"results": [1]}) == (
        200,
        {b"content-type": b"application/json", b"content-length": b"16"},
        {"results": [1]},
    )


def test_requests_over_the_in_flight_limit_get_503_at_once() -> None:
    release = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        if scope["path"] != "/readyz":
            await release.wait()  # a slow model call
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def scenario() -> list[tuple[int, dict[bytes, bytes]]]:
        middleware = GatewayMiddleware(app, max_in_flight=2)

        async def one(path: str) -> tuple[int, dict[bytes, bytes]]:
            sent: list[dict[str, Any]] = []

            async def receive() -> dict[str, Any]:
                return {"type": "http.request", "body": b"{}", "more_body": False}

            async def send(message: dict[str, Any]) -> None:
                sent.append(message)

            scope = {"type": "http", "path": path, "method": "POST", "headers": []}
            await middleware(scope, receive, send)
            return sent[0]["status"], dict(sent[0].get("headers", []))

        slow = [asyncio.create_task(one("/sentiment")) for _ in range(2)]
        await asyncio.sleep(0.01)
        third = await one("/sentiment")  # answered while the two are still running
        health = await one("/readyz")  # never limited
        release.set()
        done = [*(await asyncio.gather(*slow)), third, health]
        assert middleware.in_flight == 0  # every finished request left the count
        return done

    (a, _), (b, _), (third, headers), (health, _) = asyncio.run(scenario())
    assert (a, b, third, health) == (200, 200, 503, 200)
    assert headers[b"retry-after"] == b"1"


@pytest.mark.parametrize("status", [200, 503])
def test_readyz_keeps_its_status_and_shows_the_staged_start(status: int, tmp_path: Any) -> None:
    from mining.upgrades import UpgradeEntry, UpgradeRecord, record_path, write_record

    path = record_path(tmp_path)
    write_record(
        path,
        UpgradeRecord(
            pid=None,
            models={
                "ner-zh": UpgradeEntry(
                    state="swapped",
                    served="ner-zh:a",
                    candidate="ner-zh:b",
                    metric="val_entity_f1",
                    served_val=0.78,
                    candidate_val=0.79,
                    reason="r",
                ),
                "sentiment-zh": UpgradeEntry(state="training", served="sentiment-zh:a"),
            },
        ),
    )

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"."})

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "path": "/readyz", "method": "GET", "headers": []}
    asyncio.run(GatewayMiddleware(app, frozenset({"secret"}), upgrades=path)(scope, receive, send))
    assert sent[0]["status"] == status  # open without a key, status as BentoML decided
    body = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))
    assert body["status"] == ("ready" if status == 200 else "loading")
    assert body["upgrades"]["running"] is False
    assert body["upgrades"]["models"]["ner-zh"] == {
        "state": "swapped",
        "served": "ner-zh:a",
        "candidate": "ner-zh:b",
        "metric": "val_entity_f1",
        "served_val": 0.78,
        "candidate_val": 0.79,
    }
    assert body["upgrades"]["models"]["sentiment-zh"]["state"] == "training"


def echo(
    request: bytes, headers: list[tuple[bytes, bytes]], limit: int = 4 << 20
) -> tuple[int, Any, dict[bytes, bytes]]:
    """Status, what the app read (the JSON it parsed, or the refusal's body) and the headers it saw."""
    seen: dict[bytes, bytes] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.update(scope["headers"])
        message = await receive()
        raw = json.dumps(json.loads(message["body"]), ensure_ascii=False).encode()  # json.loads takes no BOM
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": raw})

    sent = _through(GatewayMiddleware(app, max_body_bytes=limit), "/mine", request, headers)
    return sent[0]["status"], json.loads(b"".join(m.get("body", b"") for m in sent[1:])), seen


BODY = {"texts": ["质量很好 𠀀", "café"]}
PLAIN = json.dumps(BODY, ensure_ascii=False)
JSON_TYPE = (b"content-type", b"application/json")


@pytest.mark.parametrize(
    ("raw", "headers"),
    [
        (gzip.compress(PLAIN.encode()), [JSON_TYPE, (b"content-encoding", b"gzip")]),
        (gzip.compress(PLAIN.encode()), [JSON_TYPE, (b"Content-Encoding", b"x-gzip, identity")]),
        (zlib.compress(PLAIN.encode()), [JSON_TYPE, (b"content-encoding", b"deflate")]),
        (zlib.compress(PLAIN.encode())[2:-4], [JSON_TYPE, (b"content-encoding", b"deflate")]),  # raw deflate
        (codecs.BOM_UTF8 + PLAIN.encode(), [JSON_TYPE]),
        (PLAIN.encode("utf-16"), [JSON_TYPE]),
        (codecs.BOM_UTF16_BE + PLAIN.encode("utf-16-be"), [(b"content-type", b"application/json; charset=utf-8")]),
        (PLAIN.encode("utf-32"), [JSON_TYPE]),
        (PLAIN.encode("gb18030"), [(b"content-type", b'application/json; charset="GBK"')]),
        (PLAIN.encode("utf-16-le"), [(b"content-type", b"application/json;charset=utf-16le")]),
        (gzip.compress(codecs.BOM_UTF8 + PLAIN.encode()), [JSON_TYPE, (b"content-encoding", b"gzip")]),
        # two gzip members one after the other (cat a.gz b.gz): both read
        (
            gzip.compress(PLAIN.encode()[:9]) + gzip.compress(PLAIN.encode()[9:]),
            [JSON_TYPE, (b"content-encoding", b"gzip")],
        ),
    ],
)
def test_a_body_is_read_as_the_client_sent_it(raw: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    """Compressed, with a byte-order mark or in a declared charset: the app parses plain UTF-8
    JSON, and its headers say so."""
    code, body, seen = echo(raw, [*headers, (b"content-length", str(len(raw)).encode())])
    assert (code, body) == (200, BODY)
    assert b"content-encoding" not in {k.lower() for k in seen}
    assert seen[b"content-type"] == b"application/json"
    assert seen[b"content-length"] == str(len(PLAIN.encode())).encode()


def test_a_plain_utf8_body_reaches_the_app_untouched() -> None:
    headers = [JSON_TYPE, (b"content-length", str(len(PLAIN.encode())).encode()), (b"x-request-id", b"r1")]
    code, body, seen = echo(PLAIN.encode(), headers)
    assert (code, body, seen) == (200, BODY, dict(headers))


@pytest.mark.parametrize(
    ("raw", "headers", "status", "error"),
    [
        (
            PLAIN.encode("gb18030"),
            [JSON_TYPE],
            400,
            "body: not valid UTF-8 text: byte 0xD6 at position 12; send UTF-8, or name the encoding sent"
            " (Content-Type: application/json; charset=gb18030)",
        ),
        (
            PLAIN.encode()[:13],
            [JSON_TYPE],
            400,
            "body: not valid UTF-8 text: byte 0xE8 at position 12 ends mid-character; send",
        ),
        (b"{}", [(b"content-type", b"application/json; charset=klingon")], 415, "content-type: charset 'klingon'"),
        (b"{}", [(b"content-type", b"application/json; charset=rot13")], 415, "content-type: charset 'rot13'"),
        (b"{}", [(b"content-type", b"application/json; charset=base64")], 415, "content-type: charset 'base64'"),
        (b"{}", [JSON_TYPE, (b"content-encoding", b"br")], 415, "content-encoding: expected one of gzip, deflate"),
        (PLAIN.encode(), [JSON_TYPE, (b"content-encoding", b"gzip")], 400, "body: Content-Encoding gzip, but the"),
        (gzip.compress(PLAIN.encode())[:-12], [JSON_TYPE, (b"content-encoding", b"gzip")], 400, "body: Content"),
        (gzip.compress(b" " * 5000), [JSON_TYPE, (b"content-encoding", b"gzip")], 413, "request body is over the"),
        (
            gzip.compress(b"{}") + b"junk",
            [JSON_TYPE, (b"content-encoding", b"gzip")],
            400,
            "body: Content-Encoding gzip, but data follows",
        ),
        (gzip.compress(gzip.compress(b" " * 5000)), [JSON_TYPE, (b"content-encoding", b"gzip, gzip")], 413, "req"),
    ],
)
def test_a_body_that_cannot_be_read_is_refused_saying_why(
    raw: bytes, headers: list[tuple[bytes, bytes]], status: int, error: str
) -> None:
    code, body, _ = echo(raw, headers, limit=4096)
    assert code == status and body["error"].startswith(error), body


def test_a_compressed_bomb_is_refused_before_it_fills_memory() -> None:
    """100 MB of spaces in a 100 KB gzip body: decompression stops past the limit."""
    bomb = gzip.compress(b" " * (100 << 20), 9)
    code, body, _ = echo(bomb, [JSON_TYPE, (b"content-encoding", b"gzip")], limit=1 << 20)
    assert len(bomb) < 200_000 and code == 413
    assert body["error"] == "request body is over the limit of 1048576 bytes once decompressed (gzip)"
