"""bench/stages.py's pieces that decide what is compared: the pins of the stage-1 server and the
texts that must be new to the servers' caches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.run import fresh
from bench.stages import stage_one_pins
from mining.settings import settings
from mining.upgrades import UpgradeEntry, UpgradeRecord, record_path, write_record


def test_the_stage_one_server_pins_exactly_the_swapped_models_to_what_they_replaced(tmp_path: Path) -> None:
    record = UpgradeRecord(
        models={
            "sentiment-zh": UpgradeEntry(state="swapped", served="sentiment-zh:old", candidate="sentiment-zh:new"),
            "ner-en": UpgradeEntry(state="kept", served="ner-en:old", candidate="ner-en:lost"),
            "aspects-zh": UpgradeEntry(state="training", served="aspects-zh:old"),
            "replies": UpgradeEntry(state="swapped", served="replies:lexical", candidate="replies:e5"),
        }
    )
    write_record(record_path(tmp_path), record)
    assert stage_one_pins(tmp_path) == {"SENTIMENT_ZH_MODEL": "sentiment-zh:old", "REPLIES_MODEL": "replies:lexical"}
    assert stage_one_pins(tmp_path / "no-store") == {}


def test_every_text_sent_is_new() -> None:
    texts = [fresh("同一句话") for _ in range(1000)]
    assert len(set(texts)) == 1000 and all(t.startswith("同一句话 ") for t in texts)
    assert len(fresh("x" * 2000)) == 2000  # a text at the API's limit stays within it


@pytest.fixture()
def env_settings() -> Iterator[None]:
    """Settings read again from the environment the test sets, and again after it."""
    settings.cache_clear()
    yield
    settings.cache_clear()


def test_accuracy_drops_read_the_version_each_model_is_served_as(
    monkeypatch: pytest.MonkeyPatch, env_settings: None
) -> None:
    from bench.run import accuracy_drops

    drops = {"sentiment-zh:old": 0.7, "sentiment-zh:latest": 1.5, "ner-en:latest": 0.2}

    def metadata_of(tag: str) -> dict[str, Any] | None:
        return {"quantization": {"mode": "int8", "test_drop_points": drops[tag]}} if tag in drops else None

    monkeypatch.setenv("SENTIMENT_ZH_MODEL", "sentiment-zh:old")
    assert accuracy_drops(metadata_of) == {"sentiment-zh": 0.7, "ner-en": 0.2}
    monkeypatch.delenv("SENTIMENT_ZH_MODEL")
    settings.cache_clear()
    assert accuracy_drops(metadata_of) == {"sentiment-zh": 1.5, "ner-en": 0.2}
