"""NER runner: entities of Chinese and English texts, with character offsets into each text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import bentoml

from runners.dispatch import patch_dispatcher
from runners.serving import DEPENDENCY_CONFIG, batching, load_language_models, set_torch_threads
from runners.text import detect_language, require_strings

if TYPE_CHECKING:
    from runners.ner import Entity

# English texts run through MiniLM once per loaded English model (news/social and product
# titles), so a batch costs about twice a sentiment batch: smaller batches, same latency budget
# (which only the separate layout's dispatcher uses).
MAX_BATCH_SIZE = 32
MAX_LATENCY_MS = 3000


def merge_entities(groups: Sequence[Sequence[Entity]]) -> list[Entity]:
    """One non-overlapping entity list from several models' outputs: higher scores win a
    contested span (ties: the longer entity, then the earlier model); result in text order."""
    ranked = sorted(((e, k) for k, group in enumerate(groups) for e in group),
                    key=lambda ek: (-ek[0]["score"], -(ek[0]["end"] - ek[0]["start"]), ek[1]))
    kept: list[Entity] = []
    for e, _ in ranked:
        if all(e["end"] <= k["start"] or e["start"] >= k["end"] for k in kept):
            kept.append(e)
    return sorted(kept, key=lambda e: e["start"])


@bentoml.service(name="NerRunner", threads=4, **DEPENDENCY_CONFIG)
class NerRunner:
    """Entities per text, routed by detected language.

    Loads ``ner-zh`` and ``ner-en`` (required) and ``ner-products-en`` (product titles: BRAND,
    CATEGORY, attributes) when the store has it; ``$NER_ZH_MODEL``, ``$NER_EN_MODEL`` and
    ``$NER_PRODUCTS_EN_MODEL`` override the tags. English texts get both English models' entities,
    merged without overlaps.
    """

    # As for sentiment: MiniLM-CRF time is in torch, models are read-only, tokenizers locked.
    PARALLEL_BATCHES = True

    def __init__(self) -> None:
        patch_dispatcher()  # see runners/dispatch.py: no cork after a burst
        from runners.ner import load_ner_artifact

        set_torch_threads()
        general, general_tags = load_language_models("ner", required=("zh", "en"), loader=load_ner_artifact)
        products, product_tags = load_language_models("ner", required=(), optional=("en",),
                                                      loader=load_ner_artifact, domain="products")
        self.models = {lang: [(general_tags[lang], m)] for lang, m in general.items()}
        for lang, m in products.items():
            self.models[lang].append((product_tags[lang], m))
        self.tags = {**{f"ner-{lg}": t for lg, t in general_tags.items()},
                     **{f"ner-products-{lg}": t for lg, t in product_tags.items()}}
        self.predict_texts(["北京的天气", "Samsung 65 inch TV in London"])  # warm-up

    def predict_texts(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """Per text: ``lang``, ``entities`` (type, text, start, end, score; offsets into the text
        as sent) and ``models`` (the store tags that read it)."""
        from runners.ner import extract_entities

        require_strings(texts)
        langs = [detect_language(t) for t in texts]
        out: list[dict[str, Any]] = [{} for _ in texts]
        for lang, models in self.models.items():
            idx = [i for i, lg in enumerate(langs) if lg == lang]
            if not idx:
                continue
            per_model = [extract_entities(m, [texts[i] for i in idx]) for _, m in models]
            for j, i in enumerate(idx):
                out[i] = {"lang": lang, "entities": merge_entities([ents[j] for ents in per_model]),
                          "models": [tag for tag, _ in models]}
        return out

    @bentoml.api(**batching(MAX_BATCH_SIZE, MAX_LATENCY_MS))
    def predict(self, texts: list[str]) -> list[dict[str, Any]]:
        """Batched entry point: one list of texts in, one result per text out (same order)."""
        return self.predict_texts(texts)
