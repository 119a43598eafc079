"""The sequence model's fallbacks and baselines: item popularity, a first-order Markov chain and
item-to-item nearest neighbours over the users' sequences, each scoring every item for a history."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix


def _counts(sequences: Sequence[Sequence[int]], n_items: int) -> np.ndarray:
    """(I,) float64 occurrences of each item index (1..I) over ``sequences``."""
    every = [np.asarray(s, dtype=np.int64) for s in sequences if len(s)]
    flat = np.concatenate(every) if every else np.zeros(0, np.int64)
    return np.bincount(flat - 1, minlength=n_items).astype(np.float64)


def _normalised(scores: np.ndarray) -> np.ndarray:
    """(B, I) non-negative scores -> rows summing to 1 (uniform where a row is all zero)."""
    total = scores.sum(axis=1, keepdims=True)
    return np.divide(scores, total, out=np.full_like(scores, 1.0 / scores.shape[1]), where=total > 0)


class Popularity:
    """Item occurrences: every history gets the same scores.

    Args:
        popularity: (I,) occurrences of items 1..I.
    """

    KIND, FILE = "popularity", "popularity.npz"

    def __init__(self, popularity: np.ndarray) -> None:
        self.popularity = np.asarray(popularity, dtype=np.float64)
        self.reads = 0  # events of a history an answer depends on

    @classmethod
    def fit(cls, sequences: Sequence[Sequence[int]], n_items: int) -> Popularity:
        return cls(_counts(sequences, n_items))

    @property
    def n_items(self) -> int:
        return len(self.popularity)

    def scores(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        """(B,) histories (item indices 1..I, oldest first) -> (B, I) float64 occurrence counts."""
        return np.tile(self.popularity, (len(histories), 1))

    def probabilities(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        """(B, I): each item's share of all occurrences."""
        return _normalised(self.scores(histories))

    def save(self, path: Path) -> None:
        np.savez(path / self.FILE, popularity=self.popularity)

    @classmethod
    def load(cls, path: Path) -> Popularity:
        with np.load(path / cls.FILE, allow_pickle=False) as z:
            return cls(z["popularity"])


