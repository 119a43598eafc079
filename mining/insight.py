"""The demand insight of one customer text, derived from the models' outputs: what the customer
wants, praises or complains about, and what it is about.

The parts come from the runners (category, sentiment, entities, keywords); this module only
combines them, by rules that are written down here so a user can read why a text was called a
request or a complaint.
"""

from __future__ import annotations

import re
from typing import Any

# Wording that states a want or asks whether something exists or is sold.
_WANT_ZH = re.compile(
    r"有没有|能不能买|可不可以买|想要|想买|求推荐|推荐一下|求购|需要|打算买|哪里买|什么时候(?:有货|到货|上架)|出不出"
)
_WANT_EN = re.compile(
    r"\b(?:looking for|want(?:ed)? to buy|i want|i need|we need|need an?|recommend|any suggestions?|do you (?:have|sell)|"
    r"is there|are there|where can i (?:buy|get|find)|restock|back in stock|wish (?:you|it) had)\b",
    re.IGNORECASE,
)
_QUESTION = re.compile(r"[?？]|吗[。！!]?$")

# Entity types that name what a text is about, most specific first.
_TARGET_TYPES = ("PRODUCT", "BRAND", "MODEL", "COMPANY", "ORG", "CATEGORY")
_ATTRIBUTE_TYPES = ("SIZE", "CAPACITY", "COUNT", "RESOLUTION")


def intent_of(text: str, lang: str, positive: float | None, confident: float = 0.6) -> str:
    """``request`` (asks for or wants something), ``complaint`` (negative), ``praise`` (positive)
    or ``neutral`` (sentiment below ``confident`` either way).

    Args:
        text: the customer text as sent.
        lang: ``zh`` or ``en`` (picks the request wording).
        positive: probability of positive sentiment, 0-1 (None: no sentiment known).
        confident: the probability a sentiment must reach to call a text praise or a complaint.
    Order of the rules: stated wants first (review-trained sentiment models often read a question
    such as "有没有更大容量的?" as negative), then negative sentiment (a question that is clearly
    negative, "why did it break?", is a complaint), then any other question.
    """
    if (_WANT_ZH if lang == "zh" else _WANT_EN).search(text):
        return "request"
    if positive is not None and positive <= 1 - confident:
        return "complaint"
    if _QUESTION.search(text.strip()):
        return "request"
    if positive is not None and positive >= confident:
        return "praise"
    return "neutral"


def demand_summary(
    text: str,
    lang: str,
    category: str | None,
    positive: float | None,
    entities: list[dict[str, Any]],
    keywords: list[dict[str, Any]],
    n_aspects: int = 3,
    min_entity_score: float = 0.7,
) -> dict[str, Any]:
    """One text's demand: ``intent`` (:func:`intent_of`), ``category``, ``targets`` (products,
    brands, models, organisations named), ``attributes`` (sizes, capacities, counts...),
    ``aspects`` (top keywords not already a target) and ``summary``, one readable line.

    Args:
        category: the category when the caller trusts it (see :func:`trusted_category`), else None.
        entities: ``[{"type", "text", "score"}]`` from the NER runner, in text order; those below
            ``min_entity_score`` (the lowest tag posterior) are left out of the summary.
        keywords: ``[{"keyword", "score"}]`` from the keywords runner, best first.
    """
    intent = intent_of(text, lang, positive)
    entities = [e for e in entities if e.get("score", 1.0) >= min_entity_score]
    targets, attributes = [], []
    for kind in _TARGET_TYPES:
        targets += [e["text"] for e in entities if e["type"] == kind and e["text"] not in targets]
    attributes = [e["text"] for e in entities if e["type"] in _ATTRIBUTE_TYPES]
    named = {t.lower() for t in targets}
    aspects = [k["keyword"] for k in keywords if k["keyword"].lower() not in named][:n_aspects]
    verb = {"request": "wants", "complaint": "complains about", "praise": "praises", "neutral": "mentions"}[intent]
    what = ", ".join(targets[:3]) or (category or "something")
    extra = []
    if category and targets:
        extra.append(f"category {category}")
    if attributes:
        extra.append("attributes " + ", ".join(attributes[:3]))
    if aspects:
        extra.append("aspects " + ", ".join(aspects))
    summary = f"customer {verb} {what}" + (f" ({'; '.join(extra)})" if extra else "")
    return {
        "intent": intent,
        "category": category,
        "targets": targets,
        "attributes": attributes,
        "aspects": aspects,
        "summary": summary,
    }


def trusted_category(label: str, score: float, model: str, lang: str, min_score: float = 0.15) -> str | None:
    """The classifier's label when it can be acted on, else None: the model must be trained for
    the text's language (``classification-en`` reading Chinese text guesses) and its probability
    at least ``min_score`` (about 3x the uniform 1/20: the catalogue model reads queries and chats
    less surely than titles, but a flat distribution means "none of these")."""
    model_lang = model.split(":")[0].rsplit("-", 1)[-1]
    return label if model_lang == lang and score >= min_score else None
