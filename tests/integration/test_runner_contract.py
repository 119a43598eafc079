"""One contract for every runner: loads from the store, predicts a batch in order with the
documented shape, and refuses bad input. New runners join the parametrisation.

Each case's check reads one result beside the input it answers (offsets index the text as sent,
label sets are the stored model's label map, lengths follow the request) and returns the part of
the result that batching must not change, floats included, for comparison across batchings."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import bentoml
import pytest

from mining.contracts import (
    AspectsResult,
    EntitiesResult,
    ForecastResult,
    KeywordsResult,
    LabelResult,
    NextResult,
    RecallResult,
    TextItem,
    text_items,
)
from mining.models.textclf import served_note
from mining.registry import MODELS
from mining.registry import RUNNERS as REGISTRY
from runners import service_of

pytestmark = pytest.mark.integration

# Float32 runs a text alone and in a padded batch through different kernels: equal to rounding.
ATOL = 1e-4


@dataclass
class Ctx:
    """What a check may compare a result with: the session's store tags and each model's metadata."""

    tags: dict[str, str]
    metadata: dict[str, dict[str, Any]]

    def tags_for(self, runner: str, lang: str | None) -> list[str]:
        """Tags of the runner's models of its own task for ``lang`` (a model of both languages,
        ``lang`` None, answers either), in registry order."""
        models = [m for m in MODELS if m.runner == runner and m.task == runner]  # not the intent runner's replies
        own = [self.tags[m.name] for m in models if m.lang == lang]
        return own or [self.tags[m.name] for m in models if m.lang is None]


def same(a: Any, b: Any) -> bool:
    """``a == b`` with floats equal to :data:`ATOL` (or 1e-5 of their size: forecasts are in
    thousands of units), recursing through lists, tuples and dicts."""
    if isinstance(a, float) or isinstance(b, float):
        numbers = isinstance(a, (int, float)) and isinstance(b, (int, float))
        return numbers and math.isclose(a, b, rel_tol=1e-5, abs_tol=ATOL)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def _label_answer(runner: str) -> Callable[[Ctx, TextItem, LabelResult], Any]:
    def answer(ctx: Ctx, item: TextItem, r: LabelResult) -> Any:
        (tag,) = ctx.tags_for(runner, item.lang)  # each test text's language has its own model
        name = tag.split(":")[0]
        meta = ctx.metadata[name]
        # The tag, with a note where the model's metadata says its TF-IDF baseline serves instead.
        note = served_note(meta)
        assert r.lang == item.lang and r.model == (f"{tag} (served: {note})" if note else tag)
        assert set(r.probabilities) == set(meta["label_map"].values())  # exactly the stored model's labels
        assert sum(r.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
        top = max(r.probabilities, key=r.probabilities.__getitem__)
        assert r.score == pytest.approx(r.probabilities[top])
        abstention = meta.get("abstention", {})
        # A model of both languages holds a threshold per language, chosen on that language's texts.
        threshold = float(abstention.get("by_lang", {}).get(item.lang, abstention.get("threshold", 0.0)))
        if r.score >= threshold:  # answered exactly when the top probability reaches the stored threshold
            assert (r.label, r.reason) == (top, None)
        else:
            assert r.label is None and r.reason is not None and r.reason.startswith("not sure: top probability")
            assert f"({top})" in r.reason
        return r.label, r.probabilities

    return answer


def _entity_answer(ctx: Ctx, item: TextItem, r: EntitiesResult) -> Any:
    assert r.lang == item.lang and r.models == ctx.tags_for("ner", item.lang)
    for e in r.entities:
        assert 0 <= e.score <= 1 and 0 <= e.start < e.end <= len(item.text)
        assert item.text[e.start : e.end] == e.text
    assert all(a.end <= b.start for a, b in zip(r.entities, r.entities[1:]))  # in text order, no overlaps
    return [(e.type, e.start, e.end, e.score) for e in r.entities]


def _aspect_answer(ctx: Ctx, item: TextItem, r: AspectsResult) -> Any:
    assert r.lang == item.lang and r.models == ctx.tags_for("aspects", item.lang)
    for a in r.aspects:
        assert 0 <= a.score <= 1 and 0 <= a.start < a.end <= len(item.text)
        assert item.text[a.start : a.end] == a.aspect
        if a.opinion is not None:
            assert item.text[a.opinion.start : a.opinion.end] == a.opinion.text
    return [(a.start, a.end, a.polarity, a.score) for a in r.aspects]


def _keyword_answer(ctx: Ctx, item: TextItem, r: KeywordsResult) -> Any:
    assert r.lang == item.lang and r.model == ctx.tags["keywords"]
    scores = [k.score for k in r.keywords]
    assert r.keywords and scores == sorted(scores, reverse=True)  # best first
    words = [k.keyword for k in r.keywords]
    assert len(set(words)) == len(words)
    return [(k.keyword, k.score) for k in r.keywords]


def _recall_answer(ctx: Ctx, item: dict[str, Any], r: RecallResult) -> Any:
    assert r.user_id == item["user_id"] and r.model == ctx.tags["recall"] and r.unknown_items == []
    ids = [i.item_id for i in r.items]
    assert len(ids) == item.get("n", 10) and len(set(ids)) == len(ids)
    assert not {str(e["item_id"]) for e in item.get("recent", ())} & set(ids)  # seen items are left out
    return r.source, [(i.item_id, i.score) for i in r.items]


def _next_answer(ctx: Ctx, item: dict[str, Any], r: NextResult) -> Any:
    assert r.model.split(" (")[0] == ctx.tags["sequence"]
    known = [e for e in item["events"] if e[0] != "no-such-item"]
    if not known:  # nothing the model knows: no answer, and why
        assert r.items is None and r.used == 0 and r.reason
        return None
    assert r.items is not None and 0 < r.used <= len(known)
    ids, scores = [i.item_id for i in r.items], [i.score for i in r.items]
    assert len(ids) == item.get("n", 10) and len(set(ids)) == len(ids)
    assert all(0 <= s <= 1 for s in scores) and scores == sorted(scores, reverse=True)
    if item.get("exclude_seen", True):
        assert not {e[0] for e in item["events"]} & set(ids)
    return [(i.item_id, i.score) for i in r.items]


def _demand_answer(ctx: Ctx, item: dict[str, Any], r: ForecastResult) -> Any:
    tag = ctx.tags["demand"]
    assert r.error is None and r.quantiles is not None and (r.model == tag or (r.model or "").startswith(f"{tag} ("))
    q = r.quantiles
    assert len(q.p10) == len(q.p50) == len(q.p90) == item["horizon"]
    assert all(math.isfinite(v) for v in q.p10 + q.p50 + q.p90)
    assert all(lo <= mid <= hi for lo, mid, hi in zip(q.p10, q.p50, q.p90))
    return q.p10, q.p50, q.p90


_SERIES = {
    "units": [4000.0 + 100 * (k % 5) for k in range(20)],
    "horizon": 4,
    "covariates": {c: [1.0] * 20 for c in ("price", "deal", "feature", "rel_price")},
    "future_covariates": {c: [1.0] * 4 for c in ("price", "deal", "feature", "rel_price")},
}


# registry runner key -> (inputs, result type, check of one result against its input returning the
# part that batching must not change)
RUNNERS: dict[str, tuple[list[Any], type, Callable[[Ctx, Any, Any], Any]]] = {
    "sentiment": (
        text_items(["质量很好", "The coffee was stale.", "太差了", "Love it"]),
        LabelResult,
        _label_answer("sentiment"),
    ),
    "classification": (
        text_items(["55 inch 4K smart TV", "gaming laptop 16GB RAM", "AA batteries 40-count", "联想笔记本电脑"]),
        LabelResult,
        _label_answer("classification"),
    ),
    "intent": (
        text_items(["我的订单什么时候发货", "I want to cancel my order", "帮我退款", "how do I change my address"]),
        LabelResult,
        _label_answer("intent"),
    ),
    "ner": (
        text_items(["我在北京的联想专卖店买了电脑", "Bought a Samsung TV at Costco in Seattle", "  "]),
        EntitiesResult,
        _entity_answer,
    ),
    "aspects": (
        text_items(["这款手机的屏幕很清晰，但是电池不耐用", "The screen is bright but the battery dies fast", "  "]),
        AspectsResult,
        _aspect_answer,
    ),
    "recall": (
        [{"user_id": "196"}, {"user_id": "new", "recent": [{"item_id": "50", "weight": 5}]}, {"user_id": "nobody"}],
        RecallResult,
        _recall_answer,
    ),
    "sequence": (
        [
            {"events": [["50", "view"], ["181", "click"], ["100", "purchase"]], "n": 10},
            {"events": [["1", "review"]], "n": 5, "exclude_seen": False},
            {"events": [], "n": 3},
            {"events": [["no-such-item", "view"]]},
        ],
        NextResult,
        _next_answer,
    ),
    "demand": (
        [
            _SERIES,
            {
                **_SERIES,
                "horizon": 2,
                "future_covariates": {c: [1.0, 0.0] for c in ("price", "deal", "feature", "rel_price")},
            },
        ],
        ForecastResult,
        _demand_answer,
    ),
    "keywords": (
        text_items(["物流很快，包装很好", "The coffee arrived stale and the bag was torn."]),
        KeywordsResult,
        _keyword_answer,
    ),
}


def _known_entities(rs: list[EntitiesResult]) -> None:
    """The brand table's matches at their offsets in the text as sent; nothing in a blank text."""
    spans = [[(e.type, e.start, e.end, e.text, e.canonical) for e in r.entities] for r in rs]
    assert ("BRAND", 5, 7, "联想", "Lenovo") in spans[0], spans[0]
    assert ("BRAND", 9, 16, "Samsung", "Samsung") in spans[1], spans[1]
    assert spans[2] == []


