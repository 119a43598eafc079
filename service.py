"""The demand-mining API: one gateway service composing the model runners.

    bentoml serve service:DemandMining --host 127.0.0.1 --port 3000

Request and response bodies are the pydantic models below; Swagger UI is at ``/`` and the
OpenAPI document at ``/docs.json``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Literal

import bentoml
from bentoml.exceptions import InvalidArgument, NotFound, ServiceUnavailable
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import (AfterValidator, AwareDatetime, BaseModel, BeforeValidator, Field, StringConstraints,
                      ValidationError, model_validator)

from runners.classifier import ClassifierRunner
from runners.demand_runner import MAX_HISTORY, DemandRunner, reorder_plan
from runners.events import EVENT_TYPES, ITEM_WEIGHTS, EventStore
from runners.gateway import GatewayMiddleware, RequestError, error_message, parse_api_keys
from runners.insight import demand_summary, trusted_category
from runners.keywords_runner import MAX_KEYWORDS, KeywordsRunner
from runners.ner_runner import NerRunner
from runners.recall_runner import RecallRunner
from runners.sentiment import SentimentRunner
from runners.serving import Colocated, gateway_workers, layout
from runners.text import mask_pii

log = logging.getLogger("demand_mining")

LAYOUT = layout()
# Gateway attribute -> runner service; the same names in both layouts.
RUNNERS = {"sentiment_runner": SentimentRunner, "classifier_runner": ClassifierRunner, "ner_runner": NerRunner,
           "keywords_runner": KeywordsRunner, "recall_runner": RecallRunner, "demand_runner": DemandRunner}

MAX_TEXTS = 64
MAX_TEXT_CHARS = 2000

def _not_blank(value: str) -> str:
    # Checked, not stripped: entity offsets index the text exactly as the caller sent it.
    if not value.strip():
        raise ValueError("text is blank; expected at least 1 non-space character")
    return value


Text = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS),
    AfterValidator(_not_blank),
    Field(description=f"a customer text, 1-{MAX_TEXT_CHARS} characters, not all whitespace; used as sent"),
]


def _one_or_many(value: object) -> object:
    # A bare string is the common single-text call; accept it as a list of one.
    return [value] if isinstance(value, str) else value


Texts = Annotated[
    list[Text],
    BeforeValidator(_one_or_many),
    Field(
        min_length=1,
        max_length=MAX_TEXTS,
        description=f"one text, or a list of 1-{MAX_TEXTS} texts",
        examples=[["质量很好，物流也快", "The coffee arrived stale and the bag was torn."]],
    ),
]


class LabelResult(BaseModel):
    lang: str = Field(description="detected language, 'zh' or 'en'; picks the model")
    label: str = Field(description="most probable label")
    score: float = Field(description="probability of `label`, 0-1")
    probabilities: dict[str, float] = Field(description="probability per label; sums to 1")
    model: str = Field(description="model tag in the store that produced this result")


class SentimentResponse(BaseModel):
    results: list[LabelResult] = Field(description="one sentiment per input text, in input order")


class ClassifyResponse(BaseModel):
    results: list[LabelResult] = Field(description="one category per input text, in input order")


class EntitySpan(BaseModel):
    type: str = Field(description="entity type, e.g. PER, LOC, ORG (zh); PER, COMPANY, PRODUCT (en); "
                      "BRAND, CATEGORY, SIZE, CAPACITY, COUNT, RESOLUTION, MODEL (product titles)")
    text: str = Field(description="the entity as written: `input[start:end]`")
    start: int = Field(description="offset of the first character in the text as sent (Python string index)")
    end: int = Field(description="offset after the last character, exclusive")
    score: float = Field(description="lowest posterior probability among the entity's token tags, 0-1")


class EntitiesResult(BaseModel):
    lang: str = Field(description="detected language, 'zh' or 'en'; picks the models")
    entities: list[EntitySpan] = Field(description="entities in text order, non-overlapping")
    models: list[str] = Field(description="model tags in the store that read this text")


class NerResponse(BaseModel):
    results: list[EntitiesResult] = Field(description="one result per input text, in input order")


class Keyword(BaseModel):
    keyword: str = Field(description="a word or phrase, lower-cased and normalised")
    score: float = Field(description="TF-IDF score, relative within a text (not a probability)")


class KeywordsResult(BaseModel):
    lang: str = Field(description="detected language, 'zh' or 'en'")
    keywords: list[Keyword] = Field(description="best first")
    model: str = Field(description="model tag in the store (document frequencies) that scored this text")


class KeywordsResponse(BaseModel):
    results: list[KeywordsResult] = Field(description="one result per input text, in input order")


TopK = Annotated[int, Field(ge=1, le=MAX_KEYWORDS, description=f"keywords per text, 1-{MAX_KEYWORDS}")]


Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
               Field(description="an external user or item id")]
MAX_IDS = 1000


class Interaction(BaseModel):
    item_id: Id
    weight: float = Field(default=1.0, gt=0, le=1e6, description="strength, > 0 (e.g. click 1, cart 3, buy 5)")


class RecommendRequest(BaseModel):
    user_id: Id
    n: int = Field(default=10, ge=1, le=100, description="items to return, 1-100")
    recent: list[Interaction] = Field(default=[], max_length=MAX_IDS, description=(
        "fresh interactions not yet in the model; folded into the user's factors at once"))
    exclude_seen: bool = Field(default=True, description="leave out items the user already interacted with")
    allow: list[Id] | None = Field(default=None, max_length=MAX_IDS, description="rank only these items")
    deny: list[Id] = Field(default=[], max_length=MAX_IDS, description="never return these items")
    explain: bool = Field(default=False, description="per item, the history items that contributed most")


RecommendRequests = Annotated[
    list[RecommendRequest],
    BeforeValidator(lambda v: [v] if isinstance(v, dict) else v),
    Field(min_length=1, max_length=MAX_TEXTS, description=f"one request, or a list of 1-{MAX_TEXTS}",
          examples=[[{"user_id": "196", "n": 5, "recent": [{"item_id": "242", "weight": 5}]}]]),
]


class Contribution(BaseModel):
    item_id: str
    contribution: float = Field(description="this history item's share of the score")


class RecommendedItem(BaseModel):
    item_id: str
    score: float = Field(description="ALS score (or interaction count for the popularity fallback); ranks only")
    because: list[Contribution] | None = Field(default=None, description="with explain: top contributing history")


class Recommendation(BaseModel):
    user_id: str
    items: list[RecommendedItem]
    source: str = Field(description="'als' (stored factors), 'als_folded_in' (recent interactions or a new user "
                        "folded in), or 'popularity' (no usable history: the fallback)")
    unknown_items: list[str] = Field(description="ids in recent/allow/deny that the model does not know; ignored")
    model: str
    history_events: int = Field(default=0, description="the user's recorded events (POST /events) folded in")


class RecommendResponse(BaseModel):
    results: list[Recommendation] = Field(description="one per request, in request order")


class SimilarItem(BaseModel):
    item_id: str
    score: float = Field(description="cosine similarity of the items' factors")


class SimilarResult(BaseModel):
    item_id: str
    similar: list[SimilarItem]


class SimilarResponse(BaseModel):
    results: list[SimilarResult]


Units = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class SeriesInput(BaseModel):
    series_id: str | None = Field(default=None, max_length=200, description="echoed back; optional")
    units: list[Units | None] = Field(min_length=1, max_length=MAX_HISTORY, description=(
        "history, oldest first, one value per period up to the last one; null marks a period without "
        "data (a gap), which is different from 0 sold"))
    covariates: dict[str, list[float]] = Field(default={}, description=(
        "per covariate the model uses (see /forecast/spec), one value per history period"))
    horizon: int = Field(ge=1, le=52, description="periods to forecast after the last history period")
    future_covariates: dict[str, list[float]] = Field(default={}, description=(
        "per covariate, the planned value for each forecast period (price, promotion, ...)"))


class Quantiles(BaseModel):
    p10: list[float]
    p50: list[float]
    p90: list[float]


class SeriesForecast(BaseModel):
    series_id: str | None
    quantiles: Quantiles = Field(description="units per forecast period; p10 <= p50 <= p90")
    model: str


class ForecastResponse(BaseModel):
    results: list[SeriesForecast]


class InventoryPlan(BaseModel):
    series_id: str | None
    reorder_quantity: int = Field(description="units to order now (0 when the position already covers the target)")
    order_up_to: float = Field(description="inventory position that meets the service level over the lead time")
    expected_demand: float = Field(description="sum of p50 over the lead time")
    safety_stock: float = Field(description="order_up_to - expected_demand")
    lead_time: int
    service_level: float
    forecast: Quantiles = Field(description="the lead-time forecast the plan is built on")
    assumptions: list[str]
    model: str



# --- /mine --------------------------------------------------------------------------------------
class Demand(BaseModel):
    intent: Literal["request", "complaint", "praise", "neutral"] = Field(description=(
        "request: asks for or wants something; complaint: negative sentiment; praise: positive; neutral: neither "
        "(rules in runners/insight.py)"))
    category: str | None = Field(description="the product category the text is about; null when the classifier has "
                                 "no model for the text's language or is unsure (probability < 0.15)")
    targets: list[str] = Field(description="products, brands, model numbers and organisations named")
    attributes: list[str] = Field(description="sizes, capacities, counts, resolutions named")
    aspects: list[str] = Field(description="top keywords that are not already a target")
    summary: str = Field(description="one readable line, e.g. 'customer complains about Samsung (aspects battery)'")


class MineResult(BaseModel):
    lang: str = Field(description="detected language, 'zh' or 'en'")
    category: LabelResult
    sentiment: LabelResult
    entities: list[EntitySpan]
    keywords: list[Keyword]
    demand: Demand


class EventStatus(BaseModel):
    key: str
    id: int = Field(description="the stored event's id")
    status: Literal["stored", "duplicate"] = Field(description="duplicate: the key was already stored; "
                                                   "the first write wins and nothing changed")


class Interest(BaseModel):
    category: str
    share: float = Field(description="share of the user's weighted category mentions; shares sum to 1")


class SentimentDay(BaseModel):
    day: str = Field(description="UTC date, YYYY-MM-DD")
    n: int
    positive_share: float


class ProfileSentiment(BaseModel):
    n: int = Field(description="events with text (hence a sentiment)")
    positive_share: float | None
    trend: list[SentimentDay] = Field(description="per day with texts, over the last 14 days")


class TermCount(BaseModel):
    term: str
    type: str | None = Field(default=None, description="entity type (entities only)")
    weight: float = Field(description="events weighted by type: purchase 5, cart 3, review 2, others 1")
    count: int


class RecentItem(BaseModel):
    item_id: str
    type: str = Field(description="latest event type with this item")
    ts: float = Field(description="Unix seconds")


class Profile(BaseModel):
    user_id: str
    n_events: int
    first_seen: float
    last_seen: float
    interests: list[Interest]
    sentiment: ProfileSentiment
    keywords: list[TermCount]
    entities: list[TermCount]
    recent_items: list[RecentItem]


class UserInsight(BaseModel):
    profile: Profile
    recommendations: Recommendation
    events: list[EventStatus] = Field(description="the texts recorded as events of this user")


class MineResponse(BaseModel):
    results: list[MineResult] = Field(description="one per input text, in input order")
    user: UserInsight | None = Field(default=None, description="with user_id: the updated profile and recommendations")


# --- /events ------------------------------------------------------------------------------------
MAX_EVENTS = 256
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
CLOCK_SKEW_S = 300


def _plausible_time(value: datetime) -> datetime:
    now = datetime.now(timezone.utc)
    if value < EARLIEST or (value - now).total_seconds() > CLOCK_SKEW_S:
        raise ValueError(f"timestamp must be between 2000-01-01 and now (+{CLOCK_SKEW_S} s clock skew); "
                         f"got {value.isoformat()}")
    return value


Timestamp = Annotated[AwareDatetime, AfterValidator(_plausible_time), Field(
    description="ISO 8601 with a UTC offset (2026-11-28T09:30:00Z) or Unix seconds")]
TEXT_EVENTS = ("search", "review", "message")


class EventIn(BaseModel):
    key: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="idempotency key: a retried event with the same key is stored once")
    user_id: Id
    type: Literal[EVENT_TYPES] = Field(description="search, view, click, cart, purchase, review or message")  # type: ignore[valid-type]
    item_id: Id | None = Field(default=None, description="required for view, click, cart, purchase")
    text: Text | None = Field(default=None, description="required for search, review, message; analysed, "
                              "stored with e-mails, phones, cards and IDs masked")
    ts: Timestamp

    @model_validator(mode="after")
    def _needs(self) -> "EventIn":
        if self.type in ITEM_WEIGHTS and self.type != "review" and self.item_id is None:
            raise ValueError(f"item_id is required for a {self.type} event")
        if self.type in TEXT_EVENTS and self.text is None:
            raise ValueError(f"text is required for a {self.type} event")
        return self


class EventsResponse(BaseModel):
    results: list[EventStatus] = Field(description="one per event, in request order")
    stored: int
    duplicates: int


# --- profile and trends -------------------------------------------------------------------------
_WINDOW = re.compile(r"^(\d+)([smhd]?)$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _window_seconds(value: str | int) -> int:
    m = _WINDOW.match(str(value).strip())
    seconds = int(m.group(1)) * _UNIT_S[m.group(2)] if m else -1
    if not 60 <= seconds <= 90 * 86400:
        raise ValueError(f"window must be 60 s to 90 d, as seconds or with a unit (15m, 1h, 24h, 7d); got {value!r}")
    return seconds


class ProfileQuery(BaseModel):
    user_id: Id
    top: int = Field(default=10, ge=1, le=50, description="keywords, entities and items listed, 1-50")


class TrendsQuery(BaseModel):
    window: Annotated[int, BeforeValidator(_window_seconds)] = Field(
        default=86400, description="window length: seconds, or 15m, 1h, 24h, 7d (60 s - 90 d); default 24h")
    end: Timestamp | None = Field(default=None, description="end of the current window (default: now)")
    top: int = Field(default=10, ge=1, le=50, description="terms per list, 1-50")
    min_count: int = Field(default=1, ge=1, le=10**6, description="events a term needs in one of the windows")


class TrendTerm(BaseModel):
    term: str
    type: str | None = Field(description="entity type (entities only)")
    current: int = Field(description="events mentioning it in the current window")
    previous: int = Field(description="in the window before")
    change: int = Field(description="current - previous")
    positive_share: float | None = Field(description="share of positive texts among the current mentions")


class TrendList(BaseModel):
    rising: list[TrendTerm]
    falling: list[TrendTerm]


class TrendWindow(BaseModel):
    start: float
    end: float
    previous_start: float
    seconds: float


class TrendCounts(BaseModel):
    current: int
    previous: int


class TrendSentiment(BaseModel):
    current_positive_share: float | None
    previous_positive_share: float | None
    shift: float | None = Field(description="current - previous positive share")


class Trends(BaseModel):
    window: TrendWindow
    events: TrendCounts
    sentiment: TrendSentiment
    category: TrendList
    entity: TrendList
    keyword: TrendList


def _validation_message(errors: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    # FastAPI prefixes locations with "query"/"path"; drop it so HTTP and gRPC name fields alike.
    detail = [{"loc": list(e.get("loc", ()))[1:] if e.get("loc", ("",))[0] in ("query", "path", "body") else list(e.get("loc", ())),
               "msg": e.get("msg", ""), "type": e.get("type", "")} for e in errors]
    return error_message({"detail": detail}), detail


reads = FastAPI(title="demand-mining reads", openapi_url=None, docs_url=None, redoc_url=None)


@reads.exception_handler(RequestValidationError)
async def _bad_query(_: Any, exc: RequestValidationError) -> JSONResponse:
    message, detail = _validation_message(list(exc.errors()))
    return JSONResponse({"error": message, "detail": detail}, status_code=400)


@bentoml.asgi_app(reads, path="/")
@bentoml.service(name="DemandMining", workers=gateway_workers(), traffic={"timeout": 60})
class DemandMining:
    """The gateway: typed endpoints per task, ``/mine``, event intake, profiles, trends; HTTP and gRPC.

    Settings (environment, read when the service starts):
    ``DEMAND_MINING_EVENTS_DB`` (SQLite path, default ``var/events.sqlite3``), ``DEMAND_MINING_API_KEYS``
    (comma-separated; unset: no authentication), ``DEMAND_MINING_MAX_BODY_BYTES`` (default 4 MiB),
    ``GRPC_PORT`` (default 3001; ``0`` turns gRPC off). Read at import, because they shape the
    service graph: ``DEMAND_MINING_LAYOUT``, ``DEMAND_MINING_WORKERS`` (see :mod:`runners.serving`)
    and ``DEMAND_MINING_BATCHING``.
    """

    if LAYOUT == "separate":
        sentiment_runner = bentoml.depends(SentimentRunner)
        classifier_runner = bentoml.depends(ClassifierRunner)
        ner_runner = bentoml.depends(NerRunner)
        keywords_runner = bentoml.depends(KeywordsRunner)
        recall_runner = bentoml.depends(RecallRunner)
        demand_runner = bentoml.depends(DemandRunner)

    def __init__(self) -> None:
        self.colocated: list[Colocated] = []
        if LAYOUT == "colocated":
            for attr, runner in RUNNERS.items():
                self.colocated.append(Colocated(runner))
                setattr(self, attr, self.colocated[-1])
        self.events = EventStore(Path(os.environ.get("DEMAND_MINING_EVENTS_DB", "var/events.sqlite3")))
        self.api_keys = parse_api_keys(os.environ.get("DEMAND_MINING_API_KEYS"))
        self.grpc_port = int(os.environ.get("GRPC_PORT", "3001"))
        self.grpc_server: Any = None

    # --- lifecycle: the gRPC server lives in each gateway worker ----------------------------------
    @bentoml.on_startup
    async def _start_grpc(self) -> None:
        if not self.grpc_port:
            return
        from runners.grpc_server import build_server, set_serving

        host = os.environ.get("GRPC_HOST", "0.0.0.0")
        self.grpc_server, health = build_server(self.grpc_port, self._dispatch, self.api_keys, host)
        await self.grpc_server.start()
        # Dependencies answer only once their models are loaded and warmed; wait for that first.
        asyncio.get_running_loop().create_task(self._grpc_ready(health, set_serving))
        log.info("gRPC serving on %s:%d", host, self.grpc_port)

    async def _runners_ready(self) -> bool:
        """The same condition as /readyz: every runner has loaded and warmed its models."""
        runners = [getattr(self, attr) for attr in RUNNERS]
        try:
            return all(await asyncio.gather(*(r.is_ready(5) for r in runners)))
        except Exception:  # a runner's socket is not up yet
            return False

    async def _grpc_ready(self, health: Any, set_serving: Any) -> None:
        while not await self._runners_ready():
            await asyncio.sleep(0.5)
        set_serving(health, True)

    @bentoml.on_shutdown
    async def _stop_grpc(self) -> None:
        if self.grpc_server is not None:
            await self.grpc_server.stop(grace=2.0)
        for runner in self.colocated:
            runner.close()

    # --- one dispatcher for gRPC (and any other transport): same schema, same messages ------------
    async def _dispatch(self, rpc: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Validate ``payload`` (the request as JSON) with the endpoint's own schema and run it.
        Raises :class:`RequestError` with the HTTP status and message the HTTP endpoint gives."""
        api, model = _RPCS[rpc]
        if rpc == "Recommend" and isinstance(payload.get("requests"), list):
            for r in payload["requests"]:  # proto cannot send null: an empty allow list means no restriction
                if isinstance(r, dict) and not r.get("allow"):
                    r.pop("allow", None)
        spec = model or DemandMining.apis[api].input_spec
        try:
            args = spec.model_validate(payload)
        except ValidationError as e:
            raise RequestError(400, _validation_message(e.errors(include_url=False))[0]) from None
        fields = {k: getattr(args, k) for k in type(args).model_fields}
        method = getattr(self, api)
        # In a served process an API method attribute is a client of the service's own HTTP port;
        # `.local` is the method itself, so gRPC calls do not loop back through HTTP.
        method = getattr(method, "local", method)
        try:
            result = await method(**fields)
        except InvalidArgument as e:
            raise RequestError(400, str(e)) from None
        except NotFound as e:
            raise RequestError(404, str(e)) from None
        except ServiceUnavailable as e:
            raise RequestError(503, str(e)) from None
        return result.model_dump(mode="json", exclude_none=True) if isinstance(result, BaseModel) else result

    # --- text tasks ---------------------------------------------------------------------------------
    @bentoml.api(route="/sentiment")
    async def sentiment(self, texts: Texts) -> SentimentResponse:
        """Sentiment of one or many reviews, Chinese or English, routed per text."""
        results = await self.sentiment_runner.to_async.predict(list(texts))
        return SentimentResponse(results=[LabelResult(**r) for r in results])

    @bentoml.api(route="/classify")
    async def classify(self, texts: Texts) -> ClassifyResponse:
        """Product category of one or many texts (titles, queries, messages)."""
        results = await self.classifier_runner.to_async.predict(list(texts))
        return ClassifyResponse(results=[LabelResult(**r) for r in results])

    @bentoml.api(route="/ner")
    async def ner(self, texts: Texts) -> NerResponse:
        """Named entities of one or many texts, with character offsets into each text as sent."""
        results = await self.ner_runner.to_async.predict(list(texts))
        return NerResponse(results=[EntitiesResult(**r) for r in results])

    @bentoml.api(route="/keywords")
    async def keywords(self, texts: Texts, top_k: TopK = 10) -> KeywordsResponse:
        """Keywords and key phrases of one or many texts, best first with TF-IDF scores."""
        results = await self.keywords_runner.to_async.predict(list(texts))
        return KeywordsResponse(results=[KeywordsResult(**{**r, "keywords": r["keywords"][:top_k]}) for r in results])

    async def _analyse(self, texts: list[str], top_k: int) -> list[MineResult]:
        # The four text runners do not depend on each other: one round trip's latency, not four.
        cats, sents, ents, kws = await asyncio.gather(
            self.classifier_runner.to_async.predict(texts), self.sentiment_runner.to_async.predict(texts),
            self.ner_runner.to_async.predict(texts), self.keywords_runner.to_async.predict(texts))
        out = []
        for text, c, s, e, k in zip(texts, cats, sents, ents, kws):
            keywords = k["keywords"][:top_k]
            category = trusted_category(c["label"], c["score"], c["model"], c["lang"])
            demand = demand_summary(text, s["lang"], category, s["probabilities"].get("positive"), e["entities"], keywords)
            out.append(MineResult(lang=s["lang"], category=LabelResult(**c), sentiment=LabelResult(**s),
                                  entities=e["entities"], keywords=keywords, demand=Demand(**demand)))
        return out

    @staticmethod
    def _stored_analysis(r: MineResult, masked: str) -> dict[str, Any]:
        """What the event store keeps of an analysis: labels, and only the terms that occur in the
        PII-masked text (a keyword or entity cut from an e-mail address or a phone number is not)."""
        lower = masked.lower()
        return {"lang": r.lang, "category": r.demand.category, "positive": r.sentiment.probabilities.get("positive"),
                "entities": [{"type": e.type, "text": e.text} for e in r.entities if e.text.lower() in lower],
                "keywords": [{"keyword": k.keyword} for k in r.keywords if k.keyword.lower() in lower]}

    @bentoml.api(route="/mine")
    async def mine(
        self,
        texts: Texts,
        user_id: Annotated[Id | None, Field(description="record the texts as this user's events and return "
                                            "their updated profile and recommendations")] = None,
        event_type: Annotated[Literal["search", "review", "message"], Field(
            description="what the texts are, when recorded for a user")] = "message",
        request_id: Annotated[str | None, StringConstraints(min_length=1, max_length=100), Field(
            description="with user_id: a retried call with the same request_id records its texts once")] = None,
        top_k: Annotated[int, Field(ge=1, le=MAX_KEYWORDS, description="keywords per text")] = 5,
        n: Annotated[int, Field(ge=1, le=100, description="recommendations for user_id, 1-100")] = 10,
    ) -> MineResponse:
        """Customer texts -> per text: language, category, sentiment, entities, keywords and a demand
        summary; with a user_id, the texts are recorded as that user's events and the response adds
        the user's updated profile and recommendations (fresh events folded in)."""
        results = await self._analyse(list(texts), top_k)
        if user_id is None:
            return MineResponse(results=results)
        now = time.time()
        batch = request_id or uuid.uuid4().hex
        masked = [mask_pii(t) for t in texts]
        events = [{"key": f"mine:{user_id}:{batch}:{i}", "user_id": user_id, "type": event_type, "ts": now,
                   "text": m, "analysis": self._stored_analysis(r, m)} for i, (m, r) in enumerate(zip(masked, results))]
        statuses = await asyncio.to_thread(self.events.add, events)
        profile = await asyncio.to_thread(self.events.profile, user_id)
        recs = await self._recommend([{"user_id": user_id, "n": n}])
        return MineResponse(results=results, user=UserInsight(
            profile=Profile(**profile), recommendations=recs[0],
            events=[EventStatus(key=s["key"], id=s["id"], status="stored" if s["stored"] else "duplicate") for s in statuses]))

    # --- events, profiles, trends -----------------------------------------------------------------
    @bentoml.api(route="/events")
    async def post_events(
        self,
        events: Annotated[list[EventIn], BeforeValidator(lambda v: [v] if isinstance(v, dict) else v),
                          Field(min_length=1, max_length=MAX_EVENTS, description=f"1-{MAX_EVENTS} events")],
    ) -> EventsResponse:
        """Behaviour events, analysed and stored durably before the answer; retried keys are stored once.
        Profiles, trends and recommendations use them at once."""
        keys = [e.key for e in events]
        if len(set(keys)) != len(keys):
            dup = next(k for k in keys if keys.count(k) > 1)
            raise InvalidArgument(f"events: key {dup!r} appears more than once in this request; keys must be unique")
        known = await asyncio.to_thread(self.events.existing, keys)
        fresh = [e for e in events if e.key not in known]
        # Only the masked text is analysed and kept: nothing personal reaches the store.
        masked = {e.key: mask_pii(e.text) for e in fresh if e.text is not None}
        analyses = dict(zip(masked, await self._analyse(list(masked.values()), 5))) if masked else {}
        rows = [{"key": e.key, "user_id": e.user_id, "type": e.type, "item_id": e.item_id, "ts": e.ts.timestamp(),
                 "text": masked.get(e.key), "analysis": self._stored_analysis(analyses[e.key], masked[e.key]) if e.key in masked
                 else None} for e in fresh]
        stored = {r["key"]: r for r in await asyncio.to_thread(self.events.add, rows)} if rows else {}
        results = []
        for k in keys:
            if k in stored and stored[k]["stored"]:
                results.append(EventStatus(key=k, id=stored[k]["id"], status="stored"))
            else:  # stored before this request, or by another worker while it was analysed
                results.append(EventStatus(key=k, id=known.get(k) or stored[k]["id"], status="duplicate"))
        n_stored = sum(r.status == "stored" for r in results)
        return EventsResponse(results=results, stored=n_stored, duplicates=len(results) - n_stored)

    async def profile(self, user_id: str, top: int = 10) -> Profile:
        p = await asyncio.to_thread(self.events.profile, user_id, top)
        if p is None:
            raise NotFound(f"user_id: no events for user {user_id!r}; post events to /events first")
        return Profile(**p)

    async def trends(self, window: int = 86400, end: datetime | None = None, top: int = 10, min_count: int = 1) -> Trends:
        t = await asyncio.to_thread(self.events.trends, float(window), end.timestamp() if end else None, top, min_count)
        return Trends(**t)

    @reads.get("/users/{user_id}/profile", response_model=Profile)
    async def get_profile(self, user_id: str, top: Annotated[int, Query(ge=1, le=50)] = 10) -> Any:
        """A user's interests by category, sentiment trend, top keywords and entities, recent items."""
        try:
            q = ProfileQuery(user_id=user_id, top=top)
            return await self.profile(q.user_id, q.top)
        except ValidationError as e:
            message, detail = _validation_message(e.errors(include_url=False))
            return JSONResponse({"error": message, "detail": detail}, status_code=400)
        except NotFound as e:
            return JSONResponse({"error": str(e), "detail": None}, status_code=404)

    @reads.get("/trends", response_model=Trends)
    async def get_trends(self, q: Annotated[TrendsQuery, Query()]) -> Any:
        """Rising and falling categories, entities and keywords: a window against the one before."""
        return await self.trends(q.window, q.end, q.top, q.min_count)

    # --- SageMaker hosting contract: GET /ping, POST /invocations ------------------------------------
    @reads.get("/ping")
    async def ping(self) -> Any:
        """SageMaker's health check: 200 once every runner is ready, 503 before."""
        ready = await self._runners_ready()
        return JSONResponse({"status": "ready" if ready else "loading"}, status_code=200 if ready else 503)

    @reads.post("/invocations")
    async def invocations(self, request: Request) -> Any:
        """One entry point for SageMaker: the target endpoint comes from the custom attribute
        ``route=/mine`` (``X-Amzn-SageMaker-Custom-Attributes``) or from an envelope body
        ``{"route": "/mine", "body": {...}}``; the body is what that endpoint takes."""
        try:
            payload = await request.json()
        except ValueError as e:
            return JSONResponse({"error": f"body: invalid JSON ({e})", "detail": None}, status_code=400)
        attrs = dict(part.strip().split("=", 1) for part in request.headers.get(SAGEMAKER_ATTRIBUTES, "").split(",")
                     if "=" in part)
        route = attrs.get("route")
        if route is None and isinstance(payload, dict) and "route" in payload:
            route, payload = payload.get("route"), payload.get("body", {})
        if route not in _ROUTES:
            return JSONResponse({"error": f"route: expected one of {sorted(_ROUTES)} in the custom attribute "
                                 f"'route=<path>' or the body's 'route'; got {route!r}", "detail": None}, status_code=400)
        if not isinstance(payload, dict):
            return JSONResponse({"error": f"body: expected a JSON object, got {type(payload).__name__}", "detail": None},
                                status_code=400)
        try:
            return JSONResponse(await self._dispatch(_ROUTES[route], payload))
        except RequestError as e:
            return JSONResponse({"error": e.message, "detail": None}, status_code=e.status)

    # --- recommendations ----------------------------------------------------------------------------
    async def _recommend(self, requests: list[dict[str, Any]]) -> list[Recommendation]:
        # A user's stored events are folded in with whatever the request sends (recalculate_user).
        histories = await asyncio.gather(*(asyncio.to_thread(self.events.interactions, r["user_id"]) for r in requests))
        for r, history in zip(requests, histories):
            r["recent"] = list(r.get("recent", [])) + [{"item_id": i, "weight": w} for i, w in history]
        results = await self.recall_runner.to_async.predict(requests)
        return [Recommendation(**r, history_events=len(h)) for r, h in zip(results, histories)]

    @bentoml.api(route="/recommend")
    async def recommend(self, requests: RecommendRequests) -> RecommendResponse:
        """Top-N items for one or many users, with fresh interactions (sent or recorded) folded in."""
        return RecommendResponse(results=await self._recommend([r.model_dump() for r in requests]))

    @bentoml.api(route="/similar-items")
    async def similar_items(
        self,
        item_ids: Annotated[list[Id], BeforeValidator(lambda v: [v] if isinstance(v, str) else v),
                            Field(min_length=1, max_length=MAX_TEXTS, description="one item id or a list")],
        n: Annotated[int, Field(ge=1, le=100, description="similar items per item, 1-100")] = 10,
    ) -> SimilarResponse:
        """Items most similar to each given item (cosine over ALS item factors)."""
        results = await self.recall_runner.to_async.similar(list(item_ids), n)
        missing = [r["item_id"] for r in results if not r["found"]]
        if missing:
            raise NotFound(f"item_ids: {missing[:5]} not in the recall model ({len(missing)} unknown); "
                           "ids are the ones in the training interactions")
        return SimilarResponse(results=[SimilarResult(item_id=r["item_id"], similar=r["similar"]) for r in results])

    # --- demand -------------------------------------------------------------------------------------
    async def _forecast(self, series: list[SeriesInput]) -> list[dict[str, Any]]:
        results = await self.demand_runner.to_async.predict([s.model_dump() for s in series])
        errors = [f"series[{i}].{r['error']}" for i, r in enumerate(results) if "error" in r]
        if errors:
            raise InvalidArgument("; ".join(errors))
        return results

    @bentoml.api(route="/forecast")
    async def forecast(self, series: Annotated[list[SeriesInput], Field(min_length=1, max_length=256)]
                       ) -> ForecastResponse:
        """Quantile forecasts (p10, p50, p90) per period for each series sent with its history."""
        results = await self._forecast(series)
        return ForecastResponse(results=[SeriesForecast(series_id=s.series_id, quantiles=r["quantiles"], model=r["model"])
                                         for s, r in zip(series, results)])

    @bentoml.api(route="/forecast/spec")
    async def forecast_spec(self) -> dict[str, Any]:
        """The covariates, history length and maximum horizon the served demand model expects."""
        return await self.demand_runner.to_async.spec()

    @bentoml.api(route="/inventory/plan")
    async def inventory_plan(
        self,
        series: SeriesInput,
        lead_time: Annotated[int, Field(ge=1, le=52, description="periods until an order placed now arrives")],
        service_level: Annotated[float, Field(ge=0.5, le=0.999, description="chance of no stock-out, 0.5-0.999")],
        on_hand: Annotated[float, Field(ge=0, allow_inf_nan=False, description="units in stock now")],
        on_order: Annotated[float, Field(ge=0, allow_inf_nan=False, description="units ordered, not arrived")] = 0.0,
        dependence: Literal["independent", "comonotonic"] = "independent",
    ) -> InventoryPlan:
        """Reorder quantity for a lead time and service level, from the quantiles of lead-time demand."""
        if series.horizon < lead_time:
            raise InvalidArgument(f"series.horizon: must cover the lead time ({lead_time} periods), got {series.horizon}")
        result = (await self._forecast([series]))[0]
        plan = reorder_plan(result["quantiles"], lead_time, service_level, on_hand, on_order, dependence)
        lead = {k: v[:lead_time] for k, v in result["quantiles"].items()}
        return InventoryPlan(series_id=series.series_id, lead_time=lead_time, service_level=service_level,
                             forecast=lead, model=result["model"], **plan)


