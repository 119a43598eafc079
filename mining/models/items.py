"""The item catalog (the documented ``items`` table) that travels with the recall and sequence
models: what an item is called, its categories, brand and attributes, and whether it matches what
a user asked for in their own words.

Matching is a rule, not a model: a demand term (a category, brand or keyword the text models found
in the user's searches and messages) matches an item when, after lower-casing and NFKC, it equals
one of the item's categories, its brand or an attribute value, or one contains the other as a
whole word (English) or as a substring of at least two characters (Chinese): "comedy movies"
matches the category Comedy, "华为手机" the brand 华为.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

FILE = "items.csv"
COLUMNS = ("item_id", "title", "category", "brand", "attributes")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().lower()


def _has_cjk(text: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in text)


def term_matches(term: str, value: str) -> bool:
    """Whether a demand ``term`` names catalog ``value`` (both any case; see the module doc)."""
    t, v = _norm(term), _norm(value)
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
        """Read a user's items table (CSV, the documented columns; see ``training.data.ITEMS``)."""
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in ("item_id", "title", "category") if c not in (reader.fieldnames or [])]
            if missing:
                raise ValueError(f"{path}: the items table lacks columns {missing}; it has {reader.fieldnames}")
            return cls(reader)
