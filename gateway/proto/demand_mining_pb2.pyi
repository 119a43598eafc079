import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TextsRequest(_message.Message):
    __slots__ = ("texts",)
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    texts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, texts: _Optional[_Iterable[str]] = ...) -> None: ...

class LabelResult(_message.Message):
    __slots__ = ("lang", "label", "score", "probabilities", "model", "reason")
    class ProbabilitiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    LANG_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    PROBABILITIES_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    lang: str
    label: str
    score: float
    probabilities: _containers.ScalarMap[str, float]
    model: str
    reason: str
    def __init__(self, lang: _Optional[str] = ..., label: _Optional[str] = ..., score: _Optional[float] = ..., probabilities: _Optional[_Mapping[str, float]] = ..., model: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class LabelResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[LabelResult]
    def __init__(self, results: _Optional[_Iterable[_Union[LabelResult, _Mapping]]] = ...) -> None: ...

class EntitySpan(_message.Message):
    __slots__ = ("type", "text", "start", "end", "score", "source", "canonical", "value", "unit")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    CANONICAL_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    type: str
    text: str
    start: int
    end: int
    score: float
    source: str
    canonical: str
    value: float
    unit: str
    def __init__(self, type: _Optional[str] = ..., text: _Optional[str] = ..., start: _Optional[int] = ..., end: _Optional[int] = ..., score: _Optional[float] = ..., source: _Optional[str] = ..., canonical: _Optional[str] = ..., value: _Optional[float] = ..., unit: _Optional[str] = ...) -> None: ...

class EntitiesResult(_message.Message):
    __slots__ = ("lang", "entities", "models", "reason")
    LANG_FIELD_NUMBER: _ClassVar[int]
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    lang: str
    entities: _containers.RepeatedCompositeFieldContainer[EntitySpan]
    models: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    def __init__(self, lang: _Optional[str] = ..., entities: _Optional[_Iterable[_Union[EntitySpan, _Mapping]]] = ..., models: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ...) -> None: ...

class NerResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[EntitiesResult]
    def __init__(self, results: _Optional[_Iterable[_Union[EntitiesResult, _Mapping]]] = ...) -> None: ...

class OpinionSpan(_message.Message):
    __slots__ = ("text", "start", "end", "polarity")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    POLARITY_FIELD_NUMBER: _ClassVar[int]
    text: str
    start: int
    end: int
    polarity: str
    def __init__(self, text: _Optional[str] = ..., start: _Optional[int] = ..., end: _Optional[int] = ..., polarity: _Optional[str] = ...) -> None: ...

class AspectSpan(_message.Message):
    __slots__ = ("aspect", "start", "end", "polarity", "score", "opinion")
    ASPECT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    POLARITY_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    OPINION_FIELD_NUMBER: _ClassVar[int]
    aspect: str
    start: int
    end: int
    polarity: str
    score: float
    opinion: OpinionSpan
    def __init__(self, aspect: _Optional[str] = ..., start: _Optional[int] = ..., end: _Optional[int] = ..., polarity: _Optional[str] = ..., score: _Optional[float] = ..., opinion: _Optional[_Union[OpinionSpan, _Mapping]] = ...) -> None: ...

class AspectsResult(_message.Message):
    __slots__ = ("lang", "aspects", "models", "reason")
    LANG_FIELD_NUMBER: _ClassVar[int]
    ASPECTS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    lang: str
    aspects: _containers.RepeatedCompositeFieldContainer[AspectSpan]
    models: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    def __init__(self, lang: _Optional[str] = ..., aspects: _Optional[_Iterable[_Union[AspectSpan, _Mapping]]] = ..., models: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ...) -> None: ...

class AspectsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[AspectsResult]
    def __init__(self, results: _Optional[_Iterable[_Union[AspectsResult, _Mapping]]] = ...) -> None: ...

class KeywordsRequest(_message.Message):
    __slots__ = ("texts", "top_k")
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    texts: _containers.RepeatedScalarFieldContainer[str]
    top_k: int
    def __init__(self, texts: _Optional[_Iterable[str]] = ..., top_k: _Optional[int] = ...) -> None: ...

class Keyword(_message.Message):
    __slots__ = ("keyword", "score")
    KEYWORD_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    keyword: str
    score: float
    def __init__(self, keyword: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class KeywordsResult(_message.Message):
    __slots__ = ("lang", "keywords", "model")
    LANG_FIELD_NUMBER: _ClassVar[int]
    KEYWORDS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    lang: str
    keywords: _containers.RepeatedCompositeFieldContainer[Keyword]
    model: str
    def __init__(self, lang: _Optional[str] = ..., keywords: _Optional[_Iterable[_Union[Keyword, _Mapping]]] = ..., model: _Optional[str] = ...) -> None: ...

class KeywordsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[KeywordsResult]
    def __init__(self, results: _Optional[_Iterable[_Union[KeywordsResult, _Mapping]]] = ...) -> None: ...

class MineRequest(_message.Message):
    __slots__ = ("texts", "user_id", "event_type", "request_id", "top_k", "n")
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    N_FIELD_NUMBER: _ClassVar[int]
    texts: _containers.RepeatedScalarFieldContainer[str]
    user_id: str
    event_type: str
    request_id: str
    top_k: int
    n: int
    def __init__(self, texts: _Optional[_Iterable[str]] = ..., user_id: _Optional[str] = ..., event_type: _Optional[str] = ..., request_id: _Optional[str] = ..., top_k: _Optional[int] = ..., n: _Optional[int] = ...) -> None: ...

class Demand(_message.Message):
    __slots__ = ("intent", "category", "targets", "attributes", "summary", "aspects")
    INTENT_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    ASPECTS_FIELD_NUMBER: _ClassVar[int]
    intent: str
    category: str
    targets: _containers.RepeatedScalarFieldContainer[str]
    attributes: _containers.RepeatedScalarFieldContainer[str]
    summary: str
    aspects: _containers.RepeatedCompositeFieldContainer[AspectSpan]
    def __init__(self, intent: _Optional[str] = ..., category: _Optional[str] = ..., targets: _Optional[_Iterable[str]] = ..., attributes: _Optional[_Iterable[str]] = ..., summary: _Optional[str] = ..., aspects: _Optional[_Iterable[_Union[AspectSpan, _Mapping]]] = ...) -> None: ...

class MineResult(_message.Message):
    __slots__ = ("lang", "category", "sentiment", "entities", "keywords", "demand", "intent")
    LANG_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SENTIMENT_FIELD_NUMBER: _ClassVar[int]
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    KEYWORDS_FIELD_NUMBER: _ClassVar[int]
    DEMAND_FIELD_NUMBER: _ClassVar[int]
    INTENT_FIELD_NUMBER: _ClassVar[int]
    lang: str
    category: LabelResult
    sentiment: LabelResult
    entities: _containers.RepeatedCompositeFieldContainer[EntitySpan]
    keywords: _containers.RepeatedCompositeFieldContainer[Keyword]
    demand: Demand
    intent: LabelResult
    def __init__(self, lang: _Optional[str] = ..., category: _Optional[_Union[LabelResult, _Mapping]] = ..., sentiment: _Optional[_Union[LabelResult, _Mapping]] = ..., entities: _Optional[_Iterable[_Union[EntitySpan, _Mapping]]] = ..., keywords: _Optional[_Iterable[_Union[Keyword, _Mapping]]] = ..., demand: _Optional[_Union[Demand, _Mapping]] = ..., intent: _Optional[_Union[LabelResult, _Mapping]] = ...) -> None: ...

class ReplyRequest(_message.Message):
    __slots__ = ("text", "user_id", "history", "request_id", "k")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    text: str
    user_id: str
    history: _containers.RepeatedScalarFieldContainer[str]
    request_id: str
    k: int
    def __init__(self, text: _Optional[str] = ..., user_id: _Optional[str] = ..., history: _Optional[_Iterable[str]] = ..., request_id: _Optional[str] = ..., k: _Optional[int] = ...) -> None: ...

class Slot(_message.Message):
    __slots__ = ("type", "text", "start", "end")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    type: str
    text: str
    start: int
    end: int
    def __init__(self, type: _Optional[str] = ..., text: _Optional[str] = ..., start: _Optional[int] = ..., end: _Optional[int] = ...) -> None: ...

class Handoff(_message.Message):
    __slots__ = ("needed", "reason", "score")
    NEEDED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    needed: bool
    reason: str
    score: float
    def __init__(self, needed: _Optional[bool] = ..., reason: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class SuggestedReply(_message.Message):
    __slots__ = ("text", "score", "intent", "missing")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    INTENT_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    text: str
    score: float
    intent: str
    missing: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, text: _Optional[str] = ..., score: _Optional[float] = ..., intent: _Optional[str] = ..., missing: _Optional[_Iterable[str]] = ...) -> None: ...

class ItemInfo(_message.Message):
    __slots__ = ("item_id", "found", "title", "categories", "brand")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    BRAND_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    found: bool
    title: str
    categories: _containers.RepeatedScalarFieldContainer[str]
    brand: str
    def __init__(self, item_id: _Optional[str] = ..., found: _Optional[bool] = ..., title: _Optional[str] = ..., categories: _Optional[_Iterable[str]] = ..., brand: _Optional[str] = ...) -> None: ...

class ServiceIssue(_message.Message):
    __slots__ = ("intent", "count", "last_seen")
    INTENT_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    intent: str
    count: int
    last_seen: float
    def __init__(self, intent: _Optional[str] = ..., count: _Optional[int] = ..., last_seen: _Optional[float] = ...) -> None: ...

class LastOrder(_message.Message):
    __slots__ = ("item_id", "ts", "order_id", "status", "status_ts")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    TS_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_TS_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    ts: float
    order_id: str
    status: str
    status_ts: float
    def __init__(self, item_id: _Optional[str] = ..., ts: _Optional[float] = ..., order_id: _Optional[str] = ..., status: _Optional[str] = ..., status_ts: _Optional[float] = ...) -> None: ...

class ServiceContext(_message.Message):
    __slots__ = ("last_item", "open_issues", "repeat_contacts", "last_order")
    LAST_ITEM_FIELD_NUMBER: _ClassVar[int]
    OPEN_ISSUES_FIELD_NUMBER: _ClassVar[int]
    REPEAT_CONTACTS_FIELD_NUMBER: _ClassVar[int]
    LAST_ORDER_FIELD_NUMBER: _ClassVar[int]
    last_item: ItemInfo
    open_issues: _containers.RepeatedCompositeFieldContainer[ServiceIssue]
    repeat_contacts: int
    last_order: LastOrder
    def __init__(self, last_item: _Optional[_Union[ItemInfo, _Mapping]] = ..., open_issues: _Optional[_Iterable[_Union[ServiceIssue, _Mapping]]] = ..., repeat_contacts: _Optional[int] = ..., last_order: _Optional[_Union[LastOrder, _Mapping]] = ...) -> None: ...

class ReplyResponse(_message.Message):
    __slots__ = ("lang", "intent", "slots", "handoff", "replies", "context", "event", "ranker")
    LANG_FIELD_NUMBER: _ClassVar[int]
    INTENT_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    HANDOFF_FIELD_NUMBER: _ClassVar[int]
    REPLIES_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    RANKER_FIELD_NUMBER: _ClassVar[int]
    lang: str
    intent: LabelResult
    slots: _containers.RepeatedCompositeFieldContainer[Slot]
    handoff: Handoff
    replies: _containers.RepeatedCompositeFieldContainer[SuggestedReply]
    context: ServiceContext
    event: EventStatus
    ranker: str
    def __init__(self, lang: _Optional[str] = ..., intent: _Optional[_Union[LabelResult, _Mapping]] = ..., slots: _Optional[_Iterable[_Union[Slot, _Mapping]]] = ..., handoff: _Optional[_Union[Handoff, _Mapping]] = ..., replies: _Optional[_Iterable[_Union[SuggestedReply, _Mapping]]] = ..., context: _Optional[_Union[ServiceContext, _Mapping]] = ..., event: _Optional[_Union[EventStatus, _Mapping]] = ..., ranker: _Optional[str] = ...) -> None: ...

class UserInsight(_message.Message):
    __slots__ = ("profile", "recommendations", "events", "next")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDATIONS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_FIELD_NUMBER: _ClassVar[int]
    profile: Profile
    recommendations: Recommendation
    events: _containers.RepeatedCompositeFieldContainer[EventStatus]
    next: NextNeeds
    def __init__(self, profile: _Optional[_Union[Profile, _Mapping]] = ..., recommendations: _Optional[_Union[Recommendation, _Mapping]] = ..., events: _Optional[_Iterable[_Union[EventStatus, _Mapping]]] = ..., next: _Optional[_Union[NextNeeds, _Mapping]] = ...) -> None: ...

class MineResponse(_message.Message):
    __slots__ = ("results", "user")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[MineResult]
    user: UserInsight
    def __init__(self, results: _Optional[_Iterable[_Union[MineResult, _Mapping]]] = ..., user: _Optional[_Union[UserInsight, _Mapping]] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("key", "user_id", "type", "item_id", "text", "ts", "order_id", "status")
    KEY_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TS_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    key: str
    user_id: str
    type: str
    item_id: str
    text: str
    ts: _timestamp_pb2.Timestamp
    order_id: str
    status: str
    def __init__(self, key: _Optional[str] = ..., user_id: _Optional[str] = ..., type: _Optional[str] = ..., item_id: _Optional[str] = ..., text: _Optional[str] = ..., ts: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., order_id: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...

class EventsRequest(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ...) -> None: ...

class EventStatus(_message.Message):
    __slots__ = ("key", "id", "status")
    KEY_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    key: str
    id: int
    status: str
    def __init__(self, key: _Optional[str] = ..., id: _Optional[int] = ..., status: _Optional[str] = ...) -> None: ...

class EventsResponse(_message.Message):
    __slots__ = ("results", "stored", "duplicates")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    STORED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[EventStatus]
    stored: int
    duplicates: int
    def __init__(self, results: _Optional[_Iterable[_Union[EventStatus, _Mapping]]] = ..., stored: _Optional[int] = ..., duplicates: _Optional[int] = ...) -> None: ...

class ProfileRequest(_message.Message):
    __slots__ = ("user_id", "top")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TOP_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    top: int
    def __init__(self, user_id: _Optional[str] = ..., top: _Optional[int] = ...) -> None: ...

class Interest(_message.Message):
    __slots__ = ("category", "share")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    category: str
    share: float
    def __init__(self, category: _Optional[str] = ..., share: _Optional[float] = ...) -> None: ...

class SentimentDay(_message.Message):
    __slots__ = ("day", "n", "positive_share")
    DAY_FIELD_NUMBER: _ClassVar[int]
    N_FIELD_NUMBER: _ClassVar[int]
    POSITIVE_SHARE_FIELD_NUMBER: _ClassVar[int]
    day: str
    n: int
    positive_share: float
    def __init__(self, day: _Optional[str] = ..., n: _Optional[int] = ..., positive_share: _Optional[float] = ...) -> None: ...

class ProfileSentiment(_message.Message):
    __slots__ = ("n", "positive_share", "trend")
    N_FIELD_NUMBER: _ClassVar[int]
    POSITIVE_SHARE_FIELD_NUMBER: _ClassVar[int]
    TREND_FIELD_NUMBER: _ClassVar[int]
    n: int
    positive_share: float
    trend: _containers.RepeatedCompositeFieldContainer[SentimentDay]
    def __init__(self, n: _Optional[int] = ..., positive_share: _Optional[float] = ..., trend: _Optional[_Iterable[_Union[SentimentDay, _Mapping]]] = ...) -> None: ...

class TermCount(_message.Message):
    __slots__ = ("term", "type", "weight", "count")
    TERM_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    term: str
    type: str
    weight: float
    count: int
    def __init__(self, term: _Optional[str] = ..., type: _Optional[str] = ..., weight: _Optional[float] = ..., count: _Optional[int] = ...) -> None: ...

class RecentItem(_message.Message):
    __slots__ = ("item_id", "type", "ts")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TS_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    type: str
    ts: float
    def __init__(self, item_id: _Optional[str] = ..., type: _Optional[str] = ..., ts: _Optional[float] = ...) -> None: ...

class Profile(_message.Message):
    __slots__ = ("user_id", "n_events", "first_seen", "last_seen", "interests", "sentiment", "keywords", "entities", "recent_items", "aspects", "service_issues")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    N_EVENTS_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEEN_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    INTERESTS_FIELD_NUMBER: _ClassVar[int]
    SENTIMENT_FIELD_NUMBER: _ClassVar[int]
    KEYWORDS_FIELD_NUMBER: _ClassVar[int]
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    RECENT_ITEMS_FIELD_NUMBER: _ClassVar[int]
    ASPECTS_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ISSUES_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    n_events: int
    first_seen: float
    last_seen: float
    interests: _containers.RepeatedCompositeFieldContainer[Interest]
    sentiment: ProfileSentiment
    keywords: _containers.RepeatedCompositeFieldContainer[TermCount]
    entities: _containers.RepeatedCompositeFieldContainer[TermCount]
    recent_items: _containers.RepeatedCompositeFieldContainer[RecentItem]
    aspects: ProfileAspects
    service_issues: _containers.RepeatedCompositeFieldContainer[ServiceIssue]
    def __init__(self, user_id: _Optional[str] = ..., n_events: _Optional[int] = ..., first_seen: _Optional[float] = ..., last_seen: _Optional[float] = ..., interests: _Optional[_Iterable[_Union[Interest, _Mapping]]] = ..., sentiment: _Optional[_Union[ProfileSentiment, _Mapping]] = ..., keywords: _Optional[_Iterable[_Union[TermCount, _Mapping]]] = ..., entities: _Optional[_Iterable[_Union[TermCount, _Mapping]]] = ..., recent_items: _Optional[_Iterable[_Union[RecentItem, _Mapping]]] = ..., aspects: _Optional[_Union[ProfileAspects, _Mapping]] = ..., service_issues: _Optional[_Iterable[_Union[ServiceIssue, _Mapping]]] = ...) -> None: ...

class AspectOpinion(_message.Message):
    __slots__ = ("term", "positive", "negative", "neutral", "count")
    TERM_FIELD_NUMBER: _ClassVar[int]
    POSITIVE_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_FIELD_NUMBER: _ClassVar[int]
    NEUTRAL_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    term: str
    positive: float
    negative: float
    neutral: float
    count: int
    def __init__(self, term: _Optional[str] = ..., positive: _Optional[float] = ..., negative: _Optional[float] = ..., neutral: _Optional[float] = ..., count: _Optional[int] = ...) -> None: ...

class ProfileAspects(_message.Message):
    __slots__ = ("liked", "disliked")
    LIKED_FIELD_NUMBER: _ClassVar[int]
    DISLIKED_FIELD_NUMBER: _ClassVar[int]
    liked: _containers.RepeatedCompositeFieldContainer[AspectOpinion]
    disliked: _containers.RepeatedCompositeFieldContainer[AspectOpinion]
    def __init__(self, liked: _Optional[_Iterable[_Union[AspectOpinion, _Mapping]]] = ..., disliked: _Optional[_Iterable[_Union[AspectOpinion, _Mapping]]] = ...) -> None: ...

class NextRequest(_message.Message):
    __slots__ = ("user_id", "n")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    N_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    n: int
    def __init__(self, user_id: _Optional[str] = ..., n: _Optional[int] = ...) -> None: ...

class SequenceEvent(_message.Message):
    __slots__ = ("item_id", "type", "ts")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TS_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    type: str
    ts: float
    def __init__(self, item_id: _Optional[str] = ..., type: _Optional[str] = ..., ts: _Optional[float] = ...) -> None: ...

class NextNeed(_message.Message):
    __slots__ = ("item_id", "score", "title", "categories")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    score: float
    title: str
    categories: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, item_id: _Optional[str] = ..., score: _Optional[float] = ..., title: _Optional[str] = ..., categories: _Optional[_Iterable[str]] = ...) -> None: ...

class NeedCategory(_message.Message):
    __slots__ = ("category", "share")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    category: str
    share: float
    def __init__(self, category: _Optional[str] = ..., share: _Optional[float] = ...) -> None: ...

class NextNeeds(_message.Message):
    __slots__ = ("user_id", "source", "items", "categories", "sequence", "reason", "model")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    source: str
    items: _containers.RepeatedCompositeFieldContainer[NextNeed]
    categories: _containers.RepeatedCompositeFieldContainer[NeedCategory]
    sequence: _containers.RepeatedCompositeFieldContainer[SequenceEvent]
    reason: str
    model: str
    def __init__(self, user_id: _Optional[str] = ..., source: _Optional[str] = ..., items: _Optional[_Iterable[_Union[NextNeed, _Mapping]]] = ..., categories: _Optional[_Iterable[_Union[NeedCategory, _Mapping]]] = ..., sequence: _Optional[_Iterable[_Union[SequenceEvent, _Mapping]]] = ..., reason: _Optional[str] = ..., model: _Optional[str] = ...) -> None: ...

class DeleteUserRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class DeletedUser(_message.Message):
    __slots__ = ("user_id", "events", "terms")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    TERMS_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    events: int
    terms: int
    def __init__(self, user_id: _Optional[str] = ..., events: _Optional[int] = ..., terms: _Optional[int] = ...) -> None: ...

class TrendsRequest(_message.Message):
    __slots__ = ("window", "end", "top", "min_count")
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    TOP_FIELD_NUMBER: _ClassVar[int]
    MIN_COUNT_FIELD_NUMBER: _ClassVar[int]
    window: str
    end: _timestamp_pb2.Timestamp
    top: int
    min_count: int
    def __init__(self, window: _Optional[str] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., top: _Optional[int] = ..., min_count: _Optional[int] = ...) -> None: ...

class TrendTerm(_message.Message):
    __slots__ = ("term", "type", "current", "previous", "change", "positive_share")
    TERM_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    POSITIVE_SHARE_FIELD_NUMBER: _ClassVar[int]
    term: str
    type: str
    current: int
    previous: int
    change: int
    positive_share: float
    def __init__(self, term: _Optional[str] = ..., type: _Optional[str] = ..., current: _Optional[int] = ..., previous: _Optional[int] = ..., change: _Optional[int] = ..., positive_share: _Optional[float] = ...) -> None: ...

class TrendList(_message.Message):
    __slots__ = ("rising", "falling")
    RISING_FIELD_NUMBER: _ClassVar[int]
    FALLING_FIELD_NUMBER: _ClassVar[int]
    rising: _containers.RepeatedCompositeFieldContainer[TrendTerm]
    falling: _containers.RepeatedCompositeFieldContainer[TrendTerm]
    def __init__(self, rising: _Optional[_Iterable[_Union[TrendTerm, _Mapping]]] = ..., falling: _Optional[_Iterable[_Union[TrendTerm, _Mapping]]] = ...) -> None: ...

class TrendWindow(_message.Message):
    __slots__ = ("start", "end", "previous_start", "seconds")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_START_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    start: float
    end: float
    previous_start: float
    seconds: float
    def __init__(self, start: _Optional[float] = ..., end: _Optional[float] = ..., previous_start: _Optional[float] = ..., seconds: _Optional[float] = ...) -> None: ...

class TrendCounts(_message.Message):
    __slots__ = ("current", "previous")
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    current: int
    previous: int
    def __init__(self, current: _Optional[int] = ..., previous: _Optional[int] = ...) -> None: ...

class TrendSentiment(_message.Message):
    __slots__ = ("current_positive_share", "previous_positive_share", "shift")
    CURRENT_POSITIVE_SHARE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_POSITIVE_SHARE_FIELD_NUMBER: _ClassVar[int]
    SHIFT_FIELD_NUMBER: _ClassVar[int]
    current_positive_share: float
    previous_positive_share: float
    shift: float
    def __init__(self, current_positive_share: _Optional[float] = ..., previous_positive_share: _Optional[float] = ..., shift: _Optional[float] = ...) -> None: ...

class Trends(_message.Message):
    __slots__ = ("window", "events", "sentiment", "category", "entity", "keyword", "aspect", "intent")
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    SENTIMENT_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    KEYWORD_FIELD_NUMBER: _ClassVar[int]
    ASPECT_FIELD_NUMBER: _ClassVar[int]
    INTENT_FIELD_NUMBER: _ClassVar[int]
    window: TrendWindow
    events: TrendCounts
    sentiment: TrendSentiment
    category: TrendList
    entity: TrendList
    keyword: TrendList
    aspect: AspectTrends
    intent: IntentTrendList
    def __init__(self, window: _Optional[_Union[TrendWindow, _Mapping]] = ..., events: _Optional[_Union[TrendCounts, _Mapping]] = ..., sentiment: _Optional[_Union[TrendSentiment, _Mapping]] = ..., category: _Optional[_Union[TrendList, _Mapping]] = ..., entity: _Optional[_Union[TrendList, _Mapping]] = ..., keyword: _Optional[_Union[TrendList, _Mapping]] = ..., aspect: _Optional[_Union[AspectTrends, _Mapping]] = ..., intent: _Optional[_Union[IntentTrendList, _Mapping]] = ...) -> None: ...

class IntentTrend(_message.Message):
    __slots__ = ("term", "type", "current", "previous", "change", "positive_share", "change_percent")
    TERM_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    POSITIVE_SHARE_FIELD_NUMBER: _ClassVar[int]
    CHANGE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    term: str
    type: str
    current: int
    previous: int
    change: int
    positive_share: float
    change_percent: float
    def __init__(self, term: _Optional[str] = ..., type: _Optional[str] = ..., current: _Optional[int] = ..., previous: _Optional[int] = ..., change: _Optional[int] = ..., positive_share: _Optional[float] = ..., change_percent: _Optional[float] = ...) -> None: ...

class IntentTrendList(_message.Message):
    __slots__ = ("rising", "falling")
    RISING_FIELD_NUMBER: _ClassVar[int]
    FALLING_FIELD_NUMBER: _ClassVar[int]
    rising: _containers.RepeatedCompositeFieldContainer[IntentTrend]
    falling: _containers.RepeatedCompositeFieldContainer[IntentTrend]
    def __init__(self, rising: _Optional[_Iterable[_Union[IntentTrend, _Mapping]]] = ..., falling: _Optional[_Iterable[_Union[IntentTrend, _Mapping]]] = ...) -> None: ...

class AspectTrend(_message.Message):
    __slots__ = ("term", "current", "previous", "change", "positive_share", "previous_positive_share", "negative_current", "negative_previous", "negative_change")
    TERM_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    POSITIVE_SHARE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_POSITIVE_SHARE_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_CURRENT_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_CHANGE_FIELD_NUMBER: _ClassVar[int]
    term: str
    current: int
    previous: int
    change: int
    positive_share: float
    previous_positive_share: float
    negative_current: int
    negative_previous: int
    negative_change: int
    def __init__(self, term: _Optional[str] = ..., current: _Optional[int] = ..., previous: _Optional[int] = ..., change: _Optional[int] = ..., positive_share: _Optional[float] = ..., previous_positive_share: _Optional[float] = ..., negative_current: _Optional[int] = ..., negative_previous: _Optional[int] = ..., negative_change: _Optional[int] = ...) -> None: ...

class AspectTrends(_message.Message):
    __slots__ = ("rising", "falling", "complaints_rising")
    RISING_FIELD_NUMBER: _ClassVar[int]
    FALLING_FIELD_NUMBER: _ClassVar[int]
    COMPLAINTS_RISING_FIELD_NUMBER: _ClassVar[int]
    rising: _containers.RepeatedCompositeFieldContainer[AspectTrend]
    falling: _containers.RepeatedCompositeFieldContainer[AspectTrend]
    complaints_rising: _containers.RepeatedCompositeFieldContainer[AspectTrend]
    def __init__(self, rising: _Optional[_Iterable[_Union[AspectTrend, _Mapping]]] = ..., falling: _Optional[_Iterable[_Union[AspectTrend, _Mapping]]] = ..., complaints_rising: _Optional[_Iterable[_Union[AspectTrend, _Mapping]]] = ...) -> None: ...

class Interaction(_message.Message):
    __slots__ = ("item_id", "weight")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    weight: float
    def __init__(self, item_id: _Optional[str] = ..., weight: _Optional[float] = ...) -> None: ...

class UserRequest(_message.Message):
    __slots__ = ("user_id", "n", "recent", "exclude_seen", "allow", "deny", "explain", "strategy")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    N_FIELD_NUMBER: _ClassVar[int]
    RECENT_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_SEEN_FIELD_NUMBER: _ClassVar[int]
    ALLOW_FIELD_NUMBER: _ClassVar[int]
    DENY_FIELD_NUMBER: _ClassVar[int]
    EXPLAIN_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    n: int
    recent: _containers.RepeatedCompositeFieldContainer[Interaction]
    exclude_seen: bool
    allow: _containers.RepeatedScalarFieldContainer[str]
    deny: _containers.RepeatedScalarFieldContainer[str]
    explain: bool
    strategy: str
    def __init__(self, user_id: _Optional[str] = ..., n: _Optional[int] = ..., recent: _Optional[_Iterable[_Union[Interaction, _Mapping]]] = ..., exclude_seen: _Optional[bool] = ..., allow: _Optional[_Iterable[str]] = ..., deny: _Optional[_Iterable[str]] = ..., explain: _Optional[bool] = ..., strategy: _Optional[str] = ...) -> None: ...

class RecommendRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[UserRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[UserRequest, _Mapping]]] = ...) -> None: ...

class Contribution(_message.Message):
    __slots__ = ("item_id", "contribution")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    CONTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    contribution: float
    def __init__(self, item_id: _Optional[str] = ..., contribution: _Optional[float] = ...) -> None: ...

class RecommendedItem(_message.Message):
    __slots__ = ("item_id", "score", "because", "demand")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    BECAUSE_FIELD_NUMBER: _ClassVar[int]
    DEMAND_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    score: float
    because: _containers.RepeatedCompositeFieldContainer[Contribution]
    demand: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, item_id: _Optional[str] = ..., score: _Optional[float] = ..., because: _Optional[_Iterable[_Union[Contribution, _Mapping]]] = ..., demand: _Optional[_Iterable[str]] = ...) -> None: ...

