"""The general classifier's training script on a synthetic catalogue whose category follows from
one word of each title."""

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
    assert m["test_accuracy"] >= 0.9
    assert m["test_accuracy"] == sum(s["test_accuracy"] for s in m["per_split"]) / 2
    assert set(result["per_class"]) == set(CATEGORIES)
    meta = bentoml.models.get(result["tag"]).info.metadata
    assert meta["synthetic"] is True and meta["data"]["synthetic"] is True
    assert set(meta["baseline_metrics"]) >= {"test_accuracy", "test_macro_f1", "test_accuracy_std"}
    assert bentoml.models.get(result["tag"]).info.labels["task"] == "classification"
    report = json.loads((tmp_path / "r" / "classification-en-category" / "metrics.json").read_text())
    assert report["metrics"] == m


def test_per_class_report_hand_computed() -> None:
    rep = per_class_report([0, 0, 1, 2], [0, 1, 1, 1], ["a", "b", "c"])
    assert rep["a"] == {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2}
    assert rep["b"]["precision"] == 1 / 3 and rep["b"]["recall"] == 1.0
    assert rep["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
