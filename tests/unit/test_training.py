"""Text-classifier training: ``main()`` end to end on synthetic reviews whose labels follow from
their words (the network alone must score well above chance), and the choices made after training
(ensemble weight, quantisation, serving the baseline, abstention) on hand-built models whose
validation and test answers disagree, so a choice read off the test split shows."""

import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import training.textclf as textclf
from mining.models.linear import TfidfLinearModel
from mining.models.textclf import load_artifact
from tests.support.fakes import tiny_encoder_folder
from training import train_sentiment
from training.calibration import choose_threshold, split_outside
from training.textclf import Split, TextClfConfig, choose_and_measure, choose_ensemble_weight

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


def _tiny_zh(data: Path, tmp_path: Path, *extra: str) -> list[str]:
    return [
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
        *extra,
    ]


def _contains(interval: list[float], value: float) -> bool:
    return interval[0] - 1e-9 <= value <= interval[1] + 1e-9


@pytest.mark.parametrize("arch", ["bilstm", "cnn"])
def test_zh_network_learns_and_reports(tmp_path: Path, arch: str) -> None:
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
    m = result["metrics"]
    # The network alone, not the TF-IDF half of an ensemble, must learn the words.
    assert m["neural_only_test_accuracy"] >= 0.9 and m["val_accuracy"] >= 0.9
    assert m["neural_only"]["test_accuracy"] == m["neural_only_test_accuracy"]
    assert _contains(m["neural_only"]["ci95"]["test_accuracy"], m["neural_only_test_accuracy"])
    assert result["data"]["n_train"] + result["data"]["n_val"] + result["data"]["n_test"] == 300
    for metric in ("test_accuracy", "test_macro_f1"):
        assert _contains(result["ci95"][metric], m[metric])
        row = result["vs_baseline"][metric]
        assert row["baseline"] == "tfidf-lr" and row["verdict"] in ("ahead", "level", "behind")
        assert row["diff"] == pytest.approx(m[metric] - result["baseline_metrics"][metric], abs=1e-4)
    assert result["n_test_items"] == result["data"]["n_test"]
    assert result["served"]["chosen_on"] == "validation" and m["served_model"] == result["served"]["model"]
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


def test_a_network_that_loses_on_validation_saves_the_baseline(tmp_path: Path) -> None:
    import bentoml

    data = synthetic_reviews(tmp_path / "reviews.csv")
    # One epoch at a learning rate of 1e-7: the network stays at its random start, while the words
    # separate the labels for TF-IDF + LR. No ensemble: a 0.9 TF-IDF share would tie the baseline.
    untrained = ("--epochs", "1", "--lr", "1e-7", "--bag-lr", "1e-7", "--quantize", "none", "--no-ensemble")
    result = train_sentiment.main(_tiny_zh(data, tmp_path, *untrained))
    served, m = result["served"], result["metrics"]
    assert served["model"] == "tfidf-lr" and "below" in served["reason"]
    assert served["model_val_accuracy"] < served["baseline_val_accuracy"]
    model = bentoml.models.get(result["tag"])
    assert model.info.labels["arch"] == "tfidf-lr"
    assert isinstance(load_artifact(Path(model.path)), TfidfLinearModel)
    meta = model.info.metadata
    assert meta["served"] == served and meta["ci95"] == result["ci95"] and meta["vs_baseline"] == result["vs_baseline"]
    # What is reported is what serves: the baseline's own test numbers, level with itself.
    assert m["test_accuracy"] == result["baseline_metrics"]["test_accuracy"]
    level = {"baseline": "tfidf-lr", "diff": 0.0, "ci95": [0.0, 0.0], "verdict": "level"}
    assert result["vs_baseline"]["test_accuracy"] == level
    assert m["neural_only_test_accuracy"] < m["test_accuracy"]
    with pytest.raises(SystemExit, match="holds no network"):
        train_sentiment.main(_tiny_zh(data, tmp_path, "--from-store", result["tag"], "--no-save"))

    # The same network with the fallback switched off serves and is called behind the baseline.
    kept = train_sentiment.main(_tiny_zh(data, tmp_path, *untrained, "--no-baseline-fallback"))
    assert kept["served"]["model"] == "bilstm" and kept["metrics"]["test_accuracy"] == m["neural_only_test_accuracy"]
    assert kept["vs_baseline"]["test_accuracy"]["verdict"] == "behind"
    assert bentoml.models.get(kept["tag"]).info.labels["arch"] == "bilstm"


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
    # Twelve test reviews: at least ten right (chance is six), and validation learnt.
    assert result["metrics"]["neural_only_test_accuracy"] >= 0.8 and result["metrics"]["val_accuracy"] >= 0.9
    model = bentoml.models.get(result["tag"])
    assert model.info.labels["task"] == "sentiment" and model.info.labels["lang"] == "en"
    assert model.info.labels["arch"] == result["served"]["model"]
    meta = model.info.metadata
    assert set(meta["metrics"]) >= {"test_accuracy", "test_macro_f1", "neural_only"}
    assert set(meta["baseline_metrics"]) >= {"test_accuracy", "test_macro_f1"}
    assert set(meta["ci95"]) == set(meta["vs_baseline"]) == {"test_accuracy", "test_macro_f1"}
    assert meta["quantization"]["chosen_on"] == "validation" and "test_drop_points" in meta["quantization"]
    d = meta["data"]
    kept = d["dedup"]["rows_in"] - d["dedup"]["duplicates_dropped"] - d["dedup"]["conflicting_dropped"]
    assert d["n_train"] + d["n_val"] + d["n_test"] == kept and d["n_train"] >= 90 and len(d["sha256"]) == 64
    assert meta["label_map"] == {"0": "negative", "1": "positive"}
    assert meta["params"]["lang"] == "en"


