"""One contract for every runner: loads from the store, predicts a batch in order with the
documented shape, and refuses bad input. New runners join the parametrisation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mining.contracts import (
    AspectsResult,
    EntitiesResult,
    ForecastResult,
    KeywordsResult,
    LabelResult,
    NextResult,
    RecallResult,
    text_items,
)
from mining.registry import RUNNERS as REGISTRY
from runners import service_of

pytestmark = pytest.mark.integration


def _label_answer(r: LabelResult) -> Any:
    assert r.label in r.probabilities or (r.label is None and r.reason)
    assert sum(r.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
    return r.label


def _entity_answer(r: EntitiesResult) -> Any:
    for e in r.entities:
        assert 0 <= e.score <= 1 and e.start < e.end
    return [(e.type, e.start, e.end) for e in r.entities]


def _aspect_answer(r: AspectsResult) -> Any:
    for a in r.aspects:
        assert 0 <= a.score <= 1 and a.start < a.end and a.polarity in ("positive", "negative", "neutral")
    return [(a.start, a.end, a.polarity) for a in r.aspects]


def _keyword_answer(r: KeywordsResult) -> Any:
    return [k.keyword for k in r.keywords]


def _recall_answer(r: RecallResult) -> Any:
    return r.source, [i.item_id for i in r.items]


def _next_answer(r: NextResult) -> Any:
    if r.items is None:
        assert r.reason and r.used == 0
        return None
    assert all(0 <= i.score <= 1 for i in r.items) and r.used > 0
    return [i.item_id for i in r.items[:5]]


def _demand_answer(r: ForecastResult) -> Any:
    assert r.error is None and r.quantiles is not None
    q = r.quantiles
    assert all(lo <= mid <= hi for lo, mid, hi in zip(q.p10, q.p50, q.p90))
    return [round(v, 1) for v in q.p50]


_SERIES = {
    "units": [4000.0 + 100 * (k % 5) for k in range(20)],
    "horizon": 4,
    "covariates": {c: [1.0] * 20 for c in ("price", "deal", "feature", "rel_price")},
    "future_covariates": {c: [1.0] * 4 for c in ("price", "deal", "feature", "rel_price")},
}


# registry runner key -> (inputs, result type, the part of a result that batching must not change)
RUNNERS: dict[str, tuple[list[Any], type, Callable[[Any], Any]]] = {
    "sentiment": (text_items(["质量很好", "The coffee was stale.", "太差了", "Love it"]), LabelResult, _label_answer),
    "classification": (
        text_items(["55 inch 4K smart TV", "gaming laptop 16GB RAM", "AA batteries 40-count"]),
        LabelResult,
        _label_answer,
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


def test_every_registry_runner_has_a_contract_case() -> None:
    assert set(RUNNERS) == {r.key for r in REGISTRY}


@pytest.fixture(scope="module", params=sorted(RUNNERS))
def runner(request: pytest.FixtureRequest, trained_models: dict[str, str]) -> tuple[Any, ...]:
    import dataclasses

    from mining.settings import settings

    inputs, result_type, answer = RUNNERS[request.param]
    # The plain class: loads its models from the session's store. In float32: dynamic int8 scales
    # activations per batch, so a text's int8 scores move slightly with its batch companions, and
    # this contract compares answers across batchings exactly.
    config = dataclasses.replace(settings(), quantize=False)
    return service_of(request.param).inner(config), inputs, result_type, answer, request.param


def test_loads_models_with_tags_from_the_store(runner: tuple[Any, ...], trained_models: dict[str, str]) -> None:
    instance = runner[0]
    served = {m for r in REGISTRY if r.key == runner[4] for m in r.models}
    assert set(instance.models) == served  # every registry model of the runner (all are trained here)
    assert instance.tags == {name: trained_models[name] for name in served}


def test_batch_predict_shape_and_order(runner: tuple[Any, ...]) -> None:
    instance, texts, result_type, answer = runner[:4]
    batch = instance.predict(texts)
    assert len(batch) == len(texts)
    for text, result in zip(texts, batch):
        assert type(result) is result_type
        assert answer(instance.predict([text])[0]) == answer(result)  # batching does not change answers
    assert instance.predict([]) == []


def test_bad_input_raises(runner: tuple[Any, ...]) -> None:
    instance, texts = runner[0], runner[1]
    with pytest.raises(TypeError, match="item 1 is"):
        instance.predict([texts[0], 3])


def test_colocated_batcher_gives_each_caller_its_own_answer(runner: tuple[Any, ...]) -> None:
    """The in-process batcher of the colocated layout merges concurrent callers into batches;
    every caller still gets the answer a call of its own gives, and a bad caller fails alone."""
    import asyncio

    from gateway.batcher import AdaptiveBatcher

    instance, texts, _, answer = runner[:4]

    async def main() -> list[Any]:
        batcher = AdaptiveBatcher(instance.predict, max_batch_size=64, name="contract", slots=2)
        try:
            return await asyncio.gather(
                *(batcher([t]) for t in texts * 3), batcher([texts[0], 3]), return_exceptions=True
            )
        finally:
            batcher.close()

    *answers, bad = asyncio.run(main())
    assert [answer(a[0]) for a in answers] == [answer(instance.predict([t])[0]) for t in texts * 3]
    assert isinstance(bad, TypeError) and "item 1 is" in str(bad)
