"""Settings shared by every runner service."""

from __future__ import annotations

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


def torch_threads() -> int:
    """Intra-op threads per runner worker: ``$TORCH_THREADS``, else all cores this process may use."""
    if value := os.environ.get("TORCH_THREADS"):
        return max(1, int(value))
    return max(1, len(os.sched_getaffinity(0)))


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