class Recommendation(_message.Message):
    __slots__ = ("user_id", "items", "source", "unknown_items", "model", "history_events", "strategy", "demand")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    UNKNOWN_ITEMS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    HISTORY_EVENTS_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    DEMAND_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    items: _containers.RepeatedCompositeFieldContainer[RecommendedItem]
    source: str
    unknown_items: _containers.RepeatedScalarFieldContainer[str]
    model: str
    history_events: int
    strategy: str
    demand: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, user_id: _Optional[str] = ..., items: _Optional[_Iterable[_Union[RecommendedItem, _Mapping]]] = ..., source: _Optional[str] = ..., unknown_items: _Optional[_Iterable[str]] = ..., model: _Optional[str] = ..., history_events: _Optional[int] = ..., strategy: _Optional[str] = ..., demand: _Optional[_Iterable[str]] = ...) -> None: ...

class RecommendResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[Recommendation]
    def __init__(self, results: _Optional[_Iterable[_Union[Recommendation, _Mapping]]] = ...) -> None: ...

class SimilarRequest(_message.Message):
    __slots__ = ("item_ids", "n")
    ITEM_IDS_FIELD_NUMBER: _ClassVar[int]
    N_FIELD_NUMBER: _ClassVar[int]
    item_ids: _containers.RepeatedScalarFieldContainer[str]
    n: int
    def __init__(self, item_ids: _Optional[_Iterable[str]] = ..., n: _Optional[int] = ...) -> None: ...

