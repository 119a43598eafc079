"""The demand-mining API: the BentoML service and its routes.

    bentoml serve service:DemandMining --host 127.0.0.1 --port 3000

Each route validates its input with the schema in :mod:`gateway.schemas` and hands the call to
:class:`gateway.core.Gateway`; gRPC (:mod:`gateway.grpc_server`) and SageMaker's ``/invocations``
(:mod:`gateway.sagemaker`) reach the same methods through :meth:`DemandMining.dispatch`. Every
refusal is answered as :func:`gateway.errors.request_error` maps it, on every transport. Swagger
UI is at ``/`` and the OpenAPI document at ``/docs.json``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any, Literal

import bentoml
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BeforeValidator, Field, StringConstraints, ValidationError

from gateway.colocated import Colocated
from gateway.core import Gateway
from gateway.errors import request_error
from gateway.middleware import GatewayMiddleware
from gateway.routes import BY_RPC, dispatch
from gateway.sagemaker import invocations
from gateway.schemas import (
    MAX_EVENTS,
    MAX_REPLY_HISTORY,
    MAX_TEXTS,
    AspectsResponse,
    ClassifyResponse,
    DeletedUser,
    EventIn,
    EventsResponse,
    ForecastResponse,
    Id,
    InventoryPlan,
    KeywordsResponse,
    MineResponse,
    NerResponse,
    NextNeeds,
    NextQuery,
    Number,
    Profile,
    ProfileQuery,
    RecommendRequests,
    RecommendResponse,
    ReplyResponse,
    SentimentResponse,
    SeriesInput,
    SimilarResponse,
    Text,
    Texts,
    TopK,
    Trends,
    TrendsQuery,
    UserQuery,
)
from gateway.threads import CoreShare
from mining.events import EventsOff, EventStore, open_store
from mining.limits import MAX_REPLIES
from mining.registry import RUNNERS
from mining.settings import Settings, settings
from mining.upgrades import record_path
from runners import service_of
from runners.base import service_logging

log = logging.getLogger("demand_mining")

# BentoML fixes the service graph (workers, dependencies, batching knobs) when the classes are
# defined, so the settings that shape it are read when this module is imported.
SETTINGS = settings()
RUNNER_SERVICES = {spec.key: service_of(spec.key) for spec in RUNNERS}


def connect_runners(service: Any, config: Settings) -> dict[str, Any]:
    """Registry runner key -> runner proxy: each runner instantiated in this worker (colocated
    layout) or the ``bentoml.depends`` client of its own service (separate layout)."""
    if config.layout == "colocated":
        share = CoreShare.for_service(config.torch_threads, config.lone_threads)
        return {key: Colocated(cls, share) for key, cls in RUNNER_SERVICES.items()}
    return {spec.key: getattr(service, spec.attr) for spec in RUNNERS}


reads = FastAPI(title="demand-mining reads", openapi_url=None, docs_url=None, redoc_url=None)


async def _refused(_: Any, exc: Exception) -> JSONResponse:
    """The read routes' answer to a refusal, as :func:`gateway.errors.request_error` maps it; a
    503 may be retried (BentoML's own routes say so too)."""
    error = request_error(exc)
    if error is None:
        raise exc
    headers = {"retry-after": "1"} if error.status == 503 else None
    return JSONResponse({"error": error.message, "detail": error.detail}, status_code=error.status, headers=headers)


for _kind in (RequestValidationError, ValidationError, bentoml.exceptions.BentoMLException):
    reads.add_exception_handler(_kind, _refused)


@bentoml.asgi_app(reads, path="/")
@bentoml.service(name="DemandMining", workers=SETTINGS.workers, traffic={"timeout": 60})
class DemandMining:
    """The gateway: typed endpoints per task, ``/mine``, event intake, profiles, trends; HTTP and
    gRPC. Settings: :mod:`mining.settings` (the README's configuration table)."""

    if SETTINGS.layout == "separate":
        for _spec in RUNNERS:
            vars()[_spec.attr] = bentoml.depends(RUNNER_SERVICES[_spec.key])
        del _spec

    def __init__(self) -> None:
        service_logging()
        self.settings = SETTINGS
        self.runners = connect_runners(self, self.settings)
        store: EventStore | EventsOff = EventsOff()
        if self.settings.events_enabled:
            store = open_store(
                self.settings.events_location(),
                secret_arn=self.settings.events_secret_arn or None,
                pool_size=self.settings.events_pool,
            )
        self.gateway = Gateway(self.runners, store, self.settings.replies, self.settings.shop_values)
        self.gateway.load_replies()
        self.grpc_server: Any = None

    # --- lifecycle: retention, and the gRPC server in each gateway worker ----------------------------
    @bentoml.on_startup
    async def _start_retention(self) -> None:
        if self.settings.retention_days and self.settings.events_enabled:
            asyncio.get_running_loop().create_task(self._retention_loop())

    async def _retention_loop(self) -> None:
        while True:
            try:
                purged = await self.gateway.purge(self.settings.retention_days)
                if purged["events"]:
                    log.info(
                        "retention: %d events older than %d days purged", purged["events"], self.settings.retention_days
                    )
            except Exception:  # a busy store: the next round tries again
                log.exception("retention purge failed")
            await asyncio.sleep(3600)

    @bentoml.on_startup
    async def _start_grpc(self) -> None:
        if not self.settings.grpc_port:
            return
        from gateway.grpc_server import build_server, set_serving

        host, port = self.settings.grpc_host, self.settings.grpc_port
        self.grpc_server, health = build_server(
            port, self.dispatch, self.settings.api_keys, host, max_message_bytes=self.settings.max_body_bytes
        )
        await self.grpc_server.start()
        # Dependencies answer only once their models are loaded and warmed; wait for that first.
        asyncio.get_running_loop().create_task(self._grpc_ready(health, set_serving))
        log.info("gRPC serving on %s:%d", host, port)

    async def _grpc_ready(self, health: Any, set_serving: Any) -> None:
        while not await self.gateway.ready():
            await asyncio.sleep(0.5)
        set_serving(health, True)

    @bentoml.on_shutdown
    async def _stop_grpc(self) -> None:
        if self.grpc_server is not None:
            await self.grpc_server.stop(grace=2.0)
        for runner in self.runners.values():
            if isinstance(runner, Colocated):
                runner.close()

    async def dispatch(self, rpc: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Run operation ``rpc`` (a gRPC method name) on ``payload`` (the request as JSON), validated
        by the HTTP endpoint's own schema; raises :class:`RequestError` as HTTP would answer."""
        op = BY_RPC[rpc]
        schema = op.query or DemandMining.apis[op.api].input_spec  # type: ignore[attr-defined]
        method = getattr(self, op.api)
        # In a served process an API method attribute is a client of the service's own HTTP port;
        # `.local` is the method itself, so gRPC calls do not loop back through HTTP.
        return await dispatch(schema, getattr(method, "local", method), payload)

    # --- text tasks ---------------------------------------------------------------------------------
    @bentoml.api(route="/sentiment")
    async def sentiment(self, texts: Texts) -> SentimentResponse:
        """Sentiment of one or many reviews, Chinese or English, routed per text."""
        return await self.gateway.sentiment(list(texts))

    @bentoml.api(route="/classify")
    async def classify(self, texts: Texts) -> ClassifyResponse:
        """Product category of one or many texts (titles, queries, messages)."""
        return await self.gateway.classify(list(texts))

    @bentoml.api(route="/ner")
    async def ner(self, texts: Texts) -> NerResponse:
        """Named entities of one or many texts, with character offsets into each text as sent."""
        return await self.gateway.ner(list(texts))

    @bentoml.api(route="/aspects")
    async def aspects(self, texts: Texts) -> AspectsResponse:
        """Aspect-level sentiment: per text, the aspects it judges (offsets into the text as sent), the
        polarity of each with its probability, and the opinion word found for it."""
        return await self.gateway.aspects(list(texts))

    @bentoml.api(route="/keywords")
    async def keywords(self, texts: Texts, top_k: TopK = 10) -> KeywordsResponse:
        """Keywords and key phrases of one or many texts, best first with TF-IDF scores."""
        return await self.gateway.keywords(list(texts), top_k)

    @bentoml.api(route="/mine")
    async def mine(
        self,
        texts: Texts,
        user_id: Annotated[
            Id | None,
            Field(
                description="record the texts as this user's events and return "
                "their updated profile and recommendations"
            ),
        ] = None,
        event_type: Annotated[
            Literal["search", "review", "message"],
            Field(
                description="what the texts are: a search query states a need and judges nothing (no "
                "sentiment, its aspects wanted, its demand a request); recorded as this type for user_id"
            ),
        ] = "message",
        request_id: Annotated[
            str | None,
            StringConstraints(min_length=1, max_length=100),
            Field(description="with user_id: a retried call with the same request_id records its texts once"),
        ] = None,
        top_k: TopK = 5,
        n: Annotated[int, Number, Field(ge=1, le=100, description="recommendations for user_id, 1-100")] = 10,
    ) -> MineResponse:
        """Customer texts -> per text: language, category, sentiment, entities, keywords and a demand
        summary; with a user_id, the texts are recorded as that user's events and the response adds
        the user's updated profile and recommendations (fresh events folded in)."""
        return await self.gateway.mine(list(texts), user_id, event_type, request_id, top_k, n)

    @bentoml.api(route="/reply")
    async def reply(
        self,
        text: Text,
        user_id: Annotated[
            Id | None,
            Field(description="fill placeholders from this user's events and record the text as their message"),
        ] = None,
        history: Annotated[
            list[Text],
            Field(
                max_length=MAX_REPLY_HISTORY,
                description="the customer's earlier turns of this conversation, oldest first",
            ),
        ] = [],  # noqa: B006 - pydantic copies defaults
        request_id: Annotated[
            str | None,
            StringConstraints(min_length=1, max_length=100),
            Field(description="with user_id: a retried call with the same request_id records its text once"),
        ] = None,
        k: Annotated[int, Number, Field(ge=1, le=MAX_REPLIES, description=f"suggested replies, 1-{MAX_REPLIES}")] = 3,
    ) -> ReplyResponse:
        """A customer's message to the shop -> its service intent, slots (order number, amount, place,
        product...), whether a person should take over and why, and the best replies of the knowledge
        base with their placeholders filled from the slots and the user's events."""
        return await self.gateway.reply(text, user_id, list(history), request_id, k)

    # --- events, profiles, trends -------------------------------------------------------------------
    @bentoml.api(route="/events")
    async def post_events(
        self,
        events: Annotated[
            list[EventIn],
            BeforeValidator(lambda v: [v] if isinstance(v, dict) else v),
            Field(min_length=1, max_length=MAX_EVENTS, description=f"1-{MAX_EVENTS} events"),
        ],
    ) -> EventsResponse:
        """Behaviour events, analysed and stored durably before the answer; retried keys are stored once.
        Profiles, trends and recommendations use them at once."""
        return await self.gateway.post_events(list(events))

    async def profile(self, user_id: str, top: int = 10) -> Profile:
        return await self.gateway.profile(user_id, top)

    async def trends(self, window: int = 86400, end: Any = None, top: int = 10, min_count: int = 1) -> Trends:
        return await self.gateway.trends(window, end, top, min_count)

    @reads.get("/users/{user_id}/profile", response_model=Profile)
    async def get_profile(self, user_id: str, top: Annotated[int, Query(ge=1, le=50)] = 10) -> Any:
        """A user's interests by category, sentiment trend, top keywords and entities, recent items."""
        q = ProfileQuery(user_id=user_id, top=top)
        return await self.gateway.profile(q.user_id, q.top)

    async def delete_user(self, user_id: str) -> DeletedUser:
        return await self.gateway.delete_user(user_id)

    async def next_items(self, user_id: str, n: int = 10) -> NextNeeds:
        return await self.gateway.next_items(user_id, n)

    @reads.get("/users/{user_id}/next", response_model=NextNeeds)
    async def get_next(self, user_id: str, n: Annotated[int, Query(ge=1, le=100)] = 10) -> Any:
        """What the user is likely to want next: the sequence model over their stored item events
        (the recommender where it cannot), with the items' categories."""
        q = NextQuery(user_id=user_id, n=n)
        return await self.gateway.next_items(q.user_id, q.n)

    @reads.delete("/users/{user_id}", response_model=DeletedUser)
    async def delete_user_http(self, user_id: str) -> Any:
        """Remove a user's events, profile terms and folded-in interactions (idempotent)."""
        q = UserQuery(user_id=user_id)
        return await self.gateway.delete_user(q.user_id)

    @reads.get("/trends", response_model=Trends)
    async def get_trends(self, q: Annotated[TrendsQuery, Query()]) -> Any:
        """Rising and falling categories, entities and keywords: a window against the one before."""
        return await self.gateway.trends(q.window, q.end, q.top, q.min_count)

    # --- SageMaker hosting contract: GET /ping, POST /invocations ------------------------------------
    @reads.get("/ping")
    async def ping(self) -> Any:
        """SageMaker's health check: 200 once every runner is ready, 503 before."""
        ready = await self.gateway.ready()
        return JSONResponse({"status": "ready" if ready else "loading"}, status_code=200 if ready else 503)

    @reads.post("/invocations")
    async def invocations(self, request: Request) -> Any:
        """One entry point for SageMaker: the operation comes from the custom attribute
        ``route=/mine`` (``X-Amzn-SageMaker-Custom-Attributes``) or from an envelope body
        ``{"route": "/mine", "body": {...}}``; the body is what that endpoint takes."""
        return await invocations(request, self.dispatch)

    # --- recommendations ----------------------------------------------------------------------------
    @bentoml.api(route="/recommend")
    async def recommend(self, requests: RecommendRequests) -> RecommendResponse:
        """Top-N items for one or many users, with fresh interactions (sent or recorded) folded in."""
        return await self.gateway.recommend([r.model_dump() for r in requests])

    @bentoml.api(route="/similar-items")
    async def similar_items(
        self,
        item_ids: Annotated[
            list[Id],
            BeforeValidator(lambda v: [v] if isinstance(v, str) else v),
            Field(min_length=1, max_length=MAX_TEXTS, description="one item id or a list"),
        ],
        n: Annotated[int, Number, Field(ge=1, le=100, description="similar items per item, 1-100")] = 10,
    ) -> SimilarResponse:
        """Items most similar to each given item (cosine over ALS item factors)."""
        return await self.gateway.similar_items(list(item_ids), n)

    # --- demand -------------------------------------------------------------------------------------
    @bentoml.api(route="/forecast")
    async def forecast(
        self, series: Annotated[list[SeriesInput], Field(min_length=1, max_length=256)]
    ) -> ForecastResponse:
        """Quantile forecasts (p10, p50, p90) per period for each series sent with its history."""
        return await self.gateway.forecast(list(series))

    @bentoml.api(route="/forecast/spec")
    async def forecast_spec(self) -> dict[str, Any]:
        """The covariates, history length and maximum horizon the served demand model expects."""
        return await self.gateway.forecast_spec()

    @bentoml.api(route="/inventory/plan")
    async def inventory_plan(
        self,
        series: SeriesInput,
        lead_time: Annotated[int, Number, Field(ge=1, le=52, description="periods until an order placed now arrives")],
        service_level: Annotated[
            float, Number, Field(ge=0.5, le=0.999, description="chance of no stock-out, 0.5-0.999")
        ],
        on_hand: Annotated[float, Number, Field(ge=0, allow_inf_nan=False, description="units in stock now")],
        on_order: Annotated[
            float, Number, Field(ge=0, allow_inf_nan=False, description="units ordered, not arrived")
        ] = 0.0,
        dependence: Literal["independent", "comonotonic"] = "independent",
    ) -> InventoryPlan:
        """Reorder quantity for a lead time and service level, from the quantiles of lead-time demand."""
        return await self.gateway.inventory_plan(series, lead_time, service_level, on_hand, on_order, dependence)


def _gateway_middleware(app: Any) -> GatewayMiddleware:
    return GatewayMiddleware(
        app,
        SETTINGS.api_keys,
        SETTINGS.max_body_bytes,
        SETTINGS.max_in_flight,
        upgrades=record_path(SETTINGS.model_store),
    )


DemandMining.add_asgi_middleware(_gateway_middleware)  # type: ignore[attr-defined]
