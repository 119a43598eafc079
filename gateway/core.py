"""The gateway's logic: typed endpoints per task, ``/mine``, event intake, profiles, trends,
recommendations and forecasts, composed from the runners and the event store.

:class:`Gateway` holds no transport: ``service.py`` declares the HTTP routes and hands each call
here; gRPC and SageMaker's ``/invocations`` reach the same methods through :func:`dispatch`. The
runners are anything with a ``bentoml.depends``-style call surface
(``await runner.to_async.predict(items)``, ``await runner.is_ready()``): separate services,
colocated ones (:mod:`gateway.colocated`), or fakes in tests.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from bentoml.exceptions import InvalidArgument, NotFound, ServiceUnavailable
from pydantic import BaseModel, TypeAdapter, ValidationError

from gateway.errors import Conflict, NotConfigured, RequestError, validation_message
from gateway.schemas import (
    AspectsResponse,
    ClassifyResponse,
    DeletedUser,
    Demand,
    EventIn,
    EventsResponse,
    EventStatus,
    ForecastResponse,
    InventoryPlan,
    KeywordsResponse,
    MineResponse,
    MineResult,
    NeedCategory,
    NerResponse,
    NextNeed,
    NextNeeds,
    Profile,
    Recommendation,
    RecommendResponse,
    SentimentResponse,
    SequenceEvent,
    SeriesForecast,
    SeriesInput,
    SimilarResponse,
    SimilarResult,
    Trends,
    UserInsight,
)
from mining.contracts import (
    AspectsResult,
    EntitiesResult,
    ForecastResult,
    ItemInfo,
    KeywordsResult,
    LabelResult,
    NextResult,
    Quantiles,
    RecallResult,
    RecommendedItem,
    SimilarLookup,
    TextItem,
    text_items,
)
from mining.events import EventsDisabled, EventsOff, EventStore, KeyConflict, StoreUnavailable, body_hash
from mining.insight import demand_summary
from mining.inventory import reorder_plan
from mining.models.items import blend, lift
from mining.registry import RUNNERS
from mining.text import clean, normalize

T = TypeVar("T")
log = logging.getLogger("demand_mining")

# Runner results arrive as contract models (colocated) or as their JSON (separate layout): one
# adapter per result type reads either.
_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def _typed(cls: type[T], results: Any) -> list[T]:
    adapter = _ADAPTERS.setdefault(cls, TypeAdapter(list[cls]))  # type: ignore[valid-type]
    return adapter.validate_python(results, from_attributes=True)  # type: ignore[no-any-return]


def _mine_key(user_id: str, batch: str, index: int) -> str:
    """Idempotency key of the ``index``-th text of a ``/mine`` call: a digest of the three parts,
    so no user id or request id (which may hold any character, ``:`` included) can produce another
    user's key."""
    digest = hashlib.sha256(json.dumps([user_id, batch, index]).encode()).hexdigest()
    return f"mine:{digest[:40]}"


# Item events the sequence model is given (it reads at most its own length of the newest).
MAX_SEQUENCE_EVENTS = 200
# Stated needs count for this long; candidates to blend or lift per item asked for (at least 30).
DEMAND_DAYS = 30
CANDIDATES_PER_ITEM, MIN_CANDIDATES = 3, 30


def _category_shares(items: list[NextNeed], by_score: bool) -> list[NeedCategory]:
    """Categories of the predicted items, each with its share of the items' scores (probabilities)
    or, for scores that only rank, of the items; an item in k categories counts 1/k to each."""
    mass: dict[str, float] = {}
    for it in items:
        for c in it.categories:
            mass[c] = mass.get(c, 0.0) + (it.score if by_score else 1.0) / len(it.categories)
    total = sum(mass.values())
    if total <= 0:
        return []
    return [NeedCategory(category=c, share=m / total) for c, m in sorted(mass.items(), key=lambda kv: (-kv[1], kv[0]))]


