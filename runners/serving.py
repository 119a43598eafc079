"""Settings shared by every runner service."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Every dependency service gets this. BentoML's dependency client otherwise recycles its
# connection pool after 100 requests / 300 s while requests still use it, which showed up as
# 14-19% HTTP 500 (ServerDisconnectedError) under sustained load; max_age must be a float.
DEPENDENCY_CONFIG: dict[str, Any] = {
    "runner_connection": {"max_requests": 10**9, "max_age": 86400.0},
    "traffic": {"timeout": 60},
}


def batching(max_batch_size: int, max_latency_ms: int) -> dict[str, Any]:
    """Arguments of a runner's batchable ``@bentoml.api``: adaptive batching with these knobs, or
    none when the service is started with ``DEMAND_MINING_BATCHING=off`` (the benchmark serves
    both ways to measure what batching buys). BentoML fixes the knobs when the class is defined,
    which is why this one setting is read at import."""
    if os.environ.get("DEMAND_MINING_BATCHING", "on") == "off":
        return {"batchable": False}
    return {"batchable": True, "max_batch_size": max_batch_size, "max_latency_ms": max_latency_ms}


LAYOUTS = ("colocated", "separate")


def layout() -> str:
    """Where the runners run: ``$DEMAND_MINING_LAYOUT``, ``colocated`` (default) or ``separate``.

    ``colocated``: every runner is instantiated inside each gateway worker and batched there by
    :class:`runners.batcher.AdaptiveBatcher`. On CPU hosts this is the fast layout: the
    gateway -> runner hop (HTTP over a Unix socket, JSON both ways, a second event loop) cost more
    CPU per request than most models here (``python -m bench``: the separate layout served 50-110
    req/s where the same models run 380-2,300 items/s in process), and one process per runner
    made start-up take 33-41 s on 2 cores.
    ``separate``: each runner is its own BentoML service in its own processes
    (``bentoml.depends``), batched by BentoML's dispatcher; the layout for hosts with several GPUs,
    or for scaling one runner's workers apart from the rest.
    BentoML fixes the service graph when the classes are defined, so this is read at import.
    """
    value = os.environ.get("DEMAND_MINING_LAYOUT", "colocated")
    if value not in LAYOUTS:
        raise ValueError(f"DEMAND_MINING_LAYOUT must be one of {', '.join(LAYOUTS)}; got {value!r}")
    return value


def cores() -> int:
    """CPU cores this process may use."""
    return max(1, len(os.sched_getaffinity(0)))


def gateway_workers() -> int:
    """Gateway worker processes: ``$DEMAND_MINING_WORKERS``, else one per core in the colocated
    layout (each worker then runs every model with one intra-op thread: on 2 cores two workers
    served more than one worker with two threads, because request parsing and the model's Python
    code hold the GIL) and one in the separate layout (the runners have their own processes)."""
    if value := os.environ.get("DEMAND_MINING_WORKERS"):
        return max(1, int(value))
    return cores() if layout() == "colocated" else 1


def torch_threads() -> int:
    """Intra-op threads per process: ``$TORCH_THREADS``, else the cores divided among the gateway
    workers when runners are colocated, else all cores (a separate runner has its own process)."""
    if value := os.environ.get("TORCH_THREADS"):
        return max(1, int(value))
    if layout() == "colocated":
        return max(1, cores() // gateway_workers())
    return cores()


def set_torch_threads() -> None:
    """Apply :func:`torch_threads` (torch is imported here, in the worker, not at import of the
    service module: the serving supervisor imports that module too and never runs a model)."""
    import torch

    torch.set_num_threads(torch_threads())


@functools.cache
def batch_size_histogram() -> Any:
    """``demand_mining_batch_size`` on ``/metrics``: items per colocated batch, by runner and API
    (the separate layout has BentoML's own ``bentoml_service_adaptive_batch_size``)."""
    from bentoml import metrics

    return metrics.Histogram(name="demand_mining_batch_size", documentation="Items per batch of a colocated runner",
                             labelnames=["runner", "api"], buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))


class Colocated:
    """A runner service instantiated in this process, with the call surface of a
    ``bentoml.depends`` proxy (``await runner.to_async.predict(items)``, ``await runner.is_ready()``).

    Batchable APIs go through an :class:`~runners.batcher.AdaptiveBatcher` with the API's own
    ``max_batch_size``, and with one slot per core when the runner class sets
    ``PARALLEL_BATCHES = True`` (its model is thread-safe and its time is spent in torch, which
    releases the GIL); other APIs (and batchable ones when batching is
    off) run on a worker thread per call, as BentoML runs a sync API.
    """

    def __init__(self, service: Any) -> None:
        from types import SimpleNamespace

        from runners.batcher import AdaptiveBatcher

        self.name = service.name
        self.instance = service()  # loads and warms the models
        methods: dict[str, Any] = {}
        self.batchers: dict[str, AdaptiveBatcher[Any, Any]] = {}
        for api_name, api in service.apis.items():
            if api.batchable:
                slots = cores() if getattr(service.inner, "PARALLEL_BATCHES", False) else 1
                sizes = batch_size_histogram().labels(runner=self.name, api=api_name)
                batcher = AdaptiveBatcher(getattr(self.instance, api_name), api.max_batch_size,
                                          name=f"{self.name}.{api_name}", slots=slots, observe=sizes.observe)
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


def model_path(tag: str) -> tuple[Path, str]:
    """(artifact directory, resolved ``name:version``) of a store tag such as ``sentiment-zh:latest``.

    Raises ``RuntimeError`` naming the training command when the store lacks the model.
    """
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        model = bentoml.models.get(tag)
    except NotFound as e:
        raise RuntimeError(
            f"model {tag!r} is not in the BentoML store ({os.environ.get('BENTOML_HOME', '~/bentoml')}); "
            "train it with `python -m training.bootstrap`"
        ) from e
    return Path(model.path), str(model.tag)


def load_language_models(task: str, required: tuple[str, ...], optional: tuple[str, ...] = (),
                         loader: Callable[[Path, Any], Any] | None = None, domain: str | None = None
                         ) -> tuple[dict, dict]:
    """Load a task's per-language models from the store onto the best device.

    Each language's tag comes from ``$<NAME>_MODEL`` with NAME the store name upper-cased
    (``$SENTIMENT_ZH_MODEL``, ``$NER_PRODUCTS_EN_MODEL``), default ``<name>:latest``.
    Languages in ``required`` must be present; those in ``optional`` are loaded when the store has
    them. ``loader(path, device)`` reads an artifact (default: the text-classifier loader).
    Returns (language -> model, language -> resolved tag), required languages first.
    """
    from runners.store import model_name
    from runners.textclf import load_artifact, pick_device

    loader = loader or load_artifact
    device = pick_device()
    models, tags = {}, {}
    for lang in (*required, *optional):
        name = model_name(task, lang, domain)
        tag = os.environ.get(f"{name.upper().replace('-', '_')}_MODEL", f"{name}:latest")
        try:
            path, tags[lang] = model_path(tag)
        except RuntimeError:
            if lang in required:
                raise
            continue
        models[lang] = loader(path, device)
    return models, tags