class SimilarItem(_message.Message):
    __slots__ = ("item_id", "score")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    score: float
    def __init__(self, item_id: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class SimilarResult(_message.Message):
    __slots__ = ("item_id", "similar")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    SIMILAR_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    similar: _containers.RepeatedCompositeFieldContainer[SimilarItem]
    def __init__(self, item_id: _Optional[str] = ..., similar: _Optional[_Iterable[_Union[SimilarItem, _Mapping]]] = ...) -> None: ...

class SimilarResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SimilarResult]
    def __init__(self, results: _Optional[_Iterable[_Union[SimilarResult, _Mapping]]] = ...) -> None: ...

class SeriesInput(_message.Message):
    __slots__ = ("series_id", "units", "covariates", "horizon", "future_covariates")
    SERIES_ID_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    COVARIATES_FIELD_NUMBER: _ClassVar[int]
    HORIZON_FIELD_NUMBER: _ClassVar[int]
    FUTURE_COVARIATES_FIELD_NUMBER: _ClassVar[int]
    series_id: str
    units: _struct_pb2.ListValue
    covariates: _struct_pb2.Struct
    horizon: int
    future_covariates: _struct_pb2.Struct
    def __init__(self, series_id: _Optional[str] = ..., units: _Optional[_Union[_struct_pb2.ListValue, _Mapping]] = ..., covariates: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., horizon: _Optional[int] = ..., future_covariates: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ForecastRequest(_message.Message):
    __slots__ = ("series",)
    SERIES_FIELD_NUMBER: _ClassVar[int]
    series: _containers.RepeatedCompositeFieldContainer[SeriesInput]
    def __init__(self, series: _Optional[_Iterable[_Union[SeriesInput, _Mapping]]] = ...) -> None: ...

class Quantiles(_message.Message):
    __slots__ = ("p10", "p50", "p90")
    P10_FIELD_NUMBER: _ClassVar[int]
    P50_FIELD_NUMBER: _ClassVar[int]
    P90_FIELD_NUMBER: _ClassVar[int]
    p10: _containers.RepeatedScalarFieldContainer[float]
    p50: _containers.RepeatedScalarFieldContainer[float]
    p90: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, p10: _Optional[_Iterable[float]] = ..., p50: _Optional[_Iterable[float]] = ..., p90: _Optional[_Iterable[float]] = ...) -> None: ...

