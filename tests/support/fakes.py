"""Fakes shared by the tests: runners for the in-process gateway, a fixed-answer classifier and a
tiny encoder saved like a hub folder. Each answers from its inputs alone, so a test knows what to
expect without a trained model."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from mining.contracts import (
    AspectSpan,
    AspectsResult,
    DissatisfactionScore,
    EntitiesResult,
    EntitySpan,
    ForecastResult,
    ItemInfo,
    Keyword,
    KeywordsResult,
    LabelResult,
    NextItem,
    NextResult,
    Quantiles,
    RankedReplies,
    RecallResult,
    RecommendedItem,
    ReplyQuery,
    SimilarLookup,
    TextItem,
)
from mining.events import is_postgres
from mining.settings import Settings

# --- the gateway's runners ----------------------------------------------------------------------


class FakeRunner:
    """A runner's call surface (``to_async.<api>``, ``is_ready``) over a plain function per API;
    it records what it was sent."""

    def __init__(self, **apis: Any) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.fail: Exception | None = None

        def wrap(name: str, fn: Any) -> Any:
            async def call(*args: Any) -> Any:
                self.calls.append((name, args))
                if self.fail is not None:
                    raise self.fail
                return fn(*args)

            return call

        self.to_async = SimpleNamespace(**{k: wrap(k, v) for k, v in apis.items()})

    async def is_ready(self, timeout: float | None = None) -> bool:
        return True


def fake_sentiment(items: list[TextItem]) -> list[LabelResult]:
    """Negative (0.9) where the text holds a complaint word, else positive (0.9); one result per item."""
    out = []
    for it in items:
        pos = 0.1 if any(w in it.text for w in ("差", "broke", "stale", "太")) else 0.9
        out.append(
            LabelResult(
                lang=it.lang,
                label="positive" if pos > 0.5 else "negative",
                score=max(pos, 1 - pos),
                probabilities={"negative": 1 - pos, "positive": pos},
                model=f"sentiment-{it.lang}:fake",
            )
        )
    return out


def fake_category(items: list[TextItem]) -> list[LabelResult]:
    """An English model only: English text is Televisions (0.9 with "TV" in it, else 0.5); Chinese
    text gets no category, with the reason."""
    return [
        LabelResult(
            lang=it.lang,
            label="Televisions",
            score=0.9 if "TV" in it.text else 0.5,
            probabilities={"Televisions": 0.9, "Laptops": 0.1},
            model="classification-en:fake",
        )
        if it.lang == "en"
        else LabelResult(lang=it.lang, label=None, score=0.0, probabilities={}, model=None, reason="no model for zh")
        for it in items
    ]


def no_reply_ranker(queries: list[ReplyQuery]) -> list[RankedReplies]:
    """The intent runner's reply ranking where the store holds no reply ranker."""
    return [RankedReplies.none() for _ in queries]


# Words that make the fake hand-over model's customer unhappy, each adding 0.3 to P(low satisfaction).
UNHAPPY_CUES = ("骗子", "scam")


def fake_handoff(items: list[TextItem]) -> list[DissatisfactionScore]:
    """P(low satisfaction) 0.1 + 0.3 per :data:`UNHAPPY_CUES` occurrence in the conversation (at
    most 1), threshold 0.5, for both languages."""
    return [
        DissatisfactionScore(
            lang=it.lang,
            probability=min(1.0, 0.1 + 0.3 * sum(it.text.lower().count(c) for c in UNHAPPY_CUES)),
            threshold=0.5,
            model=f"handoff-{it.lang}:fake",
        )
        for it in items
    ]


# Cue -> intent of the fake intent model, first match wins.
INTENT_CUES = (
    (("人工", "human", "agent"), "human_agent"),
    (("refund", "退款"), "refund_status"),
    (("where", "到哪", "没收到"), "order_status"),
    (("cancel", "取消"), "cancel_order"),
)


def fake_intent(items: list[TextItem]) -> list[LabelResult]:
    """The intent of the first cue of :data:`INTENT_CUES` in the text (0.9); without one, no label
    (abstained, score 0.4) with the reason."""
    out = []
    for it in items:
        label = next((lab for cues, lab in INTENT_CUES if any(c in it.text.lower() for c in cues)), None)
        out.append(
            LabelResult(
                lang=it.lang,
                label=label,
                score=0.9 if label else 0.4,
                probabilities={label or "other": 0.9 if label else 0.4},
                model="intent:fake",
                reason=None if label else "not sure: top probability 0.40 (other) is under the threshold 0.50",
            )
        )
    return out


