"""The runner contract: what runners take and return, as pydantic models shared by the runners
and the gateway (whose HTTP schemas embed them), so a result has one definition end to end.

Language is detected once per text, by whoever builds the :class:`TextItem` (the gateway), and
every runner routes on ``TextItem.lang`` instead of detecting it again.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field

from mining.limits import MAX_REPLIES
from mining.text import detect_language, mask_pii, mask_pii_with_offsets

Lang = Literal["zh", "en"]

# The customer-service intent labels (data/customer_service/LABELS.md), in the intent model's order:
# what the intent model answers, the reply knowledge base files under and message events store.
SERVICE_INTENTS: tuple[str, ...] = (
    "order_status",
    "cancel_order",
    "change_order",
    "return_exchange",
    "refund_status",
    "invoice",
    "payment",
    "product_question",
    "complaint",
    "human_agent",
    "account",
    "feedback",
    "other",
)
# The ones that ask the shop to act: what a profile lists as open and hand-over counts as repeats.
ACTION_INTENTS: tuple[str, ...] = tuple(i for i in SERVICE_INTENTS if i not in ("feedback", "other"))


class TextItem(BaseModel):
    """One text for a text runner: the text as sent with personal numbers and e-mail addresses
    replaced by placeholders (:func:`mining.text.mask_pii`), and its detected language."""

    text: str
    lang: Lang


def _visible(text: str) -> str:
    """``text`` without invisible format characters (zero-width spaces and joiners, bidi marks):
    placed between digits they would hide a card number from masking."""
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf") if not text.isascii() else text


def item_text(text: str) -> str:
    """The text a runner is sent for ``text`` (:func:`text_items`): the offsets of its answers
    index this string."""
    return mask_pii(_visible(text))


def item_text_with_offsets(text: str) -> tuple[str, list[tuple[int, int]]]:
    """:func:`item_text` of ``text`` (length m), and m ranges ``(start, end)`` into ``text``: where
    each of its characters came from (a placeholder's characters map to the whole masked range)."""
    keep = range(len(text)) if text.isascii() else [i for i, ch in enumerate(text) if unicodedata.category(ch) != "Cf"]
    return mask_pii_with_offsets("".join(text[i] for i in keep), [(i, i + 1) for i in keep])


def text_items(texts: Sequence[str]) -> list[TextItem]:
    """:class:`TextItem` per text, masked and its language detected here once: no runner ever
    sees, and so no answer can echo, a card, ID or phone number (offsets refer to the masked text,
    which equals the text as sent wherever it held none
    and no invisible format characters)."""
    masked = [item_text(t) for t in texts]
    return [TextItem(text=m, lang=detect_language(m)) for m in masked]


def require_items(items: Sequence[object]) -> list[TextItem]:
    """``items`` as :class:`TextItem` (dicts with ``text`` and ``lang`` are accepted: they arrive
    from another process); raises ``TypeError`` naming the first item that is neither."""
    out = []
    for i, item in enumerate(items):
        if isinstance(item, TextItem):
            out.append(item)
        elif isinstance(item, dict) and isinstance(item.get("text"), str) and item.get("lang") in ("zh", "en"):
            out.append(TextItem(text=item["text"], lang=item["lang"]))
        else:
            bad = sum(1 for x in items if not isinstance(x, (TextItem, dict)))
            raise TypeError(
                f"items must be TextItem (text, lang); item {i} is {type(item).__name__} ({max(bad, 1)} bad in all)"
            )
    return out


class LabelResult(BaseModel):
    lang: str = Field(description="detected language, 'zh' or 'en'; picks the model")
    label: str | None = Field(
        description="most probable label; null when the model is not sure or none exists for "
        "the language (`reason` says which)"
    )
    score: float = Field(description="calibrated probability of the most probable label, 0-1 (0 without a model)")
    probabilities: dict[str, float] = Field(
        description="calibrated probability per label; sums to 1 (empty without a model)"
    )
    model: str | None = Field(
        description="model tag in the store that produced this result, with ' (served: tfidf-lr)' where the stored "
        "model's training found its network below the TF-IDF baseline on validation and serves the baseline; "
        "null without a model"
    )
    reason: str | None = Field(default=None, description="why `label` is null")


class EntitySpan(BaseModel):
    type: str = Field(
        description="entity type: PER, LOC, ORG (zh news); PER, COMPANY, PRODUCT ... (en); BRAND; CATEGORY (a product "
        "type: 手机, 电热水器; laptop, TV); attributes "
        "CAPACITY, SCREEN, STORAGE, WEIGHT, VOLUME, POWER, RESOLUTION, SIZE, COUNT, MODEL"
    )
    text: str = Field(
        description="the entity as written: `input[start:end]`; in the gateway's answers a person's name, or an entity "
        "inside a name or a street address, is its placeholder (<NAME>, <ADDRESS>) and a masked number its own (<PHONE>)"
    )
    start: int = Field(description="offset of the first character in the text as sent (Python string index)")
    end: int = Field(description="offset after the last character, exclusive")
    score: float = Field(
        description="model entities: lowest posterior probability among the entity's token tags, 0-1; "
        "brands-table and pattern matches: 1"
    )
    source: str = Field(
        default="model",
        description="'model' (an NER model), 'brands' (the brands table), 'product_types' (the product-type word "
        "list of the text's language) or 'pattern' (attributes)",
    )
    canonical: str | None = Field(default=None, description="brands: the brand's name in the table (华为 -> Huawei)")
    value: float | None = Field(default=None, description="attributes: the number (20000毫安 -> 20000)")
    unit: str | None = Field(default=None, description="attributes: the normalised unit (mAh, inch, GB, g, ml, ...)")


class EntitiesResult(BaseModel):
    lang: str = Field(description="detected language, 'zh' or 'en'; picks the models")
    entities: list[EntitySpan] = Field(description="entities in text order, non-overlapping")
    models: list[str] = Field(description="model tags in the store that read this text; empty when none could")
    reason: str | None = Field(
        default=None,
        description="why no model read the text (a language none reads); its entities then come from the brands "
        "table and the attribute patterns only",
    )


class OpinionSpan(BaseModel):
    text: str = Field(description="the opinion word as written: `input[start:end]`")
    start: int = Field(description="offset of its first character in the text as sent")
    end: int = Field(description="offset after its last character, exclusive")
    polarity: Literal["positive", "negative"] = Field(description="the opinion word's polarity, negation applied")


class AspectSpan(BaseModel):
    aspect: str = Field(description="the aspect as written: `input[start:end]` (电池, noise cancelling)")
    start: int = Field(description="offset of the first character in the text as sent (Python string index)")
    end: int = Field(description="offset after the last character, exclusive")
    polarity: Literal["positive", "negative", "neutral"] = Field(
        description="what the text says about this aspect (Chinese models know positive and negative only)"
    )
    score: float = Field(description="calibrated probability of `polarity`, 0-1")
    opinion: OpinionSpan | None = Field(
        description="the nearest sentiment-bearing word in the aspect's clause (a lexicon learnt from the "
        "training data, not a parser); null when the clause holds none"
    )


class AspectsResult(BaseModel):
    lang: str = Field(description="detected language, 'zh' or 'en'; picks the model")
    aspects: list[AspectSpan] = Field(description="aspects in text order; empty when none is found or no model exists")
    models: list[str] = Field(description="model tags in the store that read this text; empty without a model")
    reason: str | None = Field(default=None, description="why `aspects` is empty although the text may name some")


class Keyword(BaseModel):
    keyword: str = Field(description="a word or phrase, lower-cased and normalised")
    score: float = Field(description="TF-IDF score, relative within a text (not a probability)")


class KeywordsResult(BaseModel):
    lang: str = Field(description="detected language, 'zh' or 'en'")
    keywords: list[Keyword] = Field(description="best first")
    model: str = Field(description="model tag in the store (document frequencies) that scored this text")


class Contribution(BaseModel):
    item_id: str
    contribution: float = Field(description="this history item's share of the score")


class RecommendedItem(BaseModel):
    item_id: str
    score: float = Field(
        description="ranks only: the ALS score (interaction count for the popularity fallback), or with "
        "strategy sequence/blend or stated demand the blended rank score"
    )
    because: list[Contribution] | None = Field(default=None, description="with explain: top contributing history")
    demand: list[str] | None = Field(
        default=None, description="with explain: the user's stated needs this item matches (it was lifted for them)"
    )


class RecallResult(BaseModel):
    user_id: str
    items: list[RecommendedItem]
    source: str = Field(
        description="'als' (stored factors), 'als_folded_in' (recent interactions or a new user "
        "folded in), or 'popularity' (no usable history: the fallback)"
    )
    unknown_items: list[str] = Field(description="ids in recent/allow/deny that the model does not know; ignored")
    model: str


class NextItem(BaseModel):
    item_id: str
    score: float = Field(description="the model's probability that this is the user's next item (0-1)")


class NextResult(BaseModel):
    """One user's predicted next items, or why the sequence model could not say."""

    items: list[NextItem] | None = Field(description="best first; null when the history is too short or unknown")
    used: int = Field(description="item events the model read (known items, the most recent, at most its length)")
    reason: str | None = Field(default=None, description="why `items` is null")
    model: str


class ItemInfo(BaseModel):
    """An item as the items table describes it (``found`` false: the table lacks it, or there is none)."""

    item_id: str
    found: bool
    title: str | None = None
    categories: list[str] = Field(default=[], description="the item's categories in the items table")
    brand: str | None = None


class SimilarItem(BaseModel):
    item_id: str
    score: float = Field(description="cosine similarity of the items' factors")


class SimilarLookup(BaseModel):
    item_id: str
    found: bool = Field(description="false: the model does not know this item")
    similar: list[SimilarItem]


class Quantiles(BaseModel):
    p10: list[float]
    p50: list[float]
    p90: list[float]


class ForecastResult(BaseModel):
    """One series' forecast, or the reason it could not be made (``error`` names the field)."""

    quantiles: Quantiles | None = None
    error: str | None = None
    model: str


class ReplyQuery(BaseModel):
    """One customer message for the reply ranking: its text (cleaned, personal numbers masked), its
    language, the intent its replies should answer (null: any) and how many replies to return."""

    text: str
    lang: Lang
    intent: str | None = None
    k: int = Field(default=3, ge=0, le=MAX_REPLIES)


class RankedReply(BaseModel):
    index: int = Field(ge=0, description="row of the knowledge base (file order, header excluded)")
    score: float = Field(description="the ranker's score in [0, 1]; higher is closer")


class RankedReplies(BaseModel):
    """The best knowledge-base rows for one query, best first, and which knowledge base and ranker
    they index: rows are only meaningful against the file whose sha256 is ``kb_sha256``."""

    @classmethod
    def none(cls) -> RankedReplies:
        """The answer of a runner that serves no reply ranker."""
        return cls(kb_sha256=None, ranker=None, replies=[])

    kb_sha256: str | None = Field(description="sha256 of the knowledge-base file; null: no reply ranker is served")
    ranker: str | None = Field(description="store tag of the reply ranker and its kind, e.g. 'replies:abc (e5)'")
    replies: list[RankedReply]


class DissatisfactionScore(BaseModel):
    """How likely a customer ends a service conversation dissatisfied, from their turns so far, by
    the served hand-over model of the text's language (``handoff-<lang>``), and the probability at
    which its training chose to hand over."""

    lang: str = Field(description="language of the conversation's text; picks the model")
    probability: float | None = Field(
        ge=0, le=1, description="P(low satisfaction), 0-1; null when no model serves the language (`reason`)"
    )
    threshold: float | None = Field(
        ge=0, le=1, description="hand over at or above this probability (chosen on the model's fitting dialogues)"
    )
    model: str | None = Field(description="store tag of the model; null without one")
    reason: str | None = Field(default=None, description="why `probability` is null")
    negative_threshold: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="beside this model, hand over on the message's P(negative) alone at or above this "
        "(chosen with the model on its fitting dialogues); null: never, the sentiment alone only added "
        "false hand-overs to the model's flag there",
    )
