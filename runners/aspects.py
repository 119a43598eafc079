"""Aspect runner: the aspects each text names, with the polarity it expresses about each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bentoml

from mining.contracts import AspectSpan, AspectsResult, OpinionSpan, TextItem, require_items, text_items
from mining.routing import route_by_language
from runners.base import DEPENDENCY_CONFIG, RunnerBase, batching

# One text costs an extraction pass plus one classification per aspect found (about two in a
# review), so batches are sized as for NER.
MAX_BATCH_SIZE = 32
MAX_LATENCY_MS = 3000


@bentoml.service(name="AspectsRunner", threads=4, **DEPENDENCY_CONFIG)
class AspectsRunner(RunnerBase):
    """Aspect-level sentiment routed by language (``aspects-zh``, ``aspects-en``, see
    :mod:`mining.models.aspects`); a text in a language without a model gets no aspects and a
    reason, never another language's model."""

    RUNNER = "aspects"
    PARALLEL_BATCHES = True

    def load(self, path: Path) -> Any:
        from mining.models.aspects import AspectModel

        return AspectModel.load(path, self.device)

    def prepare(self, name: str, model: Any, metadata: dict[str, Any]) -> None:
        from mining.models.textclf import Abstention

        # Polarity probabilities are served at the temperature fitted on validation.
        model.abstention = Abstention.from_metadata(metadata)

    def warm_up(self) -> None:
        self.predict(text_items(["电池不错，屏幕太暗", "The battery is great but the screen is dim"]))

    @bentoml.api(**batching(MAX_BATCH_SIZE, MAX_LATENCY_MS))
    def predict(self, items: list[TextItem]) -> list[AspectsResult]:
        """Batched entry point: one list of texts in, one result per text out (same order)."""
        models, tags = self.models, self.tags  # one snapshot per batch: a model swap replaces the mappings
        by_lang = {self.specs[n].lang or "": n for n in models}

        def extract(lang: str, texts: list[str]) -> list[AspectsResult]:
            name = by_lang[lang]
            return [
                AspectsResult(
                    lang=lang,
                    aspects=[
                        AspectSpan(
                            aspect=a.aspect,
                            start=a.start,
                            end=a.end,
                            polarity=a.polarity,
                            score=a.score,
                            opinion=None
                            if a.opinion is None
                            else OpinionSpan(
                                text=a.opinion.text,
                                start=a.opinion.start,
                                end=a.opinion.end,
                                polarity=a.opinion.polarity,  # type: ignore[arg-type]
                            ),
                        )
                        for a in aspects
                    ],
                    models=[tags[name]],
                )
                for aspects in models[name].predict(texts)
            ]

        def unanswered(item: TextItem, reason: str) -> AspectsResult:
            return AspectsResult(lang=item.lang, aspects=[], models=[], reason=reason)

        def no_model(item: TextItem) -> AspectsResult:
            return unanswered(item, f"no aspects model for '{item.lang}' text (models exist for {sorted(by_lang)})")

        def unreadable(item: TextItem, language: str) -> AspectsResult:
            return unanswered(item, f"the text looks {language}; the aspects models read Chinese and English only")

        return route_by_language(require_items(items), by_lang, extract, no_model, unreadable)
