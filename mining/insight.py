"""The demand insight of one customer text, derived from the models' outputs: what the customer
wants, asks, praises or complains about, and what it is about, said in the text's own language.

The parts come from the runners (category, sentiment, entities with brands and attributes,
aspects with their polarity); this module only combines them, by rules written down here (intents: :mod:`mining.intents`)
so a user can read why a text got its answer.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field

from mining.contracts import AspectSpan, EntitySpan
from mining.intents import Intent, demand_intent, intent_of, unjudged_polarity

# Entity types that name what a text is about, most specific first.
TARGET_TYPES = ("BRAND", "PRODUCT", "MODEL", "COMPANY", "ORG", "CATEGORY")
# A model entity scoring below this (its lowest tag posterior) is too unsure to count as a name.
MIN_ENTITY_SCORE = 0.7
ATTRIBUTE_TYPES = ("CAPACITY", "SCREEN", "STORAGE", "WEIGHT", "VOLUME", "POWER", "RESOLUTION", "SIZE", "COUNT", "PRICE")

_VERBS = {
    "en": {
        "question": "asks about",
        "order_status": "reports a delivery or order problem with",
        "return_refund": "wants a return, refund or repair for",
        "complaint": "complains about",
        "praise": "praises",
        "request": "wants",
        "neutral": "mentions",
    },
    "zh": {
        "question": "咨询",
        "order_status": "反映订单或物流问题：",
        "return_refund": "要求退换货或维修：",
        "complaint": "投诉",
        "praise": "称赞",
        "request": "想要",
        "neutral": "提到",
    },
}
_WORDS = {
    "en": {
        "customer": "customer",
        "something": "something",
        "category": "category",
        "attributes": "attributes",
        "aspects": "aspects",
        "positive": "positive",
        "negative": "negative",
        "neutral": "neutral",
        "sep": ", ",
        "open": " (",
        "close": ")",
        "semi": "; ",
        "space": " ",
    },
    "zh": {
        "customer": "顾客",
        "something": "商品",
        "category": "品类",
        "attributes": "属性",
        "aspects": "评价",
        "positive": "正面",
        "negative": "负面",
        "neutral": "中性",
        "sep": "、",
        "open": "（",
        "close": "）",
        "semi": "；",
        "space": "",
    },
}


class Demand(BaseModel):
    intent: Intent = Field(
        description=(
            "what to route the text to: return_refund, order_status (delivery, what the order held), request (wants a "
            "product or feature), question (asks for information), complaint, praise, or neutral; the first that "
            "holds in this order (rules in mining/intents.py), or what the customer-service `intent` routes to where "
            "it gives a label"
        )
    )
    category: str | None = Field(
        description="the product category, from the model of the text's own language; null when no such model "
        "exists or it is not sure (the category result's `reason` says which)"
    )
    targets: list[str] = Field(description="brands, products, model numbers and organisations named, as written")
    attributes: list[str] = Field(
        description="capacities, screen sizes, storage, weights, volumes, sizes, counts named"
    )
    aspects: list[AspectSpan] = Field(
        description="the aspects the text judges, each with its polarity, as POST /aspects gives them (no "
        "piece of a brand or product named in `entities`, no opinion word read inside one); "
        "empty when none is found or no aspects model exists for the language"
    )
    summary: str = Field(
        description="one line in the text's language, e.g. '顾客想要华为（属性：20000毫安）' or 'customer complains about Samsung (aspects battery negative, "
        "noise cancelling positive)'"
    )


def outside_names(aspects: Sequence[AspectSpan], names: Sequence[EntitySpan], text: str, lang: str) -> list[AspectSpan]:
    """``aspects`` of ``text`` without those that are a piece of a name in ``names`` (brands,
    products, models: 松鼠 of 三只松鼠), and without an opinion word read inside a name (小 of 小米 is
    no judgement of 噪音 in 小米扫地机器人噪音太大了); an aspect so left without an opinion in a
    sentence that asks is asked about, not judged (小米手环的续航怎么样？: 续航 neutral), and one in a
    clause that files a complaint is negative, as the aspects model reads such an aspect
    (:func:`mining.intents.unjudged_polarity`). An opinion whose polarity is not the aspect's is
    dropped: it is shown as the reason for the judgement.

    Why: the aspect tagger and the opinion lexicon read characters, not names; the entities of the
    same text know where a name runs. An aspect that is a whole name or holds one (格力空调) stays.
    """

    def inside(start: int, end: int) -> bool:
        return any(n.start <= start and end <= n.end and n.end - n.start > end - start for n in names)

    def overlaps(start: int, end: int) -> bool:
        return any(start < n.end and n.start < end for n in names)

    out = []
    for a in aspects:
        if inside(a.start, a.end):
            continue
        if a.opinion is not None and overlaps(a.opinion.start, a.opinion.end):
            a = a.model_copy(update={"opinion": None})
            worded = unjudged_polarity(text, a.start, a.end, lang)
            if worded is not None:
                a = a.model_copy(update={"polarity": worded, "score": 1.0})
        if a.opinion is not None and a.opinion.polarity != a.polarity:
            # An opinion word is shown as the reason for the aspect's polarity, never against it.
            a = a.model_copy(update={"opinion": None})
        out.append(a)
    return out


def names_in(entities: Sequence[EntitySpan], min_score: float = MIN_ENTITY_SCORE) -> list[EntitySpan]:
    """The names among ``entities`` (brands, products, models, organisations, product types) that
    score at least ``min_score`` (table and pattern matches score 1): what :func:`outside_names` reads."""
    return [e for e in entities if e.type in TARGET_TYPES and e.score >= min_score]


def demand_summary(
    text: str,
    lang: str,
    category: str | None,
    positive: float | None,
    entities: Sequence[EntitySpan],
    aspects: Sequence[AspectSpan],
    n_aspects: int = 4,
    min_entity_score: float = MIN_ENTITY_SCORE,
    query: bool = False,
    service_intent: str | None = None,
    positive_withheld: bool = False,
) -> Demand:
    """One text's demand: ``intent`` (:func:`mining.intents.intent_of`), ``category``,
    ``targets`` (brands, products, model numbers, organisations named, each once), ``attributes``
    (capacities, sizes, weights... as written), ``aspects`` (the aspect results, as given) and
    ``summary``, one line in the text's language (``zh`` or ``en``) that names what the customer
    wants and what they like and dislike ("电池 负面、降噪 正面").

    Args:
        category: the category from the text's own language model, or None (no model, or not sure).
        positive: probability of positive sentiment, 0-1, or None.
        entities: the NER runner's spans, in text order; those scoring below ``min_entity_score``
            (a model entity's lowest tag posterior; table and pattern matches score 1) are left out.
        aspects: the aspects runner's spans, in text order, less what lies inside a name
            (:func:`outside_names`); the summary names the first ``n_aspects`` distinct
            (aspect, polarity) pairs that judge (positive or negative).
        query: the text is a search query: a ``request``, its aspects wanted (:func:`as_wanted`).
        service_intent: the label the customer-service intent model gave the text, or None where
            it withheld one: where it routes, it decides the intent (:func:`mining.intents.demand_intent`).
        positive_withheld: the sentiment model withheld its label (``positive`` is under its
            threshold either way): where every aspect judged has one polarity, ``positive`` is read
            on that side of 0.5 (:func:`leaning`).
    """
    kept = [e for e in entities if e.score >= min_entity_score]
    aspects = outside_names(aspects, names_in(entities, min_entity_score), text, lang)
    if query:
        aspects = [as_wanted(a) for a in aspects]
    if positive_withheld and positive is not None:
        positive = leaning(positive, aspects)
    intent: Intent = "request" if query else demand_intent(intent_of(text, lang, positive), service_intent)
    targets: list[str] = []
    for kind in TARGET_TYPES:
        targets += [e.text for e in kept if e.type == kind and e.text not in targets]
    attributes = list(dict.fromkeys(e.text for e in kept if e.type in ATTRIBUTE_TYPES))
    w = _WORDS["zh" if lang == "zh" else "en"]
    # What the customer likes or dislikes: a neutral aspect (asked about, wanted, or only named) is
    # kept in ``aspects`` but is no judgement to sum up.
    judged = list(dict.fromkeys((a.aspect, a.polarity) for a in aspects if a.polarity != "neutral"))[:n_aspects]
    verb = _VERBS["zh" if lang == "zh" else "en"][intent]
    what = w["sep"].join(targets[:3]) or (category or w["something"])
    extra = []
    if category and targets:
        extra.append(f"{w['category']} {category}" if lang != "zh" else f"{w['category']}：{category}")
    if attributes:
        extra.append(
            (f"{w['attributes']} " if lang != "zh" else f"{w['attributes']}：") + w["sep"].join(attributes[:3])
        )
    if judged:
        extra.append(
            (f"{w['aspects']} " if lang != "zh" else f"{w['aspects']}：")
            + w["sep"].join(f"{a} {w[p]}" for a, p in judged)
        )
    summary = f"{w['customer']}{w['space']}{verb}{w['space']}{what}"
    if extra:
        summary += w["open"] + w["semi"].join(extra) + w["close"]
    return Demand(
        intent=intent, category=category, targets=targets, attributes=attributes, aspects=list(aspects), summary=summary
    )


def leaning(positive: float, aspects: Sequence[AspectSpan]) -> float:
    """``positive`` (0-1) moved just past 0.5 towards the side every judged aspect takes, where they
    all take one (negative: at most 0.49; positive: at least 0.51); as given otherwise.

    Why: a text the sentiment model is unsure of (`Charger gets really hot and charges slowly.`:
    P(positive) 0.51, withheld) was summed up as praise beside aspects that are all negative. On
    the review intents' ``tune`` half it changes 5 of 250 texts, 3 to the right intent and 2 to a
    wrong one (0.864 -> 0.868, level); it is kept because a summary should not contradict the
    aspects it lists. Only the side moves: a question stays one (the rhetorical test reads below 0.3).
    """
    sides = {a.polarity for a in aspects if a.polarity in ("positive", "negative")}
    if sides == {"negative"}:
        return min(positive, 0.49)
    if sides == {"positive"}:
        return max(positive, 0.51)
    return positive


def as_wanted(aspect: AspectSpan) -> AspectSpan:
    """An aspect of a search query: ``neutral`` (wanted, not judged), certain, without an opinion.

    Why: a query names what the customer looks for (蓝牙耳机 降噪 300元以内, gaming laptop under
    1000 dollars); the polarity classifier and the sentiment model learnt from reviews, where every
    aspect is judged, and read such queries as complaints or praise (降噪 negative), which a user's
    profile then listed among the aspects they dislike."""
    return aspect.model_copy(update={"polarity": "neutral", "score": 1.0, "opinion": None})
