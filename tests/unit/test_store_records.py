"""Store metadata written beside a model: the shared-encoder comparison with its whole-encoder twin."""

from __future__ import annotations

import uuid
from pathlib import Path

import bentoml

from training.store import shared_encoder_record


def stored(name: str, frozen: int, sha: str, accuracy: float) -> None:
    meta = {"params": {"frozen_layers": frozen}, "data": {"sha256": sha}, "metrics": {"test_accuracy": accuracy}}
    with bentoml.models.create(name, metadata=meta) as model:
        (Path(model.path) / "model.json").write_text("{}")


def test_a_fresh_store_gives_the_value_without_a_twin() -> None:
    name = f"never-stored-{uuid.uuid4().hex[:8]}"
    record = shared_encoder_record(name, 3, "abc", "test_accuracy", 0.8)
    assert record == {"frozen_layers": 3, "metric": "test_accuracy", "value": 0.8}


def test_the_twin_is_the_whole_encoder_model_of_the_same_data() -> None:
    name = f"twin-{uuid.uuid4().hex[:8]}"
    stored(name, 0, "abc", 0.82)  # the twin
    stored(name, 0, "other-data", 0.95)  # another data set: not comparable
    stored(name, 3, "abc", 0.99)  # another frozen head: not a separate model
    lost = shared_encoder_record(name, 3, "abc", "test_accuracy", 0.8)
    assert lost["separate"] == 0.82 and lost["drop_points"] == 2.0 and lost["separate_tag"].startswith(name)
    gained = shared_encoder_record(name, 3, "abc", "test_accuracy", 0.85)
    assert gained["drop_points"] == 0.0
    assert "separate" not in shared_encoder_record(name, 3, "new-data", "test_accuracy", 0.8)


def test_an_artifact_of_another_kind_is_refused_naming_both(tmp_path) -> None:  # noqa: ANN001
    import json

    import pytest

    from mining.models.spec import read_spec

    (tmp_path / "model.json").write_text(json.dumps({"kind": "implicit_als", "n": 3}))
    assert read_spec(tmp_path, "implicit_als") == {"kind": "implicit_als", "n": 3}
    with pytest.raises(ValueError, match="holds a 'implicit_als' artifact, not 'tfidf_keywords'"):
        read_spec(tmp_path, "tfidf_keywords")