def _known_aspects(rs: list[AspectsResult]) -> None:
    assert rs[2].aspects == []  # a blank text names no aspect


def _known_recall(rs: list[RecallResult]) -> None:
    # A stored user from its factors, a new one folded in from its recent items, an unknown one by popularity.
    assert [r.source for r in rs] == ["als", "als_folded_in", "popularity"]


def _known_keywords(rs: list[KeywordsResult]) -> None:
    # Each text's own content words, lower-cased.
    assert {"物流", "包装"} <= {k.keyword for k in rs[0].keywords}, rs[0].keywords
    assert {"coffee", "stale"} <= {k.keyword for k in rs[1].keywords}, rs[1].keywords


# Answers a reader can check by eye, per runner, over the batch of its inputs above.
KNOWN: dict[str, Callable[[list[Any]], None]] = {
    "ner": _known_entities,
    "aspects": _known_aspects,
    "recall": _known_recall,
    "keywords": _known_keywords,
}


def test_every_registry_runner_has_a_contract_case() -> None:
    assert set(RUNNERS) == {r.key for r in REGISTRY}


@pytest.fixture(scope="module", params=sorted(RUNNERS))
def runner(request: pytest.FixtureRequest, trained_models: dict[str, str]) -> tuple[Any, ...]:
    import dataclasses

    from mining.settings import settings

    inputs, result_type, answer = RUNNERS[request.param]
    # The plain class: loads its models from the session's store. In float32: dynamic int8 scales
    # activations per batch, so a text's int8 scores move slightly with its batch companions, and
    # this contract compares answers across batchings. No model watcher: a daemon thread still
    # loading a model when the interpreter exits aborts the test process.
    config = dataclasses.replace(settings(), quantize=False, model_watch_seconds=0)
    ctx = Ctx(trained_models, {n: dict(bentoml.models.get(t).info.metadata) for n, t in trained_models.items()})
    return service_of(request.param).inner(config), inputs, result_type, answer, request.param, ctx


