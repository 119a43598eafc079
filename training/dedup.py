"""Exact and near-duplicate detection for training data: run before any split, over every source
at once, so a review that appears twice, or a sentence cut from a review, cannot sit on both sides.

Three rules make two texts one, over the character n-gram shingle sets of their :func:`dedup_key`:

* the same key;
* Jaccard similarity at or above ``near_threshold``;
* containment: at least ``containment_threshold`` of the smaller set's shingles occur within one
  stretch of the larger text (:func:`contained_in_window`), the smaller set holding at least
  ``min_contained_shingles`` shingles: a fragment and the review it was cut from.

Candidate pairs come from prefix filtering over an inverted index of shingles
(:func:`candidate_pairs`), which proposes every pair that can pass either rule, so the clusters are
those of the all-pairs check. Its work grows with how common each text's rarest shingles are:
small for Chinese, whose character 3-grams are many and rare; English letter 3-grams are few and
common, so English texts cost more each.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from mining.text import normalize

# A shorter text under 8 shingles (10 characters) merges by Jaccard only: phrases that short
# ("质量很好物流很快") recur inside unrelated reviews and would chain them into one cluster.
MIN_CONTAINED_SHINGLES = 8
_CODE_BITS = 21  # every Unicode code point is below 2**21
_PAD = (1 << _CODE_BITS) - 1  # not a code point: pads a key shorter than a shingle


def dedup_key(text: str) -> str:
    """Key under which two texts count as exact duplicates: normalised, lower-case, letters and
    digits only (punctuation and spacing differences do not make a new review)."""
    return re.sub(r"[\W_]+", "", normalize(text).lower())


def _unique(x: np.ndarray) -> np.ndarray:
    """Sorted distinct values of a 1-d int64 array (sort-based: faster than ``np.unique`` here)."""
    s = np.sort(x)
    return s[np.concatenate([[True], s[1:] != s[:-1]])] if len(s) else s


def _inverse(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct values of x, index of each element of x among them)."""
    order = np.argsort(x, kind="stable")
    s = x[order]
    new = np.concatenate([[True], s[1:] != s[:-1]]) if len(s) else np.zeros(0, dtype=bool)
    inv = np.empty(len(x), dtype=np.int64)
    inv[order] = np.cumsum(new) - 1
    return s[new], inv


@dataclass(frozen=True)
class ShingleSets:
    """Shingle sets of m keys in compressed-row form.

    ``ids[indptr[i]:indptr[i + 1]]`` are key i's distinct shingle ids, ascending; ids are numbered
    rarest first (by the number of keys holding the shingle, ``df[id]``, ascending; ``df`` is then
    non-decreasing), so each row lists its rarest shingles first. A key shorter than the shingle
    length has one shingle, the key itself; an empty key has none.
    """

    indptr: np.ndarray  # (m + 1,) int64
    ids: np.ndarray  # (nnz,) int64
    df: np.ndarray  # (n_shingles,) int64

    @property
    def sizes(self) -> np.ndarray:
        """(m,) int64: shingles per key."""
        return np.diff(self.indptr)

    def row(self, i: int) -> np.ndarray:
        """Shingle ids of key i, ascending."""
        return self.ids[self.indptr[i] : self.indptr[i + 1]]