def test_unknown_arch_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="--arch for zh must be one of"):
        train_sentiment.main(["--lang", "zh", "--arch", "minilm", "--no-save"])


def test_from_store_reuses_the_network_and_can_ensemble(tmp_path: Path) -> None:
    import bentoml

    data = synthetic_reviews(tmp_path / "reviews.csv")
    common = _tiny_zh(data, tmp_path, "--quantize", "none")
    first = train_sentiment.main([*common, "--epochs", "1", "--no-ensemble", "--no-baseline-fallback"])
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


# --- choices after training, on hand-built models ------------------------------------------------
# "network": "aa" -> negative, "bb" -> positive at probability 0.9; "linear": "xx" -> negative,
# "yy" -> positive at 0.99. A text "aa yy" is negative to the one and positive to the other, so the
# labels of a split decide which of the two is right on it.
LABELS = ["negative", "positive"]


def _word_model(negative: str, positive: str, strength: float) -> TfidfLinearModel:
    vocab = {"aa": 0, "bb": 1, "xx": 2, "yy": 3}
    coef = np.zeros((1, 4), dtype=np.float32)
    coef[0, vocab[negative]], coef[0, vocab[positive]] = -strength, strength
    return TfidfLinearModel(vocab, np.ones(4, np.float32), coef, np.zeros(1, np.float32), LABELS, "word", (1, 1))


NETWORK = _word_model("aa", "bb", 3.1)  # 0.9 on a two-word text (each word 1/sqrt(2) after the l2 norm)
LINEAR = _word_model("xx", "yy", 6.5)  # 0.99


def _split(network_right: bool, tag: str, n: int = 20) -> Split:
    texts = [f"{'aa yy' if i % 2 else 'bb xx'} {tag}{i}" for i in range(n)]
    network_says = np.array([0 if i % 2 else 1 for i in range(n)])
    return Split(texts, network_says if network_right else 1 - network_says)


def _measure(val_network_right: bool, test_network_right: bool, **cfg: object) -> dict:
    splits = {"val": _split(val_network_right, "v"), "test": _split(test_network_right, "t")}
    config = TextClfConfig(**{"quantize": "none", **cfg})  # type: ignore[arg-type]
    return choose_and_measure(config, splits, LABELS, torch.device("cpu"), NETWORK, LINEAR, "net")


def test_ensemble_weight_comes_from_validation_not_test() -> None:
    out = _measure(val_network_right=False, test_network_right=True)
    # Validation favours the linear model, test the network: a weight read off test would be 0.
    assert out["weight"] == 0.9 and out["served"]["model"] == "net+tfidf"
    m = out["metrics"]
    assert m["test_accuracy"] == 0.0 and m["neural_only_test_accuracy"] == 1.0
    assert m["neural_only"]["vs_baseline"]["test_accuracy"]["verdict"] == "ahead"
    level = {"baseline": "tfidf-lr", "diff": 0.0, "ci95": [0.0, 0.0], "verdict": "level"}
    assert out["uncertainty"]["vs_baseline"]["test_accuracy"] == level

    flipped = _measure(val_network_right=True, test_network_right=False)
    assert flipped["weight"] == 0.0 and flipped["served"]["model"] == "net"
    assert flipped["metrics"]["test_accuracy"] == 0.0
    assert flipped["uncertainty"]["vs_baseline"]["test_accuracy"]["verdict"] == "behind"
    assert flipped["uncertainty"]["vs_baseline"]["test_accuracy"]["diff"] == -1.0


