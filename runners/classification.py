"""Text classification runner: product category (or any trained subject) per text."""

from __future__ import annotations

import bentoml

from mining.contracts import LabelResult, TextItem, text_items
from runners.base import DEPENDENCY_CONFIG, LabelRunner, batching

# A CNN/TF-IDF batch of 64 short titles takes well under 100 ms on one CPU core; the same latency
# budget as the sentiment runner keeps the dispatcher (separate layout) from shedding under bursts.
MAX_BATCH_SIZE = 64
MAX_LATENCY_MS = 3000


@bentoml.service(name="ClassificationRunner", threads=4, **DEPENDENCY_CONFIG)
class ClassificationRunner(LabelRunner):
    """Category of each text: ``classification-en`` (required) and ``classification-zh`` when the
    store has one; a text whose language has no model goes to the first one loaded."""

    RUNNER = "classification"

    def warm_up(self) -> None:
        self.predict(text_items(["4K television", "笔记本电脑"]))

    @bentoml.api(**batching(MAX_BATCH_SIZE, MAX_LATENCY_MS))
    def predict(self, items: list[TextItem]) -> list[LabelResult]:
        """Batched entry point: one list of texts in, one result per text out (same order)."""
        return self.classify(items)