class SeriesForecast(_message.Message):
    __slots__ = ("series_id", "quantiles", "model")
    SERIES_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTILES_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    series_id: str
    quantiles: Quantiles
    model: str
    def __init__(self, series_id: _Optional[str] = ..., quantiles: _Optional[_Union[Quantiles, _Mapping]] = ..., model: _Optional[str] = ...) -> None: ...

class ForecastResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SeriesForecast]
    def __init__(self, results: _Optional[_Iterable[_Union[SeriesForecast, _Mapping]]] = ...) -> None: ...

class InventoryRequest(_message.Message):
    __slots__ = ("series", "lead_time", "service_level", "on_hand", "on_order", "dependence")
    SERIES_FIELD_NUMBER: _ClassVar[int]
    LEAD_TIME_FIELD_NUMBER: _ClassVar[int]
    SERVICE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    ON_HAND_FIELD_NUMBER: _ClassVar[int]
    ON_ORDER_FIELD_NUMBER: _ClassVar[int]
    DEPENDENCE_FIELD_NUMBER: _ClassVar[int]
    series: SeriesInput
    lead_time: int
    service_level: float
    on_hand: float
    on_order: float
    dependence: str
    def __init__(self, series: _Optional[_Union[SeriesInput, _Mapping]] = ..., lead_time: _Optional[int] = ..., service_level: _Optional[float] = ..., on_hand: _Optional[float] = ..., on_order: _Optional[float] = ..., dependence: _Optional[str] = ...) -> None: ...

