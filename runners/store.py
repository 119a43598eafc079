"""The model-store contract shared by training (writes) and serving (reads).

Every model lives in BentoML's store under a fixed name per task and language, with labels
``task``, ``lang`` (where language applies) and ``arch``, and metadata holding held-out metrics, the
baseline's metrics on the same split, training parameters, the data fingerprint and the label map.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

TASKS = ("sentiment", "classification", "ner", "keywords", "demand", "recall")
REQUIRED_METADATA = ("metrics", "baseline_metrics", "params", "data", "label_map")
REQUIRED_DATA_KEYS = ("name", "sha256", "n_train", "n_val", "n_test")


def model_name(task: str, lang: str | None = None, domain: str | None = None) -> str:
    """Store name of a task's model, e.g. ``sentiment-zh`` or ``ner-products-en``: one name per
    task, domain (where a task has several, e.g. NER on news vs product titles) and language."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    return "-".join(p for p in (task, domain, lang) if p)


def validate_metadata(metadata: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming what is missing from a model's metadata."""
    missing = [k for k in REQUIRED_METADATA if k not in metadata]
    if missing:
        raise ValueError(f"model metadata lacks {missing}; it has {sorted(metadata)}")
    data_missing = [k for k in REQUIRED_DATA_KEYS if k not in metadata["data"]]
    if data_missing:
        raise ValueError(f"metadata['data'] lacks {data_missing}; it has {sorted(metadata['data'])}")


def save_to_store(
    task: str,
    lang: str | None,
    arch: str,
    metadata: dict[str, Any],
    write: Callable[[Path], None],
    domain: str | None = None,
) -> str:
    """Create a new version of a model in the BentoML store.

    Args:
        task: one of :data:`TASKS`.
        lang: ``"zh"``, ``"en"`` or None where language does not apply.
        arch: architecture name, stored as a label so deployments can filter on it.
        metadata: must contain :data:`REQUIRED_METADATA`; values must be JSON-serialisable.
        write: called with the new model's directory; writes the artifact files there.
        domain: optional part of the name, e.g. ``products`` (see :func:`model_name`).
    Returns:
        the new tag, ``name:version``.
    """
    import bentoml

    validate_metadata(metadata)
    labels = {"task": task, "arch": arch}
    if lang:
        labels["lang"] = lang
    if domain:
        labels["domain"] = domain
    with bentoml.models.create(model_name(task, lang, domain), labels=labels, metadata=metadata) as bento_model:
        write(Path(bento_model.path))
    return str(bento_model.tag)


def has_model(name: str) -> bool:
    """True when the store holds at least one version of ``name``."""
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        bentoml.models.get(f"{name}:latest")
    except NotFound:
        return False
    return True