# gRPC method -> (service method, request schema; None: the HTTP endpoint's own input schema)
_RPCS: dict[str, tuple[str, type[BaseModel] | None]] = {
    "Sentiment": ("sentiment", None), "Classify": ("classify", None), "Ner": ("ner", None),
    "Keywords": ("keywords", None), "Mine": ("mine", None), "PostEvents": ("post_events", None),
    "GetProfile": ("profile", ProfileQuery), "GetTrends": ("trends", TrendsQuery),
    "Recommend": ("recommend", None), "SimilarItems": ("similar_items", None), "Forecast": ("forecast", None),
    "InventoryPlan": ("inventory_plan", None),
}


# /invocations route -> dispatcher method (profile and trends are reads: use GetProfile/GetTrends over gRPC or GET)
_ROUTES = {"/sentiment": "Sentiment", "/classify": "Classify", "/ner": "Ner", "/keywords": "Keywords", "/mine": "Mine",
           "/events": "PostEvents", "/recommend": "Recommend", "/similar-items": "SimilarItems",
           "/forecast": "Forecast", "/inventory/plan": "InventoryPlan", "/profile": "GetProfile", "/trends": "GetTrends"}
SAGEMAKER_ATTRIBUTES = "x-amzn-sagemaker-custom-attributes"


def _gateway_middleware(app: Any) -> GatewayMiddleware:
    return GatewayMiddleware(app, parse_api_keys(os.environ.get("DEMAND_MINING_API_KEYS")),
                             int(os.environ.get("DEMAND_MINING_MAX_BODY_BYTES", str(4 << 20))))


DemandMining.add_asgi_middleware(_gateway_middleware)
