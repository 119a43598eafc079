"""The HTTP API's schema: request and response bodies as pydantic models, with the limits and
the validation rules every transport (HTTP, gRPC, SageMaker's /invocations) applies alike.

Runner results (labels, entities, keywords, recommendations, quantiles) are the runner
contract's own models (:mod:`mining.contracts`), and profiles and trends the event store's
(:mod:`mining.events.models`), embedded here unchanged.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    Field,
    StringConstraints,
    model_validator,
)

from mining.contracts import (
    AspectsResult,
    EntitiesResult,
    EntitySpan,
    ItemInfo,
    Keyword,
    KeywordsResult,
    LabelResult,
    Quantiles,
    RecallResult,
    SimilarItem,
)
from mining.events import EVENT_TYPES, ITEM_WEIGHTS
from mining.events.models import (  # the store's answers, returned unchanged (re-exported here)
    AspectOpinion as AspectOpinion,
)
from mining.events.models import (
    AspectTrend as AspectTrend,
)
from mining.events.models import (
    AspectTrends as AspectTrends,
)
from mining.events.models import (
    Interest as Interest,
)
from mining.events.models import (
    LastOrder as LastOrder,
)
from mining.events.models import (
    Profile as Profile,
)
from mining.events.models import (
    ProfileAspects as ProfileAspects,
)
from mining.events.models import (
    ProfileSentiment as ProfileSentiment,
)
from mining.events.models import (
    RecentItem as RecentItem,
)
from mining.events.models import (
    SentimentDay as SentimentDay,
)
from mining.events.models import (
    ServiceIssue as ServiceIssue,
)
from mining.events.models import (
    TermCount as TermCount,
)
from mining.events.models import (
    TrendCounts as TrendCounts,
)
from mining.events.models import (
    TrendList as TrendList,
)
from mining.events.models import (
    Trends as Trends,
)
from mining.events.models import (
    TrendSentiment as TrendSentiment,
)
from mining.events.models import (
    TrendTerm as TrendTerm,
)
from mining.events.models import (
    TrendWindow as TrendWindow,
)
from mining.handoff import Handoff
from mining.insight import Demand as Demand  # built in mining, answered as is (re-exported here)
from mining.limits import MAX_HISTORY, MAX_KEYWORDS
from mining.slots import SlotSpan

MAX_TEXTS = 64
MAX_TEXT_CHARS = 2000


def _not_blank(value: str) -> str:
    # Checked, not stripped: entity offsets index the text exactly as the caller sent it. Invisible
    # characters (zero-width spaces, direction marks, controls) count as blank: the models read
    # nothing in them and answered such a text with a confident sentiment.
    if all(c.isspace() or unicodedata.category(c) in ("Cf", "Cc") for c in value):
        raise ValueError(
            "text is blank; expected at least 1 non-space character (invisible ones such as U+200B do not count)"
        )
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


class SentimentResponse(BaseModel):
    results: list[LabelResult] = Field(description="one sentiment per input text, in input order")


class ClassifyResponse(BaseModel):
    results: list[LabelResult] = Field(description="one category per input text, in input order")


class NerResponse(BaseModel):
    results: list[EntitiesResult] = Field(description="one result per input text, in input order")


class AspectsResponse(BaseModel):
    results: list[AspectsResult] = Field(description="one result per input text, in input order")


class KeywordsResponse(BaseModel):
    results: list[KeywordsResult] = Field(description="one result per input text, in input order")


def _not_boolean(value: object) -> object:
    """JSON ``true`` is no number, though pydantic's lax mode reads it as 1 (``"k": true`` asked for
    one reply, ``"units": [true, false]`` was forecast as 1, 0): refused where a number belongs."""
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    return value


# Put on every number of a request body (a numeric string, "3", still reads as 3).
Number = BeforeValidator(_not_boolean)
TopK = Annotated[int, Number, Field(ge=1, le=MAX_KEYWORDS, description=f"keywords per text, 1-{MAX_KEYWORDS}")]


def _printable(value: str) -> str:
    """Ids and keys are stored and compared as they are: a control character (NUL above all,
    which PostgreSQL cannot store) is refused rather than silently changed, and so is an invisible
    format character (a bidi override such as U+202E, a zero-width space or joiner), with which two
    ids that read the same differ, or one is shown spelled backwards in a log or a dashboard."""
    bad = next((c for c in value if unicodedata.category(c) == "Cc"), None)
    if bad is not None:
        raise ValueError(f"must not contain control characters; found U+{ord(bad):04X}")
    bad = next((c for c in value if unicodedata.category(c) == "Cf"), None)
    if bad is not None:
        raise ValueError(
            f"must not contain invisible format characters (bidi controls, zero-width); found U+{ord(bad):04X}"
        )
    return value


Id = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_printable),
    Field(description="an external user or item id (no control or invisible format characters)"),
]
MAX_IDS = 1000


class Interaction(BaseModel):
    item_id: Id
    weight: Annotated[float, Number] = Field(
        default=1.0, gt=0, le=1e6, description="strength, > 0 (e.g. click 1, cart 3, buy 5)"
    )


class RecommendRequest(BaseModel):
    user_id: Id
    n: Annotated[int, Number] = Field(default=10, ge=1, le=100, description="items to return, 1-100")
    recent: list[Interaction] = Field(
        default=[],
        max_length=MAX_IDS,
        description=("fresh interactions not yet in the model; folded into the user's factors at once"),
    )
    exclude_seen: bool = Field(default=True, description="leave out items the user already interacted with")
    allow: list[Id] | None = Field(default=None, max_length=MAX_IDS, description="rank only these items")
    deny: list[Id] = Field(default=[], max_length=MAX_IDS, description="never return these items")
    explain: bool = Field(default=False, description="per item, the history items that contributed most")
    strategy: Literal["als", "sequence", "blend"] | None = Field(
        default=None,
        description="als: matrix factorisation over the history as a set; sequence: the next-item model over the "
        "ordered events; blend: both by rank fusion; default: the one that scored best on validation",
    )


RecommendRequests = Annotated[
    list[RecommendRequest],
    BeforeValidator(lambda v: [v] if isinstance(v, dict) else v),
    Field(
        min_length=1,
        max_length=MAX_TEXTS,
        description=f"one request, or a list of 1-{MAX_TEXTS}",
        examples=[[{"user_id": "196", "n": 5, "recent": [{"item_id": "242", "weight": 5}]}]],
    ),
]


class Recommendation(RecallResult):
    history_events: int = Field(default=0, description="the user's recorded events (POST /events) folded in")
    strategy: str = Field(
        default="als",
        description="what ranked the items: 'als', 'sequence' (the next-item model) or 'blend' (both, rank fusion); "
        "a sequence or blend request falls back to 'als' when the user has no known item events",
    )
    demand: list[str] = Field(
        default=[],
        description="the user's stated needs (categories, brands, keywords of their searches and messages in the last "
        "30 days) that lifted matching items",
    )


class RecommendResponse(BaseModel):
    results: list[Recommendation] = Field(description="one per request, in request order")


class SimilarResult(BaseModel):
    item_id: str
    similar: list[SimilarItem]


class SimilarResponse(BaseModel):
    results: list[SimilarResult]


# Bounds keep every value, and the model's arithmetic on it (float32 on the accelerator), finite:
# no shop sells 10^12 units of one thing in a period, and prices and promotion flags are small.
MAX_UNITS = 1e12
MAX_COVARIATE = 1e9
Units = Annotated[float, Number, Field(ge=0, le=MAX_UNITS, allow_inf_nan=False)]
Covariate = Annotated[float, Number, Field(ge=-MAX_COVARIATE, le=MAX_COVARIATE, allow_inf_nan=False)]


class SeriesInput(BaseModel):
    series_id: str | None = Field(default=None, max_length=200, description="echoed back; optional")
    units: list[Units | None] = Field(
        min_length=1,
        max_length=MAX_HISTORY,
        description=(
            "history, oldest first, one value per period up to the last one; null marks a period without "
            "data (a gap), which is different from 0 sold"
        ),
    )
    covariates: dict[str, list[Covariate]] = Field(
        default={}, description=("per covariate the model uses (see /forecast/spec), one value per history period")
    )
    horizon: Annotated[int, Number] = Field(
        ge=1, le=52, description="periods to forecast after the last history period"
    )
    future_covariates: dict[str, list[Covariate]] = Field(
        default={}, description=("per covariate, the planned value for each forecast period (price, promotion, ...)")
    )


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


# --- /mine --------------------------------------------------------------------------------------
class MineResult(BaseModel):
    lang: str = Field(description="detected language, 'zh' or 'en'")
    category: LabelResult
    sentiment: LabelResult
    entities: list[EntitySpan]
    keywords: list[Keyword]
    demand: Demand
    intent: LabelResult | None = Field(
        default=None,
        description="service intent (data/customer_service/LABELS.md) from the intent model, or label null with the reason",
    )


class EventStatus(BaseModel):
    key: str
    id: int = Field(description="the stored event's id")
    status: Literal["stored", "duplicate"] = Field(
        description="duplicate: the key was already stored; the first write wins and nothing changed"
    )


class UserInsight(BaseModel):
    profile: Profile
    recommendations: Recommendation
    next: NextNeeds = Field(description="the next-need prediction (GET /users/{id}/next) after these texts")
    events: list[EventStatus] = Field(description="the texts recorded as events of this user")


class MineResponse(BaseModel):
    results: list[MineResult] = Field(description="one per input text, in input order")
    user: UserInsight | None = Field(default=None, description="with user_id: the updated profile and recommendations")


# --- /reply -------------------------------------------------------------------------------------
MAX_REPLY_HISTORY = 20  # earlier customer turns of the conversation read for hand-over


class SuggestedReply(BaseModel):
    text: str = Field(description="the reply with each placeholder filled where a value is known")
    score: float = Field(description="retrieval score, 0-1 (higher: closer to the text; see the response's `ranker`)")
    intent: str | None = Field(description="the knowledge-base entry's intent (null: any)")
    missing: list[str] = Field(description="names of the placeholders left for the agent ({{Name}} -> Name), in order")


class ServiceContext(BaseModel):
    """What the user's stored events added to the answer (user_id only)."""

    last_item: ItemInfo | None = Field(description="the item of the user's latest purchase event")
    last_order: LastOrder | None = Field(
        default=None, description="that purchase: its order number and the order's latest state, where events gave them"
    )
    open_issues: list[ServiceIssue] = Field(description="service requests in the user's messages of the last 14 days")
    repeat_contacts: int = Field(description="earlier messages of the last 7 days with this intent")


