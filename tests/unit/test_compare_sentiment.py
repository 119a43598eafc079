"""Which texts two sentiment heads trained on different splits can be compared on."""

from __future__ import annotations

import numpy as np

from training.compare_sentiment import compare, held_out_by_both
from training.textclf import Split


def _split(rows: list[tuple[str, str]]) -> Split:
    return Split([t for t, _ in rows], np.zeros(len(rows), dtype=np.int64), np.array([g for _, g in rows]))


def test_held_out_by_both_keeps_shared_held_out_texts_and_new_sources() -> None:
    before = {
        "train": _split([("a", "shop"), ("b", "shop"), ("c", "web")]),
        "val": _split([("d", "shop"), ("e", "web")]),
        "test": _split([("f", "shop")]),
    }
    after = {
        "train": _split([("d", "shop"), ("x", "absa")]),
        # a: trained on by before; d: ... by after (not here); e: held out by both; y: a new source
        "val": _split([("a", "shop"), ("e", "web"), ("y", "absa"), ("f", "shop")]),
        "test": _split([("b", "shop"), ("f", "shop"), ("z", "absa")]),
    }
    assert held_out_by_both(before, after, "val") == {"web": [1], "absa": [2]}
    # f is in before's test, not its validation: it counts for the test split only
    assert held_out_by_both(before, after, "test") == {"shop": [1], "absa": [2]}


def test_compare_pairs_the_two_heads_on_the_same_texts() -> None:
    before = np.array([1, 0, 1, 0] * 50, dtype=bool)
    after = np.array([1, 1, 1, 0] * 50, dtype=bool)
    row = compare(before, after)
    assert (row["n"], row["before"], row["after"]) == (200, 0.5, 0.75)
    assert row["difference"]["diff"] == 0.25 and row["difference"]["verdict"] == "ahead"
    assert row["before_ci95"][0] < 0.5 < row["before_ci95"][1]
