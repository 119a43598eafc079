"""SageMaker's hosting contract: ``POST /invocations`` carries any operation, named by the custom
attribute ``route=/mine`` (``X-Amzn-SageMaker-Custom-Attributes``) or by an envelope body
``{"route": "/mine", "body": {...}}``; the body is what that operation takes over HTTP."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pydantic_core
from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.errors import RequestError
from gateway.routes import BY_PATH

ATTRIBUTES_HEADER = "x-amzn-sagemaker-custom-attributes"


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message, "detail": None}, status_code=status)


async def invocations(
    request: Request, dispatch: Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
) -> JSONResponse:
    """Route one ``/invocations`` request to ``dispatch(rpc, payload)``; every failure is a 4xx
    naming the field."""
    try:
        # pydantic's parser, as for every other route: it bounds nesting depth with a ValueError
        # where the standard library's parser overflows Python's stack (RecursionError).
        payload = pydantic_core.from_json(await request.body())
    except ValueError as e:
        return _error(f"body: invalid JSON ({e})")
    attrs = dict(
        part.strip().split("=", 1) for part in request.headers.get(ATTRIBUTES_HEADER, "").split(",") if "=" in part
    )
    route = attrs.get("route")
    if route is None and isinstance(payload, dict) and "route" in payload:
        route, payload = payload.get("route"), payload.get("body", {})
    if not isinstance(route, str) or route not in BY_PATH:
        return _error(
            f"route: expected one of {sorted(BY_PATH)} in the custom attribute "
            f"'route=<path>' or the body's 'route'; got {route!r}"
        )
    if not isinstance(payload, dict):
        return _error(f"body: expected a JSON object, got {type(payload).__name__}")
    try:
        return JSONResponse(await dispatch(BY_PATH[route].rpc, payload))
    except RequestError as e:
        return _error(e.message, e.status)
