"""A runner swaps in a newer ``latest`` version of a model while it serves, never a pinned one,
and keeps the old version when the new one fails."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

import runners.base as base
from mining.registry import models_of
from mining.settings import Settings


class Toy:
    def __init__(self, version: str) -> None:
        self.version = version


class ToyRunner(base.RunnerBase):
    RUNNER = "sentiment"
    broken: set[str] = set()

    def load(self, path: Path) -> Any:
        return Toy(path.name)

    def optimise(self, model: Any, metadata: dict[str, Any], tag: str = "") -> Any:
        return model

    def prepare(self, name: str, model: Any, metadata: dict[str, Any]) -> None:
        model.prepared_with = metadata["v"]

    def warm_up(self) -> None:
        for m in self.models.values():
            if m.version in self.broken:
                raise RuntimeError("kernel failed")


def runner(monkeypatch: pytest.MonkeyPatch, latest: dict[str, str], pinned: dict[str, str] | None = None) -> ToyRunner:
    def model_path(tag: str) -> tuple[Path, str, dict[str, Any]]:
        name, version = tag.split(":")
        version = latest.get(name, "") if version == "latest" else version
        if not version:
            raise RuntimeError(f"model {tag!r} is not in the BentoML store")
        return Path("/store") / name / version, f"{name}:{version}", {"v": version}

    monkeypatch.setattr(base, "model_path", model_path)
    tags = {s.name: f"{s.name}:latest" for s in models_of("sentiment")} | (pinned or {})
    r = ToyRunner.__new__(ToyRunner)
    r.settings = dataclasses.replace(Settings(), model_tags=tags, model_watch_seconds=0)
    r.models, r.tags, r.specs, r.metadata = {}, {}, {}, {}
    for spec in models_of("sentiment"):
        try:
            path, tag, metadata = model_path(tags[spec.name])
        except RuntimeError:  # served once it arrives, like an optional model
            continue
        r._install(spec, r.load(path), tag, metadata)
    return r


def test_a_newer_latest_version_is_swapped_in_and_prepared(monkeypatch: pytest.MonkeyPatch) -> None:
    latest = {"sentiment-zh": "a", "sentiment-en": "a"}
    r = runner(monkeypatch, latest)
    models_before = r.models
    assert r.refresh() == []
    latest["sentiment-zh"] = "b"
    assert r.refresh() == ["sentiment-zh:b"]
    assert r.tags == {"sentiment-zh": "sentiment-zh:b", "sentiment-en": "sentiment-en:a"}
    assert r.models["sentiment-zh"].version == "b" and r.models["sentiment-zh"].prepared_with == "b"
    assert r.metadata["sentiment-zh"] == {"v": "b"}
    # A batch that started before the swap still holds the mapping it began with.
    assert models_before["sentiment-zh"].version == "a"


def test_a_pinned_model_is_never_swapped(monkeypatch: pytest.MonkeyPatch) -> None:
    latest = {"sentiment-zh": "a", "sentiment-en": "a"}
    r = runner(monkeypatch, latest, pinned={"sentiment-zh": "sentiment-zh:a"})
    latest["sentiment-zh"] = "b"
    assert r.refresh() == []
    assert r.tags["sentiment-zh"] == "sentiment-zh:a"


def test_a_version_that_fails_its_warm_up_leaves_the_old_one_serving(monkeypatch: pytest.MonkeyPatch) -> None:
    latest = {"sentiment-zh": "a", "sentiment-en": "a"}
    r = runner(monkeypatch, latest)
    latest["sentiment-zh"] = "bad"
    ToyRunner.broken = {"bad"}
    try:
        assert r.refresh() == []
    finally:
        ToyRunner.broken = set()
    assert r.tags["sentiment-zh"] == "sentiment-zh:a" and r.models["sentiment-zh"].version == "a"
    assert r.metadata["sentiment-zh"] == {"v": "a"}


def test_a_model_missing_at_start_is_served_once_it_arrives(monkeypatch: pytest.MonkeyPatch) -> None:
    latest = {"sentiment-zh": "a"}
    r = runner(monkeypatch, latest)
    assert sorted(r.models) == ["sentiment-zh"] and r.refresh() == []
    latest["sentiment-en"] = "a"
    assert r.refresh() == ["sentiment-en:a"]
    assert sorted(r.models) == ["sentiment-en", "sentiment-zh"] and r.models["sentiment-en"].prepared_with == "a"


def test_a_runner_quantises_as_the_metadata_says_keeping_its_float_parts(caplog: pytest.LogCaptureFixture) -> None:
    import logging
    from types import SimpleNamespace

    import torch

    def aspect_model() -> SimpleNamespace:
        return SimpleNamespace(
            extractor=SimpleNamespace(net=torch.nn.Sequential(torch.nn.Linear(4, 4))),
            polarity=SimpleNamespace(net=torch.nn.Sequential(torch.nn.Linear(4, 3))),
        )

    metadata = {"quantization": {"mode": "int8", "float_parts": ["polarity"]}}
    r = base.RunnerBase.__new__(base.RunnerBase)
    r.settings = Settings()
    with caplog.at_level(logging.INFO, logger=base.log.name):
        model = r.optimise(aspect_model(), metadata, tag="aspects-en:abc")
    assert type(model.polarity.net[0]) is torch.nn.Linear and type(model.extractor.net[0]) is not torch.nn.Linear
    assert "aspects-en:abc: int8 (polarity float32)" in caplog.text
    r.settings = dataclasses.replace(Settings(), quantize=False)  # switched off: nothing is quantised
    model = r.optimise(aspect_model(), metadata)
    assert type(model.extractor.net[0]) is torch.nn.Linear
