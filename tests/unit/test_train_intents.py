"""The intent model's splits and baselines on the real customer-service files (read, not trained)."""

from __future__ import annotations

import numpy as np

from mining.text import detect_language
from training.service_data import LABELS
from training.train_intents import RULE_LABELS, VALIDATION_SOURCES, IntentConfig, rule_predictions, service_splits


def test_splits_keep_test_apart_and_group_it() -> None:
    cfg = IntentConfig(zh_repeat=3)
    splits, meta = service_splits(cfg)
    train, val, test = splits["train"], splits["val"], splits["test"]
    assert test.groups is not None and val.groups is not None
    groups = ("en", "en_template", "en_stc3", "en_reviews", "zh")
    assert meta["n_test_by_group"] == {g: int((test.groups == g).sum()) for g in groups}
    assert meta["n_test_by_group"]["en"] + meta["n_test_by_group"]["en_template"] == 810
    zh_test = {t for t, g in zip(test.texts, test.groups) if g == "zh"}
    assert zh_test and not zh_test & set(train.texts) and not zh_test & set(val.texts)
    # Each Chinese training turn appears zh_repeat times; validation turns never in training.
    zh_val = {t for t, g in zip(val.texts, val.groups) if g == "zh"}
    assert zh_val and not zh_val & set(train.texts)
    once = service_splits(IntentConfig(zh_repeat=1))[0]["train"]
    assert len(train.texts) - len(once.texts) == 2 * (len(once.texts) - 6480)
    # The English versions of STC-3 turns sit where their originals do, never across the splits.
    en_test = {t for t, g in zip(test.texts, test.groups) if g == "en_stc3"}
    assert len(en_test) == meta["n_en_stc3"]["test"] > 100 and not en_test & (set(train.texts) | set(val.texts))
    assert meta["n_en_stc3"]["train"] > 300 and meta["n_en_stc3"]["val"] > 100
    assert int((val.groups == "en_stc3").sum()) == meta["n_en_stc3"]["val"]  # a validation source of its own
    assert set(np.unique(val.groups)) == {g for sources in VALIDATION_SOURCES.values() for g in sources}
    english = [detect_language(t) == "en" for t in en_test]  # English, not the Chinese originals
    assert sum(english) >= 0.95 * len(english)
    # The English review turns: their test half a group of its own, never in training or validation.
    reviews_test = {t for t, g in zip(test.texts, test.groups) if g == "en_reviews"}
    reviews_val = {t for t, g in zip(val.texts, val.groups) if g == "en_reviews"}
    assert len(reviews_test) > 150 and not reviews_test & (set(train.texts) | set(val.texts))
    assert reviews_val and not reviews_val & set(train.texts)
    bitext_only = service_splits(IntentConfig(zh_train=False, en_stc3_train=False, en_reviews_train=False))[0]["train"]
    assert len(bitext_only.texts) == 6480
    assert meta["val_sha256"] == service_splits(IntentConfig(zh_repeat=1))[1]["val_sha256"]


def test_rule_baseline_maps_every_rule_intent_onto_a_label() -> None:
    assert set(RULE_LABELS.values()) <= set(LABELS)
    pred = rule_predictions(["I want to return this, it broke", "where is my parcel? it has not arrived", "你好"])
    assert [LABELS[i] for i in pred] == ["return_exchange", "order_status", "other"]
    assert pred.dtype == np.int64
