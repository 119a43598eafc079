"""Keywords runner: TF-IDF keywords and phrases per text, Chinese and English."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import bentoml

from runners.keywords import KeywordExtractor
from runners.dispatch import patch_dispatcher
from runners.serving import DEPENDENCY_CONFIG, batching, model_path

MAX_KEYWORDS = 50  # the runner returns this many; the gateway cuts to the caller's top_k


@bentoml.service(name="KeywordsRunner", threads=4, **DEPENDENCY_CONFIG)
class KeywordsRunner:
    """Keywords per text from the ``keywords`` model (document frequencies of the training corpus;
    ``$KEYWORDS_MODEL`` overrides the tag). Pure Python: no device."""

    def __init__(self) -> None:
        patch_dispatcher()  # see runners/dispatch.py: no cork after a burst
        path, self.tag = model_path(os.environ.get("KEYWORDS_MODEL", "keywords:latest"))
        self.extractor = KeywordExtractor.load(path)
        self.models, self.tags = {"keywords": self.extractor}, {"keywords": self.tag}
        self.predict_texts(["物流很快", "fast delivery"])  # warm-up: loads jieba's dictionary

    def predict_texts(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """Per text: ``lang``, ``keywords`` (keyword, score; best first) and ``model``."""
        return [{**r, "model": self.tag} for r in self.extractor.extract_many(texts, MAX_KEYWORDS)]

    @bentoml.api(**batching(64, 1000))
    def predict(self, texts: list[str]) -> list[dict[str, Any]]:
        """Batched entry point: one list of texts in, one result per text out (same order)."""
        return self.predict_texts(texts)
