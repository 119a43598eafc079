"""The event store's typed shapes: what it keeps of a text analysis (:class:`StoredAnalysis`,
stored as JSON in this exact form) and what it answers, the pydantic models the API returns
unchanged: a user's :class:`Profile` and the :class:`Trends` across users (``gateway.schemas``
re-exports them)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class LastOrder(BaseModel):
    """A user's latest purchase: its item, time, the shop's order number where the event gave one,
    and that order's latest state from the user's ``order`` events."""

    item_id: str
    ts: float = Field(description="Unix s of the purchase event")
    order_id: str | None = Field(default=None, description="the shop's order number; null where the purchase gave none")
    status: str | None = Field(
        default=None, description="the order's latest state (an `order` event's status); null without one"
    )
    status_ts: float | None = Field(default=None, description="Unix s of that state's event")


# --- what is stored of an analysis ---------------------------------------------------------------
class StoredEntity(BaseModel):
    type: str
    text: str


class StoredKeyword(BaseModel):
    keyword: str


class StoredAspect(BaseModel):
    aspect: str
    polarity: str = Field(description="positive, negative or neutral; any other label derives no term")


class StoredAnalysis(BaseModel):
    """What the store keeps of one text's analysis: labels, and the terms found in the stored text.
    Rows written before this model (any part missing) read into it with the defaults."""

    lang: str | None = None
    category: str | None = None
    positive: float | None = Field(default=None, description="probability of positive sentiment, 0-1")
    entities: list[StoredEntity] = []
    keywords: list[StoredKeyword] = []
    aspects: list[StoredAspect] = []
    intent: str | None = Field(
        default=None, description="service intent of a message (data/customer_service/LABELS.md)"
    )


# --- profile ------------------------------------------------------------------------------------
class Interest(BaseModel):
    category: str
    share: float = Field(description="share of the user's weighted category mentions; shares sum to 1")


class SentimentDay(BaseModel):
    day: str = Field(description="UTC date, YYYY-MM-DD")
    n: int
    positive_share: float


class ProfileSentiment(BaseModel):
    n: int = Field(description="events with text (hence a sentiment)")
    positive_share: float | None
    trend: list[SentimentDay] = Field(description="per day with texts, over the last 14 days")


class TermCount(BaseModel):
    term: str
    type: str | None = Field(default=None, description="entity type (entities only)")
    weight: float = Field(description="events weighted by type: purchase 5, cart 3, review 2, others 1")
    count: int


class RecentItem(BaseModel):
    item_id: str
    type: str = Field(description="latest event type with this item")
    ts: float = Field(description="Unix seconds")


class AspectOpinion(BaseModel):
    term: str = Field(description="the aspect, lower-cased")
    positive: float = Field(
        description="weighted mentions judging it positively (purchase 5, cart 3, review 2, others 1)"
    )
    negative: float = Field(description="weighted negative mentions")
    neutral: float = Field(description="weighted neutral mentions")
    count: int = Field(description="mentions")


class ProfileAspects(BaseModel):
    liked: list[AspectOpinion] = Field(description="aspects judged more positively than negatively, most liked first")
    disliked: list[AspectOpinion] = Field(description="aspects judged more negatively, most disliked first")


class ServiceIssue(BaseModel):
    intent: str = Field(description="a service intent that asks for action (not feedback or other)")
    count: int = Field(description="messages with it in the window")
    last_seen: float = Field(description="Unix s of the latest")


class Profile(BaseModel):
    user_id: str
    n_events: int
    first_seen: float
    last_seen: float
    interests: list[Interest]
    sentiment: ProfileSentiment
    keywords: list[TermCount]
    entities: list[TermCount]
    recent_items: list[RecentItem]
    aspects: ProfileAspects = Field(description="what the user's texts like and dislike (POST /aspects on each)")
    service_issues: list[ServiceIssue] = Field(
        default=[], description="service requests in the user's messages of the last 14 days, latest first"
    )


# --- trends -------------------------------------------------------------------------------------
class TrendTerm(BaseModel):
    term: str
    type: str | None = Field(description="entity type (entities only)")
    current: int = Field(description="events mentioning it in the current window")
    previous: int = Field(description="in the window before")
    change: int = Field(description="current - previous")
    positive_share: float | None = Field(description="share of positive texts among the current mentions")


class TrendList(BaseModel):
    rising: list[TrendTerm]
    falling: list[TrendTerm]


class IntentTrend(TrendTerm):
    change_percent: float | None = Field(description="100 * change / previous; null without previous messages")


class IntentTrendList(BaseModel):
    rising: list[IntentTrend]
    falling: list[IntentTrend]


class TrendWindow(BaseModel):
    start: float
    end: float
    previous_start: float
    seconds: float


class TrendCounts(BaseModel):
    current: int
    previous: int


class TrendSentiment(BaseModel):
    current_positive_share: float | None
    previous_positive_share: float | None
    shift: float | None = Field(description="current - previous positive share")


class AspectTrend(BaseModel):
    term: str = Field(description="the aspect, lower-cased")
    current: int = Field(description="mentions in the current window")
    previous: int = Field(description="in the window before")
    change: int = Field(description="current - previous")
    positive_share: float | None = Field(description="positive among positive and negative mentions, current window")
    previous_positive_share: float | None = Field(description="the same in the window before")
    negative_current: int = Field(description="negative mentions in the current window")
    negative_previous: int = Field(description="in the window before")
    negative_change: int = Field(description="negative_current - negative_previous")


class AspectTrends(BaseModel):
    rising: list[AspectTrend] = Field(description="most gained mentions first")
    falling: list[AspectTrend] = Field(description="most lost mentions first")
    complaints_rising: list[AspectTrend] = Field(description="most gained negative mentions first")


class Trends(BaseModel):
    window: TrendWindow
    events: TrendCounts
    sentiment: TrendSentiment
    category: TrendList
    entity: TrendList
    keyword: TrendList
    aspect: AspectTrends
    intent: IntentTrendList = Field(
        default=IntentTrendList(rising=[], falling=[]), description="service intents of messages, by change"
    )
