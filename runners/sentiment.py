"""Review sentiment runner: the zh and en models behind one batching service, routed per text."""

from __future__ import annotations

import bentoml

from mining.contracts import LabelResult, TextItem, text_items
from runners.base import DEPENDENCY_CONFIG, LabelRunner, batching

# A batch of 64 Chinese reviews serves more texts/s than single ones, and 64 bounds how long one batch holds a
# slot (English batches are cut further by padded tokens, mining.text.length_batches). The latency budget, used by
# the separate layout's dispatcher only, must exceed a full English batch plus queueing, or the dispatcher sheds
# with 503 (docs/benchmarks.md#serving-layouts-and-knobs).
MAX_BATCH_SIZE = 64
MAX_LATENCY_MS = 3000


@bentoml.service(name="SentimentRunner", threads=4, **DEPENDENCY_CONFIG)
class SentimentRunner(LabelRunner):
    """Review sentiment for Chinese and English texts, routed per text by its language
    (models ``sentiment-zh`` and ``sentiment-en``, see :mod:`mining.registry`)."""

    RUNNER = "sentiment"
    # The English model's time is in torch (no GIL held), models are read-only at inference and
    # the tokenizer has its own lock.
    PARALLEL_BATCHES = True

    def warm_up(self) -> None:
        self.predict(text_items(["很好", "great"]))  # first call pays lazy init (jieba dict, kernels)

    @bentoml.api(**batching(MAX_BATCH_SIZE, MAX_LATENCY_MS))
    def predict(self, items: list[TextItem]) -> list[LabelResult]:
        """Batched entry point: one list of texts in, one result per text out (same order)."""
        return self.classify(items)
