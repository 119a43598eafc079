"""One contract for every runner: loads from the store, predicts a batch in order with the
documented shape, and refuses bad input. New runners join the parametrisation."""

from __future__ import annotations

import pytest

from runners.classifier import ClassifierRunner
from runners.sentiment import SentimentRunner

pytestmark = pytest.mark.integration

RUNNERS = {
    "sentiment": (SentimentRunner, ["质量很好", "The coffee was stale.", "太差了", "Love it"]),
    "classification": (ClassifierRunner, ["55 inch 4K smart TV", "gaming laptop 16GB RAM", "AA batteries 40-count"]),
}


@pytest.fixture(scope="module", params=sorted(RUNNERS))
def runner(request: pytest.FixtureRequest, trained_models: dict[str, str]) -> tuple[object, list[str]]:
    service, texts = RUNNERS[request.param]
    return service.inner(), texts  # the plain class: loads its models from the session's store


def test_loads_models_with_tags_from_the_store(runner: tuple[object, list[str]], trained_models: dict[str, str]) -> None:
    instance, _ = runner
    assert instance.models and set(instance.tags.values()) <= set(trained_models.values())


def test_batch_predict_shape_and_order(runner: tuple[object, list[str]]) -> None:
    instance, texts = runner
    batch = instance.predict(texts)
    assert len(batch) == len(texts)
    for text, result in zip(texts, batch):
        assert set(result) == {"lang", "label", "score", "probabilities", "model"}
        assert result["label"] in result["probabilities"]
        assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
        assert instance.predict([text])[0]["label"] == result["label"]  # batching does not change answers
    assert instance.predict([]) == []


def test_bad_input_raises(runner: tuple[object, list[str]]) -> None:
    instance, texts = runner
    with pytest.raises(TypeError, match="item 1 is int"):
        instance.predict([texts[0], 3])
