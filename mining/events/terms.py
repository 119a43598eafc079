"""What an event says, before any database: its body hash (retry or reused key), the guards that
keep personal numbers out of every stored string, and the :class:`Term` rows derived from its text
analysis (categories, entities, keywords and aspects, weighted by event type)."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, NamedTuple

from mining.events.models import StoredAnalysis
from mining.text import PLACEHOLDERS, mask_pii, normalize, normalize_term

# ``order``: the state of one of the user's orders changed (paid, shipped, delivered, ...); no item
# interaction and no text, it tells the service replies where the order is.
EVENT_TYPES = ("search", "view", "click", "cart", "purchase", "review", "message", "order")

# Interaction strength of an event with an item, in the units of the recall model's weights
# (MovieLens ratings 1-5): a purchase says more than a click. Searches and messages name no item.
ITEM_WEIGHTS = {"view": 1.0, "click": 2.0, "cart": 3.0, "review": 4.0, "purchase": 5.0}

# How much an event counts towards a user's interest in the category its text is about.
INTEREST_WEIGHTS = {
    "search": 1.0,
    "view": 1.0,
    "click": 1.0,
    "message": 1.0,
    "review": 2.0,
    "cart": 3.0,
    "purchase": 5.0,
}


def body_hash(event: dict[str, Any]) -> str:
    """sha256 of what an event says (type, item, text, and time when it has one; its order and
    order state where it has them): two sends of one key with the same hash are a retry; with
    different hashes, a key reused for another event."""
    ts = event.get("ts")
    body = [event["type"], event.get("item_id"), event.get("text"), None if ts is None else round(float(ts), 6)]
    # Only where given, so the hash of an event without them is the one stores kept before they existed.
    if event.get("order_id") is not None or event.get("status") is not None:
        body += [event.get("order_id"), event.get("status")]
    return hashlib.sha256(json.dumps(body, ensure_ascii=False).encode()).hexdigest()


class Term(NamedTuple):
    """One derived term row: what the ``terms`` table and the buckets count."""

    kind: str  # category, entity, keyword or aspect
    term: str
    label: str  # entity type, aspect polarity, or ''
    weight: float  # :data:`INTEREST_WEIGHTS` of the event's type
    positive: float | None  # probability of positive sentiment (aspects: their own polarity)


# An aspect term's ``positive`` column: its own polarity, not the whole text's. Neutral mentions
# count as mentions but not in the positive share.
_ASPECT_POSITIVE = {"positive": 1.0, "negative": 0.0, "neutral": None}
# Placeholders in any case (terms are lower-cased), and what must be left once they are gone.
_PLACEHOLDER = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS), re.IGNORECASE)
_WORD_LEFT = re.compile(r"[^\W_]")


def scrub(text: str) -> str:
    """``text`` with :func:`mining.text.mask_pii` applied, or its normalised form masked where
    normalising reveals more to mask (zero-width or full-width characters inside a number).
    Not the normalised form always: normalising drops placeholders such as ``<card>`` as markup."""
    norm = normalize(text)
    masked_norm = mask_pii(norm)
    return masked_norm if masked_norm != norm else mask_pii(text)


def guard_term(term: str) -> str | None:
    """A term as it may be stored: a personal number or address still in it masked
    (:func:`scrub`), or None when nothing but placeholders and punctuation would remain. The last
    guard before the store: callers mask texts before extraction, but a term must not depend on it."""
    masked = scrub(term)
    if _PLACEHOLDER.search(masked) and not _WORD_LEFT.search(_PLACEHOLDER.sub(" ", masked)):
        return None
    return masked


def guard_analysis(value: Any) -> Any:
    """``value`` (an analysis: dicts, lists, strings, numbers) with every string in it scrubbed
    (:func:`scrub`), so its stored JSON holds no personal number either."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: guard_analysis(v) for k, v in value.items()}
    if isinstance(value, list):
        return [guard_analysis(v) for v in value]
    return value


def terms_of(analysis: StoredAnalysis | dict[str, Any] | None, event_type: str, max_keywords: int = 5) -> list[Term]:
    """The :class:`Term` rows derived from one event's text analysis.

    Args:
        analysis: what the store keeps of the analysis (:class:`StoredAnalysis`, or the same as a
            dict as stored: any part may be missing), or None for an event without text.
        event_type: one of :data:`EVENT_TYPES`; sets the weight (:data:`INTEREST_WEIGHTS`).
        max_keywords: keywords kept per event (best first), so a long review does not outweigh
            many short queries.
    Returns:
        rows; ``positive`` is the text's probability of positive sentiment, except for aspects
        (label: the polarity), where it is 1 (positive), 0 (negative) or None (neutral). Every
        term passes :func:`guard_term`: personal numbers in it are masked, and a term that was
        nothing else is dropped. Entities and aspects are counted in :func:`normalize_term` form.
    """
    if not analysis:
        return []
    a = analysis if isinstance(analysis, StoredAnalysis) else StoredAnalysis.model_validate(analysis)
    w = INTEREST_WEIGHTS[event_type]
    pos = a.positive
    rows: list[Term] = []
    if a.category and (cat := guard_term(a.category)):
        rows.append(Term("category", cat, "", w, pos))
    seen: set[tuple[str, str]] = set()
    for e in a.entities:
        key = (normalize_term(guard_term(e.text.strip()) or ""), e.type)
        if key[0] and key not in seen:
            seen.add(key)
            rows.append(Term("entity", key[0], key[1], w, pos))
    for k in a.keywords[:max_keywords]:
        if kw := guard_term(k.keyword):
            rows.append(Term("keyword", kw, "", w, pos))
    seen = set()
    for asp in a.aspects:
        key = (normalize_term(guard_term(asp.aspect.strip()) or ""), asp.polarity)
        if key[0] and key not in seen and key[1] in _ASPECT_POSITIVE:
            seen.add(key)
            rows.append(Term("aspect", key[0], key[1], w, _ASPECT_POSITIVE[key[1]]))
    # Only what a customer writes to the shop is a service request; a review's "complaint" is an opinion.
    if a.intent and event_type == "message":
        rows.append(Term("intent", a.intent, "", 1.0, pos))
    return rows
