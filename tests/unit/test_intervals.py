"""Bootstrap intervals and verdicts (training.intervals) and the README table written from them
(training.model_table), on known answers."""

from __future__ import annotations

import numpy as np
import pytest

from training.intervals import (
    Headline,
    bootstrap_ci,
    f1_of_counts,
    macro_f1_of,
    mean_of,
    paired_difference,
    ratio_of_sums,
    uncertainty,
    worst_verdict,
)
from training.model_table import END, START, render, replace_between_markers, selected


def test_accuracy_interval_contains_the_estimate_and_narrows_with_more_items() -> None:
    rng = np.random.default_rng(1)
    small = (rng.random(200) < 0.8).astype(float)
    large = (rng.random(20000) < 0.8).astype(float)
    lo_s, hi_s = bootstrap_ci(mean_of(small), len(small))
    lo_l, hi_l = bootstrap_ci(mean_of(large), len(large))
    assert lo_s <= small.mean() <= hi_s and lo_l <= large.mean() <= hi_l
    assert hi_l - lo_l < (hi_s - lo_s) / 5  # ~sqrt(100) narrower
    # the normal approximation of a proportion's 95% interval: +-1.96 sqrt(p(1-p)/n)
    assert hi_l - lo_l == pytest.approx(2 * 1.96 * np.sqrt(0.8 * 0.2 / 20000), rel=0.15)


def test_paired_difference_says_ahead_only_when_the_interval_excludes_zero() -> None:
    rng = np.random.default_rng(2)
    base = (rng.random(2000) < 0.80).astype(float)
    better = base.copy()
    better[np.flatnonzero(base == 0)[:100]] = 1.0  # 100 of 2000 items fixed, none broken: +5 points
    noise = base.copy()
    noise[np.flatnonzero(base == 0)[:20]] = 1.0
    noise[np.flatnonzero(base == 1)[:20]] = 0.0  # 20 fixed, 20 broken: a difference of 0 with noise
    ahead = paired_difference(mean_of(better), mean_of(base), 2000)
    assert ahead["verdict"] == "ahead" and ahead["diff"] == pytest.approx(0.05) and ahead["ci95"][0] > 0
    assert paired_difference(mean_of(base), mean_of(better), 2000)["verdict"] == "behind"
    assert paired_difference(mean_of(noise), mean_of(base), 2000)["verdict"] == "level"


def test_a_handful_of_items_gets_no_verdict() -> None:
    # One test item (a single sales series, a single test user): the interval is a point and
    # would call any difference ahead.
    one = paired_difference(mean_of(np.array([0.9])), mean_of(np.array([0.5])), 1)
    assert one["ci95"] == [0.4, 0.4] and one["verdict"] == "level" and one["too_few_items"] == 1
    nine = paired_difference(mean_of(np.full(9, 0.9)), mean_of(np.full(9, 0.5)), 9)
    assert nine["verdict"] == "level" and nine["too_few_items"] == 9
    ten = paired_difference(mean_of(np.full(10, 0.9)), mean_of(np.full(10, 0.5)), 10)
    assert ten["verdict"] == "ahead" and "too_few_items" not in ten


def test_lower_is_better_flips_the_verdict() -> None:
    err_model, err_base, actual = np.full(300, 1.0), np.full(300, 2.0), np.full(300, 10.0)
    err_base[::2] = 1.5
    wape_model, wape_base = ratio_of_sums(err_model, actual), ratio_of_sums(err_base, actual)
    row = paired_difference(wape_model, wape_base, 300, higher_is_better=False)
    assert row["diff"] == pytest.approx(0.1 - 0.175) and row["verdict"] == "ahead"
    assert paired_difference(wape_model, wape_base, 300, higher_is_better=True)["verdict"] == "behind"


def test_f1_statistics_match_their_definitions() -> None:
    counts = np.array([[2, 1, 0], [0, 0, 3], [1, 1, 1]])  # tp 3, fp 2, fn 4
    assert f1_of_counts(counts)(np.arange(3)) == pytest.approx(6 / (6 + 2 + 4))
    assert f1_of_counts(counts)(np.array([1, 1])) == 0.0
    y_true, y_pred = np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0])
    # class 0: tp1 fp1 fn1 -> 0.5; class 1: tp2 fp1 fn0 -> 0.8; class 2: tp0 -> 0
    assert macro_f1_of(y_true, y_pred, 3)(np.arange(5)) == pytest.approx((0.5 + 0.8 + 0.0) / 3)