class InventoryPlanResponse(_message.Message):
    __slots__ = ("series_id", "reorder_quantity", "order_up_to", "expected_demand", "safety_stock", "lead_time", "service_level", "forecast", "assumptions", "model")
    SERIES_ID_FIELD_NUMBER: _ClassVar[int]
    REORDER_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    ORDER_UP_TO_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_DEMAND_FIELD_NUMBER: _ClassVar[int]
    SAFETY_STOCK_FIELD_NUMBER: _ClassVar[int]
    LEAD_TIME_FIELD_NUMBER: _ClassVar[int]
    SERVICE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    FORECAST_FIELD_NUMBER: _ClassVar[int]
    ASSUMPTIONS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    series_id: str
    reorder_quantity: int
    order_up_to: float
    expected_demand: float
    safety_stock: float
    lead_time: int
    service_level: float
    forecast: Quantiles
    assumptions: _containers.RepeatedScalarFieldContainer[str]
    model: str
    def __init__(self, series_id: _Optional[str] = ..., reorder_quantity: _Optional[int] = ..., order_up_to: _Optional[float] = ..., expected_demand: _Optional[float] = ..., safety_stock: _Optional[float] = ..., lead_time: _Optional[int] = ..., service_level: _Optional[float] = ..., forecast: _Optional[_Union[Quantiles, _Mapping]] = ..., assumptions: _Optional[_Iterable[str]] = ..., model: _Optional[str] = ...) -> None: ...
