"""NER runner: entities of Chinese and English texts, with character offsets into each text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bentoml

from mining.contracts import EntitiesResult, TextItem, require_items, text_items
from mining.routing import route_by_language
from runners.base import DEPENDENCY_CONFIG, RunnerBase, batching

# English texts run through MiniLM once per loaded English model (news/social and product
# titles), so a batch costs about twice a sentiment batch: smaller batches, same latency budget
# (which only the separate layout's dispatcher uses).
MAX_BATCH_SIZE = 32
MAX_LATENCY_MS = 3000


@bentoml.service(name="NerRunner", threads=4, **DEPENDENCY_CONFIG)
class NerRunner(RunnerBase):
    """Entities per text, routed by its language: ``ner-zh`` and ``ner-en`` (people, places,
    organisations...), ``ner-products-en`` when the store has it (brands, product types and
    attributes of English titles), plus brands from the brands table, product types from the
    word list of the text's language and attributes from patterns (:mod:`mining.brands`, :mod:`mining.products`,
    :mod:`mining.attributes`), merged without overlaps: the higher score wins a contested span, and
    table, list and pattern matches score 1."""

    RUNNER = "ner"
    # As for sentiment: MiniLM-CRF time is in torch, models are read-only, tokenizers locked.
    PARALLEL_BATCHES = True

    def setup(self) -> None:
        from mining.brands import BrandTable
        from mining.products import ProductTypes

        self.brands = BrandTable.load(*self.settings.brands)
        self.product_types = {lang: ProductTypes.load(lang, *self.settings.product_types) for lang in ("zh", "en")}

    def load(self, path: Path) -> Any:
        from mining.models.ner import load_ner_artifact

        return load_ner_artifact(path, self.device)

    def warm_up(self) -> None:
        self.predict(text_items(["北京的天气", "Samsung 65 inch TV in London"]))

    @bentoml.api(**batching(MAX_BATCH_SIZE, MAX_LATENCY_MS))
    def predict(self, items: list[TextItem]) -> list[EntitiesResult]:
        """Batched entry point: one list of texts in, one result per text out (same order)."""
        from mining.entities import entities_of, table_and_pattern_entities
        from mining.models.ner import merge_entities

        models, tags = self.models, self.tags  # one snapshot per batch: a model swap replaces the mappings
        names_of: dict[str, list[str]] = {}  # language -> its models, in load order
        for n in models:
            names_of.setdefault(self.specs[n].lang or "", []).append(n)

        def predict_lang(lang: str, texts: list[str]) -> list[EntitiesResult]:
            names = names_of[lang]
            found = entities_of(texts, [models[n] for n in names], self.brands, self.product_types.get(lang))
            return [EntitiesResult(lang=lang, entities=e, models=[tags[n] for n in names]) for e in found]

        def unreadable(item: TextItem, language: str) -> EntitiesResult:
            # The tables match names as written in any script (iPhone, 20000mAh); no model reads the text.
            found = merge_entities([table_and_pattern_entities(item.text, self.brands)])
            reason = f"the text looks {language}; the NER models read Chinese and English only"
            return EntitiesResult(lang=item.lang, entities=found, models=[], reason=reason)

        # No missing-language answer: ner-zh and ner-en are required.
        return route_by_language(require_items(items), names_of, predict_lang, unreadable=unreadable)
