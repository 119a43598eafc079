from pathlib import Path

import numpy as np
import pytest
import torch

from mining.models.textclf import (
    CharNgramFeaturizer,
    CharNgramModel,
    CharNgramNet,
    EncoderClassifier,
    EncoderModel,
    load_artifact,
)
from mining.text import Vocab
from tests.support.fakes import FixedClassifier, tiny_encoder_folder


def _zh_model(encoder: str) -> CharNgramModel:
    torch.manual_seed(0)
    vocab = Vocab.build(["质量很好物流很快", "太差了不推荐"], min_count=1)
    args = {
        "vocab_size": len(vocab),
        "n_buckets": 512,
        "num_labels": 3,
        "encoder": encoder,
        "hidden": 8,
        "embed_dim": 16,
        "bag_dim": 4,
    }
    return CharNgramModel(CharNgramNet(**args), CharNgramFeaturizer(vocab, 512, max_chars=10), ["a", "b", "c"], args)


@pytest.mark.parametrize("encoder", ["bilstm", "cnn"])
def test_char_ngram_forward_shapes(encoder: str) -> None:
    model = _zh_model(encoder)
    texts = ["质量很好", "太差了不推荐，再也不买", "x"]
    batch = CharNgramFeaturizer.collate([model.featurizer.features(t) for t in texts])
    assert batch["char_ids"].shape == (3, 10)  # the longest text truncated to max_chars
    assert batch["lengths"].tolist() == [4, 10, 1]
    assert batch["bag_offsets"].shape == (3,)
    assert model.net(**batch).shape == (3, 3)


def test_char_ngram_rejects_unknown_encoder() -> None:
    with pytest.raises(ValueError, match="encoder must be"):
        CharNgramNet(10, 10, 2, encoder="gru")


