"""Exact and near-duplicate detection for training data: run before any split, so a review that
appears twice cannot sit on both sides of it."""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mining.text import normalize


def dedup_key(text: str) -> str:
    """Key under which two texts count as exact duplicates: normalised, lower-case, letters and
    digits only (punctuation and spacing differences do not make a new review)."""
    return re.sub(r"[\W_]+", "", normalize(text).lower())


def _shingles(key: str, n: int) -> np.ndarray:
    grams = {key[i : i + n] for i in range(max(1, len(key) - n + 1))}
    return np.fromiter((zlib.crc32(g.encode()) for g in grams), dtype=np.uint64, count=len(grams))


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)


def duplicate_clusters(
    texts: Sequence[str],
    near_threshold: float = 0.8,
    ngram: int = 3,
    num_perm: int = 64,
    bands: int = 16,
    seed: int = 0,
) -> np.ndarray:
    """Group exact and near-duplicate texts.

    Exact duplicates share a :func:`dedup_key`. Near duplicates are found with MinHash LSH over
    character n-gram shingles of the key and confirmed by their true Jaccard similarity, so the
    LSH only proposes candidates and never decides.

    Args:
        texts: n texts.
        near_threshold: Jaccard similarity of shingle sets at or above which two texts are one.
        ngram: shingle length in characters.
        num_perm: MinHash signature length; must be divisible by ``bands``.
        bands: LSH bands (``num_perm // bands`` rows each).
        seed: seed of the hash permutations.
    Returns:
        int64 array of shape (n,): a cluster id per text, equal to the smallest index in its cluster.
    """
    if num_perm % bands:
        raise ValueError(f"num_perm ({num_perm}) must be divisible by bands ({bands})")
    n = len(texts)
    uf = _UnionFind(n)
    keys = [dedup_key(t) for t in texts]
    first: dict[str, int] = {}
    for i, k in enumerate(keys):
        if k in first:
            uf.union(first[k], i)
        else:
            first[k] = i

    prime = np.uint64(4294967311)  # > 2**32, so a*h (both < 2**32) fits in uint64
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2**32 - 1, size=num_perm, dtype=np.uint64)
    b = rng.integers(0, 2**32 - 1, size=num_perm, dtype=np.uint64)
    reps = list(first.values())
    shingles = {i: _shingles(keys[i], ngram) for i in reps if keys[i]}
    rows = num_perm // bands
    buckets: dict[tuple[int, bytes], list[int]] = {}
    for i, sh in shingles.items():
        sig = ((np.outer(a, sh) % prime + b[:, None]) % prime).min(axis=1)
        for band in range(bands):
            buckets.setdefault((band, sig[band * rows : (band + 1) * rows].tobytes()), []).append(i)
    checked: set[tuple[int, int]] = set()
    for members in buckets.values():
        if len(members) < 2:
            continue
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                i, j = members[x], members[y]
                if (i, j) in checked or uf.find(i) == uf.find(j):
                    continue
                checked.add((i, j))
                si, sj = shingles[i], shingles[j]
                inter = len(np.intersect1d(si, sj, assume_unique=True))
                if inter / (len(si) + len(sj) - inter) >= near_threshold:
                    uf.union(i, j)
    return np.array([uf.find(i) for i in range(n)], dtype=np.int64)


@dataclass(frozen=True)
class DedupStats:
    n_in: int
    n_out: int
    n_duplicates: int
    n_conflicting: int


def deduplicate_labelled(
    texts: Sequence[str], labels: Sequence[object], near_threshold: float = 0.8
) -> tuple[np.ndarray, DedupStats]:
    """Keep one text per duplicate cluster; drop whole clusters whose members disagree on the label.

    Run before any train/test split: a duplicate on both sides of the split is a leaked test item.

    Args:
        texts: n texts.
        labels: n labels.
    Returns:
        (indices of the kept texts, shape (k,), ascending; counts of what was dropped).
    """
    if len(texts) != len(labels):
        raise ValueError(f"texts and labels differ in length: {len(texts)} != {len(labels)}")
    clusters = duplicate_clusters(texts, near_threshold=near_threshold)
    label_sets: dict[int, set[object]] = {}
    for c, y in zip(clusters.tolist(), labels):
        label_sets.setdefault(c, set()).add(y)
    conflicting = {c for c, s in label_sets.items() if len(s) > 1}
    keep = np.array(
        [i for i, c in enumerate(clusters.tolist()) if c == i and c not in conflicting and dedup_key(texts[i])],
        dtype=np.int64,
    )
    n_conf = int(sum(1 for c in clusters.tolist() if c in conflicting))
    stats = DedupStats(
        n_in=len(texts), n_out=len(keep), n_duplicates=len(texts) - len(keep) - n_conf, n_conflicting=n_conf
    )
    return keep, stats
