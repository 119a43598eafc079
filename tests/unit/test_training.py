"""Training smoke tests: ``main()`` end to end on synthetic reviews whose labels follow from
their words, so a working pipeline must score well above chance."""

import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.unit.test_textclf import tiny_encoder_folder
from training import train_sentiment
from training.textclf import choose_ensemble_weight

ZH_POS = ["很好", "非常满意", "推荐购买", "物超所值", "好评", "很喜欢"]
ZH_NEG = ["很差", "非常失望", "不推荐", "质量太差", "差评", "退货了"]
ZH_ITEMS = ["手机", "耳机", "衣服", "这本书", "鞋子", "充电器"]
EN_POS = ["great", "love", "good"]
EN_NEG = ["awful", "bad", "hate"]
ZH_FILLER = list("我们昨天今天商品包装快递价格颜色尺寸朋友家里公司")
EN_FILLER = ["the", "a", "is", "was", "it", "i", "coffee", "taste", "arrived", "stale"]


def synthetic_reviews(path: Path, n_per_class: int = 60, seed: int = 0) -> Path:
    rng = random.Random(seed)
    rows = []
    for _i in range(n_per_class):
        for label, zh_words, en_words in (("positive", ZH_POS, EN_POS), ("negative", ZH_NEG, EN_NEG)):
            # Random filler keeps rows apart, so deduplication (rightly) keeps them all.
            zh_filler = "".join(rng.choices(ZH_FILLER, k=12))
            rows.append(
                {
                    "text": f"{rng.choice(ZH_ITEMS)}{rng.choice(zh_words)}，{zh_filler}{rng.choice(zh_words)}",
                    "label": label,
                    "lang": "zh",
                }
            )
            en_filler = " ".join(rng.choices(EN_FILLER, k=10))
            rows.append(
                {"text": f"{rng.choice(en_words)} {en_filler} {rng.choice(en_words)}", "label": label, "lang": "en"}
            )
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("arch", ["bilstm", "cnn"])
def test_zh_training_learns_and_reports(tmp_path: Path, arch: str) -> None:
    data = synthetic_reviews(tmp_path / "reviews.csv", n_per_class=150)
    result = train_sentiment.main(
        [
            "--lang",
            "zh",
            "--arch",
            arch,
            "--data",
            str(data),
            "--epochs",
            "10",
            "--patience",
            "3",
            "--n-buckets",
            "4096",
            "--hidden",
            "16",
            "--batch-size",
            "16",
            "--threads",
            "1",
            "--report-dir",
            str(tmp_path / "reports"),
            "--no-save",
        ]
    )
    assert result["metrics"]["test_accuracy"] >= 0.9
    assert result["data"]["n_train"] + result["data"]["n_val"] + result["data"]["n_test"] == 300
    report = tmp_path / "reports" / "sentiment-zh"
    assert {"loss.png", "confusion.png", "metrics.json"} <= {p.name for p in report.iterdir()}
    assert json.loads((report / "metrics.json").read_text())["metrics"] == result["metrics"]


def test_max_train_samples_caps_the_training_split(tmp_path: Path) -> None:
    data = synthetic_reviews(tmp_path / "reviews.csv")
    result = train_sentiment.main(
        [
            "--lang",
            "zh",
            "--data",
            str(data),
            "--epochs",
            "1",
            "--max-train-samples",
            "20",
            "--n-buckets",
            "512",
            "--hidden",
            "8",
            "--threads",
            "1",
            "--report-dir",
            str(tmp_path / "r"),
            "--no-save",
        ]
    )
    assert result["data"]["n_train"] == 20 and result["data"]["n_test"] == 12


def test_en_training_saves_to_store_with_metadata(tmp_path: Path) -> None:
    import bentoml

    data = synthetic_reviews(tmp_path / "reviews.csv")
    encoder = tiny_encoder_folder(tmp_path / "encoder")
    result = train_sentiment.main(
        [
            "--lang",
            "en",
            "--data",
            str(data),
            "--encoder",
            str(encoder),
            "--epochs",
            "6",
            "--patience",
            "6",
            "--lr",
            "1e-3",
            "--batch-size",
            "16",
            "--threads",
            "1",
            "--report-dir",
            str(tmp_path / "r"),
        ]
    )
    assert result["metrics"]["test_accuracy"] >= 0.9
    model = bentoml.models.get(result["tag"])
    assert model.info.labels["task"] == "sentiment" and model.info.labels["lang"] == "en"
    assert model.info.labels["arch"] in ("minilm", "minilm+tfidf")
    meta = model.info.metadata
    assert set(meta["metrics"]) >= {"test_accuracy", "test_macro_f1"}
    assert set(meta["baseline_metrics"]) >= {"test_accuracy", "test_macro_f1"}
    assert meta["data"]["n_train"] == 96 and len(meta["data"]["sha256"]) == 64
    assert meta["label_map"] == {"0": "negative", "1": "positive"}
    assert meta["params"]["lang"] == "en"


def test_unknown_arch_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="--arch for zh must be one of"):
        train_sentiment.main(["--lang", "zh", "--arch", "minilm", "--no-save"])


def test_from_store_reuses_the_network_and_can_ensemble(tmp_path: Path) -> None:
    import bentoml

    data = synthetic_reviews(tmp_path / "reviews.csv")
    common = [
        "--lang",
        "zh",
        "--data",
        str(data),
        "--n-buckets",
        "512",
        "--hidden",
        "8",
        "--threads",
        "1",
        "--report-dir",
        str(tmp_path / "r"),
    ]
    first = train_sentiment.main([*common, "--epochs", "1", "--no-ensemble"])
    again = train_sentiment.main([*common, "--from-store", first["tag"]])
    assert again["tag"] != first["tag"]
    assert again["metrics"]["from_store"] == first["tag"]
    assert again["metrics"]["neural_only_test_accuracy"] == first["metrics"]["test_accuracy"]
    assert bentoml.models.get(again["tag"]).info.metadata["metrics"] == again["metrics"]
    with pytest.raises(SystemExit, match="trained on another split"):
        train_sentiment.main([*common, "--from-store", first["tag"], "--max-train-samples", "50", "--no-save"])


def test_choose_ensemble_weight_known_answer() -> None:
    y = np.array([0, 1, 0, 1])
    model = np.array([[0.9, 0.1], [0.4, 0.6], [0.45, 0.55], [0.6, 0.4]])  # 2 of 4 right
    linear = np.array([[0.6, 0.4], [0.3, 0.7], [0.8, 0.2], [0.2, 0.8]])  # 4 of 4 right
    assert choose_ensemble_weight(model, linear, y) >= 0.5
    assert choose_ensemble_weight(linear, model, y) == 0.0
