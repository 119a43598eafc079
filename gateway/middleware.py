"""What the HTTP and gRPC front doors share: API-key checks, and the ASGI middleware that
enforces authentication, body limits and the error body shape.

Nothing here reads the environment at import; the service passes its settings in.
"""

from __future__ import annotations

import contextlib
import hmac
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gateway.bodies import BodyRefused, utf8_body
from gateway.errors import error_message, with_arrivals
from mining.events import EVENTS_OFF
from mining.upgrades import UpgradeRecord, pid_alive, read_record

# Open without a key: orchestrators and scrapers must reach these without credentials.
OPEN_PATHS = frozenset({"/livez", "/healthz", "/readyz", "/metrics", "/ping"})


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a client sent: ``X-API-Key: <key>`` or ``Authorization: Bearer <key>`` (lower-case
    header names, as ASGI and gRPC metadata give them)."""
    if key := headers.get("x-api-key"):
        return key
    auth = headers.get("authorization", "")
    return auth[7:].strip() if auth[:7].lower() == "bearer " else None


def key_allowed(key: str | None, keys: frozenset[str]) -> bool:
    """True when authentication is off or ``key`` is one of ``keys`` (constant-time compare)."""
    if not keys:
        return True
    if not key:
        return False
    return any(hmac.compare_digest(key.encode(), k.encode()) for k in keys)


UNAUTHORIZED = "missing or invalid API key; send it as 'X-API-Key: <key>' or 'Authorization: Bearer <key>'"


async def _send_json(send: Any, status: int, body: dict[str, Any], extra: Sequence[tuple[bytes, bytes]] = ()) -> None:
    raw = json.dumps(body, ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": raw})


class GatewayMiddleware:
    """API-key check, request body limit, and one shape for every 4xx, 503 and 504 body.

    - With keys configured, every path but :data:`OPEN_PATHS` needs one (401 otherwise). Keys
      are compared in constant time and never logged.
    - A body over ``max_body_bytes`` gets 413 (by ``Content-Length`` before reading, or while
      reading a chunked body, or once decompressed); a body that is not JSON (form, multipart)
      gets 415. A compressed body, a byte-order mark or a declared charset is undone before the
      app reads the body (:func:`gateway.bodies.utf8_body`), or refused saying why.
    - BentoML answers pydantic failures with a generic ``"1 validation error for Input"`` and
      raised ``InvalidArgument`` with a list; every 4xx body is rewritten into
      ``{"error": "<field>: <rule> (got <what arrived>)", "detail": ...}`` so clients parse one
      shape; what arrived is described by :func:`gateway.errors.arrived` (a string's length,
      never its text).
    - A 501 (a deployment without an event store) says so; a 504 (a request past the traffic
      timeout, e.g. 64 texts of 2,000 Chinese characters for aspects on 2 CPU cores) gets the
      same shape, without ``Retry-After`` (the same request would time out again).
    - A 503 (separate layout: a runner's queue is over its latency budget) gets the same shape
      and ``Retry-After``.
    - With ``max_in_flight``, a request arriving while that many are being served gets 503 with
      ``Retry-After`` at once, instead of queueing without bound (health, readiness and metrics
      are always answered).
    - ``/readyz`` keeps BentoML's status code (200 once every runner is ready, 503 before) and
      answers JSON with the staged start's progress read from ``upgrades``
      (:mod:`mining.upgrades`): which encoder heads are training, swapped in or kept out.
    """

    def __init__(
        self,
        app: Any,
        api_keys: frozenset[str] = frozenset(),
        max_body_bytes: int = 4 << 20,
        max_in_flight: int = 0,
        upgrades: Path | None = None,
    ) -> None:
        self.app, self.api_keys, self.max_body_bytes = app, api_keys, max_body_bytes
        self.max_in_flight, self.in_flight = max_in_flight, 0
        self.upgrades = upgrades

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if scope.get("path") not in OPEN_PATHS and not key_allowed(presented_key(headers), self.api_keys):
            await _send_json(send, 401, {"error": UNAUTHORIZED, "detail": None}, [(b"www-authenticate", b"Bearer")])
            return
        if scope.get("path") == "/readyz" and scope.get("method", "GET") == "GET":
            await self._readyz(scope, receive, send)
            return
        if scope.get("path") in OPEN_PATHS or not self.max_in_flight:
            await self._serve(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            busy = f"server busy: {self.in_flight} requests in flight (limit {self.max_in_flight}); retry shortly"
            await _send_json(send, 503, {"error": busy, "detail": None}, [(b"retry-after", b"1")])
            return
        self.in_flight += 1
        try:
            await self._serve(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _serve(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        too_big = f"request body is over the limit of {self.max_body_bytes} bytes"
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body_bytes:
            await _send_json(send, 413, {"error": f"{too_big} (Content-Length {length})", "detail": None})
            return
        ctype_header = headers.get("content-type", "")
        ctype = ctype_header.split(";")[0].strip().lower()
        if scope.get("method") in ("POST", "PUT", "PATCH") and ctype and not _is_json(ctype):
            await _send_json(
                send, 415, {"error": f"content-type: expected application/json, got {ctype!r}", "detail": None}
            )
            return
        # The whole body is read here, up to the limit, before the app sees it: a chunked body has
        # no Content-Length, and a limit enforced while the app reads would surface as the app's
        # own error (500) instead of 413.
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                await _send_json(send, 413, {"error": too_big, "detail": None})
                return
            more = message.get("more_body", False)
        if body:
            try:
                read = utf8_body(bytes(body), headers.get("content-encoding", ""), ctype_header, self.max_body_bytes)
            except BodyRefused as refused:
                await _send_json(send, refused.status, {"error": refused.message, "detail": None})
                return
            if read != body:
                # The app sees what it would have been sent as plain UTF-8 JSON.
                said = (b"content-encoding", b"content-length", b"content-type")
                kept = [(k, v) for k, v in scope.get("headers", []) if k.lower() not in said]
                kept += [(b"content-type", b"application/json"), (b"content-length", str(len(read)).encode())]
                scope = {**scope, "headers": kept}
                body = bytearray(read)
        delivered = False

        async def replay() -> dict[str, Any]:
            nonlocal delivered
            if delivered:
                return await receive()  # after the body: the client's disconnect, when it comes
            delivered = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and (
                400 <= message["status"] < 500 or message["status"] in (501, 503, 504)
            ):
                start.update(message)
                return
            if start and message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    await self._rewrite(send, start, b"".join(chunks), bytes(body))
                return
            await send(message)

        await self.app(scope, replay, capture)

    async def _readyz(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        status = 503

        async def capture(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])

        await self.app(scope, receive, capture)
        record = read_record(self.upgrades) if self.upgrades is not None else UpgradeRecord()
        body = {
            "status": "ready" if status == 200 else "loading",
            "upgrades": {
                "running": record.pid is not None and pid_alive(record.pid),
                "models": {
                    name: e.model_dump(
                        include={"state", "served", "candidate", "metric", "served_val", "candidate_val"}
                    )
                    for name, e in record.models.items()
                },
            },
        }
        await _send_json(send, status, body)

    @staticmethod
    async def _rewrite(send: Any, start: dict[str, Any], raw: bytes, request: bytes) -> None:
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"error": raw.decode("utf-8", "replace")}
        detail = body.get("detail") if isinstance(body, dict) else body
        if start["status"] == 400 and isinstance(body, dict):
            # BentoML's validation detail carries no input; what arrived is read from the body
            # it refused (a body that is no JSON has no fields to name).
            with contextlib.suppress(ValueError, RecursionError):
                detail = body["detail"] = with_arrivals(detail, json.loads(request))
        keep = [(k, v) for k, v in start.get("headers", []) if k.lower() not in (b"content-length", b"content-type")]
        if start["status"] == 503 and not any(k.lower() == b"retry-after" for k, _ in keep):
            keep.append((b"retry-after", b"1"))  # overload is brief: the queue drains within the latency budget
        # BentoML hides the message of every 5xx; the only 501 is a deployment without events.
        error = EVENTS_OFF if start["status"] == 501 else error_message(body)
        await _send_json(send, start["status"], {"error": error, "detail": detail}, keep)


def _is_json(ctype: str) -> bool:
    """``application/json`` or a JSON media type such as ``application/problem+json``."""
    return ctype == "application/json" or (ctype.startswith("application/") and ctype.endswith("+json"))