class ReplyResponse(BaseModel):
    lang: str = Field(description="detected language, 'zh' or 'en'")
    intent: LabelResult = Field(description="the service intent, or label null with the reason")
    slots: list[SlotSpan] = Field(
        description="order numbers, amounts, places, products...: offsets into the text as sent"
    )
    handoff: Handoff = Field(description="whether a person should take over, and why")
    replies: list[SuggestedReply] = Field(
        description="best first; empty where the knowledge base has none in the language, or the text is in a "
        "language no model reads (then the hand-over says so)"
    )
    ranker: str = Field(
        description="what ranked the replies: the store's reply ranker ('replies:<version> (e5)': text against each "
        "reply) or, where none is served for this knowledge base, 'bm25 (requests)': text against each entry's request; "
        "'none' where nothing was ranked (a language no model reads)"
    )
    context: ServiceContext | None = Field(default=None, description="with user_id: what the user's events added")
    event: EventStatus | None = Field(default=None, description="with user_id: the text recorded as a message event")


# --- /events ------------------------------------------------------------------------------------
MAX_EVENTS = 256
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
CLOCK_SKEW_S = 300


def _plausible_time(value: datetime) -> datetime:
    now = datetime.now(UTC)
    if value < EARLIEST or (value - now).total_seconds() > CLOCK_SKEW_S:
        raise ValueError(
            f"timestamp must be between 2000-01-01 and now (+{CLOCK_SKEW_S} s clock skew); got {value.isoformat()}"
        )
    return value


