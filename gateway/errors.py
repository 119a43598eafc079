"""One error format for every transport: a readable line naming each failing field, the rule it
broke and what arrived there, and the status it maps to over HTTP and gRPC."""

from __future__ import annotations

import contextlib
import json
import re
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


# Numbers up to this many characters of JSON are echoed; a longer one may be a phone, card or ID
# number, so only its digit count is said.
MAX_ECHOED_NUMBER = 8
# Rules whose own message already says what arrived ("..., not 65", "..., got 3").
_STATES_ARRIVAL = re.compile(r"(, not \d+|\bgot\b.*)$")
_ABSENT = object()
# A missing field, and a body that is no JSON to the server's parser (which refuses lone UTF-16
# surrogates that Python's json module reads): nothing of the request is at the location.
_NOTHING_ARRIVED = frozenset({"missing", "json_invalid"})
# Rules checked on a number: a string that reached them is a number sent as text (a query
# parameter, a gRPC int64), so it is said as the number.
_NUMBER_RULES = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal", "multiple_of"})


def arrived(value: Any) -> str:
    """What arrived at a failing field, for a refusal: JSON's ``null``/``true``/``false``, a
    short number as sent, else the kind and size (``a string of 2431 characters``, ``an array of 3
    items``, ``an object with 2 fields``, ``a number of 16 digits``). A string's text is never
    said: it may hold personal data, and a refusal is logged and returned as it is."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int | float):
        text = json.dumps(value)
        return text if len(text) <= MAX_ECHOED_NUMBER else f"a number of {sum(c.isdigit() for c in text)} digits"
    if isinstance(value, str):
        return f"a string of {len(value)} character{'' if len(value) == 1 else 's'}"
    if isinstance(value, list | tuple):
        return f"an array of {len(value)} item{'' if len(value) == 1 else 's'}"
    if isinstance(value, Mapping):
        return f"an object with {len(value)} field{'' if len(value) == 1 else 's'}"
    return f"a value of type {type(value).__name__}"


def at(payload: Any, loc: Iterable[Any]) -> Any:
    """The value of ``payload`` (a request as JSON) at a pydantic error location, or a private
    sentinel where the location is not in it (a missing field, a union member's tag). Item 0 of
    a single string or object is that value, as the schemas read one item for a list of one."""
    value = payload
    for part in loc:
        if isinstance(value, str | Mapping) and part == 0:
            continue  # one text or one request where a list may stand: the schema reads a list of one
        keyed = isinstance(value, Mapping) and isinstance(part, str) and part in value
        indexed = isinstance(value, list) and isinstance(part, int) and -len(value) <= part < len(value)
        if not (keyed or indexed):
            return _ABSENT
        value = value[part]
    return value


def with_arrival(error: Mapping[str, Any], value: Any) -> dict[str, Any]:
    """``error`` (a pydantic error without its input) plus ``arrived``, the description of
    ``value`` (:func:`arrived`), unless nothing arrived (a missing field, a body that is no
    JSON, a location not in the request) or the rule's message says it already."""
    out = dict(error)
    if value is _ABSENT or out.get("type") in _NOTHING_ARRIVED or _STATES_ARRIVAL.search(str(out.get("msg", ""))):
        return out
    if isinstance(value, str) and out.get("type") in _NUMBER_RULES:
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    out["arrived"] = arrived(value)
    return out


def with_arrivals(detail: Any, payload: Any) -> Any:
    """BentoML's validation ``detail`` (pydantic errors without input) with what arrived at each
    location of ``payload``, the request body it refused; anything else as it is."""
    if not (isinstance(detail, list) and detail and all(isinstance(d, dict) for d in detail)):
        return detail
    return [d if "arrived" in d else with_arrival(d, at(payload, d.get("loc", []))) for d in detail]


def error_message(body: Any) -> str:
    """One readable line from an error body, naming each failing field, the rule it broke and
    what arrived, e.g. ``texts[0]: String should have at most 2000 characters (got a string of
    2431 characters)``.

    Accepts BentoML's bodies (``{"error", "detail": [pydantic errors]}``, or raised exceptions
    list-wrapped) and pydantic's ``ValidationError.errors()`` wrapped as ``{"detail": [...]}``.
    """
    if isinstance(body, list):
        return "; ".join(error_message(b) for b in body)
    if not isinstance(body, dict):
        return str(body)
    detail = body.get("detail")
    if isinstance(detail, list) and detail and all(isinstance(d, dict) for d in detail):
        return "; ".join(
            f"{_loc(d.get('loc', []))}: {d.get('msg', '')}" + (f" (got {d['arrived']})" if "arrived" in d else "")
            for d in detail
        )
    if isinstance(detail, str) and "error" not in body:
        return detail
    return str(body.get("error", body))


def validation_message(errors: Sequence[Mapping[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """(one-line message, detail list) from pydantic errors. FastAPI prefixes locations with
    "query"/"path"/"body"; that prefix is dropped so HTTP and gRPC name fields alike. Each
    error's ``input`` is described (:func:`with_arrival`), never passed on."""
    detail = [
        with_arrival(
            {
                "loc": list(e.get("loc", ()))[1:]
                if e.get("loc", ("",))[0] in ("query", "path", "body")
                else list(e.get("loc", ())),
                "msg": e.get("msg", ""),
                "type": e.get("type", ""),
            },
            e.get("input", _ABSENT),
        )
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