def shingle_sets(keys: Sequence[str], ngram: int = 3) -> ShingleSets:
    """Distinct character ``ngram``-grams of each key, as integer ids shared across keys (exact,
    no hashing: two ids are equal only for equal strings).

    Args:
        keys: m strings without NUL characters (normally :func:`dedup_key` outputs).
        ngram: shingle length in characters, >= 1.
    """
    if ngram < 1:
        raise ValueError(f"ngram must be >= 1, got {ngram}")
    m = len(keys)
    # A key shorter than a shingle is padded with NUL, then with a value that is no code point.
    padded = [k + "\0" * (ngram - len(k)) if 0 < len(k) < ngram else k for k in keys]
    lengths = np.fromiter((len(k) for k in padded), dtype=np.int64, count=m)
    cp = np.frombuffer("".join(padded).encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    cp[cp == 0] = _PAD
    gram = cp.copy()
    for k in range(1, ngram):
        if k >= 3:  # renumber, so (id << 21 | code point) stays within int64
            gram = _inverse(gram)[1]
        gram = (gram[: len(cp) - k] << _CODE_BITS) | cp[k:]
    n_grams = np.maximum(lengths - ngram + 1, 0)
    doc = np.repeat(np.arange(m, dtype=np.int64), n_grams)
    first = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    at = np.repeat(first - (np.cumsum(n_grams) - n_grams), n_grams) + np.arange(len(doc), dtype=np.int64)
    _, gid = _inverse(gram[at] if len(doc) else np.zeros(0, dtype=np.int64))
    pairs = _unique((doc << 32) | gid)
    doc, gid = pairs >> 32, pairs & 0xFFFFFFFF
    df = np.bincount(gid).astype(np.int64)
    # Renumber rarest first, so a row sorted by id is sorted by rarity.
    by_rarity = np.lexsort((np.arange(len(df)), df))
    new_id = np.empty(len(df), dtype=np.int64)
    new_id[by_rarity] = np.arange(len(df), dtype=np.int64)
    ids = _unique((doc << 32) | new_id[gid]) & 0xFFFFFFFF
    indptr = np.concatenate([[0], np.cumsum(np.bincount(doc, minlength=m))]).astype(np.int64)
    return ShingleSets(indptr, ids, df[by_rarity])


def _needed(size: np.ndarray, threshold: float) -> np.ndarray:
    """Least overlap (int64, per size) whose share of ``size`` is at least ``threshold``."""
    need = np.ceil(size * threshold - 1e-9).astype(np.int64)
    return np.maximum(need, 1)


def _blocks(work: np.ndarray, budget: int) -> list[tuple[int, int]]:
    """Consecutive ``[start, end)`` ranges of items whose summed ``work`` stays near ``budget`` (an
    item over budget gets a range of its own), so expanded arrays stay bounded in memory."""
    if not len(work):
        return []
    ends = np.searchsorted(np.cumsum(work), np.arange(1, int(work.sum()) // budget + 2) * budget, side="right")
    bounds = np.unique(np.concatenate([[0], np.clip(ends, 1, len(work)), [len(work)]]))
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))


def candidate_pairs(
    sets: ShingleSets,
    min_overlap_share: float,
    min_contained_shingles: int = MIN_CONTAINED_SHINGLES,
    jaccard_threshold: float | None = None,
    budget: int = 1 << 23,
) -> np.ndarray:
    """Pairs of keys that can share at least ``min_overlap_share`` of the smaller one's shingles.

    Prefix filtering with a count: keys are ordered by (size, index); a key b may miss at most
    ``slack = |a| - need`` of the smaller key a's shingles (need: the least overlap), so among a's
    ``probed = min(|a|, slack + 1 + slack // 2)`` rarest shingles b holds at least
    ``probed - slack``. Looking those shingles up in the inverted index finds every such b and
    counts what it holds; pairs short of the count are dropped. Keys smaller than ``min_contained_shingles`` only pair with
    keys they can reach ``jaccard_threshold`` with (at most ``|a| / jaccard_threshold`` shingles),
    or with none when that is None.

    Args:
        sets: m keys' shingle sets.
        min_overlap_share: share of the smaller key's shingles a pair must be able to share, (0, 1].
        min_contained_shingles: smallest key size proposed to every larger key.
        jaccard_threshold: the Jaccard rule's threshold for smaller keys, >= ``min_overlap_share``.
        budget: posting entries expanded at once (memory: about 40 bytes each).
    Returns:
        (k, 2) int64 array of distinct pairs ``(a, b)``, a the smaller in (size, index) order,
        sorted.
    """
    if not 0 < min_overlap_share <= 1:
        raise ValueError(f"min_overlap_share must lie in (0, 1], got {min_overlap_share}")
    m = len(sets.indptr) - 1
    size = sets.sizes
    by_rank = np.lexsort((np.arange(m), size))  # keys in (size, index) order
    rank = np.empty(m, dtype=np.int64)
    rank[by_rank] = np.arange(m, dtype=np.int64)
    doc = np.repeat(np.arange(m, dtype=np.int64), size)
    pos = np.arange(len(doc), dtype=np.int64) - np.repeat(sets.indptr[:-1], size)
    need = _needed(size, min_overlap_share)
    slack = size - need
    # Probing half the slack again costs less than verifying what a bare prefix lets through.
    probed = np.minimum(size, slack + 1 + slack // 2)
    required = probed - slack
    small = size < min_contained_shingles
    if jaccard_threshold is None:
        probed[small] = 0
    # Rows list the rarest shingles first; a shingle no other key holds finds nothing.
    probe = (pos < probed[doc]) & (sets.df[sets.ids] > 1)
    p_doc, p_id = doc[probe], sets.ids[probe]

    # Inverted index sorted by (shingle, rank of key): the keys after a in (size, index) order
    # are one run at the end of each posting list.
    post_key = np.sort(sets.ids * m + rank[doc])
    post_doc = by_rank[post_key % m]
    lo = np.searchsorted(post_key, p_id * m + rank[p_doc], side="right")
    hi = np.cumsum(sets.df)[p_id]
    if jaccard_threshold is not None:
        # A small key reaches the Jaccard threshold only with keys of at most |a| / t shingles.
        capped = small[p_doc]
        cap = np.floor(size[p_doc[capped]] / jaccard_threshold + 1e-9).astype(np.int64)
        first_above = np.searchsorted(size[by_rank], cap, side="right")  # rank of the first key over the cap
        hi[capped] = np.minimum(hi[capped], np.searchsorted(post_key, p_id[capped] * m + first_above))
    count = np.maximum(hi - lo, 0)
    found = []
    # Blocks end between keys (probe entries are grouped by key), so a pair's count is whole.
    key_end = np.flatnonzero(np.diff(p_doc, append=m)) + 1
    key_work = np.diff(np.concatenate([[0], np.cumsum(count)[key_end - 1]]))
    key_start = np.concatenate([[0], key_end[:-1]])
    for first, last in _blocks(key_work, budget):
        e0, e1 = int(key_start[first]), int(key_end[last - 1])
        c = count[e0:e1]
        a = np.repeat(p_doc[e0:e1], c)
        b = post_doc[np.repeat(lo[e0:e1] - (np.cumsum(c) - c), c) + np.arange(c.sum(), dtype=np.int64)]
        pair = np.sort(a * m + b)
        new = np.concatenate([[True], pair[1:] != pair[:-1]]) if len(pair) else np.zeros(0, dtype=bool)
        starts = np.flatnonzero(new)
        held = np.diff(np.append(starts, len(pair)))
        pair = pair[starts]
        found.append(pair[held >= required[pair // m]])
    pairs = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
    return np.stack([pairs // m, pairs % m], axis=1)


def overlaps(sets: ShingleSets, pairs: np.ndarray, budget: int = 1 << 23) -> np.ndarray:
    """(k,) int64: shingles shared by each pair ``(a, b)`` of ``pairs`` ((k, 2) int64); ``budget``
    bounds the shingles looked up at once."""
    m = len(sets.indptr) - 1
    size = sets.sizes
    n_vocab = int(sets.df.shape[0])
    member = np.repeat(np.arange(m, dtype=np.int64), size) * n_vocab + sets.ids  # ascending
    out = np.zeros(len(pairs), dtype=np.int64)
    # Walk the smaller row of each pair and look its shingles up in the larger one's.
    swap = size[pairs[:, 0]] > size[pairs[:, 1]]
    small = np.where(swap, pairs[:, 1], pairs[:, 0])
    large = np.where(swap, pairs[:, 0], pairs[:, 1])
    for first, last in _blocks(size[small], budget):
        a, b = small[first:last], large[first:last]
        walk = size[a]
        pair_of = np.repeat(np.arange(len(a), dtype=np.int64), walk)
        at = np.repeat(sets.indptr[a] - (np.cumsum(walk) - walk), walk) + np.arange(walk.sum(), dtype=np.int64)
        probe = b[pair_of] * n_vocab + sets.ids[at]
        hit = member[np.minimum(np.searchsorted(member, probe), len(member) - 1)] == probe
        out[first:last] = np.bincount(pair_of[hit], minlength=len(a))
    return out


def contained_in_window(small: str, large: str, threshold: float = 0.8, ngram: int = 3) -> bool:
    """Whether ``threshold`` of the distinct ``ngram`` shingles of ``small`` occur in ``large``
    within one window of ``len(small) / threshold`` characters: a piece cut from ``large`` with
    some characters changed, not shingles gathered from all over a long text."""
    grams = {small[i : i + ngram] for i in range(max(1, len(small) - ngram + 1))}
    need = int(_needed(np.array([len(grams)]), threshold)[0])
    width = max(math.ceil(len(small) / threshold - 1e-9), ngram)
    hits = [(j, g) for j in range(len(large) - ngram + 1) if (g := large[j : j + ngram]) in grams]
    held: dict[str, int] = {}
    first = 0
    for j, g in hits:
        held[g] = held.get(g, 0) + 1
        while j + ngram - hits[first][0] > width:
            gone = hits[first][1]
            held[gone] -= 1
            if not held[gone]:
                del held[gone]
            first += 1
        if len(held) >= need:
            return True
    return False


def near_duplicate_pairs(
    keys: Sequence[str],
    near_threshold: float = 0.8,
    containment_threshold: float | None = 0.8,
    min_contained_shingles: int = MIN_CONTAINED_SHINGLES,
    ngram: int = 3,
) -> np.ndarray:
    """Pairs of keys that pass the Jaccard rule or the containment rule (see the module's doc).

    Args:
        keys: m distinct keys.
        containment_threshold: None: the Jaccard rule only.
    Returns:
        (k, 2) int64 array of pairs ``(a, b)``, a the key with fewer shingles (ties: lower index).
    """
    if containment_threshold is None:
        containment_threshold, min_contained_shingles = near_threshold, sys.maxsize
    sets = shingle_sets(keys, ngram)
    pairs = candidate_pairs(sets, min(near_threshold, containment_threshold), min_contained_shingles, near_threshold)
    inter = overlaps(sets, pairs)
    sa, sb = sets.sizes[pairs[:, 0]], sets.sizes[pairs[:, 1]]
    jaccard = inter >= _needed(sa + sb - inter, near_threshold)
    contained = ~jaccard & (sa >= min_contained_shingles) & (inter >= _needed(sa, containment_threshold))
    # A long text holds most short texts' shingles somewhere; a fragment holds them in one place.
    for k in np.flatnonzero(contained).tolist():
        a, b = pairs[k].tolist()
        contained[k] = contained_in_window(keys[a], keys[b], containment_threshold, ngram)
    return pairs[jaccard | contained]


def duplicate_clusters(
    texts: Sequence[str],
    near_threshold: float = 0.8,
    containment_threshold: float | None = 0.8,
    min_contained_shingles: int = MIN_CONTAINED_SHINGLES,
    ngram: int = 3,
) -> np.ndarray:
    """Group exact duplicates, near duplicates and fragments of one text.

    Exact duplicates share a :func:`dedup_key`. Two keys are near duplicates when the Jaccard
    similarity of their character ``ngram`` shingle sets is at least ``near_threshold``, or when at
    least ``containment_threshold`` of the smaller set lies in one stretch of the larger text
    (:func:`contained_in_window`) and the smaller has at least ``min_contained_shingles``
    shingles. Clusters are the connected components of these relations; every pair the all-pairs
    check would link is found (:func:`candidate_pairs`).

    Args:
        texts: n texts.
        containment_threshold: None: no containment rule.
    Returns:
        int64 array of shape (n,): a cluster id per text, equal to the smallest index in its cluster.
    """
    return _clusters(
        [dedup_key(t) for t in texts], near_threshold, containment_threshold, min_contained_shingles, ngram
    )


def _clusters(
    keys: Sequence[str],
    near_threshold: float,
    containment_threshold: float | None,
    min_contained_shingles: int,
    ngram: int,
) -> np.ndarray:
    """:func:`duplicate_clusters` of texts given by their n :func:`dedup_key` keys."""
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    first: dict[str, int] = {}
    key_of = np.fromiter((first.setdefault(k, i) for i, k in enumerate(keys)), np.int64, n)
    reps = np.fromiter(first.values(), dtype=np.int64, count=len(first))
    nonempty = np.array([bool(k) for k in first], dtype=bool)
    pairs = near_duplicate_pairs(
        [k for k in first if k], near_threshold, containment_threshold, min_contained_shingles, ngram
    )
    # Key indices -> indices of their first texts, then components over those texts.
    edges = reps[nonempty][pairs]
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    smallest = np.full(component.max() + 1, n, dtype=np.int64)
    np.minimum.at(smallest, component, np.arange(n, dtype=np.int64))
    return smallest[component[key_of]]


@dataclass(frozen=True)
class DedupStats:
    n_in: int
    n_out: int
    n_duplicates: int
    n_conflicting: int


def deduplicate_labelled(
    texts: Sequence[str],
    labels: Sequence[object],
    near_threshold: float = 0.8,
    containment_threshold: float | None = 0.8,
) -> tuple[np.ndarray, DedupStats]:
    """Keep one text per duplicate cluster; drop whole clusters whose members disagree on the label.

    Run before any train/test split, over every source at once: a duplicate or a fragment on both
    sides of the split is a leaked test item.

    Args:
        texts: n texts.
        labels: n labels.
        near_threshold: the Jaccard rule's threshold (see :func:`duplicate_clusters`).
        containment_threshold: the containment rule's threshold; None: no containment rule.
    Returns:
        (indices of the kept texts, shape (k,), ascending; counts of what was dropped).
    """
    if len(texts) != len(labels):
        raise ValueError(f"texts and labels differ in length: {len(texts)} != {len(labels)}")
    keys = [dedup_key(t) for t in texts]
    clusters = _clusters(keys, near_threshold, containment_threshold, MIN_CONTAINED_SHINGLES, 3)
    label_sets: dict[int, set[object]] = {}
    for c, y in zip(clusters.tolist(), labels):
        label_sets.setdefault(c, set()).add(y)
    conflicting = {c for c, s in label_sets.items() if len(s) > 1}
    keep = np.array(
        [i for i, c in enumerate(clusters.tolist()) if c == i and c not in conflicting and keys[i]],
        dtype=np.int64,
    )
    n_conf = int(sum(1 for c in clusters.tolist() if c in conflicting))
    stats = DedupStats(
        n_in=len(texts), n_out=len(keep), n_duplicates=len(texts) - len(keep) - n_conf, n_conflicting=n_conf
    )
    return keep, stats
