"""Recall runner: ALS recommendations and similar items from the ``recall`` model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bentoml

from mining.contracts import RecallResult, SimilarLookup
from runners.base import DEPENDENCY_CONFIG, RunnerBase, batching

# Requests are solved one by one (a fold-in solve (F x F) plus one (I x F) product), so a batch saves only per-call
# overhead (docs/benchmarks.md#why-three-targets-are-missed). The latency budget is the separate layout's (BentoML's
# dispatcher); colocated batches never shed.
MAX_BATCH_SIZE = 64
MAX_LATENCY_MS = 500


@bentoml.service(name="RecallRunner", threads=4, **DEPENDENCY_CONFIG)
class RecallRunner(RunnerBase):
    """Recommendations and similar items from the ``recall`` model."""

    RUNNER = "recall"

    def load(self, path: Path) -> Any:
        from threadpoolctl import threadpool_limits

        from mining.models.recall import RecallModel

        # One BLAS thread per worker: ALS fold-in is a small solve, and BLAS thread pools on top of
        # the server's threads oversubscribe the cores (implicit warns about exactly this).
        threadpool_limits(1, "blas")
        model = RecallModel.load(path)
        model.als.num_threads = 1
        return model

    @property
    def model(self) -> Any:
        return self.models["recall"]

    def warm_up(self) -> None:
        self.predict([{"user_id": self.model.user_ids[0]}])

    @bentoml.api(**batching(MAX_BATCH_SIZE, MAX_LATENCY_MS))
    def predict(self, requests: list[dict[str, Any]]) -> list[RecallResult]:
        """Batched recommendations: one request dict per user in (see
        :func:`mining.models.recall.recommend_many`), one result per request out."""
        from mining.models.recall import recommend_many

        return [RecallResult(**r, model=self.tags["recall"]) for r in recommend_many(self.model, requests)]

    @bentoml.api
    def similar(self, item_ids: list[str], n: int = 10) -> list[SimilarLookup]:
        """Per item, its most similar items; unknown items come back with ``found: false`` so the
        gateway can name them."""
        out = []
        for item in item_ids:
            found = item in self.model.item_index
            out.append(
                SimilarLookup(item_id=item, found=found, similar=self.model.similar_items(item, n) if found else [])
            )
        return out
