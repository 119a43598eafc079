"""Text analysis: the five per-task text endpoints, and every text model on each text with its demand insight
and service intent."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TypeVar

from gateway.base import GatewayBase, typed
from gateway.schemas import (
    AspectsResponse,
    ClassifyResponse,
    KeywordsResponse,
    MineResult,
    NerResponse,
    SentimentResponse,
)
from mining.contracts import (
    AspectSpan,
    AspectsResult,
    EntitiesResult,
    EntitySpan,
    Keyword,
    KeywordsResult,
    LabelResult,
    TextItem,
    item_text_with_offsets,
    text_items,
)
from mining.events.models import StoredAnalysis, StoredAspect, StoredEntity, StoredKeyword
from mining.insight import demand_summary, names_in, outside_names
from mining.slots import (
    Personal,
    mask_entities,
    mask_personal,
    mask_terms,
    person_names,
    personal_spans,
)
from mining.text import PLACEHOLDERS, clean, normalize, normalize_term

Span = TypeVar("Span", EntitySpan, AspectSpan)
# The sentiment of a search query: it states a need and judges nothing (mining.insight.as_wanted).
QUERY_SENTIMENT = "a search query states what is wanted and judges nothing: no sentiment"


def _moved(spans: list[Span], src: list[tuple[int, int]]) -> list[Span]:
    return [
        s.model_copy(update={"start": src[s.start][0], "end": src[s.end - 1][1]})
        if 0 <= s.start < s.end <= len(src)
        else s
        for s in spans
    ]


def in_sent_text(text: str, spans: list[Span]) -> list[Span]:
    """``spans`` found in what the runners saw of ``text`` (:func:`mining.contracts.item_text`:
    personal numbers masked, invisible characters dropped) with their offsets moved onto ``text``
    as sent, as the API promises; a span over a placeholder covers the whole masked number."""
    return _moved(spans, item_text_with_offsets(text)[1])


def answered_entities(text: str, entities: list[EntitySpan]) -> list[EntitySpan]:
    """Entities (offsets into what the runners saw of ``text``) as an answer gives them: names and
    addresses masked (:func:`mining.slots.mask_entities`), offsets into ``text`` as sent."""
    item, src = item_text_with_offsets(text)
    return _moved(mask_entities(entities, _personal_in(item, entities)), src)


def shown_keywords(text: str, keywords: list[Keyword], spans: Personal) -> list[Keyword]:
    """Keywords of ``text`` (what the runner saw; ``spans`` its :func:`mining.slots.personal_spans`)
    as an answer shows them: a name or an address in one masked, one that is nothing else left out
    (:func:`mining.slots.mask_terms`)."""
    shown = mask_terms([k.keyword for k in keywords], text, spans)
    return [k.model_copy(update={"keyword": t}) for k, t in zip(keywords, shown) if t is not None]


def shown_aspects(text: str, aspects: list[AspectSpan], spans: Personal) -> list[AspectSpan]:
    """Aspects of ``text`` as an answer shows them, as :func:`shown_keywords`; offsets unchanged."""
    shown = mask_terms([a.aspect for a in aspects], text, spans)
    return [a.model_copy(update={"aspect": t}) for a, t in zip(aspects, shown) if t is not None]


def stored_text(text: str, entities: list[EntitySpan]) -> str:
    """What may be kept of a customer's ``text``: :func:`mining.text.clean` (personal numbers
    masked), then names and street addresses masked (:func:`mining.slots.mask_personal`): those the
    rules find and those the NER found (``entities``, offsets into ``text`` as sent)."""
    names = [normalize(n) for n in person_names(text, entities)]
    return mask_personal(clean(text), names)


def stored_hash_text(text: str) -> str:
    """The text a stored event's body hash is taken of: :func:`stored_text` without the NER's
    names, so that a retry compares equal whatever model version answers it, and the digest is not
    one of a text holding a name the rules find."""
    return mask_personal(clean(text))


def _personal_in(text: str, entities: list[EntitySpan]) -> Personal:
    """The names and addresses of ``text`` (rules, and the NER's person ``entities``)."""
    return personal_spans(text, person_names(text, entities))


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
        results = await self._entities(text_items(texts))
        return NerResponse(
            results=[
                r.model_copy(update={"entities": answered_entities(t, r.entities)}) for t, r in zip(texts, results)
            ]
        )

    async def _personal(self, items: list[TextItem]) -> list[Personal]:
        """Each text's names and addresses (:func:`mining.slots.personal_spans`, with the names the
        NER finds): what an answer holding terms of the text must mask."""
        found = await self._entities(items)
        return [_personal_in(it.text, r.entities) for it, r in zip(items, found)]

    async def aspects(self, texts: list[str]) -> AspectsResponse:
        items = text_items(texts)
        results, found = await asyncio.gather(self._aspects(items), self._entities(items))
        out = []
        for t, it, r, e in zip(texts, items, results, found):
            # The extractor and the opinion lexicon read characters; the entities know where a name
            # runs (松鼠 of 三只松鼠 is no aspect, 小 of 小米 no opinion), as /mine reads them.
            aspects = outside_names(r.aspects, names_in(e.entities), it.text, r.lang)
            personal = _personal_in(it.text, e.entities)
            out.append(r.model_copy(update={"aspects": in_sent_text(t, shown_aspects(it.text, aspects, personal))}))
        return AspectsResponse(results=out)

    async def keywords(self, texts: list[str], top_k: int) -> KeywordsResponse:
        items = text_items(texts)
        results, personal = await asyncio.gather(self._keywords(items), self._personal(items))
        return KeywordsResponse(
            results=[
                r.model_copy(update={"keywords": shown_keywords(it.text, r.keywords[:top_k], n)})
                for it, r, n in zip(items, results, personal)
            ]
        )

    async def analyse(self, texts: list[str], top_k: int, queries: Sequence[bool] = ()) -> list[MineResult]:
        """Every text model on each text, and the demand insight built from their outputs.
        ``queries[i]`` (default: none) says text ``i`` is a search query: it judges nothing, so it
        gets no sentiment (label null with the reason) and its demand is a ``request`` whose
        aspects are wanted (:func:`mining.insight.as_wanted`)."""
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
        is_query = list(queries) or [False] * len(texts)
        for text, item, c, s, e, a, k, i, query in zip(
            texts, items, cats, sents, ents, asps, kws, intents, is_query, strict=True
        ):
            if query:
                s = s.model_copy(update={"label": None, "score": 0.0, "probabilities": {}, "reason": QUERY_SENTIMENT})
            src = item_text_with_offsets(text)[1]  # the runners' offsets -> the text as sent
            # Names and addresses never come back: terms holding one are shown masked or not at all.
            personal = _personal_in(item.text, e.entities)
            keywords = shown_keywords(item.text, k.keywords[:top_k], personal)
            aspects = shown_aspects(item.text, a.aspects, personal)
            entities = mask_entities(e.entities, personal)
            demand = demand_summary(
                item.text,
                s.lang,
                c.label,
                s.probabilities.get("positive"),
                [x for x in entities if x.text not in PLACEHOLDERS],  # a target is never personal data
                aspects,
                query=query,
                service_intent=i.label,
                positive_withheld=s.label is None,
            )
            out.append(
                MineResult(
                    lang=s.lang,
                    category=c,
                    sentiment=s,
                    entities=_moved(entities, src),
                    keywords=keywords,
                    demand=demand.model_copy(update={"aspects": _moved(demand.aspects, src)}),
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
