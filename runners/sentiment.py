"""Review sentiment runner: the zh and en models behind one batching service, routed per text."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import bentoml
import torch

from runners.serving import DEPENDENCY_CONFIG, model_path, torch_threads
from runners.text import detect_language
from runners.textclf import TextClassifier, load_artifact, pick_device

# Batching knobs, from `python -m bench.batch_latency` on 2 CPU cores (see README, "Serving"):
# a batch of 64 English texts of median review length takes ~0.6 s through MiniLM and a Chinese
# batch of 64 ~0.1 s. max_latency_ms must exceed the worst full-batch time plus queueing, or the
# dispatcher sheds requests with 503 under load (seen at 200 ms: ~97% shed).
MAX_BATCH_SIZE = 64
MAX_LATENCY_MS = 3000


@bentoml.service(name="SentimentRunner", threads=4, **DEPENDENCY_CONFIG)
class SentimentRunner:
    """Review sentiment for Chinese and English texts, routed per text by detected language.

    Models come from the BentoML store: ``$SENTIMENT_ZH_MODEL`` and ``$SENTIMENT_EN_MODEL``
    (default ``sentiment-zh:latest`` / ``sentiment-en:latest``).
    """

    def __init__(self) -> None:
        torch.set_num_threads(torch_threads())
        self.device = pick_device()
        self.models: dict[str, TextClassifier] = {}
        self.tags: dict[str, str] = {}
        for lang in ("zh", "en"):
            path, tag = model_path(os.environ.get(f"SENTIMENT_{lang.upper()}_MODEL", f"sentiment-{lang}:latest"))
            self.models[lang], self.tags[lang] = load_artifact(path, self.device), tag
        self.predict_texts(["很好", "great"])  # warm-up: first call pays lazy init (jieba dict, kernels)

    def predict_texts(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """Per text: ``lang``, ``label``, ``score`` (probability of the label) and ``probabilities``
        (label -> probability). Texts are routed to the model of their detected language."""
        langs = [detect_language(t) for t in texts]
        out: list[dict[str, Any]] = [{} for _ in texts]
        for lang, model in self.models.items():
            idx = [i for i, lg in enumerate(langs) if lg == lang]
            if not idx:
                continue
            probs = model.predict_proba([texts[i] for i in idx])
            for row, i in zip(probs, idx):
                best = int(row.argmax())
                out[i] = {"lang": lang, "label": model.labels[best], "score": float(row[best]),
                          "probabilities": {name: float(p) for name, p in zip(model.labels, row)},
                          "model": self.tags[lang]}
        return out

    @bentoml.api(batchable=True, max_batch_size=MAX_BATCH_SIZE, max_latency_ms=MAX_LATENCY_MS)
    def predict(self, texts: list[str]) -> list[dict[str, Any]]:
        """Batched entry point: one list of texts in, one result per text out (same order)."""
        return self.predict_texts(texts)