def test_loads_models_with_tags_from_the_store(runner: tuple[Any, ...], trained_models: dict[str, str]) -> None:
    instance = runner[0]
    served = {m.name for m in MODELS if m.runner == runner[4]}
    assert served  # the registry lists models for every runner
    assert set(instance.models) == served  # every registry model of the runner (all are trained here)
    assert instance.tags == {name: trained_models[name] for name in served}


def test_batch_predict_shape_and_order(runner: tuple[Any, ...]) -> None:
    instance, inputs, result_type, answer, key, ctx = runner
    batch = instance.predict(inputs)
    assert len(batch) == len(inputs)
    assert all(type(r) is result_type for r in batch)
    answers = [answer(ctx, item, r) for item, r in zip(inputs, batch)]
    alone = [answer(ctx, item, instance.predict([item])[0]) for item in inputs]
    for k, (a, b) in enumerate(zip(answers, alone)):
        assert same(a, b), (k, a, b)  # batching changes no answer, and each is at its input's position
    if key in KNOWN:
        KNOWN[key](batch)
    assert instance.predict([]) == []


def test_bad_input_raises(runner: tuple[Any, ...]) -> None:
    instance, inputs = runner[0], runner[1]
    with pytest.raises(TypeError, match="item 1 is"):
        instance.predict([inputs[0], 3])