def test_uncertainty_blocks_and_the_weakest_verdict() -> None:
    rng = np.random.default_rng(3)
    base = (rng.random(1000) < 0.7).astype(float)
    model = np.maximum(base, (rng.random(1000) < 0.5).astype(float))
    out = uncertainty(
        [
            Headline("test_accuracy", mean_of(model), mean_of(base), "tf-idf"),
            Headline("test_other", mean_of(base), mean_of(base), "tf-idf"),
            Headline("test_alone", mean_of(model), None, ""),
        ],
        1000,
    )
    assert set(out["ci95"]) == {"test_accuracy", "test_other", "test_alone"}
    assert set(out["vs_baseline"]) == {"test_accuracy", "test_other"}
    assert out["vs_baseline"]["test_accuracy"]["verdict"] == "ahead"
    assert out["vs_baseline"]["test_other"] == {
        "baseline": "tf-idf",
        "diff": 0.0,
        "ci95": [0.0, 0.0],
        "verdict": "level",
    }
    assert worst_verdict(out["vs_baseline"]) == "level" and worst_verdict({}) is None


def test_table_rows_come_from_metadata_and_replace_only_the_marked_part() -> None:
    meta = {
        "metrics": {"test_accuracy": 0.9, "test_macro_f1": 0.8},
        "ci95": {"test_accuracy": [0.88, 0.92], "test_macro_f1": [0.7, 0.85]},
        "vs_baseline": {
            "test_accuracy": {"baseline": "TF-IDF + LR", "diff": 0.02, "ci95": [0.01, 0.03], "verdict": "ahead"}
        },
        "data": {"label_source": "rules"},
        "served": {"model": "TF-IDF + LR", "reason": "the network lost on validation"},
    }
    table = render([("sentiment-zh", meta), ("keywords", {"metrics": {}})])
    lines = table.splitlines()
    assert lines[2] == (
        "| `sentiment-zh` | test_accuracy | 0.900 [0.880, 0.920] | TF-IDF + LR 0.880 | +0.020 [0.010, 0.030] | ahead |"
    )
    assert lines[3] == "| `sentiment-zh` | test_macro_f1 | 0.800 [0.700, 0.850] | none |  |  |"
    assert "rules" in lines[4] and "serves its baseline `TF-IDF + LR`: the network lost" in lines[4]
    network = render([("x", {**meta, "served": {"model": "bilstm", "reason": "ahead on validation"}})])
    assert "served: `bilstm`" in network and "baseline `bilstm`" not in network
    assert lines[5] == "| `keywords` | not evaluated with intervals | | | | |"
    doc = f"intro\n{START}\nold table\n{END}\nafter"
    assert replace_between_markers(doc, "NEW") == f"intro\n{START}\nNEW\n{END}\nafter"
    with pytest.raises(ValueError, match="markers"):
        replace_between_markers("no markers here", "NEW")


def test_an_ensemble_shows_the_network_alone_beside_it() -> None:
    row = {"baseline": "tfidf-lr", "diff": -0.02, "ci95": [-0.03, -0.01], "verdict": "behind"}
    meta = {
        "metrics": {
            "test_accuracy": 0.93,
            "neural_only": {
                "test_accuracy": 0.91,
                "ci95": {"test_accuracy": [0.9, 0.92]},
                "vs_baseline": {"test_accuracy": row},
            },
        },
        "ci95": {"test_accuracy": [0.92, 0.94]},
        "vs_baseline": {"test_accuracy": {**row, "diff": 0.0, "ci95": [-0.002, 0.002], "verdict": "level"}},
    }
    lines = render([("sentiment-zh", meta)]).splitlines()
    assert lines[3] == (
        "| `sentiment-zh` | test_accuracy, network alone | 0.910 [0.900, 0.920] | tfidf-lr 0.930 | -0.020 [-0.030, -0.010] "
        "| behind |"
    )


def test_a_classifier_of_one_split_shows_that_splits_network_alone() -> None:
    # train_classifier keeps the network-alone scores per split; with one split they are the table's.
    row = {"baseline": "tfidf-lr", "diff": 0.009, "ci95": [0.003, 0.016], "verdict": "ahead"}
    alone = {"test_accuracy": 0.91, "ci95": {"test_accuracy": [0.903, 0.917]}, "vs_baseline": {"test_accuracy": row}}
    meta = {
        "metrics": {"test_accuracy": 0.911, "per_split": [{"neural_only": alone}]},
        "ci95": {"test_accuracy": [0.904, 0.918]},
        "vs_baseline": {"test_accuracy": {**row, "diff": 0.011}},
    }
    lines = render([("classification-zh", meta)]).splitlines()
    assert lines[3] == (
        "| `classification-zh` | test_accuracy, network alone | 0.910 [0.903, 0.917] | tfidf-lr 0.901 | +0.009 "
        "[0.003, 0.016] | ahead |"
    )
    # With several splits the per-split scores are no single test set's: no row.
    meta["metrics"]["per_split"] = [{"neural_only": alone}] * 2
    assert "network alone" not in render([("classification-zh", meta)])


