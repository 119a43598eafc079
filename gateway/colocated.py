"""The colocated layout: every runner service instantiated inside each gateway worker and batched
there by :class:`gateway.batcher.AdaptiveBatcher`, behind the call surface of a
``bentoml.depends`` proxy, so the gateway code is the same in both layouts.

Why this is the default on CPU hosts: the gateway -> runner hop of the separate layout (HTTP over
a Unix socket, JSON both ways, a second event loop) costs more CPU per request than most models
here, and one process per runner slows start-up (docs/benchmarks.md#serving-layouts-and-knobs).
The separate layout (``DEMAND_MINING_LAYOUT=separate``) stays for hosts with several GPUs, or for
scaling one runner's workers apart from the rest.
"""

from __future__ import annotations

import functools
from typing import Any

from gateway.threads import CoreShare
from mining.settings import cores


@functools.cache
def batch_size_histogram() -> Any:
    """``demand_mining_batch_size`` on ``/metrics``: items per colocated batch, by runner and API
    (the separate layout has BentoML's own ``bentoml_service_adaptive_batch_size``)."""
    from bentoml import metrics

    return metrics.Histogram(
        name="demand_mining_batch_size",
        documentation="Items per batch of a colocated runner",
        labelnames=["runner", "api"],
        buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
    )


class Colocated:
    """A runner service instantiated in this process, with the call surface of a
    ``bentoml.depends`` proxy (``await runner.to_async.predict(items)``, ``await runner.is_ready()``).

    Batchable APIs go through an :class:`~gateway.batcher.AdaptiveBatcher` with the API's own
    ``max_batch_size``, and with one slot per core when the runner class sets
    ``PARALLEL_BATCHES = True`` (its model is thread-safe and its time is spent in torch, which
    releases the GIL); other APIs (and batchable ones when batching is
    off) run on a worker thread per call, as BentoML runs a sync API. ``cores_share`` sets each
    batch's intra-op threads (all cores for a call alone in the service).
    """

    def __init__(self, service: Any, cores_share: CoreShare | None = None) -> None:
        from types import SimpleNamespace

        from gateway.batcher import AdaptiveBatcher

        self.name = service.name
        self.cores_share = cores_share
        self.instance = service()  # loads and warms the models
        methods: dict[str, Any] = {}
        self.batchers: dict[str, AdaptiveBatcher[Any, Any]] = {}
        for api_name, api in service.apis.items():
            if api.batchable:
                slots = cores() if getattr(service.inner, "PARALLEL_BATCHES", False) else 1
                sizes = batch_size_histogram().labels(runner=self.name, api=api_name)
                batcher = AdaptiveBatcher(
                    getattr(self.instance, api_name),
                    api.max_batch_size,
                    name=f"{self.name}.{api_name}",
                    slots=slots,
                    observe=sizes.observe,
                    around=cores_share.call if cores_share is not None else None,
                )
                self.batchers[api_name] = methods[api_name] = batcher
            else:
                methods[api_name] = getattr(self.instance.to_async, api_name)
        self.to_async = SimpleNamespace(**methods)

    async def is_ready(self, timeout: float | None = None) -> bool:
        """Constructed means loaded and warmed: the same meaning as a separate runner's /readyz."""
        return True

    def close(self) -> None:
        for batcher in self.batchers.values():
            batcher.close()
        if self.cores_share is not None:
            self.cores_share.close()
