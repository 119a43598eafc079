"""Recommendations and next items: ALS, the sequence model or their blend, lifted by stated demand."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from gateway.base import GatewayBase, typed
from gateway.errors import RequestError
from gateway.schemas import (
    NeedCategory,
    NextNeed,
    NextNeeds,
    Recommendation,
    RecommendResponse,
    SequenceEvent,
    SimilarResponse,
    SimilarResult,
)
from mining.contracts import ItemInfo, NextResult, RecallResult, RecommendedItem, SimilarLookup
from mining.events import EventsOff
from mining.models.items import blend, lift

# Item events the sequence model is given (it reads at most its own length of the newest).
MAX_SEQUENCE_EVENTS = 200
# Stated needs count for this long; candidates to blend or lift per item asked for (at least 30).
DEMAND_DAYS = 30
CANDIDATES_PER_ITEM, MIN_CANDIDATES = 3, 30

# A user's stored item events, oldest first: (item id, event type, unix seconds).
Sequence = list[tuple[str, str, float]]


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


@dataclass
class Ranked:
    """One recommendation request ranked, before the stated-demand lift: what was asked, what
    each model answered, and the candidates (item, score) best first."""

    request: dict[str, Any]
    recall: RecallResult
    strategy: str
    items: list[tuple[str, float]]
    history_events: int
    terms: list[str]
    wanted: int
    # The sequence model's answer for the request's candidate count; None where it was not asked.
    predicted: NextResult | None

    @property
    def lifting(self) -> bool:
        """The user stated needs and there are candidates to lift: the items table is read."""
        return bool(self.terms and self.items)


def finish(r: Ranked, info: dict[str, ItemInfo]) -> Recommendation:
    """The answer of one ranked request: lifted by the user's stated needs (``info`` describes
    the candidates), cut to the items asked for."""
    items = r.items
    matched: dict[str, list[str]] = {}
    values = {i: [*x.categories, *([x.brand] if x.brand else [])] for i, x in info.items() if x.found}
    lifted = lift([i for i, _ in items], values, r.terms) if r.lifting else None
    if lifted is not None:  # None: no candidate matched a term, the ranking stands
        items = [(i, s) for i, s, _ in lifted]
        matched = {i: m for i, _, m in lifted if m}
    because = {it.item_id: it.because for it in r.recall.items}
    explain = bool(r.request.get("explain"))
    return Recommendation(
        **{
            **r.recall.model_dump(),
            "items": [
                RecommendedItem(
                    item_id=i, score=s, because=because.get(i), demand=matched.get(i, []) if explain else None
                )
                for i, s in items[: r.wanted]
            ],
        },
        history_events=r.history_events,
        strategy=r.strategy,
        demand=r.terms if matched else [],
    )


def next_needs(
    user_id: str,
    sequence: Sequence,
    result: NextResult,
    fallback: Recommendation | None,
    info: dict[str, ItemInfo],
) -> NextNeeds:
    """The next-items answer from the sequence model's ``result`` or, where it had none, the
    recommender's ``fallback``; ``info`` describes the items."""
    if result.items is not None:
        ranked, source, model, reason = [(x.item_id, x.score) for x in result.items], "sequence", result.model, None
    elif fallback is not None:
        ranked, source, model = [(x.item_id, x.score) for x in fallback.items], fallback.source, fallback.model
        reason = result.reason
    else:
        raise RuntimeError("the sequence model had no answer and no recommendation was given in its place")
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
        sequence=[SequenceEvent(item_id=i, type=k, ts=t) for i, k, t in sequence],
        reason=reason,
        model=model,
    )


