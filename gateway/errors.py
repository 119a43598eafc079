"""One error format for every transport: a readable line naming each failing field and the rule
it broke, and the status it maps to over HTTP and gRPC."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from bentoml.exceptions import BentoMLException, InvalidArgument, NotFound, ServiceUnavailable
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from mining.events import EventsDisabled, KeyConflict, StoreUnavailable


def _loc(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def error_message(body: Any) -> str:
    """One readable line from an error body, naming each failing field and the rule it broke,
    e.g. ``texts[0]: String should have at most 2000 characters``.

    Accepts BentoML's bodies (``{"error", "detail": [pydantic errors]}``, or raised exceptions
    list-wrapped) and pydantic's ``ValidationError.errors()`` wrapped as ``{"detail": [...]}``.
    """
    if isinstance(body, list):
        return "; ".join(error_message(b) for b in body)
    if not isinstance(body, dict):
        return str(body)
    detail = body.get("detail")
    if isinstance(detail, list) and detail and all(isinstance(d, dict) for d in detail):
        return "; ".join(f"{_loc(d.get('loc', []))}: {d.get('msg', '')}" for d in detail)
    if isinstance(detail, str) and "error" not in body:
        return detail
    return str(body.get("error", body))


def validation_message(errors: Sequence[Mapping[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """(one-line message, detail list) from pydantic errors. FastAPI prefixes locations with
    "query"/"path"/"body"; that prefix is dropped so HTTP and gRPC name fields alike."""
    detail = [
        {
            "loc": list(e.get("loc", ()))[1:]
            if e.get("loc", ("",))[0] in ("query", "path", "body")
            else list(e.get("loc", ())),
            "msg": e.get("msg", ""),
            "type": e.get("type", ""),
        }
        for e in errors
    ]
    return error_message({"detail": detail}), detail


class RequestError(BentoMLException):
    """A refusal with the HTTP status every transport answers it with: BentoML's routes read its
    ``error_code``, the read routes and ``/invocations`` its ``status``, gRPC maps that with
    :data:`GRPC_CODES`. ``detail``: the failing fields, for validation errors."""

    def __init__(self, status: int, message: str, detail: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message, error_code=HTTPStatus(status))
        self.status, self.detail = status, detail


def request_error(exc: BaseException) -> RequestError | None:
    """The one mapping of the gateway's exceptions to what a client is told: validation 400, not
    found 404, a reused idempotency key 409, no event store 501, a busy store or runner 503 (it
    may be retried). None for anything else: a server fault, answered 500 without its text."""
    if isinstance(exc, RequestError):
        return exc
    if isinstance(exc, ValidationError | RequestValidationError):
        message, detail = validation_message(list(exc.errors()))
        return RequestError(400, message, detail)
    for kinds, status in _STATUS:
        if isinstance(exc, kinds):
            return RequestError(status, str(exc))
    return None


_STATUS: tuple[tuple[tuple[type[BaseException], ...], int], ...] = (
    ((InvalidArgument,), 400),
    ((NotFound,), 404),
    ((KeyConflict,), 409),
    ((EventsDisabled,), 501),
    ((StoreUnavailable, ServiceUnavailable), 503),
)


# HTTP status -> grpc.StatusCode name (resolved lazily: grpc is imported only by the gRPC server).
GRPC_CODES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    413: "RESOURCE_EXHAUSTED",
    422: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
