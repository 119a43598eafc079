"""Keywords runner: TF-IDF keywords and phrases per text, Chinese and English."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bentoml

from mining.contracts import Keyword, KeywordsResult, TextItem, require_items, text_items
from mining.models.keywords import MAX_KEYWORDS
from runners.base import DEPENDENCY_CONFIG, RunnerBase, batching


@bentoml.service(name="KeywordsRunner", threads=4, **DEPENDENCY_CONFIG)
class KeywordsRunner(RunnerBase):
    """Keywords per text from the ``keywords`` model (document frequencies of the training
    corpus). Pure Python: no device."""

    RUNNER = "keywords"

    def setup(self) -> None:
        from mining.products import ProductTypes

        # Names of goods the segmenter cuts (空气 / 炸锅, air / fryer) are read as one keyword each.
        self.compounds = {
            lang: frozenset(w.lower() for w in ProductTypes.load(lang, *self.settings.product_types).words)
            for lang in ("zh", "en")
        }

    def load(self, path: Path) -> Any:
        from mining.models.keywords import KeywordExtractor

        return KeywordExtractor.load(path)

    def warm_up(self) -> None:
        self.predict(text_items(["物流很快", "fast delivery"]))  # loads jieba's dictionary

    @bentoml.api(**batching(64, 1000))
    def predict(self, items: list[TextItem]) -> list[KeywordsResult]:
        """Batched entry point: one list of texts in, one result per text out (same order)."""
        items = require_items(items)
        ((name, extractor),) = self.models.items()
        found = extractor.extract_many(
            [it.text for it in items], MAX_KEYWORDS, [it.lang for it in items], self.compounds
        )
        return [
            KeywordsResult(lang=r["lang"], keywords=[Keyword(**k) for k in r["keywords"]], model=self.tags[name])
            for r in found
        ]