@pytest.mark.parametrize("encoder", ["bilstm", "cnn"])
def test_char_ngram_round_trip(tmp_path: Path, encoder: str) -> None:
    model = _zh_model(encoder)
    texts = ["质量很好", "太差了", "物流很快但是包装破了"]
    before = model.predict_proba(texts, batch_size=2)
    model.save(tmp_path)
    assert not any(p.suffix in (".pkl", ".pt", ".bin") for p in tmp_path.iterdir())
    after = load_artifact(tmp_path, torch.device("cpu")).predict_proba(texts)
    np.testing.assert_allclose(before, after, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(after.sum(1), 1.0, rtol=1e-5)


def test_encoder_model_round_trip(tmp_path: Path) -> None:
    from mining.artifacts import load_encoder

    encoder, tokenizer = load_encoder(tiny_encoder_folder(tmp_path / "enc"))
    model = EncoderModel(EncoderClassifier(encoder, 2), tokenizer, ["negative", "positive"], max_tokens=8)
    texts = ["the coffee was great", "stale", "i hate it, it was awful and the taste was bad bad bad"]
    batch = model.encode(texts)
    assert batch["input_ids"].shape[0] == 3 and batch["input_ids"].shape[1] <= 8
    assert model.net(**batch).shape == (3, 2)
    before = model.predict_proba(texts, batch_size=2)
    model.save(tmp_path / "artifact")
    after = load_artifact(tmp_path / "artifact", torch.device("cpu")).predict_proba(texts)
    np.testing.assert_allclose(before, after, rtol=1e-5, atol=1e-6)


def test_load_artifact_rejects_unknown_kind(tmp_path: Path) -> None:
    (tmp_path / "model.json").write_text('{"kind": "svm"}')
    with pytest.raises(ValueError, match="unknown artifact kind 'svm'"):
        load_artifact(tmp_path)


def test_tfidf_linear_matches_scikit_learn(tmp_path: Path) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from mining.models.linear import TfidfLinearModel
    from mining.text import clean

    # Training fits scikit-learn on cleaned text; the served model cleans its input itself.
    train = [
        clean(t)
        for t in ["质量很好 物流快", "太差了  不推荐", "很好很好", "差评，退货", "Great taste, LOVE it", "awful coffee"]
    ]
    y = [1, 0, 1, 0, 1, 0]
    unseen = ["物流很快，质量很好", "stale and awful", "完全无关", ""]
    for analyzer, ngrams in (("char", (1, 3)), ("word", (1, 2))):
        vec = TfidfVectorizer(analyzer=analyzer, ngram_range=ngrams, sublinear_tf=True)
        clf = LogisticRegression(C=10).fit(vec.fit_transform(train), y)
        model = TfidfLinearModel.from_sklearn(vec, clf, ["negative", "positive"])
        model.save(tmp_path / analyzer)
        loaded = load_artifact(tmp_path / analyzer, torch.device("cpu"))
        np.testing.assert_allclose(
            loaded.predict_proba(unseen), clf.predict_proba(vec.transform([clean(t) for t in unseen])), atol=1e-5
        )


def test_ensemble_averages_members_and_round_trips(tmp_path: Path) -> None:
    from mining.models.linear import EnsembleModel

    a, b = _zh_model("cnn"), _zh_model("bilstm")
    texts = ["质量很好", "太差了"]
    ens = EnsembleModel([a, b], [0.25, 0.75])
    expected = 0.25 * a.predict_proba(texts) + 0.75 * b.predict_proba(texts)
    np.testing.assert_allclose(ens.predict_proba(texts), expected, rtol=1e-6)
    ens.save(tmp_path)
    np.testing.assert_allclose(load_artifact(tmp_path, torch.device("cpu")).predict_proba(texts), expected, rtol=1e-5)
    with pytest.raises(ValueError, match="sum to 1"):
        EnsembleModel([a, b], [0.5, 0.6])


def test_answers_name_a_served_baseline_beside_the_tag() -> None:
    from mining.contracts import TextItem
    from mining.models.textclf import predict_routed, served_note

    assert served_note({"served": {"model": "tfidf-lr", "reason": "below on validation"}}) == "tfidf-lr"
    assert served_note({"served": {"model": "bilstm+tfidf"}}) is None and served_note({}) is None
    items = [TextItem(text="很好", lang="zh"), TextItem(text="good", lang="en")]
    models = {lang: FixedClassifier(["negative", "positive"], [0.2, 0.8]) for lang in ("zh", "en")}
    tags = {"zh": "sentiment-zh:1", "en": "sentiment-en:2"}
    zh, en = predict_routed(models, tags, items, served={"zh": "tfidf-lr", "en": None})
    assert zh.model == "sentiment-zh:1 (served: tfidf-lr)" and en.model == "sentiment-en:2"
    assert [r.model for r in predict_routed(models, tags, items)] == ["sentiment-zh:1", "sentiment-en:2"]


def test_a_text_without_words_is_answered_null_and_never_read() -> None:
    from mining.contracts import TextItem
    from mining.models.textclf import predict_routed

    texts = ["12345678", "很好", "???", "¥100 %", "👍", "ok"]
    items = [TextItem(text=t, lang="zh" if t == "很好" else "en") for t in texts]
    models = {lang: FixedClassifier(["negative", "positive"], [0.2, 0.8]) for lang in ("zh", "en")}
    out = predict_routed(models, {"zh": "s-zh:1", "en": "s-en:1"}, items, task="sentiment")
    assert [r.label for r in out] == [None, "positive", None, None, "positive", "positive"]
    assert out[0].reason == "the text holds no words to read: only digits, punctuation or symbols"
    assert out[0].lang == "en" and out[0].model is None and out[0].probabilities == {}
    assert models["zh"].calls == [["很好"]] and models["en"].calls == [["👍", "ok"]]  # an emoji is read


def test_each_model_says_which_texts_hold_a_word_it_knows(tmp_path: Path) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from mining.artifacts import load_encoder
    from mining.models.linear import EnsembleModel, TfidfLinearModel

    # the character model: a known character reads; unknown ones, spaces and digits do not
    chars = _zh_model("cnn")
    assert chars.reads(["质量", "😡 😡", "12 34", "好😡"]).tolist() == [True, False, False, True]
    # the word-piece encoder: an emoji is one unknown piece, punctuation no word
    encoder, tokenizer = load_encoder(tiny_encoder_folder(tmp_path / "enc"))
    pieces = EncoderModel(EncoderClassifier(encoder, 2), tokenizer, ["negative", "positive"], max_tokens=8)
    assert pieces.reads(["the phone is good", "😡😡😡", "😡 !!!", "👎 good"]).tolist() == [True, False, False, True]
    # TF-IDF words: a text with no word of the vocabulary is not read
    vec = TfidfVectorizer(analyzer="word", sublinear_tf=True)
    train = ["great taste", "awful coffee", "great coffee", "awful taste"]
    words = TfidfLinearModel.from_sklearn(
        vec, LogisticRegression().fit(vec.fit_transform(train), [1, 0, 1, 0]), ["n", "p"]
    )
    assert words.reads(["awful!", "😡", "terrible tea", ""]).tolist() == [True, False, False, False]
    # an ensemble reads what a member with weight reads
    other = _zh_model("bilstm")
    assert EnsembleModel([chars, other], [1.0, 0.0]).reads(["质量"]).tolist() == [True]


def test_a_text_the_model_cannot_read_is_answered_null_and_never_scored() -> None:
    from mining.contracts import TextItem
    from mining.models.textclf import predict_routed

    class Reader(FixedClassifier):
        def reads(self, texts: list[str]) -> np.ndarray:
            return np.array(["😡" not in t for t in texts])

    model = Reader(["negative", "positive"], [0.2, 0.8])
    items = [TextItem(text=t, lang="en") for t in ("😡😡😡", "fine", "😡")]
    out = predict_routed({"en": model}, {"en": "s-en:1"}, items, task="sentiment")
    assert [r.label for r in out] == [None, "positive", None]
    assert (
        out[0].reason == "the sentiment model knows none of the text's words or symbols: they are not in its vocabulary"
    )
    assert out[0].model == "s-en:1" and out[0].probabilities == {} and model.calls == [["fine"]]
    # a batch the model reads none of is never sent to it (a tokenizer fails on an empty batch)
    out = predict_routed({"en": model}, {"en": "s-en:1"}, [items[0], items[2]], task="sentiment")
    assert [r.label for r in out] == [None, None] and model.calls == [["fine"]]


def test_network_sample_draws_rows_without_replacement_in_order() -> None:
    import numpy as np

    from training.textclf import Split, network_sample

    split = Split([f"t{i}" for i in range(50)], np.arange(50) % 3, np.array(["a", "b"] * 25))
    assert network_sample(split, 0, 1) is split and network_sample(split, 50, 1) is split
    part = network_sample(split, 20, 1)
    ids = [int(t[1:]) for t in part.texts]
    assert len(ids) == len(set(ids)) == 20 and ids == sorted(ids)
    assert list(part.y) == [i % 3 for i in ids] and list(part.groups) == [["a", "b"][i % 2] for i in ids]
    assert network_sample(split, 20, 1).texts == part.texts != network_sample(split, 20, 2).texts


def test_tfidf_model_gives_a_label_without_training_rows_probability_zero() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from mining.models.linear import TfidfLinearModel

    texts, y = ["a b", "b c", "c d", "d e", "a a", "c c"], [0, 1, 3, 0, 1, 3]
    vec = TfidfVectorizer(analyzer="char", sublinear_tf=True).fit(texts)
    lr = LogisticRegression().fit(vec.transform(texts), y)
    model = TfidfLinearModel.from_sklearn(vec, lr, ["x", "y", "z", "w"])
    p = model.predict_proba(["a b", "c d"])
    assert model.labels == ["x", "y", "z", "w"] and p.shape == (2, 4)
    assert (p[:, 2] == 0).all()
    assert np.allclose(p[:, [0, 1, 3]], lr.predict_proba(vec.transform(["a b", "c d"])), atol=1e-5)


def test_a_text_naming_only_goods_the_model_never_read_of_gets_no_category() -> None:
    from mining.contracts import LabelResult
    from mining.models.textclf import goods_seen, withhold_unseen_goods
    from mining.products import ProductTypes

    products = ProductTypes(["空气炸锅", "手机", "衣服", "laptop"], "zh")
    seen = goods_seen(["这件衣服很好看", "手机屏幕很清楚", "衣服有点大"], products)
    assert seen == ["手机", "衣服"]

    def result(label: str | None = "衣服") -> LabelResult:
        return LabelResult(lang="zh", label=label, score=0.93, probabilities={"衣服": 0.93, "手机": 0.07}, model="m")

    texts = ["空气炸锅的涂层掉了，质量太差", "空气炸锅和手机都坏了", "质量太差", "空气炸锅很好"]
    results = [result(), result(), result(), result(None)]
    fried, both, none_named, unsure = withhold_unseen_goods(results, texts, {"zh": (products, frozenset(seen))})
    assert fried.label is None and fried.reason is not None and fried.reason.startswith("names 空气炸锅: goods")
    assert (fried.score, fried.probabilities) == (0.93, {"衣服": 0.93, "手机": 0.07})  # what it would have said
    assert both.label == "衣服" and none_named.label == "衣服"  # a kind it saw, or no goods named: as given
    assert unsure == results[3]  # already withheld: its own reason stays
    # A language without the record (a model trained before it) answers as before.
    assert withhold_unseen_goods(results[:1], texts[:1], {})[0].label == "衣服"


def test_the_goods_record_counts_what_it_withholds_on_test() -> None:
    import numpy as np

    from training.train_classifier import goods_record

    record = goods_record(
        ["手机屏幕很清楚", "这件衣服很好看"],
        ["空气炸锅坏了", "手机很好", "一般般"],
        np.array([0, 1, 1]),
        np.array([0, 1, 0]),
        "zh",
    )
    assert record["types"] == ["手机", "衣服"]
    assert (record["test_withheld"], record["test_withheld_right_before"], record["n_test"]) == (1, 1, 3)


@pytest.mark.parametrize(
    ("kind", "lang", "read_of"),
    [
        ("耳机", "zh", True),  # 蓝牙耳机 is one
        ("蓝牙耳机", "zh", True),
        ("空气炸锅", "zh", False),
        ("charger", "en", True),  # phone chargers
        ("tvs", "en", True),  # either number
        ("gaming laptop", "en", True),  # a laptop
        ("sofa", "en", False),
    ],
)
def test_a_kind_is_read_of_by_itself_its_number_or_its_head(kind: str, lang: str, read_of: bool) -> None:
    from mining.models.textclf import _read_of

    assert _read_of(kind, frozenset({"蓝牙耳机", "手机", "phone chargers", "tv", "laptop"}), lang) is read_of
