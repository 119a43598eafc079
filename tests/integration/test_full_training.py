"""Opt-in (--runslow): training on the full built-in Chinese reviews must clear a floor well above
chance. About 2 minutes on 2 CPU cores."""

from pathlib import Path

import pytest

from training import train_sentiment


@pytest.mark.slow
def test_full_zh_cnn_training_learns(tmp_path: Path) -> None:
    result = train_sentiment.main(
        ["--lang", "zh", "--arch", "cnn", "--epochs", "2", "--report-dir", str(tmp_path), "--no-save"]
    )
    assert result["data"]["n_test"] > 1500
    assert result["metrics"]["neural_only_test_accuracy"] >= 0.80
    assert result["baseline_metrics"]["test_accuracy"] >= 0.83
