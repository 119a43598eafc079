"""The one table of the API's operations, read by every transport: the HTTP path (also the route
name for SageMaker's ``/invocations``), the gRPC method of ``gateway/proto/demand_mining.proto``,
the service method that answers, and, for reads, the query schema; and :func:`dispatch`, how
gRPC and ``/invocations`` run an operation on a request given as JSON."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from gateway.errors import request_error
from gateway.schemas import NextQuery, ProfileQuery, TrendsQuery, UserQuery


@dataclass(frozen=True)
class Operation:
    path: str
    rpc: str
    api: str
    # Reads (GET) have a query schema; for the others the service's own input schema applies.
    query: type[BaseModel] | None = None


OPERATIONS: tuple[Operation, ...] = (
    Operation("/sentiment", "Sentiment", "sentiment"),
    Operation("/classify", "Classify", "classify"),
    Operation("/ner", "Ner", "ner"),
    Operation("/aspects", "Aspects", "aspects"),
    Operation("/keywords", "Keywords", "keywords"),
    Operation("/mine", "Mine", "mine"),
    Operation("/reply", "Reply", "reply"),
    Operation("/events", "PostEvents", "post_events"),
    Operation("/profile", "GetProfile", "profile", ProfileQuery),
    Operation("/trends", "GetTrends", "trends", TrendsQuery),
    Operation("/delete-user", "DeleteUser", "delete_user", UserQuery),
    Operation("/next", "NextItems", "next_items", NextQuery),
    Operation("/recommend", "Recommend", "recommend"),
    Operation("/similar-items", "SimilarItems", "similar_items"),
    Operation("/forecast", "Forecast", "forecast"),
    Operation("/inventory/plan", "InventoryPlan", "inventory_plan"),
)
BY_RPC = {op.rpc: op for op in OPERATIONS}
BY_PATH = {op.path: op for op in OPERATIONS}


async def dispatch(schema: type[BaseModel], method: Callable[..., Awaitable[Any]], payload: Any) -> dict[str, Any]:
    """Validate ``payload`` (a request as JSON) with an endpoint's own ``schema`` and run
    ``method`` on its fields: how gRPC and ``/invocations`` reach the HTTP endpoints with the same
    rules and messages. Raises :class:`gateway.errors.RequestError` with the status and message
    HTTP gives (:func:`gateway.errors.request_error`)."""
    try:
        args = schema.model_validate(payload)
    except ValidationError as e:
        raise request_error(e) from None  # type: ignore[misc]
    try:
        result = await method(**{k: getattr(args, k) for k in type(args).model_fields})
    except ValidationError:  # of a response the gateway built: a server fault, not the request's
        raise
    except Exception as e:
        error = request_error(e)
        if error is None:
            raise
        raise error from None
    return result.model_dump(mode="json") if isinstance(result, BaseModel) else result  # type: ignore[no-any-return]
