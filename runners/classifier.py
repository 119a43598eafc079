"""Text classification runner: product category (or any trained subject, e.g. intent) per text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import bentoml

from runners.dispatch import patch_dispatcher
from runners.serving import DEPENDENCY_CONFIG, batching, load_language_models, set_torch_threads

# A CNN/TF-IDF batch of 64 short titles takes well under 100 ms on one CPU core; the same latency
# budget as the sentiment runner keeps the dispatcher (separate layout) from shedding under bursts.
MAX_BATCH_SIZE = 64
MAX_LATENCY_MS = 3000


@bentoml.service(name="ClassifierRunner", threads=4, **DEPENDENCY_CONFIG)
class ClassifierRunner:
    """Category of each text. Loads ``classification-en`` (required) and ``classification-zh``
    when the store has one (``$CLASSIFICATION_<LANG>_MODEL`` overrides the tags); a text whose
    language has no model goes to the English one."""

    def __init__(self) -> None:
        patch_dispatcher()  # see runners/dispatch.py: no cork after a burst
        set_torch_threads()
        self.models, self.tags = load_language_models("classification", required=("en",), optional=("zh",))
        self.predict_texts(["4K television", "笔记本电脑"])  # warm-up

    def predict_texts(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        from runners.textclf import predict_routed

        return predict_routed(self.models, self.tags, texts)

    @bentoml.api(**batching(MAX_BATCH_SIZE, MAX_LATENCY_MS))
    def predict(self, texts: list[str]) -> list[dict[str, Any]]:
        """Batched entry point: one list of texts in, one result per text out (same order)."""
        return self.predict_texts(texts)
