"""The general classifier's training script on a synthetic catalogue whose category follows from
one word of each title: the network alone must learn it, an untrained one must lose to the
baseline (and then not be served), and the intervals must say which test set they are on."""

import json
import random
from pathlib import Path

import pandas as pd

from training import train_classifier
from training.common import per_class_report

CATEGORIES = {
    "TVs": ["television", "oled tv", "qled tv"],
    "Laptops": ["laptop", "notebook", "chromebook"],
    "Batteries": ["batteries", "aa cells", "aaa cells"],
}
BRANDS = ["acme", "zenith", "orion", "vertex", "nimbus", "polar", "quasar", "helix"]


def synthetic_catalogue(path: Path, per_class: int = 40, seed: int = 0) -> Path:
    rng = random.Random(seed)
    rows = [
        {
            "text": f"{rng.choice(BRANDS)} {rng.choice(words)} model {rng.randint(100, 999)}{rng.choice('xyzqw')} "
            f"{rng.choice(['black', 'silver', 'white', 'blue'])} {rng.randint(2, 64)} pack",
            "label": label,
        }
        for label, words in CATEGORIES.items()
        for _ in range(per_class)
    ]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_classifier_cv_reports_mean_spread_and_saves(tmp_path: Path) -> None:
    import bentoml

    data = synthetic_catalogue(tmp_path / "cat.csv")
    result = train_classifier.main(
        [
            "--data",
            str(data),
            "--n-splits",
            "2",
            "--epochs",
            "8",
            "--n-buckets",
            "4096",
            "--hidden",
            "16",
            "--threads",
            "1",
            "--report-dir",
            str(tmp_path / "r"),
            "--synthetic",
        ]
    )
    m = result["metrics"]
    assert m["n_splits"] == 2 and len(m["per_split"]) == 2
    # Each split's network alone (not the TF-IDF half of an ensemble) must learn the category words:
    # at least 9 of 12 test titles, where chance is 4 (early stopping keeps the first perfect epoch).
    for split in m["per_split"]:
        assert split["neural_only_test_accuracy"] >= 0.75
        assert split["neural_only"]["ci95"]["test_accuracy"][0] <= split["neural_only_test_accuracy"]
    assert m["test_accuracy"] == sum(s["test_accuracy"] for s in m["per_split"]) / 2
    assert set(result["per_class"]) == set(CATEGORIES)
    # Intervals belong to the first split (the saved model's), and say so with its point values.
    on = result["intervals_on"]
    assert on["test_set"] == "split 1 of 2 (the saved model's)"
    assert on["test_accuracy"] == m["per_split"][0]["test_accuracy"]
    assert on["n_test_items"] == result["n_test_items"] == result["data"]["n_test"]
    for metric in ("test_accuracy", "test_macro_f1"):
        lo, hi = result["ci95"][metric]
        assert lo <= on[metric] <= hi
        assert result["vs_baseline"][metric]["baseline"] == "tfidf-lr"
    model = bentoml.models.get(result["tag"])
    meta = model.info.metadata
    assert meta["synthetic"] is True and meta["data"]["synthetic"] is True
    assert meta["intervals_on"] == on and meta["ci95"] == result["ci95"] and meta["served"] == result["served"]
    assert model.info.labels["arch"] == result["served"]["model"] == m["per_split"][0]["served_model"]
    assert set(meta["baseline_metrics"]) >= {"test_accuracy", "test_macro_f1", "test_accuracy_std"}
    assert model.info.labels["task"] == "classification"
    report = json.loads((tmp_path / "r" / "classification-en-category" / "metrics.json").read_text())
    assert report["metrics"] == m


def test_one_split_reports_intervals_on_its_test_set(tmp_path: Path) -> None:
    data = synthetic_catalogue(tmp_path / "cat.csv")
    common = ["--data", str(data), "--n-splits", "1", "--n-buckets", "512", "--hidden", "4", "--threads", "1",
              "--report-dir", str(tmp_path / "r"), "--no-save", "--no-ensemble", "--quantize", "none"]  # fmt: skip
    # An untrained network (one epoch at a vanishing learning rate) against words TF-IDF separates.
    untrained = [*common, "--epochs", "1", "--lr", "1e-7", "--bag-lr", "1e-7"]
    result = train_classifier.main(untrained)
    assert result["intervals_on"]["test_set"] == "the test split"
    assert result["served"]["model"] == "tfidf-lr"
    assert result["metrics"]["test_accuracy"] == result["baseline_metrics"]["test_accuracy"]
    assert result["vs_baseline"]["test_accuracy"]["verdict"] == "level"
    behind = train_classifier.main([*untrained, "--no-baseline-fallback"])
    assert behind["served"]["model"] == "cnn"
    assert behind["vs_baseline"]["test_accuracy"]["verdict"] == "behind"
    lo, hi = behind["ci95"]["test_accuracy"]
    assert lo <= behind["metrics"]["test_accuracy"] <= hi < result["metrics"]["test_accuracy"]


def test_per_class_report_hand_computed() -> None:
    rep = per_class_report([0, 0, 1, 2], [0, 1, 1, 1], ["a", "b", "c"])
    assert rep["a"] == {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2}
    assert rep["b"]["precision"] == 1 / 3 and rep["b"]["recall"] == 1.0
    assert rep["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


def test_logistic_grid_fits_the_same_models_side_by_side(monkeypatch) -> None:
    """Fitted in worker processes or one after the other, each C of the grid gives the same model,
    in grid order; stronger regularisation (smaller C) gives smaller weights."""
    import numpy as np
    import torch

    from training import common

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 12))
    y = (x[:, 0] - x[:, 1] + 0.5 * rng.normal(size=400) > 0).astype(np.int64)
    grid = (0.01, 1.0, 100.0)
    monkeypatch.setattr(common, "PARALLEL_FIT_ROWS", 0)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    side_by_side = common.fit_logistic_grid(x, y, grid)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    in_turn = common.fit_logistic_grid(x, y, grid)
    assert [m.C for m in side_by_side] == list(grid)
    for a, b in zip(side_by_side, in_turn, strict=True):
        np.testing.assert_array_equal(a.coef_, b.coef_)
    norms = [float(np.abs(m.coef_).sum()) for m in side_by_side]
    assert norms[0] < norms[1] < norms[2]


def test_a_table_of_two_languages_says_which_texts_the_model_will_not_serve() -> None:
    from training.train_classifier import mixed_language_note

    assert mixed_language_note(["zh"] * 50, "zh") is None
    assert mixed_language_note(["zh"] * 100 + ["en"] * 4, "zh") is None  # a few English titles in a Chinese table
    note = mixed_language_note(["zh"] * 60 + ["en"] * 40, "zh")
    assert note is not None and note.startswith("40 of the 100 texts read as en: this run trains classification-zh")
    assert note.endswith("--lang en")
    assert mixed_language_note(["zh"] * 30 + ["en"] * 400, "en") is not None  # 30 is too many to ignore
