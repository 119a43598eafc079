"""The hand-over trainer: the flag threshold by F1, out-of-fold scores that never let a
conversation's near-duplicate teach the model that scores it, and a shop's own conversation file
(trained and measured end to end on a known-answer set; bad files named by line and rule)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest

from training.dedup import duplicate_clusters
from training.eval_handoff import auc
from training.train_handoff import (
    HandoffConfig,
    best_threshold,
    choose_negative_cut,
    main,
    out_of_fold,
    precise_threshold,
    read_conversations,
)


def test_the_threshold_is_the_highest_with_the_best_f1() -> None:
    p = np.array([0.9, 0.8, 0.2, 0.1])
    y = np.array([True, True, False, False])
    assert best_threshold(p, y) == (0.8, 1.0)
    # One positive scored lowest: flagging all four and flagging the top one tie at F1 2/3 (the
    # cuts between flag 2 or 3 with one hit: 0.5, 0.4); the tie goes to the higher cut.
    t, f = best_threshold(np.array([0.9, 0.05, 0.5, 0.3]), np.array([True, True, False, False]))
    assert (t, round(f, 3)) == (0.9, 0.667)


def test_a_precision_target_takes_the_lowest_threshold_that_meets_it() -> None:
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.3, 0.2])
    y = np.array([True, True, False, True, False, False])
    # At 0.6 three of four flagged are right (0.75); at 0.8 both are (1.0).
    assert precise_threshold(p, y, 0.75) == (0.31, 0.75)
    assert precise_threshold(p, y, 0.9) == (0.71, 1.0)
    # The unhappy conversation scored lowest: flagging both is the best precision there is (0.5).
    with pytest.raises(SystemExit, match=r"best 0\.500"):
        precise_threshold(np.array([0.9, 0.1]), np.array([False, True]), 0.6)


def test_the_sentiment_alone_is_kept_only_where_it_raises_the_flags_f1() -> None:
    y = np.array([True, True, True, False, False, False])
    model = np.array([0.9, 0.8, 0.1, 0.1, 0.1, 0.1])  # flags two of three unhappy (F1 0.8)
    # The third unhappy conversation is the most negative one: each cut from 0.96 (above the calm
    # 0.95) to 0.98 adds it alone and makes F1 1; of the tie, the highest cut.
    negative = np.array([0.2, 0.2, 0.98, 0.95, 0.6, 0.1])
    chosen = choose_negative_cut(model, 0.5, negative, y)
    assert chosen["negative_threshold"] == 0.98
    assert (chosen["model_flag_f1"], chosen["best_with_sentiment"]["f1"]) == (0.8, 1.0)
    # Two calm conversations more negative than the unhappy one: any cut that adds the hit adds
    # both false alarms (F1 0.75 at best), so the sentiment alone is left out.
    negative[3] = negative[4] = 0.99
    chosen = choose_negative_cut(model, 0.5, negative, y)
    assert chosen["negative_threshold"] is None
    assert chosen["best_with_sentiment"]["f1"] <= chosen["model_flag_f1"]


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


def _write_conversations(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["conversation_id", "text", "low_satisfaction"])
        w.writerows(rows)
    return path


def test_a_shops_own_conversations_train_and_measure_the_model(tmp_path: Path) -> None:
    # Each chat its own neutral words (no two near-duplicates), one unhappy or one calm turn.
    nouns = list("手机电脑衣服鞋子水果牛奶书本酒店热水器洗发水耳机相机屏幕电池包裹快递订单发票")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(90):
        low = i % 3 == 0
        words = "".join(rng.choice(nouns, 8))
        rows += [(f"c{i}", f"我买的{words}", "1" if low else "0")]
        rows += [(f"c{i}", "你们是骗子，退钱" if low else "好的，谢谢", "1" if low else "0")]
    path = _write_conversations(tmp_path / "chats.csv", rows)
    dialogues, y = read_conversations(str(path))
    assert [d.id for d in dialogues[:2]] == ["c0", "c1"] and len(dialogues) == 90
    assert dialogues[0].turns[1].text == "你们是骗子，退钱" and len(dialogues[0].turns) == 2
    assert y.sum() == 30
    flags = ["--folds", "2", "--c", "1", "--max-reviews", "400", "--sentiment-c", "1", "--n-boot", "50"]
    out = main(["--conversations", str(path), "--lang", "zh", "--no-save", "--report-dir", str(tmp_path), *flags])
    assert out["metrics"]["test_auc"] == 1.0  # the unhappy words never occur in a calm chat
    assert out["metrics"]["val_auc"] == 1.0
    assert out["metrics"]["test_flag_recall"] == 1.0 and out["metrics"]["test_flag_precision"] == 1.0


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("c1", "a", "1"), ("c1", "b", "0")], "line 3: conversation 'c1' has both labels"),
        ([("c1", "a", "2")], "line 2: low_satisfaction must be 0 or 1, got '2'"),
        ([(" ", "a", "1")], "line 2: conversation_id is empty"),
    ],
)
def test_bad_conversation_files_name_the_line_and_rule(
    tmp_path: Path, rows: list[tuple[str, str, str]], message: str
) -> None:
    path = _write_conversations(tmp_path / "bad.csv", rows)
    with pytest.raises(ValueError, match=re.escape(message)):
        read_conversations(str(path))


def test_a_file_without_the_label_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "no_label.csv"
    path.write_text("conversation_id,text\nc1,hello\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"columns \['low_satisfaction'\] missing"):
        read_conversations(str(path))
