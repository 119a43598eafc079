"""Text classification runner: product category (or any trained subject) per text."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import bentoml

from mining.contracts import LabelResult, TextItem, require_items, text_items
from mining.registry import models_of
from runners.base import DEPENDENCY_CONFIG, LabelRunner, batching

if TYPE_CHECKING:
    from mining.products import ProductTypes

# A CNN/TF-IDF batch of 64 short titles takes well under 100 ms on one CPU core; the same latency
# budget as the sentiment runner keeps the dispatcher (separate layout) from shedding under bursts.
MAX_BATCH_SIZE = 64
MAX_LATENCY_MS = 3000


@bentoml.service(name="ClassificationRunner", threads=4, **DEPENDENCY_CONFIG)
class ClassificationRunner(LabelRunner):
    """Category of each text: ``classification-en`` (required) and ``classification-zh`` when the
    store has one; a text whose language has no model goes to the first one loaded."""

    RUNNER = "classification"

    # Language -> (product-type matcher, the goods its model's training texts name): a text naming
    # only goods its model never read of gets no category (withhold_unseen_goods). A model trained
    # before its metadata kept them has no entry and answers as before.
    goods: dict[str, tuple[ProductTypes, frozenset[str]]] = {}

    def prepare(self, name: str, model: object, metadata: dict[str, Any]) -> None:
        """At start and on every swap: the goods the model's training texts name."""
        from mining.products import ProductTypes

        lang = next((s.lang for s in models_of(self.RUNNER) if s.name == name), None)
        if lang is None:
            return
        goods = {k: v for k, v in self.goods.items() if k != lang}
        if seen := metadata.get("goods_seen"):
            goods[lang] = (ProductTypes.load(lang, *self.settings.product_types), frozenset(seen["types"]))
        self.goods = goods  # replaced, never changed in place: a running batch keeps its own

    def warm_up(self) -> None:
        self.predict(text_items(["4K television", "笔记本电脑"]))

    @bentoml.api(**batching(MAX_BATCH_SIZE, MAX_LATENCY_MS))
    def predict(self, items: list[TextItem]) -> list[LabelResult]:
        """Batched entry point: one list of texts in, one result per text out (same order)."""
        from mining.models.textclf import withhold_unseen_goods

        items = require_items(items)
        return withhold_unseen_goods(self.classify(items), [it.text for it in items], self.goods)
