"""The close of a training run (training/run.py): store metadata, report files, save, and the shared
config fields."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from training.common import History, parse_config
from training.run import Report, RunConfig, Saved, TrainConfig, finish_run, sample_cap_field, setup_run


@dataclass
class _Config(TrainConfig):
    """A trainer's config for the tests."""

    max_train_samples: int = sample_cap_field("widgets")
    width: int = field(default=3, metadata={"help": "how wide"})


def _saved(written: list[Path]) -> Saved:
    return Saved(
        "keywords",
        None,
        "tfidf",
        lambda folder: (folder / "model.txt").write_text("weights") and written.append(folder),
        {"name": "toy", "sha256": "0" * 64, "n_train": 3, "n_val": 1, "n_test": 1},
        {"0": "a", "1": "b"},
        {"history": {"train_loss": [0.5]}},
    )


def test_finish_run_saves_the_metadata_block_and_writes_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import bentoml

    monkeypatch.setenv("BENTOML_HOME", str(tmp_path / "store"))
    cfg = parse_config(_Config, ["--report-dir", str(tmp_path / "reports"), "--width", "5"])
    written: list[Path] = []
    history = History([0.9, 0.5], [1.0, 0.7], [0.4, 0.6], [1.0, 1.0])
    cm = np.array([[2, 1], [0, 3]])
    result = finish_run(
        cfg,
        "toy",
        {"tag": None},
        metrics={"test_accuracy": 0.8},
        baseline_metrics={"test_accuracy": 0.5},
        summary="[toy] test accuracy 0.8000 | baseline 0.5000",
        report=Report({"test_accuracy": 0.8}, history, confusion=(cm, ["a", "b"])),
        saved=lambda: _saved(written),
    )
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "[toy] test accuracy 0.8000 | baseline 0.5000"
    assert err[1] == f"[toy] saved {result['tag']}"
    model = bentoml.models.get(result["tag"])
    assert model.tag.name == "keywords" and len(written) == 1
    assert (Path(model.path) / "model.txt").read_text() == "weights"
    assert model.info.labels == {"task": "keywords", "arch": "tfidf"}
    meta = model.info.metadata
    assert list(meta) == ["metrics", "baseline_metrics", "params", "data", "label_map", "history"]
    assert meta["params"]["width"] == 5 and meta["params"]["max_train_samples"] == 0
    assert meta["label_map"] == {"0": "a", "1": "b"} and meta["metrics"] == {"test_accuracy": 0.8}
    report = tmp_path / "reports" / "toy"
    assert sorted(p.name for p in report.iterdir()) == ["confusion.png", "loss.png", "metrics.json"]
    assert json.loads((report / "metrics.json").read_text()) == {"test_accuracy": 0.8, "classes": {"0": "a", "1": "b"}}


def test_without_save_nothing_is_built_and_the_report_sees_the_final_result(tmp_path: Path) -> None:
    cfg = RunConfig(save=False, report_dir=str(tmp_path))
    result: dict[str, Any] = {"n": 1}

    def never() -> Saved:
        raise AssertionError("built without --save")

    out = finish_run(
        cfg,
        "toy",
        result,
        metrics={},
        baseline_metrics={},
        summary="done",
        report=Report(lambda: {**result, "late": True}),
        saved=never,
        report_name="toy-report",
    )
    assert out is result and "tag" not in out
    assert sorted(p.name for p in (tmp_path / "toy-report").iterdir()) == ["metrics.json"]
    assert json.loads((tmp_path / "toy-report" / "metrics.json").read_text()) == {"n": 1, "late": True}


def test_shared_flags_parse_with_their_help(capsys: pytest.CaptureFixture[str]) -> None:
    cfg = parse_config(_Config, ["--seed", "7", "--threads", "2", "--no-save", "--max-train-samples", "9"])
    assert (cfg.seed, cfg.threads, cfg.save, cfg.max_train_samples, cfg.report_dir) == (7, 2, False, 9, "reports")
    with pytest.raises(SystemExit):
        parse_config(_Config, ["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for line in (
        "--seed SEED random seed (default: 42)",
        "--threads THREADS torch CPU threads (0: torch default) (default: 0)",
        "--save, --no-save save the model into the BentoML store (default: True)",
        "--report-dir REPORT_DIR where metrics.json goes (default: reports)",
        "--max-train-samples MAX_TRAIN_SAMPLES use only this many widgets (0: all) (default: 0)",
    ):
        assert line in text


def test_setup_run_seeds_and_sets_threads() -> None:
    import torch

    before = torch.get_num_threads()
    try:
        setup_run(_Config(seed=3, threads=1))
        first = torch.rand(3)
        setup_run(_Config(seed=3, threads=1))
        assert torch.equal(first, torch.rand(3)) and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
