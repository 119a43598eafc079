"""Text analysis: the five per-task text endpoints, and every text model on each text with its demand insight
and service intent."""

from __future__ import annotations

import asyncio

from gateway.base import GatewayBase, typed
from gateway.schemas import (
    AspectsResponse,
    ClassifyResponse,
    KeywordsResponse,
    MineResult,
    NerResponse,
    SentimentResponse,
)
from mining.contracts import AspectsResult, EntitiesResult, KeywordsResult, LabelResult, TextItem, text_items
from mining.events.models import StoredAnalysis, StoredAspect, StoredEntity, StoredKeyword
from mining.insight import demand_summary
from mining.text import normalize, normalize_term


class TextEndpoints(GatewayBase):
    """Sentiment, category, entities, aspects and keywords of texts, one runner each or all five."""

    async def _labels(self, runner: str, items: list[TextItem]) -> list[LabelResult]:
        return typed(LabelResult, await self.runners[runner].to_async.predict(items))

    async def _entities(self, items: list[TextItem]) -> list[EntitiesResult]:
        return typed(EntitiesResult, await self.runners["ner"].to_async.predict(items))

    async def _aspects(self, items: list[TextItem]) -> list[AspectsResult]:
        return typed(AspectsResult, await self.runners["aspects"].to_async.predict(items))

    async def _keywords(self, items: list[TextItem]) -> list[KeywordsResult]:
        return typed(KeywordsResult, await self.runners["keywords"].to_async.predict(items))

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
        cats, sents, ents, asps, kws, intents = await asyncio.gather(
            self._labels("classification", items),
            self._labels("sentiment", items),
            self._entities(items),
            self._aspects(items),
            self._keywords(items),
            self._labels("intent", items),
        )
        out = []
        for item, c, s, e, a, k, i in zip(items, cats, sents, ents, asps, kws, intents):
            keywords = k.keywords[:top_k]
            demand = demand_summary(
                item.text,
                s.lang,
                c.label,
                s.probabilities.get("positive"),
                e.entities,
                a.aspects,
            )
            out.append(
                MineResult(
                    lang=s.lang,
                    category=c,
                    sentiment=s,
                    entities=e.entities,
                    keywords=keywords,
                    demand=demand,
                    intent=i,
                )
            )
        return out

    @staticmethod
    def stored_analysis(r: MineResult, masked: str) -> StoredAnalysis:
        """What the event store keeps of an analysis: labels, and only the terms that occur in the
        stored text, which is normalised and PII-masked (:func:`mining.text.clean`): a keyword or
        entity cut from an e-mail address or a phone number is not kept. Terms are kept in their
        normalised form, so full-width and half-width spellings count as one."""
        lower = masked.lower()

        def kept(term: str) -> str | None:
            t = normalize(term)
            return t if t and normalize_term(t) in lower else None

        return StoredAnalysis(
            lang=r.lang,
            category=r.demand.category,
            positive=r.sentiment.probabilities.get("positive"),
            entities=[StoredEntity(type=e.type, text=t) for e in r.entities if (t := kept(e.text))],
            keywords=[StoredKeyword(keyword=t) for k in r.keywords if (t := kept(k.keyword))],
            aspects=[StoredAspect(aspect=t, polarity=a.polarity) for a in r.demand.aspects if (t := kept(a.aspect))],
            intent=r.intent.label if r.intent else None,
        )
