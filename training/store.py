"""Writing models into BentoML's store, the one place training touches BentoML.

Names, labels and required metadata follow :mod:`mining.registry`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

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


def latest_tag(name: str) -> str | None:
    """The store's ``name:latest`` tag, None when the store holds no version of ``name``."""
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        return str(bentoml.models.get(f"{name}:latest").tag)
    except NotFound:
        return None


def has_model(name: str) -> bool:
    """True when the store holds at least one version of ``name``."""
    return latest_tag(name) is not None


def served_text_classifier(tag: str) -> tuple[Any, dict[str, Any], str]:
    """The store's text classifier ``tag`` (sentiment, category, intent; ``name:latest`` too)
    loaded as it serves, quantised as its training chose: (model, its store metadata, its full tag)."""
    import bentoml

    from mining.artifacts import quantize, served_quantization
    from mining.models.textclf import load_artifact

    stored = bentoml.models.get(tag)
    metadata: dict[str, Any] = dict(stored.info.metadata)
    return quantize(load_artifact(Path(stored.path)), *served_quantization(metadata)), metadata, str(stored.tag)


def shared_encoder_record(name: str, frozen_layers: int, data_sha256: str, metric: str, value: float) -> dict[str, Any]:
    """The ``shared_encoder`` block of a model fine-tuned above a frozen encoder bottom: its test
    ``metric`` beside the newest stored version of ``name`` that fine-tuned the whole encoder on
    the same data (same sha256), when the store holds one.

    Returns ``{"frozen_layers", "metric", "value"}`` plus, with a twin, ``"separate"``,
    ``"separate_tag"`` and ``"drop_points"`` (points lost to sharing, 0 when sharing gained).
    """
    import bentoml
    from bentoml.exceptions import NotFound

    out: dict[str, Any] = {"frozen_layers": frozen_layers, "metric": metric, "value": float(value)}
    try:
        versions = bentoml.models.list(name)
    except NotFound:  # a fresh store: nothing to compare with yet
        versions = []
    twins = []
    for m in versions:
        # Written by save_to_store from the training scripts' metadata dicts, so its nesting is known.
        meta = cast(dict[str, Any], m.info.metadata)
        params, data_meta = meta.get("params") or {}, meta.get("data") or {}
        if params.get("frozen_layers", 0) == 0 and data_meta.get("sha256") == data_sha256:
            found = (meta.get("metrics") or {}).get(metric)
            if isinstance(found, (int, float)):
                twins.append((m.info.creation_time, str(m.tag), float(found)))
    if twins:
        _, tag, separate = max(twins)
        out.update(
            {"separate": separate, "separate_tag": tag, "drop_points": round(max(0.0, separate - value) * 100, 3)}
        )
    return out