class Recommender(GatewayBase):
    """Per-user rankings from the recall and sequence runners, and similar items."""

    async def _strategies(self) -> dict[str, Any]:
        """The sequence runner's validated default strategy and blend weight (asked once)."""
        if self._strategy is None:
            self._strategy = dict(await self.runners["sequence"].to_async.strategy())
        return self._strategy

    async def rank(self, requests: list[dict[str, Any]], sequences: dict[int, Sequence] | None = None) -> list[Ranked]:
        """Per request the candidates of its strategy: ALS with the user's stored item events
        folded in, the sequence model over their ordered events, or both by rank fusion.
        ``sequences``: request index -> the user's item events, where the caller has read them."""
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
        results = typed(RecallResult, await self.runners["recall"].to_async.predict(requests))
        sequenced = [k for k, s in enumerate(strategies) if s != "als"]
        predicted: dict[int, NextResult] = {}
        if sequenced and stored:
            given = sequences or {}
            read = [k for k in sequenced if k not in given]
            events = dict(given)
            events |= dict(zip(read, await asyncio.gather(*(self.user_sequence(users[k]) for k in read))))
            asks = [
                {
                    "events": [[i, t] for i, t, _ in events[k]],
                    "n": requests[k]["n"],
                    "exclude_seen": requests[k].get("exclude_seen", True),
                }
                for k in sequenced
            ]
            predicted = dict(zip(sequenced, typed(NextResult, await self.runners["sequence"].to_async.predict(asks))))
        weight = float(defaults["blend_weight"])
        out = []
        for k, (r, res) in enumerate(zip(requests, results)):
            strategy, items = _rank(strategies[k], r, res, predicted.get(k), weight)
            out.append(Ranked(r, res, strategy, items, len(histories[k]), terms[k], wanted[k], predicted.get(k)))
        return out

    async def recommendations(self, requests: list[dict[str, Any]]) -> list[Recommendation]:
        """Per request the user's top items (:meth:`rank`); then items matching what the user
        asked for in their own searches and messages are lifted."""
        ranked = await self.rank(requests)
        info = await self.describe(list(dict.fromkeys(i for r in ranked if r.lifting for i, _ in r.items)))
        return [finish(r, info) for r in ranked]

    async def describe(self, item_ids: list[str]) -> dict[str, ItemInfo]:
        """What the items table says about each item (found or not)."""
        if not item_ids:
            return {}
        return {i.item_id: i for i in typed(ItemInfo, await self.runners["sequence"].to_async.describe(item_ids))}

    async def user_sequence(self, user_id: str) -> Sequence:
        """The user's stored item events, oldest first (read now, so an event counts at once)."""
        return await self._store(self.events.sequence, user_id, MAX_SEQUENCE_EVENTS)

    async def predict_next(self, sequence: Sequence, n: int) -> NextResult:
        """The sequence model's ``n`` next items over ``sequence`` (items None, with the reason,
        where it cannot answer)."""
        request = {"events": [[item, kind] for item, kind, _ in sequence], "n": n}
        (result,) = typed(NextResult, await self.runners["sequence"].to_async.predict([request]))
        return result

    async def next_items(self, user_id: str, n: int = 10) -> NextNeeds:
        """The user's predicted next items from their stored item events; the recommender answers
        where the sequence model cannot."""
        sequence = await self.user_sequence(user_id)
        result = await self.predict_next(sequence, n)
        fallback = None
        if result.items is None:
            (fallback,) = await self.recommendations([{"user_id": user_id, "n": n, "strategy": "als"}])
        ids = [x.item_id for x in (result.items if result.items is not None else fallback.items)]  # type: ignore[union-attr]
        return next_needs(user_id, sequence, result, fallback, await self.describe(ids))

    async def recommend(self, requests: list[dict[str, Any]]) -> RecommendResponse:
        return RecommendResponse(results=await self.recommendations(requests))

    async def similar_items(self, item_ids: list[str], n: int) -> SimilarResponse:
        results = typed(SimilarLookup, await self.runners["recall"].to_async.similar(item_ids, n))
        missing = [r.item_id for r in results if not r.found]
        if missing:
            raise RequestError(
                404,
                f"item_ids: {missing[:5]} not in the recall model ({len(missing)} unknown); "
                "ids are the ones in the training interactions",
            )
        return SimilarResponse(results=[SimilarResult(item_id=r.item_id, similar=r.similar) for r in results])