def test_baseline_serves_where_validation_says_so_whatever_test_says() -> None:
    out = _measure(val_network_right=False, test_network_right=True, ensemble=False)
    assert out["served"]["model"] == "tfidf-lr" and out["model"] is LINEAR and out["weight"] == 1.0
    assert out["served"]["model_val_accuracy"] == 0.0 and out["served"]["baseline_val_accuracy"] == 1.0
    assert out["metrics"]["test_accuracy"] == 0.0 and out["metrics"]["neural_only_test_accuracy"] == 1.0
    assert out["quantization"]["mode"] == "none" and out["quantization"]["test_drop_points"] == 0.0

    kept = _measure(val_network_right=False, test_network_right=True, ensemble=False, baseline_fallback=False)
    assert kept["served"]["model"] == "net" and kept["model"] is NETWORK
    assert kept["metrics"]["test_accuracy"] == 1.0


class _FlipOn:
    """A stand-in for a quantised model: the loaded model's answers, reversed on texts containing ``word``."""

    def __init__(self, model: TfidfLinearModel, word: str) -> None:
        self.model, self.word, self.labels = model, word, model.labels

    def predict_proba(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        p = self.model.predict_proba(texts)
        flip = np.array([self.word in t for t in texts], dtype=bool)
        p[flip] = p[flip][:, ::-1]
        return p


@pytest.mark.parametrize("hurts", ["t", "v"])
def test_quantisation_is_chosen_on_validation_and_test_reports_the_served_variant(
    monkeypatch: pytest.MonkeyPatch, hurts: str
) -> None:
    monkeypatch.setattr(textclf, "quantize", lambda model, mode: model if mode == "none" else _FlipOn(model, hurts))
    out = _measure(val_network_right=True, test_network_right=True, ensemble=False, quantize="int8")
    q = out["quantization"]
    assert q["chosen_on"] == "validation" and q["metric"] == "val_accuracy"
    if hurts == "t":  # validation sees no loss, so int8 serves; its test answers are the reported ones
        assert q["mode"] == "int8" and q["drop_points"] == 0.0 and q["test_drop_points"] == 100.0
        assert out["metrics"]["test_accuracy"] == 0.0 and out["metrics"]["neural_only_test_accuracy"] == 0.0
    else:  # both int8 variants lose all of validation: float32 serves
        assert q["mode"] == "none" and q["int8"] == 0.0 and q["int8-channel"] == 0.0
        assert q["test_drop_points"] == 0.0 and out["metrics"]["test_accuracy"] == 1.0


def test_outside_share_is_reported_on_the_half_the_threshold_never_saw() -> None:
    splits = {"val": _split(True, "v"), "test": _split(True, "t")}
    outside = [f"{'aa' if i % 2 else 'bb'} o{i}" for i in range(9)]
    cfg = TextClfConfig(quantize="none", ensemble=False)
    out = choose_and_measure(cfg, splits, LABELS, torch.device("cpu"), NETWORK, LINEAR, "net", outside)
    a = out["abstention"]
    assert a["n_outside"] == 9 and (a["n_outside_fit"], a["n_outside_check"]) == (5, 4)
    assert a["outside_answered_on"] == "held-out half of the out-of-domain texts"


def test_split_outside_partitions_and_is_seeded() -> None:
    fit, check = split_outside(11, seed=3)
    assert len(fit) == 6 and len(check) == 5
    assert sorted([*fit, *check]) == list(range(11))
    again, _ = split_outside(11, seed=3)
    other, _ = split_outside(11, seed=4)
    assert list(again) == list(fit) and list(other) != list(fit)


def test_threshold_comes_from_the_fit_half_and_the_share_from_the_check_half() -> None:
    rng = np.random.default_rng(0)
    p = np.array([[0.95, 0.05], [0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    y = np.array([0, 1, 0, 1])
    top = rng.uniform(0.5, 1.0, size=40)
    p_fit = np.stack([top, 1 - top], axis=1)
    p_check = np.stack([rng.uniform(0.5, 1.0, size=30), np.zeros(30)], axis=1)
    rule = choose_threshold(p, y, 0.9, p_fit, 0.1, p_check)
    # The check half moves the reported share, never the threshold.
    assert choose_threshold(p, y, 0.9, p_fit, 0.1, np.ones((5, 2)) / 2)["threshold"] == rule["threshold"]
    assert rule["outside_answered"] == pytest.approx(float((p_check.max(1) >= rule["threshold"]).mean()))
    assert rule["outside_answered_fit"] == pytest.approx(float((p_fit.max(1) >= rule["threshold"]).mean()))
    assert rule["outside_answered_fit"] <= 0.1
