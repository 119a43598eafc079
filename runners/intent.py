"""Customer-service intent runner: one model for Chinese and English (``intent``)."""

from __future__ import annotations

import bentoml

from mining.contracts import LabelResult, TextItem, text_items
from runners.base import DEPENDENCY_CONFIG, LabelRunner, batching

# Service turns are short; the same batch and latency budget as the other text classifiers.
MAX_BATCH_SIZE = 64
MAX_LATENCY_MS = 3000


@bentoml.service(name="IntentRunner", threads=4, **DEPENDENCY_CONFIG)
class IntentRunner(LabelRunner):
    """The service intent of each text (13 labels, ``data/customer_service/LABELS.md``), or null
    with the reason where the model is not sure; the model reads both languages."""

    RUNNER = "intent"
    PARALLEL_BATCHES = True

    def warm_up(self) -> None:
        self.predict(text_items(["我的快递到哪了", "where is my order"]))

    @bentoml.api(**batching(MAX_BATCH_SIZE, MAX_LATENCY_MS))
    def predict(self, items: list[TextItem]) -> list[LabelResult]:
        """Batched entry point: one list of texts in, one result per text out (same order)."""
        return self.classify(items)
