"""The demand-mining API: one gateway service composing the model runners.

    bentoml serve service:DemandMining --host 127.0.0.1 --port 3000

Request and response bodies are the pydantic models below; Swagger UI is at ``/`` and the
OpenAPI document at ``/docs.json``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import bentoml
from bentoml.exceptions import InvalidArgument, NotFound
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, StringConstraints

from runners.classifier import ClassifierRunner
from runners.demand_runner import MAX_HISTORY, DemandRunner, reorder_plan
from runners.keywords_runner import MAX_KEYWORDS, KeywordsRunner
from runners.ner_runner import NerRunner
from runners.recall_runner import RecallRunner
from runners.sentiment import SentimentRunner

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


def _loc(loc: list[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def error_message(body: Any) -> str:
    """One readable line from BentoML's error bodies, naming each failing field and the rule it
    broke, e.g. ``texts[0]: String should have at most 2000 characters``."""
    if isinstance(body, list):  # raised InvalidArgument comes list-wrapped
        return "; ".join(error_message(b) for b in body)
    if not isinstance(body, dict):
        return str(body)
    detail = body.get("detail")
    if isinstance(detail, list) and detail and all(isinstance(d, dict) for d in detail):
        return "; ".join(f"{_loc(d.get('loc', []))}: {d.get('msg', '')}" for d in detail)
    return str(body.get("error", body))


class ErrorBodyMiddleware:
    """Rewrites every 4xx JSON body into one shape, ``{"error": "<field>: <rule>", "detail": [...]}``.

    BentoML answers pydantic failures with a generic ``"1 validation error for Input"`` and raised
    ``InvalidArgument`` with a list; clients get one shape whose message names the field.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and 400 <= message["status"] < 500:
                start.update(message)
                return
            if start and message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                await send_rewritten()
                return
            await send(message)

        async def send_rewritten() -> None:
            raw = b"".join(chunks)
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() not in (b"content-length", b"content-type")]
            try:
                body = json.loads(raw)
            except ValueError:
                body = {"error": raw.decode("utf-8", "replace")}
            detail = body.get("detail") if isinstance(body, dict) else body
            new = json.dumps({"error": error_message(body), "detail": detail}, ensure_ascii=False).encode()
            headers += [(b"content-type", b"application/json"), (b"content-length", str(len(new)).encode())]
            await send({"type": "http.response.start", "status": start["status"], "headers": headers})
            await send({"type": "http.response.body", "body": new})

        await self.app(scope, receive, capture)


@bentoml.service(name="DemandMining", traffic={"timeout": 60})
class DemandMining:
    sentiment_runner = bentoml.depends(SentimentRunner)
    classifier_runner = bentoml.depends(ClassifierRunner)
    ner_runner = bentoml.depends(NerRunner)
    keywords_runner = bentoml.depends(KeywordsRunner)
    recall_runner = bentoml.depends(RecallRunner)
    demand_runner = bentoml.depends(DemandRunner)

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


    @bentoml.api(route="/recommend")
    async def recommend(self, requests: RecommendRequests) -> RecommendResponse:
        """Top-N items for one or many users, with fresh interactions folded in."""
        results = await self.recall_runner.to_async.predict([r.model_dump() for r in requests])
        return RecommendResponse(results=[Recommendation(**r) for r in results])

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


DemandMining.add_asgi_middleware(ErrorBodyMiddleware)