BRANDS = ("Sony", "华为")


def fake_entities(items: list[TextItem]) -> list[EntitiesResult]:
    """A BRAND span (character offsets) for each of :data:`BRANDS` found in the text."""
    out = []
    for it in items:
        spans = [
            EntitySpan(type="BRAND", text=b, start=it.text.index(b), end=it.text.index(b) + len(b), score=0.95)
            for b in BRANDS
            if b in it.text
        ]
        out.append(EntitiesResult(lang=it.lang, entities=spans, models=[f"ner-{it.lang}:fake"]))
    return out


def entities_with_names(
    names: Sequence[str], brand_like: Sequence[str] = ()
) -> Callable[[list[TextItem]], list[EntitiesResult]]:
    """A fake NER: :func:`fake_entities`, plus a PER entity over each of ``names`` wherever a text
    holds it, and a BRAND entity over each of ``brand_like`` (a name a model took for a brand)."""

    def predict(items: list[TextItem]) -> list[EntitiesResult]:
        out = []
        for it, base in zip(items, fake_entities(items)):
            found = [
                EntitySpan(type=kind, text=n, start=m.start(), end=m.end(), score=0.9)
                for kind, group in (("PER", names), ("BRAND", brand_like))
                for n in group
                for m in re.finditer(re.escape(n), it.text)
            ]
            out.append(base.model_copy(update={"entities": [*base.entities, *found]}))
        return out

    return predict


ASPECT_TERMS = ("电池", "手机", "battery", "TV")
NEGATIVE_WORDS = ("太贵", "broke", "torn", "差")


def fake_aspects(items: list[TextItem]) -> list[AspectsResult]:
    """A span (character offsets) per :data:`ASPECT_TERMS` found, negative where the text holds a
    :data:`NEGATIVE_WORDS` entry, else positive."""
    out = []
    for it in items:
        polarity = "negative" if any(w in it.text for w in NEGATIVE_WORDS) else "positive"
        spans = [
            AspectSpan(
                aspect=t,
                start=it.text.index(t),
                end=it.text.index(t) + len(t),
                polarity=polarity,
                score=0.9,
                opinion=None,
            )
            for t in ASPECT_TERMS
            if t in it.text
        ]
        out.append(AspectsResult(lang=it.lang, aspects=spans, models=[f"aspects-{it.lang}:fake"]))
    return out


def fake_keywords(items: list[TextItem]) -> list[KeywordsResult]:
    """The text's first 50 words, lower-cased, scored 1/rank."""
    return [
        KeywordsResult(
            lang=it.lang,
            keywords=[
                Keyword(keyword=w.lower().strip("?.,"), score=1.0 / (k + 1)) for k, w in enumerate(it.text.split()[:50])
            ],
            model="keywords:fake",
        )
        for it in items
    ]


def fake_recommend(requests: list[dict[str, Any]]) -> list[RecallResult]:
    """Items 100, 101, ... (``n``, default 10), folded in where the request has recent events."""
    out = []
    for r in requests:
        seen = [e["item_id"] for e in r.get("recent", [])]
        items = [RecommendedItem(item_id=str(100 + k), score=1.0 - k / 10) for k in range(r.get("n", 10))]
        out.append(
            RecallResult(
                user_id=r["user_id"],
                items=items,
                source="als_folded_in" if seen else "popularity",
                unknown_items=[],
                model="recall:fake",
            )
        )
    return out


def fake_next(requests: list[dict[str, Any]]) -> list[NextResult]:
    """Predicts '<last item>-next', then items a, b and 42; an empty history is too short."""
    out = []
    for r in requests:
        events = r["events"]
        if not events:
            out.append(NextResult(items=None, used=0, reason="0 known item events; needs 1", model="sequence:fake"))
            continue
        items = [
            NextItem(item_id=f"{events[-1][0]}-next", score=0.6),
            *(NextItem(item_id=i, score=0.1) for i in ("a", "b")),
            NextItem(item_id="42", score=0.05),
        ]
        out.append(NextResult(items=items[: r.get("n", 10)], used=len(events), model="sequence:fake"))
    return out


