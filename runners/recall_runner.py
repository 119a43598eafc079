"""Recall runner: ALS recommendations and similar items from the ``recall`` model."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import bentoml

from runners.recall import RecallModel
from runners.dispatch import patch_dispatcher
from runners.serving import DEPENDENCY_CONFIG, batching, model_path

# A request is a fold-in solve (F x F) plus one (I x F) product: ~0.5 ms for ml-100k sizes, at
# any batch size (requests are solved one by one), so a batch saves only per-call overhead. The
# latency budget is the separate layout's (BentoML's dispatcher); colocated batches never shed.
MAX_BATCH_SIZE = 64
MAX_LATENCY_MS = 500


def recommend_many(model: RecallModel, requests: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """:meth:`RecallModel.recommend` per request dict (keys: ``user_id``, and optionally ``n``,
    ``recent`` as [{item_id, weight}], ``exclude_seen``, ``allow``, ``deny``, ``explain``)."""
    bad = [(i, type(r).__name__) for i, r in enumerate(requests) if not isinstance(r, dict) or "user_id" not in r]
    if bad:
        raise TypeError(f"requests must be dicts with a user_id; item {bad[0][0]} is {bad[0][1]} "
                        f"({len(bad)} bad in all)")
    out = []
    for r in requests:
        recent = [(str(e["item_id"]), float(e.get("weight", 1.0))) for e in r.get("recent", ())]
        out.append(model.recommend(str(r["user_id"]), int(r.get("n", 10)), recent, bool(r.get("exclude_seen", True)),
                                   r.get("allow"), r.get("deny", ()), bool(r.get("explain", False))))
    return out


@bentoml.service(name="RecallRunner", threads=4, **DEPENDENCY_CONFIG)
class RecallRunner:
    """Recommendations from the ``recall`` model (``$RECALL_MODEL`` overrides the tag)."""

    def __init__(self) -> None:
        patch_dispatcher()  # see runners/dispatch.py: no cork after a burst
        from threadpoolctl import threadpool_limits

        # One BLAS thread per worker: ALS fold-in is a small solve, and BLAS thread pools on top of
        # the server's threads oversubscribe the cores (implicit warns about exactly this).
        threadpool_limits(1, "blas")
        path, tag = model_path(os.environ.get("RECALL_MODEL", "recall:latest"))
        self.model = RecallModel.load(path)
        self.model.als.num_threads = 1
        self.models, self.tags = {"recall": self.model}, {"recall": tag}
        recommend_many(self.model, [{"user_id": self.model.user_ids[0]}])  # warm-up

    @bentoml.api(**batching(MAX_BATCH_SIZE, MAX_LATENCY_MS))
    def predict(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Batched recommendations: one request dict per user in, one result per request out."""
        return [{**r, "model": self.tags["recall"]} for r in recommend_many(self.model, requests)]

    @bentoml.api
    def similar(self, item_ids: list[str], n: int = 10) -> list[dict[str, Any]]:
        """Per item: ``{"item_id", "found", "similar": [{item_id, score}]}``; unknown items come
        back with ``found: false`` so the gateway can name them."""
        out = []
        for item in item_ids:
            found = item in self.model.item_index
            out.append({"item_id": item, "found": found, "similar": self.model.similar_items(item, n) if found else []})
        return out
