"""The hand-over trainer's choices: the flag threshold by F1 and out-of-fold scores that never let a
conversation's near-duplicate teach the model that scores it."""

from __future__ import annotations

import numpy as np

from training.dedup import duplicate_clusters
from training.eval_handoff import auc
from training.train_handoff import HandoffConfig, best_threshold, out_of_fold


def test_the_threshold_is_the_highest_with_the_best_f1() -> None:
    p = np.array([0.9, 0.8, 0.2, 0.1])
    y = np.array([True, True, False, False])
    assert best_threshold(p, y) == (0.8, 1.0)
    # One positive scored lowest: flagging all four and flagging the top one tie at F1 2/3 (the
    # cuts between flag 2 or 3 with one hit: 0.5, 0.4); the tie goes to the higher cut.
    t, f = best_threshold(np.array([0.9, 0.05, 0.5, 0.3]), np.array([True, True, False, False]))
    assert (t, round(f, 3)) == (0.9, 0.667)


def _twins(n_pairs: int) -> tuple[list[str], np.ndarray]:
    """Each conversation twice, made of words no other pair uses; every other pair is unhappy."""
    texts, y = [], []
    for i in range(n_pairs):
        text = f"w{i}a w{i}b w{i}c"
        texts += [text, text]
        y += [i % 2 == 0] * 2
    return texts, np.array(y)


def test_out_of_fold_scores_keep_near_duplicates_in_one_fold() -> None:
    texts, y = _twins(20)
    cfg = HandoffConfig(folds=2, min_df=1, seed=0)
    grouped = out_of_fold(texts, y, duplicate_clusters(texts), ("word", 1, 1), 10.0, cfg)
    # Its twin in the same fold, a conversation's words are unknown to the model scoring it: chance.
    assert auc(grouped, y) == 0.5
    leaky = out_of_fold(texts, y, np.arange(len(texts)), ("word", 1, 1), 10.0, cfg)
    assert auc(leaky, y) > 0.95  # what the grouping prevents: the twin's label read back
