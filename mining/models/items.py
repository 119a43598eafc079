"""The item catalog (the documented ``items`` table) that travels with the recall and sequence
models: what an item is called, its categories, brand and attributes, and whether it matches what
a user asked for in their own words; and the two rules that re-rank candidate lists with it (a
lift for stated needs) and across recommenders (rank fusion). No torch here: the gateway uses it.

Matching is a rule, not a model: a demand term (a category, brand or keyword the text models found
in the user's searches and messages) matches an item when, after lower-casing and NFKC, it equals
one of the item's categories, its brand or an attribute value, or one contains the other as a
whole word (English) or as a substring of at least two characters (Chinese): "comedy movies"
matches the category Comedy, "华为手机" the brand 华为.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mining.files import read_text
from mining.text import normalize_term

FILE = "items.csv"
COLUMNS = ("item_id", "title", "category", "brand", "attributes")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def _has_cjk(text: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in text)


def term_matches(term: str, value: str) -> bool:
    """Whether a demand ``term`` names catalog ``value`` (both any case; see the module doc)."""
    t, v = normalize_term(term), normalize_term(value)
    if not t or not v:
        return False
    if t == v:
        return True
    if _has_cjk(t) or _has_cjk(v):
        short, long = (t, v) if len(t) <= len(v) else (v, t)
        return len(short) >= 2 and short in long
    tw, vw = _WORD.findall(t), _WORD.findall(v)
    few, many = (tw, vw) if len(tw) <= len(vw) else (vw, tw)
    if not few:
        return False
    # a whole-word run: "comedy" in "romantic comedy movies", "children's" as "children s"
    return any(many[k : k + len(few)] == few for k in range(len(many) - len(few) + 1))


class ItemCatalog:
    """Item id -> ``{"title", "categories", "brand", "attributes"}``.

    Args:
        rows: dicts with the :data:`COLUMNS` (``category`` '|'-separated, ``attributes``
            'key=value' pairs separated by ';').
    """

    def __init__(self, rows: Iterable[dict[str, Any]]) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        for r in rows:
            attributes = {}
            for pair in str(r.get("attributes") or "").split(";"):
                if "=" in pair:
                    k, v = pair.split("=", 1)
                    attributes[k.strip()] = v.strip()
            self.items[str(r["item_id"])] = {
                "title": str(r.get("title") or ""),
                "categories": [c.strip() for c in str(r.get("category") or "").split("|") if c.strip()],
                "brand": str(r.get("brand") or "") or None,
                "attributes": attributes,
            }

    def __len__(self) -> int:
        return len(self.items)

    def get(self, item_id: str) -> dict[str, Any] | None:
        return self.items.get(str(item_id))

    def matches(self, item_id: str, terms: Sequence[str]) -> list[str]:
        """The demand ``terms`` that item ``item_id`` matches (in the order given); [] for an item
        the catalog lacks."""
        info = self.items.get(str(item_id))
        if info is None:
            return []
        values = [*info["categories"], *([info["brand"]] if info["brand"] else []), *info["attributes"].values()]
        return [t for t in terms if any(term_matches(t, v) for v in values)]

    # --- artifact ---------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> None:
        with open(Path(folder) / FILE, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(COLUMNS)
            for item_id, info in self.items.items():
                attributes = ";".join(f"{k}={v}" for k, v in info["attributes"].items())
                writer.writerow([item_id, info["title"], "|".join(info["categories"]), info["brand"] or "", attributes])

    @classmethod
    def load(cls, folder: str | Path) -> ItemCatalog | None:
        """The catalog saved in an artifact folder, or None when the model was trained without one."""
        path = Path(folder) / FILE
        if not path.exists():
            return None
        with open(path, newline="", encoding="utf-8") as f:
            return cls(csv.DictReader(f))

    @classmethod
    def from_table(cls, path: str | Path) -> ItemCatalog:
        """Read a user's items table (CSV in UTF-8, UTF-16 or GB18030, the documented columns; see
        ``training.data.ITEMS``)."""
        with io.StringIO(read_text(path), newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in ("item_id", "title", "category") if c not in (reader.fieldnames or [])]
            if missing:
                raise ValueError(f"{path}: the items table lacks columns {missing}; it has {reader.fieldnames}")
            return cls(reader)


# How far a stated need lifts a matching item: its rank score (1 for the first candidate down to
# 0 for the last) gains this much, so a match overtakes about half the candidate list.
DEMAND_BOOST = 0.5


def boost(
    ranked: Sequence[str], values: dict[str, list[str]], terms: Sequence[str], weight: float = DEMAND_BOOST
) -> list[tuple[str, float, list[str]]]:
    """Re-rank candidates towards what a user asked for.

    Args:
        ranked: candidate item ids, best first (the recommender's order).
        values: item id -> its catalog values (categories, brand, attributes); items without an
            entry never match.
        terms: the user's demand terms (categories, brands, keywords from their own texts).
        weight: the lift of a matching item, in rank-score units (see :data:`DEMAND_BOOST`).
    Returns:
        (item id, score, matched terms), best first; score = rank score + ``weight`` if any term
        matches. Without terms the order is unchanged.
    """
    n = len(ranked)
    out = []
    for k, item in enumerate(ranked):
        base = 1.0 - k / n if n > 1 else 1.0
        matched = [t for t in terms if any(term_matches(t, v) for v in values.get(item, ()))]
        out.append((item, base + (weight if matched else 0.0), matched))
    return sorted(out, key=lambda x: -x[1])  # stable: ties keep the recommender's order


def lift(
    ranked: Sequence[str], values: dict[str, list[str]], terms: Sequence[str]
) -> list[tuple[str, float, list[str]]] | None:
    """:func:`boost`, or None when no candidate matches a term: then the recommender's list
    stands as it was, scores included."""
    if not terms:
        return None
    out = boost(ranked, values, terms)
    return out if any(m for _, _, m in out) else None


# Reciprocal-rank fusion constant: how quickly a lower rank stops counting (the usual 60).
FUSION_K = 60


def fuse(rank_sequence: np.ndarray, rank_als: np.ndarray, weight: float, k: int = FUSION_K) -> np.ndarray:
    """Blend two rankings of the same items (1-based ranks, any shape): ``weight / (k + rank of
    the sequence model) + (1 - weight) / (k + rank of ALS)``; higher is better."""
    return weight / (k + rank_sequence) + (1.0 - weight) / (k + rank_als)


def blend(sequence_ranked: Sequence[str], als_ranked: Sequence[str], weight: float, n: int) -> list[tuple[str, float]]:
    """The top ``n`` of two candidate lists (best first) by :func:`fuse`; an item missing from a
    list ranks just below its end."""
    rs = {item: k + 1 for k, item in enumerate(sequence_ranked)}
    ra = {item: k + 1 for k, item in enumerate(als_ranked)}
    items = list(dict.fromkeys([*sequence_ranked, *als_ranked]))
    scores = fuse(
        np.array([rs.get(i, len(sequence_ranked) + 1) for i in items], dtype=np.float64),
        np.array([ra.get(i, len(als_ranked) + 1) for i in items], dtype=np.float64),
        weight,
    )
    order = np.argsort(-scores, kind="stable")[:n]
    return [(items[j], float(scores[j])) for j in order]