class MarkovChain:
    """First-order chain over item indices (1..I): how often item b followed item a in a user's
    ordered events, and how often each item occurs.

    Args:
        transitions: (I, I) counts; row a - 1, column b - 1 is how often b came right after a.
        popularity: (I,) occurrences of each item.
    """

    KIND, FILE = "markov", "markov.npz"

    def __init__(self, transitions: csr_matrix, popularity: np.ndarray) -> None:
        self.transitions = csr_matrix(transitions, dtype=np.float64)
        self.popularity = np.asarray(popularity, dtype=np.float64)
        self.reads = 1
        if self.transitions.shape != (len(self.popularity),) * 2:
            raise ValueError(f"transitions {self.transitions.shape} do not match {len(self.popularity)} items")

    @classmethod
    def fit(cls, sequences: Sequence[Sequence[int]], n_items: int) -> MarkovChain:
        """Count over ``sequences`` (item indices 1..I, oldest first) each consecutive pair and item."""
        pairs = [np.asarray(s, dtype=np.int64) for s in sequences if len(s) > 1]
        a = np.concatenate([p[:-1] for p in pairs]) - 1 if pairs else np.zeros(0, np.int64)
        b = np.concatenate([p[1:] for p in pairs]) - 1 if pairs else np.zeros(0, np.int64)
        counts = csr_matrix((np.ones(len(a)), (a, b)), shape=(n_items, n_items), dtype=np.float64)
        counts.sum_duplicates()
        return cls(counts, _counts(sequences, n_items))

    @property
    def n_items(self) -> int:
        return len(self.popularity)

    def scores(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        """(B,) non-empty histories -> (B, I) float64: the counts of what followed each history's
        last item, plus popularity scaled below 1 (so it only breaks ties between equal counts)."""
        tie = self.popularity / (self.popularity.max(initial=0.0) + 1.0)
        rows = np.asarray([h[-1] for h in histories], dtype=np.int64) - 1
        return np.asarray(self.transitions[rows].toarray()) + tie[None, :]

    def probabilities(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        """(B, I): :meth:`scores` normalised per row."""
        return _normalised(self.scores(histories))

    def save(self, path: Path) -> None:
        """The transition counts as COO rows, columns and counts, and the popularity."""
        coo = self.transitions.tocoo()
        np.savez(
            path / self.FILE,
            rows=coo.row.astype(np.int32),
            cols=coo.col.astype(np.int32),
            counts=coo.data,
            popularity=self.popularity,
        )

    @classmethod
    def load(cls, path: Path) -> MarkovChain:
        with np.load(path / cls.FILE, allow_pickle=False) as z:
            n = len(z["popularity"])
            counts = csr_matrix((z["counts"], (z["rows"], z["cols"])), shape=(n, n), dtype=np.float64)
            return cls(counts, z["popularity"])


class ItemKNN:
    """Item-to-item cosine similarity of binary user-item co-occurrence: a history scores each
    item by its summed similarity to the history's last ``last`` items, popularity (scaled far
    below any similarity) breaking ties. Similarities are computed per request from the binary
    (U, I) matrix, so the artifact grows with the interactions, not with I squared.

    Args:
        user_items: (U, I) binary CSR: which user (an anonymous row) had which item.
        popularity: (I,) occurrences of each item (repeats counted).
        last: how many of the newest events a history is scored by.
    """

    KIND, FILE = "item_knn", "item_knn.npz"

    def __init__(self, user_items: csr_matrix, popularity: np.ndarray, last: int = 5) -> None:
        self.user_items = csr_matrix(user_items, dtype=np.float64)
        self.user_items.data[:] = 1.0
        self.item_users = self.user_items.T.tocsr()
        self.popularity = np.asarray(popularity, dtype=np.float64)
        self.last = self.reads = int(last)
        self.norms = np.sqrt(np.asarray(self.user_items.sum(axis=0)).ravel()) + 1e-9

    @classmethod
    def fit(cls, sequences: Sequence[Sequence[int]], n_items: int, last: int = 5) -> ItemKNN:
        """Rows of ``sequences`` (item indices 1..I) as the users of the co-occurrence."""
        rows = np.concatenate([np.full(len(s), u) for u, s in enumerate(sequences)] or [np.zeros(0, np.int64)])
        cols = np.concatenate([np.asarray(s, dtype=np.int64) - 1 for s in sequences] or [np.zeros(0, np.int64)])
        ui = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(sequences), n_items), dtype=np.float64)
        ui.sum_duplicates()
        return cls(ui, _counts(sequences, n_items), last)

    @property
    def n_items(self) -> int:
        return len(self.popularity)

    def scores(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        """(B,) non-empty histories -> (B, I) float64 summed similarities (an item's own 0) to
        each history's last ``last`` items (repeats count again), plus a popularity tie-break."""
        tie = self.popularity / (self.popularity.max(initial=0.0) + 1.0) * 1e-3
        out = np.empty((len(histories), self.n_items))
        for start in range(0, len(histories), 256):  # bounds the (recent items, I) block in memory
            chunk = [np.asarray(h[-self.last :], dtype=np.int64) - 1 for h in histories[start : start + 256]]
            recent = np.concatenate(chunk)
            co = np.asarray((self.item_users[recent] @ self.user_items).toarray())
            sim = co / self.norms[recent, None] / self.norms[None, :]
            sim[np.arange(len(recent)), recent] = 0.0
            firsts = np.cumsum([0] + [len(c) for c in chunk[:-1]])
            out[start : start + len(chunk)] = np.add.reduceat(sim, firsts, axis=0) + tie
        return out

    def probabilities(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        """(B, I): :meth:`scores` normalised per row."""
        return _normalised(self.scores(histories))

    def save(self, path: Path) -> None:
        """The binary matrix's CSR index arrays (its values are all 1), the popularity and ``last``."""
        ui = self.user_items
        np.savez(
            path / self.FILE,
            indptr=ui.indptr.astype(np.int64),
            indices=ui.indices.astype(np.int32),
            shape=np.asarray(ui.shape, dtype=np.int64),
            popularity=self.popularity,
            last=np.asarray(self.last),
        )

    @classmethod
    def load(cls, path: Path) -> ItemKNN:
        with np.load(path / cls.FILE, allow_pickle=False) as z:
            indices, indptr = z["indices"], z["indptr"]
            ui = csr_matrix((np.ones(len(indices)), indices, indptr), shape=tuple(int(n) for n in z["shape"]))
            return cls(ui, z["popularity"], int(z["last"]))


Fallback = Popularity | MarkovChain | ItemKNN
# What may answer instead of the network, by name (``config["served"]``).
FALLBACKS: dict[str, type[Popularity] | type[MarkovChain] | type[ItemKNN]] = {
    c.KIND: c for c in (MarkovChain, ItemKNN, Popularity)
}