def fake_describe(item_ids: list[str]) -> list[ItemInfo]:
    """Items 42 and 117 are known (one title, two categories); any other id is not found."""
    return [
        ItemInfo(item_id=i, found=True, title="The Answer", categories=["Comedy", "Drama"])
        if i in ("42", "117")
        else ItemInfo(item_id=i, found=False)
        for i in item_ids
    ]


def fake_similar(item_ids: list[str], n: int) -> list[SimilarLookup]:
    """Numeric ids are found, with no neighbours; others are not found."""
    return [SimilarLookup(item_id=i, found=i.isdigit(), similar=[]) for i in item_ids]


def fake_forecast(requests: list[dict[str, Any]]) -> list[ForecastResult]:
    """Quantiles 8/10/12 units per period over ``horizon`` periods; under 8 periods of history is an error."""
    out = []
    for r in requests:
        if len(r["units"]) < 8:
            out.append(
                ForecastResult(
                    error=f"units: need at least 8 periods with a value, got {len(r['units'])}", model="demand:fake"
                )
            )
        else:
            h = r["horizon"]
            out.append(
                ForecastResult(quantiles=Quantiles(p10=[8.0] * h, p50=[10.0] * h, p90=[12.0] * h), model="demand:fake")
            )
    return out


def fake_runners() -> dict[str, FakeRunner]:
    """One fresh fake per runner the service connects to, keyed by the service's runner names."""
    return {
        "sentiment": FakeRunner(predict=fake_sentiment),
        "classification": FakeRunner(predict=fake_category),
        "ner": FakeRunner(predict=fake_entities),
        "aspects": FakeRunner(predict=fake_aspects),
        "keywords": FakeRunner(predict=fake_keywords),
        "recall": FakeRunner(predict=fake_recommend, similar=fake_similar),
        "sequence": FakeRunner(
            predict=fake_next,
            describe=fake_describe,
            strategy=lambda: {"default": "als", "blend_weight": 0.5, "model": "f"},
        ),
        "demand": FakeRunner(predict=fake_forecast, spec=lambda: {"covariates": [], "model": "demand:fake"}),
        "intent": FakeRunner(predict=fake_intent, rank_replies=no_reply_ranker, handoff=fake_handoff),
    }


class RunnerSlot:
    """Stands in for ``service.connect_runners``: the service gets whatever runners a test put in
    ``runners`` when it starts, so one ASGI app can serve each test's own fakes."""

    def __init__(self) -> None:
        self.runners: dict[str, FakeRunner] | None = None

    def __call__(self, svc: Any, cfg: Any) -> dict[str, FakeRunner]:
        if self.runners is None:
            raise RuntimeError("the service started before the test put its fake runners in the slot")
        return self.runners


def store_settings(store_url: str, **kwargs: Any) -> Settings:
    """Settings whose event store is ``store_url`` (a PostgreSQL URL or a SQLite path)."""
    if is_postgres(store_url):
        return Settings(events_url=store_url, **kwargs)
    return Settings(events_db=Path(store_url), **kwargs)


# --- models -------------------------------------------------------------------------------------


class FixedClassifier:
    """A text classifier that gives every text the same probabilities; it records each call's texts."""

    def __init__(self, labels: list[str], probabilities: list[float]) -> None:
        self.labels = labels
        self.probabilities = probabilities
        self.calls: list[list[str]] = []

    def predict_proba(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """(len(texts), len(labels)) float: ``probabilities`` on every row."""
        self.calls.append(list(texts))
        return np.tile(self.probabilities, (len(texts), 1))


def tiny_encoder_folder(folder: Path) -> Path:
    """A randomly initialised 2-layer BERT with a 60-token word-piece vocab, saved like a hub folder."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    words = [
        "the",
        "a",
        "is",
        "was",
        "good",
        "great",
        "bad",
        "awful",
        "taste",
        "coffee",
        "stale",
        "arrived",
        "not",
        "i",
        "it",
        "love",
        "hate",
    ]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, *[f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"]]
    (folder / "vocab.txt").write_text("\n".join(vocab))
    BertTokenizerFast(vocab={tok: i for i, tok in enumerate(vocab)}).save_pretrained(str(folder))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(str(folder))
    return folder
