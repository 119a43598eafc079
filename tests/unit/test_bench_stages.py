"""What decides what the benchmarks compare: the pins of the stage-1 server (bench/stages.py), the
texts that must be new to the servers' caches, the version whose accuracy drop is read, and the
alternating order of cells (bench/run.py)."""

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


def test_cells_alternate_between_servers_so_a_drift_favours_neither(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import bench.run as run

    calls: list[tuple[str, int]] = []

    def load(url: str, path: str, body: Any, concurrency: int, seconds: float) -> dict[str, Any]:
        calls.append((url, concurrency))
        return {"rps": float(len(calls)), "url": url}

    monkeypatch.setattr(run, "load", load)
    urls = {"new": "http://a", "old": "http://b"}
    out = run.alternating(
        urls, {"x": ("/p", dict)}, (1, 16, 64), 1.0, lambda name, c, rs: f"{name} {c} {[r['url'] for r in rs]}"
    )
    warm = [("http://a", 4), ("http://b", 4)]
    assert calls == warm + [
        ("http://a", 1),
        ("http://b", 1),
        ("http://b", 16),
        ("http://a", 16),
        ("http://a", 64),
        ("http://b", 64),
    ]
    assert {label: {c: r["url"] for c, r in cells["x"].items()} for label, cells in out.items()} == {
        "new": {"c1": "http://a", "c16": "http://a", "c64": "http://a"},
        "old": {"c1": "http://b", "c16": "http://b", "c64": "http://b"},
    }
    # each printed line lists the servers in the order of urls, whichever ran first
    assert capsys.readouterr().out.splitlines() == [f"x {c} ['http://a', 'http://b']" for c in (1, 16, 64)]


def test_the_bottom_bench_runs_one_server_per_mode_with_its_own_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench import bottoms

    started: list[tuple[dict[str, str], str]] = []

    def serve(servers: Any, batching: bool, logs: Path, db: Path, extra: dict[str, str], label: str) -> Any:
        started.append((extra, label))
        return None, f"http://127.0.0.1:{len(started)}"

    measured: dict[str, str] = {}
    monkeypatch.setattr(bottoms, "serve", serve)
    monkeypatch.setattr(bottoms, "service_turns", lambda: {"zh": ["在吗"], "en": ["hi"]})
    monkeypatch.setattr(bottoms, "measure", lambda urls, cells, seconds: measured.update(urls) or {"cells": 1})
    out = bottoms.main(["--mode", "int8", "--seconds", "0.1", "--out", str(tmp_path / "b.json")])
    assert started == [
        ({"DEMAND_MINING_BOTTOM_QUANTIZATION": "int8"}, "int8"),
        ({"DEMAND_MINING_BOTTOM_QUANTIZATION": "none"}, "float32"),
    ]
    assert measured == {"int8": "http://127.0.0.1:1", "float32": "http://127.0.0.1:2"}
    assert out["mode"] == "int8" and (tmp_path / "b.json").exists()
    with pytest.raises(SystemExit):
        bottoms.main(["--mode", "none"])  # float32 against itself measures nothing