Timestamp = Annotated[
    AwareDatetime,
    AfterValidator(_plausible_time),
    Field(description="ISO 8601 with a UTC offset (2026-11-28T09:30:00Z) or Unix seconds"),
]
TEXT_EVENTS = ("search", "review", "message")
ORDER_EVENTS = ("purchase", "order")
OrderStatus = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    AfterValidator(_printable),
    Field(description="an order's state as the shop names it, 1-64 characters (shipped, 已发货)"),
]


class EventIn(BaseModel):
    key: Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_printable)] = Field(
        description="idempotency key (no control characters): a retried event with the same key is stored once"
    )
    user_id: Id
    type: Literal[EVENT_TYPES] = Field(description="search, view, click, cart, purchase, review, message or order")  # type: ignore[valid-type]
    item_id: Id | None = Field(default=None, description="required for view, click, cart, purchase")
    order_id: Id | None = Field(
        default=None, description="the shop's order number: on a purchase (optional) or an order event (required)"
    )
    status: OrderStatus | None = Field(
        default=None,
        description="an order event's new state of the order (paid, shipped, delivered, ...): required there, only there",
    )
    text: Text | None = Field(
        default=None,
        description="required for search, review, message; analysed, stored with e-mails, phones, cards and IDs masked",
    )
    ts: Timestamp

    @model_validator(mode="after")
    def _needs(self) -> EventIn:
        if self.type in ITEM_WEIGHTS and self.type != "review" and self.item_id is None:
            raise ValueError(f"item_id is required for a {self.type} event")
        if self.type in TEXT_EVENTS and self.text is None:
            raise ValueError(f"text is required for a {self.type} event")
        if self.type == "order" and (self.order_id is None or self.status is None):
            raise ValueError("order_id and status are required for an order event")
        if self.order_id is not None and self.type not in ORDER_EVENTS:
            raise ValueError(f"order_id is for purchase and order events, not {self.type}")
        if self.status is not None and self.type != "order":
            raise ValueError(f"status is for order events, not {self.type}")
        return self


