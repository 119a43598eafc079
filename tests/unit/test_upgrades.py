"""The staged start's decision, record and orchestration, without training anything."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest

from mining.registry import MODELS, model
from mining.upgrades import (
    UpgradeEntry,
    UpgradeRecord,
    decide,
    pid_alive,
    read_record,
    record_path,
    validation_score,
    write_record,
)
from training import upgrade


def meta(
    value: float | None, metric: str = "served_val_accuracy", sha: str = "abc", n_val: int = 100
) -> dict[str, Any]:
    metrics = {} if value is None else {metric: value}
    return {"metrics": metrics, "data": {"sha256": sha, "n_val": n_val}}


SENTIMENT = model("sentiment-zh")
DEMAND = model("demand")


def test_a_better_candidate_replaces_the_served_model() -> None:
    better, reason = decide(SENTIMENT, meta(0.90), meta(0.91))
    assert better and "0.9100" in reason and "0.9000" in reason


@pytest.mark.parametrize("candidate", [0.90, 0.89])
def test_a_tie_or_a_worse_candidate_keeps_the_served_model(candidate: float) -> None:
    assert decide(SENTIMENT, meta(0.90), meta(candidate))[0] is False


def test_lower_wins_where_the_metric_is_an_error() -> None:
    assert decide(DEMAND, meta(0.50, "val_wape"), meta(0.45, "val_wape"))[0] is True
    assert decide(DEMAND, meta(0.50, "val_wape"), meta(0.55, "val_wape"))[0] is False


@pytest.mark.parametrize(
    ("served", "candidate", "why"),
    [
        (meta(0.9), meta(0.95, sha="other"), "different data"),
        (meta(0.9), meta(0.95, n_val=99), "different data"),
        (meta(None), meta(0.95), "served model did not record"),
        (meta(0.9), meta(None), "candidate did not record"),
    ],
)
def test_versions_that_cannot_be_compared_keep_the_served_model(
    served: dict[str, Any], candidate: dict[str, Any], why: str
) -> None:
    better, reason = decide(SENTIMENT, served, candidate)
    assert not better and why in reason


def test_a_training_subsample_does_not_make_versions_incomparable() -> None:
    served, candidate = meta(0.9, sha="all-a"), meta(0.95, sha="all-b")
    served["data"]["val_sha256"] = candidate["data"]["val_sha256"] = "val"
    assert decide(SENTIMENT, served, candidate)[0] is True
    candidate["data"]["val_sha256"] = "other-val"
    assert "different data" in decide(SENTIMENT, served, candidate)[1]


def test_a_task_without_a_validation_metric_is_never_replaced() -> None:
    better, reason = decide(model("keywords"), meta(0.1), meta(0.9))
    assert not better and "no validation metric" in reason


def test_validation_score_ignores_what_is_not_a_number() -> None:
    assert validation_score({"metrics": {"m": True}}, "m") is None
    assert validation_score({"metrics": {"m": {"x": 1}}}, "m") is None
    assert validation_score({"metrics": {"m": 3}}, "m") == 3.0


def test_every_upgrade_names_a_metric_its_trainer_writes() -> None:
    with_upgrade = [s for s in MODELS if s.upgrade]
    assert with_upgrade, "the staged start has nothing to train"
    for spec in with_upgrade:
        assert spec.selection[0], f"{spec.name} has an upgrade but no selection metric"
        # The candidate is compared on the default model's validation rows: no flag may change them.
        assert "--max-eval-samples" not in spec.upgrade and "--data" not in spec.upgrade, spec.name


def test_the_record_round_trips_and_a_broken_one_reads_as_empty(tmp_path: Path) -> None:
    path = record_path(tmp_path)
    assert read_record(path) == UpgradeRecord()
    record = UpgradeRecord(pid=12, models={"ner-zh": UpgradeEntry(state="kept", served="ner-zh:a", served_val=0.7)})
    write_record(path, record)
    assert read_record(path) == record
    assert [p.name for p in tmp_path.iterdir()] == ["upgrades.json"]  # no temp file left behind
    path.write_text('{"models": {"ner-zh": {"state": "exploded"}}}')
    assert read_record(path) == UpgradeRecord()
    path.write_text("{half")
    assert read_record(path) == UpgradeRecord()


def test_pid_alive() -> None:
    assert pid_alive(os.getpid())
    assert not pid_alive(None) and not pid_alive(0)
    assert not pid_alive(2**22 + 12345)  # above Linux's pid_max


class FakeStores:
    """The served store and the staging store as dicts, with what the orchestrator did to them."""

    def __init__(self, served: dict[str, tuple[str, dict[str, Any]]], candidates: dict[str, dict[str, Any]]) -> None:
        self.served, self.candidates = served, candidates
        self.trained: list[tuple[str, tuple[str, ...]]] = []
        self.promoted: list[str] = []

    def install(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.setattr(upgrade, "served_metadata", lambda name: self.served.get(name))
        monkeypatch.setattr(upgrade, "_train_candidate", self.train)
        monkeypatch.setattr(upgrade, "_candidate", lambda staging, tag: ("store", self.candidates[tag.split(":")[0]]))
        monkeypatch.setattr(upgrade, "_promote", lambda store, tag, keep=False: self.promoted.append(tag))
        settings = dataclasses.replace(upgrade.settings(), model_store=tmp_path)
        monkeypatch.setattr(upgrade, "settings", lambda: settings)

    def train(self, spec: Any, staging: Path, report_dir: str) -> str:
        self.trained.append((spec.name, spec.upgrade))
        if spec.name not in self.candidates:
            raise OSError("trainer crashed")
        return f"{spec.name}:new"


def test_main_promotes_only_the_better_heads_and_records_each(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    names = [s.name for s in MODELS if s.upgrade]
    better, worse, crashed = names[0], names[1], names[2]
    metric = {n: model(n).selection[0] for n in names}
    stores = FakeStores(
        served={n: (f"{n}:old", meta(0.8, metric[n])) for n in names},
        candidates={better: meta(0.85, metric[better]), worse: meta(0.75, metric[worse])},
    )
    stores.install(monkeypatch, tmp_path)
    done = upgrade.main(["--only", ",".join([better, worse, crashed])])
    assert done == {better: "swapped", worse: "kept", crashed: "failed"}
    assert stores.promoted == [f"{better}:new"]
    record = read_record(record_path(tmp_path))
    assert record.pid is None and record.finished is not None
    assert record.models[better].candidate_val == 0.85 and record.models[better].served == f"{better}:old"
    assert record.models[worse].state == "kept" and "not better" in record.models[worse].reason
    assert "trainer crashed" in record.models[crashed].reason

    # A second run trains only what was not decided: the crashed head.
    stores.trained.clear()
    stores.served[better] = (f"{better}:new", meta(0.85, metric[better]))
    upgrade.main([])
    assert [n for n, _ in stores.trained] == [n for n in names if n in (crashed,) or n not in (better, worse)]


def test_own_flags_need_one_model_and_replace_the_registry_flags(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    name = next(s.name for s in MODELS if s.upgrade)
    stores = FakeStores({name: (f"{name}:old", meta(0.8, model(name).selection[0]))}, {})
    stores.install(monkeypatch, tmp_path)
    with pytest.raises(SystemExit, match="exactly one"):
        upgrade.main(["--flags", "--epochs 2"])
    upgrade.main(["--only", name, "--flags", "--epochs 2 --lr 1e-3"])
    assert stores.trained == [(name, ("--epochs", "2", "--lr", "1e-3"))]


def test_a_running_upgrade_is_not_started_twice(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stores = FakeStores({}, {})
    stores.install(monkeypatch, tmp_path)
    write_record(record_path(tmp_path), UpgradeRecord(pid=os.getppid()))
    assert upgrade.main([]) == {}
    assert read_record(record_path(tmp_path)).pid == os.getppid()


def test_a_candidate_from_a_store_of_ones_own_is_compared_not_trained(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    name = next(s.name for s in MODELS if s.upgrade)
    metric = model(name).selection[0]
    stores = FakeStores({name: (f"{name}:old", meta(0.8, metric))}, {name: meta(0.9, metric)})
    stores.install(monkeypatch, tmp_path)
    seen: list[tuple[Path, str]] = []
    monkeypatch.setattr(upgrade, "_latest_in", lambda home, n: seen.append((home, n)) or f"{n}:given")
    promoted: list[tuple[str, bool]] = []
    monkeypatch.setattr(upgrade, "_promote", lambda store, tag, keep=False: promoted.append((tag, keep)))
    assert upgrade.main(["--only", name, "--candidate-store", str(tmp_path / "gpu")]) == {name: "swapped"}
    assert stores.trained == [] and seen == [(tmp_path / "gpu", name)]
    assert promoted == [(f"{name}:given", True)]  # the user's store keeps its copy


def test_a_candidate_trains_in_staging_and_reads_its_baselines_from_the_served_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The aspect trainer's whole-text baseline is a stored sentiment model: in the staging home it
    # would find none and leave the baseline out of the candidate's report.
    seen: dict[str, str] = {}

    class Child:
        returncode = 0

        def __init__(self, cmd: list[str], env: dict[str, str]) -> None:
            seen.update(env)

        def wait(self, timeout: float | None = None) -> int:
            return 0

        def poll(self) -> int:
            return 0

    class Ran:
        stdout = "aspects-zh:abc\n"

    settings = dataclasses.replace(upgrade.settings(), model_store=tmp_path / "served")
    monkeypatch.setattr(upgrade, "settings", lambda: settings)
    monkeypatch.setattr(upgrade.subprocess, "Popen", Child)
    monkeypatch.setattr(upgrade.subprocess, "run", lambda *a, **k: Ran())
    tag = upgrade._train_candidate(model("aspects-zh"), tmp_path / "served" / "staging", "reports")
    assert tag == "aspects-zh:abc"
    assert seen["BENTOML_HOME"] == str(tmp_path / "served" / "staging")
    assert seen["DEMAND_MINING_BASELINE_STORE"] == str(tmp_path / "served")
