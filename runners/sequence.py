"""Sequence runner: next-item predictions from a user's ordered item events (``sequence`` model)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bentoml

from mining.contracts import ItemInfo, NextItem, NextResult
from runners.base import DEPENDENCY_CONFIG, RunnerBase, batching

# One forward pass per batch over at most max_len events: a batch of 32 costs about what one
# request costs on a CPU core, so batching pays; the budget is the separate layout's.
MAX_BATCH_SIZE = 32
MAX_LATENCY_MS = 100


@bentoml.service(name="SequenceRunner", threads=4, **DEPENDENCY_CONFIG)
class SequenceRunner(RunnerBase):
    """Next items from the ``sequence`` model (optional: without it every answer says so)."""

    RUNNER = "sequence"
    PARALLEL_BATCHES = True

    def load(self, path: Path) -> Any:
        from mining.models.sequence import SequenceModel

        return SequenceModel.load(path, self.device)

    def warm_up(self) -> None:
        model = self.models.get("sequence")
        if model is not None:
            self.predict([{"events": [[model.item_ids[0], "view"]], "n": 1}])

    @bentoml.api(**batching(MAX_BATCH_SIZE, MAX_LATENCY_MS))
    def predict(self, requests: list[dict[str, Any]]) -> list[NextResult]:
        """Batched next items: per request ``{"events": [[item_id, event type], ...] oldest first,
        "n": int, "exclude_seen": bool}``, one :class:`NextResult` per request."""
        bad = [
            (i, type(r).__name__)
            for i, r in enumerate(requests)
            if not isinstance(r, dict) or not isinstance(r.get("events"), list)
        ]
        if bad:
            raise TypeError(
                f"requests must be dicts with an events list; item {bad[0][0]} is {bad[0][1]} ({len(bad)} bad in all)"
            )
        model = self.models.get("sequence")
        if model is None:
            return [NextResult(items=None, used=0, reason="no sequence model in the store", model="") for _ in requests]
        # A model whose network lost to a simpler scorer on validation answers from that scorer.
        tag = self.tags["sequence"]
        answered_by = tag if model.served == "network" else f"{tag} ({model.served})"
        out: dict[int, NextResult] = {}
        for exclude in (True, False):  # one forward pass per flag value present
            group = [k for k, r in enumerate(requests) if bool(r.get("exclude_seen", True)) is exclude]
            if not group:
                continue
            n = max(int(requests[k].get("n", 10)) for k in group)
            answers = model.predict([[tuple(e) for e in requests[k]["events"]] for k in group], n, exclude)
            if len(answers) != len(group):
                raise RuntimeError(f"the sequence model answered {len(answers)} of {len(group)} requests")
            for k, a in zip(group, answers):
                items = a["items"]
                out[k] = NextResult(
                    items=None
                    if items is None
                    else [NextItem(item_id=i, score=s) for i, s in items[: int(requests[k].get("n", 10))]],
                    used=a["used"],
                    reason=a.get("reason"),
                    model=answered_by,
                )
        # Complete: the two groups partition the requests and each group is answered in full (checked above).
        return [out[k] for k in range(len(requests))]

    @bentoml.api
    def describe(self, item_ids: list[str]) -> list[ItemInfo]:
        """Per item what the items table saved with the model says (``found`` false without one)."""
        model = self.models.get("sequence")
        catalog = None if model is None else model.catalog
        out = []
        for item in item_ids:
            info = None if catalog is None else catalog.get(item)
            out.append(
                ItemInfo(item_id=item, found=False)
                if info is None
                else ItemInfo(
                    item_id=item, found=True, title=info["title"], categories=info["categories"], brand=info["brand"]
                )
            )
        return out

    @bentoml.api
    def strategy(self) -> dict[str, Any]:
        """The recommendation strategy that scored best on validation (``default``: als, sequence or
        blend), the blend's weight and what the sequence model answers from (``served``: its network's
        architecture, or ``markov``, ``item_knn``, ``popularity``); ``als`` without a sequence model."""
        model = self.models.get("sequence")
        if model is None:
            return {"default": "als", "blend_weight": 0.5, "model": ""}
        return {
            "default": str(model.config.get("strategy", "als")),
            "blend_weight": float(model.config.get("blend_weight", 0.5)),
            "served": model.source,
            "model": self.tags["sequence"],
        }