def test_colocated_batcher_gives_each_caller_its_own_answer(runner: tuple[Any, ...]) -> None:
    """The in-process batcher of the colocated layout merges concurrent callers into batches;
    every caller still gets the answer a call of its own gives, and a bad caller fails alone."""
    import asyncio

    from gateway.batcher import AdaptiveBatcher

    instance, inputs, _, answer, _, ctx = runner
    sizes: list[int] = []

    async def main() -> tuple[list[Any], list[Any]]:
        batcher = AdaptiveBatcher(instance.predict, max_batch_size=64, name="contract", slots=2, observe=sizes.append)
        try:
            # Two callers take the idle slots; the rest queue meanwhile and run as merged batches.
            good = await asyncio.gather(*(batcher([t]) for t in inputs * 3))
            # A bad caller queued with good ones: their merged batch fails, and is re-run per caller.
            mixed = await asyncio.gather(
                *(batcher([t]) for t in inputs[:2]),
                batcher([inputs[0]]),
                batcher([inputs[0], 3]),
                batcher([inputs[1]]),
                return_exceptions=True,
            )
        finally:
            batcher.close()
        return good, mixed

    good, mixed = asyncio.run(main())
    assert max(sizes) > 1, sizes  # callers were merged, so the comparison below tests the merging
    callers = [*inputs * 3, *inputs[:2], inputs[0], None, inputs[1]]
    for k, (item, got) in enumerate(zip(callers, [*good, *mixed], strict=True)):
        if item is None:
            assert isinstance(got, TypeError) and "item 1 is" in str(got), got
            continue
        assert not isinstance(got, BaseException), (k, got)
        expected = answer(ctx, item, instance.predict([item])[0])
        assert same(answer(ctx, item, got[0]), expected), (k, got[0], expected)


def test_the_intent_runner_ranks_the_built_in_knowledge_base(trained_models: dict[str, str]) -> None:
    import dataclasses
    import hashlib

    from mining.contracts import RankedReplies, ReplyQuery
    from mining.replies import load_kb
    from mining.settings import settings

    instance = service_of("intent").inner(dataclasses.replace(settings(), quantize=False, model_watch_seconds=0))
    kb = load_kb(settings().replies)
    queries = [
        ReplyQuery(text="我的快递到哪了", lang="zh", intent="order_status", k=3),
        ReplyQuery(text="where is my refund", lang="en", k=2),
        ReplyQuery(text="hello", lang="en", k=0),
    ]
    batch = instance.rank_replies(queries)
    assert all(type(r) is RankedReplies for r in batch)
    assert [len(r.replies) for r in batch] == [3, 2, 0]
    sha = hashlib.sha256(settings().replies.read_bytes()).hexdigest()
    assert all(r.kb_sha256 == sha and (r.ranker or "").startswith(f"{trained_models['replies']} (") for r in batch)
    assert [kb[x.index].lang for r in batch for x in r.replies] == ["zh"] * 3 + ["en"] * 2
    # Replies of the asked intent or of any intent (the Chinese helpdesk replies) first, best first.
    assert all(kb[x.index].intent in ("order_status", "") for x in batch[0].replies)
    assert [x.score for x in batch[0].replies] == sorted((x.score for x in batch[0].replies), reverse=True)
    assert [instance.rank_replies([q])[0] for q in queries] == batch  # batching changes nothing


def test_the_intent_runner_scores_conversations_with_the_model_of_their_language(
    trained_models: dict[str, str],
) -> None:
    import dataclasses

    from mining.contracts import DissatisfactionScore, TextItem
    from mining.settings import settings

    instance = service_of("intent").inner(dataclasses.replace(settings(), quantize=False, model_watch_seconds=0))
    items = [
        TextItem(text="你们到底什么时候处理？骗子！", lang="zh"),
        TextItem(text="thanks, that solved it", lang="en"),
        TextItem(text="好的谢谢", lang="zh"),
    ]
    batch = instance.handoff(items)
    assert all(type(r) is DissatisfactionScore for r in batch)
    assert [r.lang for r in batch] == ["zh", "en", "zh"]  # the order of the items, not grouped by language
    assert [r.model for r in batch] == [trained_models[f"handoff-{r.lang}"] for r in batch]
    for r in batch:
        stored = bentoml.models.get(trained_models[f"handoff-{r.lang}"]).info.metadata
        assert r.threshold == stored["decision"]["threshold"]
        assert r.probability is not None and 0.0 <= r.probability <= 1.0
    assert [instance.handoff([i])[0] for i in items] == batch  # batching changes nothing
    # A language without a hand-over model is scored by none, and says so.
    instance.models = {k: v for k, v in instance.models.items() if k != "handoff-en"}
    (none,) = instance.handoff([items[1]])
    assert (none.probability, none.threshold, none.model) == (None, None, None)
    assert none.reason is not None and "no handoff model for 'en'" in none.reason
