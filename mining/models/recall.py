"""ALS recall: implicit-feedback matrix factorisation (``implicit``), its artifact, and the
recommendation logic the runner serves (fold-in of fresh interactions, popularity fallback,
allow/deny lists, explanations).

Shapes: U users, I items, F factors. ``user_items`` is a (U, I) CSR matrix of interaction
weights (before the model's ``alpha``); ids are the caller's strings, mapped to row/column
indices inside the artifact.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix

from mining.models.spec import read_spec

WEIGHTINGS = ("binary", "weight", "log")


def confidence(weights: np.ndarray, weighting: str) -> np.ndarray:
    """Map summed interaction weights (any shape, > 0; clicks, carts, ratings...) to the values ALS
    scales by ``alpha``: ``binary`` 1 per pair, ``weight`` as given, ``log`` log(1 + weight).

    One function for training and fold-in, so fresh interactions weigh what stored ones do. ``log``
    keeps a strong signal (a purchase, a 5-star rating) above a weak one without letting a few
    heavy users dominate. The training search picks the weighting on validation (docs/training.md#recall).
    """
    w = np.asarray(weights, dtype=np.float32)
    if weighting == "binary":
        return (w > 0).astype(np.float32)
    if weighting == "weight":
        return w
    if weighting == "log":
        return np.log1p(w).astype(np.float32)
    raise ValueError(f"weighting must be one of {', '.join(WEIGHTINGS)}; got {weighting!r}")


def make_als(factors: int, regularization: float, alpha: float, iterations: int, seed: int = 0) -> Any:
    """A CPU ``implicit`` ALS model (the GPU build is not used: serving is per-request fold-in and
    top-k over a few thousand items, which a CPU core does in microseconds)."""
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    # implicit runs its own threads; callers keep BLAS at one thread while fitting (it checks here).
    with threadpool_limits(1, "blas"):
        return AlternatingLeastSquares(
            factors=factors,
            regularization=regularization,
            alpha=alpha,
            iterations=iterations,
            random_state=seed,
            calculate_training_loss=False,
        )


class RecallModel:
    """A fitted ALS model with its id maps, training interactions and item popularity.

    Args:
        als: fitted ``implicit`` ALS (user_factors (U, F), item_factors (I, F), float32).
        user_ids: U external user ids, in row order.
        item_ids: I external item ids, in column order.
        user_items: (U, I) float32 CSR, the summed raw interaction weights (``confidence`` is
            applied on top, with ``params["weighting"]``).
        params: hyper-parameters, including ``weighting`` (default ``weight``).
    """

    kind = "implicit_als"

    def __init__(
        self, als: Any, user_ids: Sequence[str], item_ids: Sequence[str], user_items: csr_matrix, params: dict[str, Any]
    ) -> None:
        self.als, self.params = als, params
        self.user_ids, self.item_ids = [str(u) for u in user_ids], [str(i) for i in item_ids]
        self.user_index = {u: k for k, u in enumerate(self.user_ids)}
        self.item_index = {i: k for k, i in enumerate(self.item_ids)}
        self.user_items = csr_matrix(user_items, dtype=np.float32)
        # Popularity = number of users who interacted: the fallback ranking for unknown users.
        self.popularity = np.asarray((self.user_items > 0).sum(0)).ravel().astype(np.float32)

    # --- queries ---------------------------------------------------------------------------------
    def _row(self, user_id: str | None, recent: Sequence[tuple[str, float]]) -> csr_matrix:
        """(1, I) confidences: the user's stored raw weights plus fresh interactions with known
        items, summed per item, then mapped by the model's weighting."""
        row = np.zeros(len(self.item_ids), dtype=np.float32)
        if user_id in self.user_index:
            stored = self.user_items[self.user_index[user_id]]
            row[stored.indices] = stored.data
        for item, weight in recent:
            if item in self.item_index:
                row[self.item_index[item]] += weight
        nz = row > 0
        row[nz] = confidence(row[nz], self.params.get("weighting", "weight"))
        return csr_matrix(row[None, :])

    def recommend(
        self,
        user_id: str,
        n: int = 10,
        recent: Sequence[tuple[str, float]] = (),
        exclude_seen: bool = True,
        allow: Sequence[str] | None = None,
        deny: Sequence[str] = (),
        explain: bool = False,
    ) -> dict[str, Any]:
        """Top-``n`` items for one user.

        Args:
            user_id: external id; unknown users are served from ``recent`` (folded in) or, without
                usable history, by popularity.
            n: items to return.
            recent: fresh (item_id, weight) interactions not yet in the model; they are folded in
                at once by re-solving the user's factors (``recalculate_user``).
            exclude_seen: leave out items the user already interacted with (stored or recent).
            allow: rank only these items (None: all items).
            deny: never return these items.
            explain: add, per item, the user's history items that contributed most to its score.
        Returns:
            ``{"user_id", "items": [{"item_id", "score", "because"?}], "source": "als" | "als_folded_in" |
            "popularity", "unknown_items": [ids in recent/allow/deny the model does not know]}``.
        """
        unknown = sorted(
            {i for i, _ in recent if i not in self.item_index}
            | {i for i in (allow or ()) if i not in self.item_index}
            | {i for i in deny if i not in self.item_index}
        )
        row = self._row(user_id, recent)
        denied = {self.item_index[i] for i in deny if i in self.item_index}
        if exclude_seen:
            denied |= set(row.indices.tolist())
        candidates = (
            np.array(sorted({self.item_index[i] for i in allow if i in self.item_index} - denied), dtype=np.int64)
            if allow is not None
            else None
        )
        known = user_id in self.user_index
        if row.nnz == 0:
            source = "popularity"
            pool = (
                candidates
                if candidates is not None
                else np.setdiff1d(np.arange(len(self.item_ids)), np.fromiter(denied, np.int64, len(denied)))
            )
            top = [int(k) for k in pool[np.argsort(-self.popularity[pool], kind="stable")[:n]]]
            items = [{"item_id": self.item_ids[k], "score": float(self.popularity[k])} for k in top]
            return {"user_id": user_id, "items": items, "source": source, "unknown_items": unknown}
        refit = bool(recent) or not known
        user_factor = (
            np.asarray(self.als.recalculate_user(0, row)).reshape(-1)
            if refit
            else self.als.user_factors[self.user_index[user_id]]
        )
        scores = self.als.item_factors @ user_factor  # (I,)
        if candidates is not None:
            mask = np.full(len(scores), -np.inf, dtype=np.float32)
            mask[candidates] = 0.0
            scores = scores + mask
        if denied:
            scores[np.fromiter(denied, np.int64, len(denied))] = -np.inf
        top = [int(k) for k in np.argsort(-scores, kind="stable")[:n] if np.isfinite(scores[k])]
        items = [{"item_id": self.item_ids[k], "score": float(scores[k])} for k in top]
        if explain:
            weights = None
            for item, k in zip(items, top):
                _, contributions, weights = self.als.explain(0, row, k, user_weights=weights, N=3)
                item["because"] = [{"item_id": self.item_ids[j], "contribution": float(c)} for j, c in contributions]
        return {
            "user_id": user_id,
            "items": items,
            "source": "als_folded_in" if refit else "als",
            "unknown_items": unknown,
        }

    def similar_items(self, item_id: str, n: int = 10) -> list[dict[str, Any]]:
        """The ``n`` items whose factors have the highest cosine similarity to ``item_id``'s.
        Raises ``KeyError`` naming an unknown item."""
        if item_id not in self.item_index:
            raise KeyError(f"item {item_id!r} is not in the model ({len(self.item_ids)} items known)")
        ids, scores = self.als.similar_items(self.item_index[item_id], N=n + 1)
        return [
            {"item_id": self.item_ids[int(k)], "score": float(s)}
            for k, s in zip(ids, scores)
            if self.item_ids[int(k)] != item_id
        ][:n]

    # --- artifact --------------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """``factors.npz`` (factors and the CSR interaction matrix; no pickles) + ``model.json``
        (kind, params) + ``ids.json`` (external id maps)."""
        path.mkdir(parents=True, exist_ok=True)
        ui = self.user_items
        np.savez(
            path / "factors.npz",
            user_factors=np.asarray(self.als.user_factors, np.float32),
            item_factors=np.asarray(self.als.item_factors, np.float32),
            indptr=ui.indptr,
            indices=ui.indices,
            data=ui.data,
            shape=np.array(ui.shape, np.int64),
        )
        spec = {
            "kind": self.kind,
            "params": self.params,
            "als": {
                "factors": self.als.factors,
                "regularization": self.als.regularization,
                "alpha": self.als.alpha,
                "iterations": self.als.iterations,
            },
        }
        (path / "model.json").write_text(json.dumps(spec, indent=1))
        (path / "ids.json").write_text(json.dumps({"users": self.user_ids, "items": self.item_ids}, ensure_ascii=False))

    @classmethod
    def load(cls, path: Path) -> RecallModel:
        path = Path(path)
        spec = read_spec(path, cls.kind)
        with np.load(path / "factors.npz", allow_pickle=False) as z:
            als = make_als(**spec["als"])
            als.user_factors, als.item_factors = z["user_factors"], z["item_factors"]
            user_items = csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
        ids = json.loads((path / "ids.json").read_text())
        return cls(als, ids["users"], ids["items"], user_items, spec["params"])


def recommend_many(model: RecallModel, requests: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """:meth:`RecallModel.recommend` per request dict (keys: ``user_id``, and optionally ``n``,
    ``recent`` as [{item_id, weight}], ``exclude_seen``, ``allow``, ``deny``, ``explain``)."""
    bad = [(i, type(r).__name__) for i, r in enumerate(requests) if not isinstance(r, dict) or "user_id" not in r]
    if bad:
        raise TypeError(
            f"requests must be dicts with a user_id; item {bad[0][0]} is {bad[0][1]} ({len(bad)} bad in all)"
        )
    out = []
    for r in requests:
        recent = [(str(e["item_id"]), float(e.get("weight", 1.0))) for e in r.get("recent", ())]
        out.append(
            model.recommend(
                str(r["user_id"]),
                int(r.get("n", 10)),
                recent,
                bool(r.get("exclude_seen", True)),
                r.get("allow"),
                r.get("deny", ()),
                bool(r.get("explain", False)),
            )
        )
    return out