class EventsResponse(BaseModel):
    results: list[EventStatus] = Field(description="one per event, in request order")
    stored: int
    duplicates: int


# --- profile and trends -------------------------------------------------------------------------
_WINDOW = re.compile(r"^(\d+)([smhd]?)$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _window_seconds(value: str | int) -> int:
    m = _WINDOW.match(str(value).strip())
    seconds = int(m.group(1)) * _UNIT_S[m.group(2)] if m else -1
    if not 60 <= seconds <= 90 * 86400:
        raise ValueError(f"window must be 60 s to 90 d, as seconds or with a unit (15m, 1h, 24h, 7d); got {value!r}")
    return seconds


class ProfileQuery(BaseModel):
    user_id: Id
    top: int = Field(default=10, ge=1, le=50, description="keywords, entities and items listed, 1-50")


class UserQuery(BaseModel):
    user_id: Id


class NextQuery(BaseModel):
    user_id: Id
    n: int = Field(default=10, ge=1, le=100, description="items to predict, 1-100")


class SequenceEvent(BaseModel):
    item_id: str
    type: str = Field(description="view, click, cart, review or purchase")
    ts: float = Field(description="event time, Unix seconds")


class NextNeed(BaseModel):
    item_id: str
    score: float = Field(
        description="source sequence: the model's probability that this is the next item; otherwise the "
        "recommender's score (ranks only)"
    )
    title: str | None = Field(default=None, description="from the items table, when the model has one")
    categories: list[str] = Field(default=[], description="from the items table, when the model has one")


class NeedCategory(BaseModel):
    category: str
    share: float = Field(description="the category's share of the predicted items' scores (or of the items)")


class NextNeeds(BaseModel):
    user_id: str
    source: str = Field(
        description="'sequence' (the next-item model read the user's events) or, when it could not "
        "(too short a history, no model), the recommender's source: 'als', 'als_folded_in', 'popularity'"
    )
    items: list[NextNeed] = Field(description="best first")
    categories: list[NeedCategory] = Field(
        description="what the predicted items are, by category; [] without an items table"
    )
    sequence: list[SequenceEvent] = Field(description="the user's item events that were read, oldest first (no text)")
    reason: str | None = Field(
        default=None, description="why the sequence model did not answer, with a fallback source"
    )
    model: str = Field(description="tag of the model that ranked the items")


class DeletedUser(BaseModel):
    user_id: str
    events: int = Field(description="events removed (0 when the user had none: deleting twice is harmless)")
    terms: int = Field(description="derived terms removed (categories, entities, keywords, aspects)")


class TrendsQuery(BaseModel):
    window: Annotated[int, BeforeValidator(_window_seconds)] = Field(
        default=86400, description="window length: seconds, or 15m, 1h, 24h, 7d (60 s - 90 d); default 24h"
    )
    end: Timestamp | None = Field(default=None, description="end of the current window (default: now)")
    top: int = Field(default=10, ge=1, le=50, description="terms per list, 1-50")
    min_count: int = Field(default=1, ge=1, le=10**6, description="events a term needs in one of the windows")


UserInsight.model_rebuild()  # ``next`` refers to NextNeeds, defined after it
