"""Writing models into BentoML's store, the one place training touches BentoML.

Names, labels and required metadata follow :mod:`mining.registry`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from mining.registry import model_name, validate_metadata


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
        task: one of :data:`mining.registry.TASKS`.
        lang: ``"zh"``, ``"en"`` or None where language does not apply.
        arch: architecture name, stored as a label so deployments can filter on it.
        metadata: must contain :data:`mining.registry.REQUIRED_METADATA`; values must be JSON-serialisable.
        write: called with the new model's directory; writes the artifact files there.
        domain: optional part of the name, e.g. ``products`` (see :func:`mining.registry.model_name`).
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