def test_a_setting_chosen_on_validation_is_named_with_its_candidates() -> None:
    from training.model_table import notes

    search = {
        "chosen_on": "validation",
        "metric": "accuracy",
        "candidates": [{"lr": 2e-4, "val": 0.79}, {"lr": 4e-4, "val": 0.80}],
        "chosen": {"lr": 4e-4},
    }
    said = notes({"metrics": {"search": search}})
    assert said == ["lr 0.0004 of {lr 0.0002, lr 0.0004} (chosen on validation)"]
    assert notes({"metrics": {"extractor_search": {**search, "chosen": {"lr": 2e-4}}}})[0].startswith("lr 0.0002 of")
    assert notes({"metrics": {}}) == []


def test_a_stage_two_head_says_it_runs_on_the_encoder_and_what_it_replaced() -> None:
    meta = {
        "metrics": {
            "test_accuracy": 0.93,
            "frozen_use_lr": {
                "test_accuracy": 0.90,
                "vs_served": {"metric": "test_accuracy", "diff": 0.03, "ci95": [0.02, 0.04], "verdict": "ahead"},
            },
        },
        "ci95": {"test_accuracy": [0.92, 0.94]},
        "vs_baseline": {
            "test_accuracy": {"baseline": "tfidf-lr", "diff": 0.01, "ci95": [0.0, 0.02], "verdict": "ahead"}
        },
        "params": {"arch": "e5"},
    }
    stage = {"state": "swapped", "metric": "served_val_accuracy", "served_val": 0.91, "candidate_val": 0.925}
    lines = render([("sentiment-zh", meta)], {"sentiment-zh": stage}).splitlines()
    assert lines[3] == (
        "| `sentiment-zh` | test_accuracy, vs frozen vectors | 0.930 [0.920, 0.940] | frozen-use-lr 0.900 "
        "| +0.030 [0.020, 0.040] | ahead |"
    )
    assert "on the multilingual encoder" in lines[4]
    assert "stage 2: replaced the model served before it (validation served_val_accuracy 0.9250 vs 0.9100)" in lines[4]
    kept = render(
        [("sentiment-zh", {**meta, "params": {"arch": "bilstm"}})], {"sentiment-zh": {**stage, "state": "kept"}}
    )
    assert "encoder head lost on validation" in kept and "on the multilingual encoder" not in kept
    assert "stage 2" not in render([("sentiment-zh", meta)], {"sentiment-zh": {**stage, "state": "training"}})


def test_model_table_has_a_row_per_test_group_and_baseline() -> None:
    block = {
        "n": 394,
        "model_accuracy": 0.8,
        "ci95": {"accuracy": [0.76, 0.84]},
        "vs_tfidf": {"accuracy": {"baseline": "tfidf", "diff": 0.1, "ci95": [0.05, 0.15], "verdict": "ahead"}},
        "vs_rules": {"accuracy": {"baseline": "rules", "diff": 0.5, "ci95": [0.45, 0.55], "verdict": "ahead"}},
    }
    table = render([("intent", {"metrics": {"by_group": {"zh": block}}})])
    assert (
        "| `intent` | accuracy, zh (n=394) | 0.800 [0.760, 0.840] | tfidf 0.700 | +0.100 [0.050, 0.150] | ahead |"
        in table
    )
    assert (
        "| `intent` | accuracy, zh (n=394) | 0.800 [0.760, 0.840] | rules 0.300 | +0.500 [0.450, 0.550] | ahead |"
        in table
    )
    text = "a\n<!-- service-table:start -->\nold\n<!-- service-table:end -->\nb"
    assert replace_between_markers(text, "new", "service-table") == (
        "a\n<!-- service-table:start -->\nnew\n<!-- service-table:end -->\nb"
    )
    with pytest.raises(ValueError, match="model-table"):
        replace_between_markers(text, "new")


def test_table_selection_keeps_only_and_drops_exclude() -> None:
    names = ["sentiment-zh", "intent", "ner-en"]
    assert selected(names, "", "") == names
    assert selected(names, "", "intent") == ["sentiment-zh", "ner-en"]
    assert selected(names, "intent", "") == ["intent"]
    assert selected(names, "intent,ner-en", "ner-en") == ["intent"]


def test_the_staged_starts_verdict_goes_only_to_the_version_it_trained() -> None:
    from training.model_table import stages_of

    entries = {
        "intent": {"state": "swapped", "candidate": "intent:b"},
        "ner-zh": {"state": "swapped", "candidate": "ner-zh:x"},
        "replies": {"state": "training", "candidate": ""},
    }
    stored = [("intent", "intent:c", {}), ("ner-zh", "ner-zh:x", {}), ("replies", "replies:r", {})]
    # intent:c was trained after the staged start's intent:b: the verdict is not its own.
    assert stages_of(stored, entries) == {"ner-zh": entries["ner-zh"]}
