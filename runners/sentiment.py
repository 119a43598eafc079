"""Review sentiment runner: the zh and en models behind one batching service, routed per text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import bentoml

from runners.dispatch import patch_dispatcher
from runners.serving import DEPENDENCY_CONFIG, batching, load_language_models, set_torch_threads

# Batching knobs. MAX_BATCH_SIZE: a batch of 64 zh reviews runs ~2x the texts/s of single ones on
# one core; English batches are cut further by padded-token budget (runners.text.length_batches),
# so 64 only bounds how long one batch holds a slot. MAX_LATENCY_MS applies to the separate layout
# only (BentoML's dispatcher sheds requests predicted to wait longer, with 503); it must exceed a
# full English batch plus queueing (at 200 ms ~97% of requests were shed at concurrency 64).
MAX_BATCH_SIZE = 64
MAX_LATENCY_MS = 3000


@bentoml.service(name="SentimentRunner", threads=4, **DEPENDENCY_CONFIG)
class SentimentRunner:
    """Review sentiment for Chinese and English texts, routed per text by detected language.

    Models come from the BentoML store: ``$SENTIMENT_ZH_MODEL`` and ``$SENTIMENT_EN_MODEL``
    (default ``sentiment-zh:latest`` / ``sentiment-en:latest``).
    """

    # Colocated, one batch per core at once: the English model's time is in torch (no GIL held)
    # and the models are read-only at inference; the tokenizer has its own lock.
    PARALLEL_BATCHES = True

    def __init__(self) -> None:
        patch_dispatcher()  # see runners/dispatch.py: no cork after a burst
        set_torch_threads()
        self.models, self.tags = load_language_models("sentiment", required=("zh", "en"))
        self.predict_texts(["很好", "great"])  # warm-up: first call pays lazy init (jieba dict, kernels)

    def predict_texts(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """Per text: ``lang``, ``label``, ``score``, ``probabilities`` and ``model`` (see
        :func:`runners.textclf.predict_routed`)."""
        from runners.textclf import predict_routed

        return predict_routed(self.models, self.tags, texts)

    @bentoml.api(**batching(MAX_BATCH_SIZE, MAX_LATENCY_MS))
    def predict(self, texts: list[str]) -> list[dict[str, Any]]:
        """Batched entry point: one list of texts in, one result per text out (same order)."""
        return self.predict_texts(texts)
