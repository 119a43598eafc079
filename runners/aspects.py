"""Aspect runner: the aspects each text names, with the polarity it expresses about each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bentoml

from mining.contracts import AspectSpan, AspectsResult, OpinionSpan, TextItem, require_items, text_items
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

    def setup(self) -> None:
        from mining.models.textclf import Abstention

        # Polarity probabilities are served at the temperature fitted on validation.
        for name, model in self.models.items():
            model.abstention = Abstention.from_metadata(self.metadata[name])

    def warm_up(self) -> None:
        self.predict(text_items(["电池不错，屏幕太暗", "The battery is great but the screen is dim"]))

    @bentoml.api(**batching(MAX_BATCH_SIZE, MAX_LATENCY_MS))
    def predict(self, items: list[TextItem]) -> list[AspectsResult]:
        """Batched entry point: one list of texts in, one result per text out (same order)."""
        items = require_items(items)
        by_lang = {self.specs[n].lang: n for n in self.models}
        out: list[AspectsResult | None] = [None] * len(items)
        for lang, name in by_lang.items():
            idx = [i for i, it in enumerate(items) if it.lang == lang]
            if not idx:
                continue
            found = self.models[name].predict([items[i].text for i in idx])
            for i, aspects in zip(idx, found):
                out[i] = AspectsResult(
                    lang=lang or "",
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
                    models=[self.tags[name]],
                )
        return [
            r
            if r is not None
            else AspectsResult(
                lang=it.lang,
                aspects=[],
                models=[],
                reason=f"no aspects model for '{it.lang}' text (models exist for {sorted(lang or '' for lang in by_lang)})",
            )
            for r, it in zip(out, items)
        ]
