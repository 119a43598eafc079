"""The entities of texts in one language: model entities, brands from the brands table and
attribute patterns, merged into one non-overlapping list per text (the NER runner only batches)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from mining.attributes import find_attributes
from mining.brands import BrandTable
from mining.contracts import EntitySpan
from mining.products import ProductTypes
from mining.wordlists import stop_words


def _outlasted(span: EntitySpan, others: Sequence[EntitySpan], tie_wins: bool) -> bool:
    """Whether one of ``others`` overlaps ``span`` and is longer (or as long, with ``tie_wins``)."""
    n = span.end - span.start
    return any(
        o.start < span.end and span.start < o.end and (o.end - o.start > n or (tie_wins and o.end - o.start == n))
        for o in others
    )


def table_and_pattern_entities(text: str, brands: BrandTable, products: ProductTypes | None = None) -> list[EntitySpan]:
    """Brands the table finds, product types (CATEGORY) the word list ``products`` finds (the
    list of the text's language), and attributes the patterns find in ``text`` (score 1 each), with
    character offsets into ``text``. Where a brand and a type overlap, the longer span names the
    thing: 移动硬盘 is a type, not the carrier 移动; a type as long as the brand is the brand's
    (苹果 beside 手机 is Apple)."""
    found = [
        EntitySpan(type="BRAND", text=b.text, start=b.start, end=b.end, score=1.0, source="brands", canonical=b.brand)
        for b in brands.find(text)
    ]
    if products is not None:
        types = [
            EntitySpan(type="CATEGORY", text=m.text, start=m.start, end=m.end, score=1.0, source="product_types")
            for m in products.find(text)
        ]

        # A brand loses only to a longer type; a type loses to a brand at least as long.
        found = [b for b in found if not _outlasted(b, types, tie_wins=False)] + [
            t for t in types if not _outlasted(t, found, tie_wins=True)
        ]
    found += [
        EntitySpan(
            type=a.type,
            text=a.text,
            start=a.start,
            end=a.end,
            score=1.0,
            source="pattern",
            value=a.value,
            unit=a.unit,
        )
        for a in find_attributes(text)
    ]
    return found


def is_function_word(text: str) -> bool:
    """Whether a tagger's entity ``text`` is an English function word (``my``, ``can``, ``to``;
    ``data/words/en_stop_words.txt``) and so names nothing. Why: the product tagger learnt from
    titles, whose first word is the brand, and tags a review's first word as one ("my new iphone
    14 screen cracked"); none of the 3,866 entities of the English NER sets (WNUT, product titles)
    is one. Written all in capitals it may be a name (``US``, ``IT``) and stays. Chinese stop
    characters are names inside entities too (中 of 中美), so Chinese is not filtered."""
    word = text.strip()
    return word.isascii() and not word.isupper() and word.lower() in stop_words("en")


# Entity types a tagger may give to text without letters (27 ", 4K is not one, 1080p is): sizes,
# capacities, counts, resolutions, model numbers. A name of any other type has a letter.
_NUMERIC_TYPES = frozenset({"SIZE", "CAPACITY", "COUNT", "RESOLUTION", "MODEL"})


# A bare number (``90``, ``15``, ``6.5``): no unit, no letter size.
_BARE_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


def names_nothing(entity_type: str, text: str) -> bool:
    """Whether a tagger's entity names nothing: an English function word (:func:`is_function_word`),
    for a name type (not in :data:`_NUMERIC_TYPES`) text without a single letter or ideograph, or a
    ``SIZE`` that is a bare number.

    Why: the product tagger may tag a short text's first token as the brand whatever it is
    (``😀`` at 0.68, in ``😀 love it`` at 0.73); of the 85,000 gold entities of MSRA, WNUT-16 and
    the product titles the only ones without a letter are sizes (``27 "``). Those sizes always
    carry their unit (``training.product_labels``: ``"``, ``inch``), yet the tagger calls the
    number of a model name a size (``90`` of ``Nike Air Max 90`` at 0.98); a size written as a bare
    number is found by the slot and attribute patterns from its cue word (``size 10``, ``42码``)."""
    if is_function_word(text):
        return True
    kind = entity_type.upper()
    if kind == "SIZE" and _BARE_NUMBER.fullmatch(text.strip()):
        return True
    return kind not in _NUMERIC_TYPES and not any(ch.isalpha() for ch in text)


# An order, invoice or tracking number's cue just before a span: the noun (not "ordered"), then
# "number", "no.", "#", ":" or "是"; "order #A77123", "订单号TB2026...".
_ID_CUE_BEFORE = re.compile(
    r"(?:(?<![A-Za-z])(?:order|invoice|tracking|waybill|receipt)(?:\s*(?:number|num|no\.?|nr|id|ref))?"
    r"|订单编号|订单号|订单|单号|发票号码?|发票|运单号|运单)\s*(?:[#:：是为]\s*){0,3}$",
    re.IGNORECASE,
)


def is_an_id(text: str, span: EntitySpan) -> bool:
    """Whether ``span`` (of ``text``), a ``MODEL``, is an order, invoice or tracking number rather
    than a product's model: one word holding a digit, right after an id's cue word.

    Why: the model-number pattern and the product tagger both took ``A77123`` of ``charged twice
    for order #A77123`` for a product MODEL, and it rose in ``/trends`` beside the shop's goods.
    ``I ordered RTX4090`` keeps its model; a price after ``发票是`` is no MODEL and stays."""
    head = text[max(0, span.start - 24) : span.start]
    word = span.text.strip()
    if span.type != "MODEL" or not any(ch.isdigit() for ch in word) or any(ch.isspace() for ch in word):
        return False
    return _ID_CUE_BEFORE.search(head) is not None


def entities_of(
    texts: Sequence[str], models: Sequence[Any], brands: BrandTable, products: ProductTypes | None = None
) -> list[list[EntitySpan]]:
    """For n texts of one language: each text's entities from every model in ``models`` (taggers
    of that language), the brands table, the product-type list of that language (``products``)
    and the attribute patterns, merged without overlaps (the higher score wins a contested span).
    Returns n lists in text order."""
    from mining.models.ner import extract_entities, merge_entities

    # extract_entities gives dicts (training reads them too): typed once, here.
    per_model = [
        [
            [EntitySpan(**e) for e in ents if not names_nothing(e["type"], e["text"])]
            for ents in extract_entities(m, list(texts))
        ]
        for m in models
    ]
    merged = [
        merge_entities([table_and_pattern_entities(text, brands, products), *(ents[j] for ents in per_model)])
        for j, text in enumerate(texts)
    ]
    return [[e for e in ents if not is_an_id(text, e)] for text, ents in zip(texts, merged, strict=True)]