def _rank(
    strategy: str, request: dict[str, Any], als: RecallResult, sequence: NextResult | None, weight: float
) -> tuple[str, list[tuple[str, float]]]:
    """(strategy that ran, ranked (item, score) candidates) of one request: ALS's list, the
    sequence model's (allow and deny applied, as ALS applies them), or their rank fusion. Without
    a sequence answer (no known item events) ALS runs."""
    if strategy == "als" or sequence is None or sequence.items is None:
        return "als", [(it.item_id, it.score) for it in als.items]
    allowed = set(request["allow"]) if request.get("allow") is not None else None
    denied = set(request.get("deny", ()))
    kept = [x for x in sequence.items if x.item_id not in denied and (allowed is None or x.item_id in allowed)]
    if strategy == "sequence":
        return strategy, [(x.item_id, x.score) for x in kept]
    als_ids = [it.item_id for it in als.items]
    return strategy, blend([x.item_id for x in kept], als_ids, weight, len(kept) + len(als_ids))


def _quantiles(result: ForecastResult) -> Quantiles:
    if result.quantiles is None:  # Gateway._forecast raises on every error first
        raise RuntimeError(f"demand runner gave neither quantiles nor an error: {result}")
    return result.quantiles


class Gateway:
    """Endpoints as plain async methods over runners and an event store.

    Args:
        runners: registry runner key (``sentiment``, ``classification``, ``ner``, ``aspects``,
            ``keywords``, ``recall``, ``demand``) -> runner proxy.
        events: the event store (:class:`EventsOff` for a deployment without one).
    """

    def __init__(self, runners: Mapping[str, Any], events: EventStore | EventsOff) -> None:
        missing = [r.key for r in RUNNERS if r.key not in runners]
        if missing:
            raise ValueError(f"runners missing: {missing}")
        self.runners, self.events = dict(runners), events
        self._strategy: dict[str, Any] | None = None

    async def ready(self) -> bool:
        """Every runner has loaded and warmed its models (the meaning of ``/readyz``)."""
        try:
            return all(await asyncio.gather(*(r.is_ready(5) for r in self.runners.values())))
        except Exception:  # a separate runner's socket is not up yet
            return False

    async def _store(self, method: Callable[..., T], *args: Any) -> T:
        """Run an event-store call in a thread; a store that is busy or out of space answers 503
        (with Retry-After), not 500: the client's request was fine and may be retried."""
        try:
            return await asyncio.to_thread(method, *args)
        except StoreUnavailable as e:
            raise ServiceUnavailable(str(e)) from None
        except KeyConflict as e:
            raise Conflict(str(e)) from None
        except EventsDisabled as e:
            raise NotConfigured(str(e)) from None

    # --- text tasks ---------------------------------------------------------------------------------
    async def _labels(self, runner: str, items: list[TextItem]) -> list[LabelResult]:
        return _typed(LabelResult, await self.runners[runner].to_async.predict(items))

    async def _entities(self, items: list[TextItem]) -> list[EntitiesResult]:
        return _typed(EntitiesResult, await self.runners["ner"].to_async.predict(items))

    async def _aspects(self, items: list[TextItem]) -> list[AspectsResult]:
        return _typed(AspectsResult, await self.runners["aspects"].to_async.predict(items))

    async def _keywords(self, items: list[TextItem]) -> list[KeywordsResult]:
        return _typed(KeywordsResult, await self.runners["keywords"].to_async.predict(items))

    async def sentiment(self, texts: list[str]) -> SentimentResponse:
        return SentimentResponse(results=await self._labels("sentiment", text_items(texts)))

    async def classify(self, texts: list[str]) -> ClassifyResponse:
        return ClassifyResponse(results=await self._labels("classification", text_items(texts)))

    async def ner(self, texts: list[str]) -> NerResponse:
        return NerResponse(results=await self._entities(text_items(texts)))

    async def aspects(self, texts: list[str]) -> AspectsResponse:
        return AspectsResponse(results=await self._aspects(text_items(texts)))

    async def keywords(self, texts: list[str], top_k: int) -> KeywordsResponse:
        results = await self._keywords(text_items(texts))
        return KeywordsResponse(results=[r.model_copy(update={"keywords": r.keywords[:top_k]}) for r in results])

    async def analyse(self, texts: list[str], top_k: int) -> list[MineResult]:
        """Every text model on each text, and the demand insight built from their outputs."""
        items = text_items(texts)  # language detected once, here, for all five runners
        # The text runners do not depend on each other: one round trip's latency, not five.
        cats, sents, ents, asps, kws = await asyncio.gather(
            self._labels("classification", items),
            self._labels("sentiment", items),
            self._entities(items),
            self._aspects(items),
            self._keywords(items),
        )
        out = []
        for item, c, s, e, a, k in zip(items, cats, sents, ents, asps, kws):
            keywords = k.keywords[:top_k]
            demand = demand_summary(
                item.text,
                s.lang,
                c.label,
                s.probabilities.get("positive"),
                [x.model_dump() for x in e.entities],
                [x.model_dump() for x in a.aspects],
            )
            out.append(
                MineResult(
                    lang=s.lang,
                    category=c,
                    sentiment=s,
                    entities=e.entities,
                    keywords=keywords,
                    demand=Demand(**demand),
                )
            )
        return out

    @staticmethod
    def stored_analysis(r: MineResult, masked: str) -> dict[str, Any]:
        """What the event store keeps of an analysis: labels, and only the terms that occur in the
        stored text, which is normalised and PII-masked (:func:`mining.text.clean`): a keyword or
        entity cut from an e-mail address or a phone number is not kept. Terms are kept in their
        normalised form, so full-width and half-width spellings count as one."""
        lower = masked.lower()

        def kept(term: str) -> str | None:
            t = normalize(term)
            return t if t and t.lower() in lower else None

        return {
            "lang": r.lang,
            "category": r.demand.category,
            "positive": r.sentiment.probabilities.get("positive"),
            "entities": [{"type": e.type, "text": t} for e in r.entities if (t := kept(e.text))],
            "keywords": [{"keyword": t} for k in r.keywords if (t := kept(k.keyword))],
            "aspects": [{"aspect": t, "polarity": a.polarity} for a in r.demand.aspects if (t := kept(a.aspect))],
        }

    async def mine(
        self, texts: list[str], user_id: str | None, event_type: str, request_id: str | None, top_k: int, n: int
    ) -> MineResponse:
        results = await self.analyse(texts, top_k)
        if user_id is None:
            return MineResponse(results=results)
        now = time.time()
        batch = request_id or uuid.uuid4().hex
        masked = [clean(t) for t in texts]
        events = [
            {
                "key": _mine_key(user_id, batch, i),
                "user_id": user_id,
                "type": event_type,
                "ts": now,
                "text": m,
                "analysis": self.stored_analysis(r, m),
                # A /mine event's time is when the call arrived, so a retry differs in it: its body
                # is its type and text.
                "body_hash": body_hash({"type": event_type, "text": m}),
            }
            for i, (m, r) in enumerate(zip(masked, results))
        ]
        statuses = await self._store(self.events.add, events)
        profile = await self._store(self.events.profile, user_id)
        recs = await self.recommendations([{"user_id": user_id, "n": n}])
        upcoming = await self.next_items(user_id, n)
        return MineResponse(
            results=results,
            user=UserInsight(
                profile=Profile(**(profile or {})),
                recommendations=recs[0],
                next=upcoming,
                events=[
                    EventStatus(key=s["key"], id=s["id"], status="stored" if s["stored"] else "duplicate")
                    for s in statuses
                ],
            ),
        )

    # --- events, profiles, trends -------------------------------------------------------------------
    async def post_events(self, events: list[EventIn]) -> EventsResponse:
        ids = [(e.user_id, e.key) for e in events]  # keys are unique per user
        if len(set(ids)) != len(ids):
            dup = next(k for k in ids if ids.count(k) > 1)
            raise InvalidArgument(
                f"events: key {dup[1]!r} of user {dup[0]!r} appears more than once in this request; keys must be unique"
            )
        known = await self._store(self.events.existing, ids)
        # Only the masked text is analysed and kept: nothing personal reaches the store.
        masked = {(e.user_id, e.key): clean(e.text) for e in events if e.text is not None}
        for e in events:
            seen = known.get((e.user_id, e.key))
            row = {"type": e.type, "item_id": e.item_id, "text": masked.get((e.user_id, e.key)), "ts": e.ts.timestamp()}
            if seen is not None and seen[1] is not None and seen[1] != body_hash(row):
                raise Conflict(str(KeyConflict(e.key)))
        fresh = [e for e in events if (e.user_id, e.key) not in known]
        texts = {k: masked[k] for k in ((e.user_id, e.key) for e in fresh) if k in masked}
        analyses = dict(zip(texts, await self.analyse(list(texts.values()), 5))) if texts else {}
        rows = [
            {
                "key": e.key,
                "user_id": e.user_id,
                "type": e.type,
                "item_id": e.item_id,
                "ts": e.ts.timestamp(),
                "text": texts.get((e.user_id, e.key)),
                "analysis": (
                    self.stored_analysis(analyses[(e.user_id, e.key)], texts[(e.user_id, e.key)])
                    if (e.user_id, e.key) in texts
                    else None
                ),
            }
            for e in fresh
        ]
        added = await self._store(self.events.add, rows) if rows else []
        stored = {(r["user_id"], r["key"]): s for r, s in zip(rows, added)}
        results = []
        for e in events:
            k = (e.user_id, e.key)
            if k in stored and stored[k]["stored"]:
                results.append(EventStatus(key=e.key, id=stored[k]["id"], status="stored"))
            else:  # stored before this request, or by another worker while it was analysed
                event_id = known[k][0] if k in known else stored[k]["id"]
                results.append(EventStatus(key=e.key, id=event_id, status="duplicate"))
        n_stored = sum(r.status == "stored" for r in results)
        return EventsResponse(results=results, stored=n_stored, duplicates=len(results) - n_stored)

    async def profile(self, user_id: str, top: int = 10) -> Profile:
        p = await self._store(self.events.profile, user_id, top)
        if p is None:
            raise NotFound(f"user_id: no events for user {user_id!r}; post events to /events first")
        return Profile(**p)

    async def delete_user(self, user_id: str) -> DeletedUser:
        """Remove a user's events and everything derived from them (profile terms, folded-in
        interactions); the audit log line names the counts and a digest of the id, not the id."""
        counts = await self._store(self.events.delete_user, user_id)
        digest = hashlib.sha256(user_id.encode()).hexdigest()[:16]
        log.info("deleted user sha256:%s: %d events, %d terms", digest, counts["events"], counts["terms"])
        return DeletedUser(user_id=user_id, **counts)

    async def purge(self, retention_days: int) -> dict[str, int]:
        """Delete events older than ``retention_days`` days (and their terms); returns the counts."""
        return await self._store(self.events.purge, time.time() - retention_days * 86400.0)

    async def trends(
        self, window: int = 86400, end: datetime | None = None, top: int = 10, min_count: int = 1
    ) -> Trends:
        t = await self._store(self.events.trends, float(window), end.timestamp() if end else None, top, min_count)
        return Trends(**t)

    # --- recommendations ----------------------------------------------------------------------------
    async def _strategies(self) -> dict[str, Any]:
        """The sequence runner's validated default strategy and blend weight (asked once)."""
        if self._strategy is None:
            self._strategy = dict(await self.runners["sequence"].to_async.strategy())
        return self._strategy

    async def recommendations(self, requests: list[dict[str, Any]]) -> list[Recommendation]:
        """Per request the user's top items: ALS with the user's stored item events folded in, the
        sequence model over their ordered events, or both by rank fusion (``strategy``); then items
        matching what the user asked for in their own searches and messages are lifted."""
        stored = not isinstance(self.events, EventsOff)
        users = [r["user_id"] for r in requests]
        if stored:  # a user's stored events are folded in with whatever the request sends
            histories = await asyncio.gather(*(self._store(self.events.interactions, u) for u in users))
            since = time.time() - DEMAND_DAYS * 86400.0
            demands = await asyncio.gather(*(self._store(self.events.stated_demand, u, since) for u in users))
        else:  # no stored history to fold in: the request's own
            histories, demands = [[] for _ in requests], [[] for _ in requests]
        defaults = await self._strategies()
        wanted = [int(r.get("n", 10)) for r in requests]
        strategies = [r.pop("strategy", None) or defaults["default"] for r in requests]
        terms = [list(dict.fromkeys(t for _, t, _, _ in d)) for d in demands]
        for r, history, n, strategy, ts in zip(requests, histories, wanted, strategies, terms):
            r["recent"] = list(r.get("recent", [])) + [{"item_id": i, "weight": w} for i, w in history]
            if strategy != "als" or ts:  # candidates to blend or lift, cut to n at the end
                r["n"] = max(CANDIDATES_PER_ITEM * n, MIN_CANDIDATES)
        results = _typed(RecallResult, await self.runners["recall"].to_async.predict(requests))
        sequenced = [k for k, s in enumerate(strategies) if s != "als"]
        predicted: dict[int, NextResult] = {}
        if sequenced and stored:
            events = await asyncio.gather(
                *(self._store(self.events.sequence, users[k], MAX_SEQUENCE_EVENTS) for k in sequenced)
            )
            asks = [
                {
                    "events": [[i, t] for i, t, _ in ev],
                    "n": requests[k]["n"],
                    "exclude_seen": requests[k].get("exclude_seen", True),
                }
                for k, ev in zip(sequenced, events)
            ]
            predicted = dict(zip(sequenced, _typed(NextResult, await self.runners["sequence"].to_async.predict(asks))))
        weight = float(defaults["blend_weight"])
        ranked = [
            _rank(strategies[k], r, res, predicted.get(k), weight) for k, (r, res) in enumerate(zip(requests, results))
        ]
        lifting = [k for k in range(len(requests)) if terms[k] and ranked[k][1]]
        info = await self.describe(list(dict.fromkeys(i for k in lifting for i, _ in ranked[k][1])))
        values = {i: [*x.categories, *([x.brand] if x.brand else [])] for i, x in info.items() if x.found}
        out = []
        for k, (r, res) in enumerate(zip(requests, results)):
            strategy, items = ranked[k]
            lifted = lift([i for i, _ in items], values, terms[k]) if k in lifting else None
            matched: dict[str, list[str]] = {}
            if lifted is not None:
                items = [(i, s) for i, s, _ in lifted]
                matched = {i: m for i, _, m in lifted if m}
            because = {it.item_id: it.because for it in res.items}
            explain = bool(r.get("explain"))
            out.append(
                Recommendation(
                    **{
                        **res.model_dump(),
                        "items": [
                            RecommendedItem(
                                item_id=i,
                                score=s,
                                because=because.get(i),
                                demand=matched.get(i, []) if explain else None,
                            )
                            for i, s in items[: wanted[k]]
                        ],
                    },
                    history_events=len(histories[k]),
                    strategy=strategy,
                    demand=terms[k] if matched else [],
                )
            )
        return out

    async def describe(self, item_ids: list[str]) -> dict[str, ItemInfo]:
        """What the items table says about each item (found or not)."""
        if not item_ids:
            return {}
        return {i.item_id: i for i in _typed(ItemInfo, await self.runners["sequence"].to_async.describe(item_ids))}

    async def next_items(self, user_id: str, n: int = 10) -> NextNeeds:
        """The user's predicted next items from their stored item events (read now, so an event
        counts at once); the recommender answers where the sequence model cannot."""
        events = await self._store(self.events.sequence, user_id, MAX_SEQUENCE_EVENTS)
        request = {"events": [[item, kind] for item, kind, _ in events], "n": n}
        (result,) = _typed(NextResult, await self.runners["sequence"].to_async.predict([request]))
        if result.items is not None:
            ranked, source, model, reason = [(x.item_id, x.score) for x in result.items], "sequence", result.model, None
        else:
            (rec,) = await self.recommendations([{"user_id": user_id, "n": n, "strategy": "als"}])
            ranked, source, model = [(x.item_id, x.score) for x in rec.items], rec.source, rec.model
            reason = result.reason
        info = await self.describe([i for i, _ in ranked])
        items = [
            NextNeed(item_id=i, score=s, title=info[i].title, categories=info[i].categories)
            if i in info and info[i].found
            else NextNeed(item_id=i, score=s)
            for i, s in ranked
        ]
        return NextNeeds(
            user_id=user_id,
            source=source,
            items=items,
            categories=_category_shares(items, by_score=source == "sequence"),
            sequence=[SequenceEvent(item_id=i, type=k, ts=t) for i, k, t in events],
            reason=reason,
            model=model,
        )

    async def recommend(self, requests: list[dict[str, Any]]) -> RecommendResponse:
        return RecommendResponse(results=await self.recommendations(requests))

    async def similar_items(self, item_ids: list[str], n: int) -> SimilarResponse:
        results = _typed(SimilarLookup, await self.runners["recall"].to_async.similar(item_ids, n))
        missing = [r.item_id for r in results if not r.found]
        if missing:
            raise NotFound(
                f"item_ids: {missing[:5]} not in the recall model ({len(missing)} unknown); "
                "ids are the ones in the training interactions"
            )
        return SimilarResponse(results=[SimilarResult(item_id=r.item_id, similar=r.similar) for r in results])

    # --- demand -------------------------------------------------------------------------------------
    async def _forecast(self, series: list[SeriesInput]) -> list[ForecastResult]:
        results = _typed(
            ForecastResult, await self.runners["demand"].to_async.predict([s.model_dump() for s in series])
        )
        errors = [f"series[{i}].{r.error}" for i, r in enumerate(results) if r.error is not None]
        if errors:
            raise InvalidArgument("; ".join(errors))
        return results

    async def forecast(self, series: list[SeriesInput]) -> ForecastResponse:
        results = await self._forecast(series)
        return ForecastResponse(
            results=[
                SeriesForecast(series_id=s.series_id, quantiles=_quantiles(r), model=r.model)
                for s, r in zip(series, results)
            ]
        )

    async def forecast_spec(self) -> dict[str, Any]:
        return await self.runners["demand"].to_async.spec()  # type: ignore[no-any-return]

    async def inventory_plan(
        self,
        series: SeriesInput,
        lead_time: int,
        service_level: float,
        on_hand: float,
        on_order: float,
        dependence: str,
    ) -> InventoryPlan:
        if series.horizon < lead_time:
            raise InvalidArgument(
                f"series.horizon: must cover the lead time ({lead_time} periods), got {series.horizon}"
            )
        result = (await self._forecast([series]))[0]
        quantiles = _quantiles(result).model_dump()
        plan = reorder_plan(quantiles, lead_time, service_level, on_hand, on_order, dependence)
        lead = {k: v[:lead_time] for k, v in quantiles.items()}
        return InventoryPlan(
            series_id=series.series_id,
            lead_time=lead_time,
            service_level=service_level,
            forecast=Quantiles(**lead),
            model=result.model,
            **plan,
        )


Method = Callable[..., Awaitable[Any]]


async def dispatch(schema: type[BaseModel], method: Method, payload: Any) -> dict[str, Any]:
    """Validate ``payload`` (a request as JSON) with an endpoint's own ``schema`` and run
    ``method`` on its fields: how gRPC and ``/invocations`` reach the HTTP endpoints with the same
    rules and messages. Raises :class:`RequestError` with the status and message HTTP gives."""
    try:
        args = schema.model_validate(payload)
    except ValidationError as e:
        raise RequestError(400, validation_message(e.errors(include_url=False))[0]) from None
    fields = {k: getattr(args, k) for k in type(args).model_fields}
    try:
        result = await method(**fields)
    except InvalidArgument as e:
        raise RequestError(400, str(e)) from None
    except NotFound as e:
        raise RequestError(404, str(e)) from None
    except Conflict as e:
        raise RequestError(409, str(e)) from None
    except NotConfigured as e:
        raise RequestError(501, str(e)) from None
    except ServiceUnavailable as e:
        raise RequestError(503, str(e)) from None
    return result.model_dump(mode="json") if isinstance(result, BaseModel) else result  # type: ignore[no-any-return]
