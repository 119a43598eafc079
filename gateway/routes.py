"""The one table of the API's operations, read by every transport: the HTTP path (also the route
name for SageMaker's ``/invocations``), the gRPC method of ``gateway/proto/demand_mining.proto``,
the service method that answers, and, for reads, the query schema."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

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
