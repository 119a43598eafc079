"""Brands named in a text, from the brands table: one row per brand with its aliases and category.

The table is data, not code: the built-in one (``data/brands/brands.csv``) covers common brands of
Chinese and English e-commerce, and users add their own rows in a CSV of the same columns
(``DEMAND_MINING_BRANDS``), which extend or override the built-in rows by brand name.

Columns: ``brand`` (canonical name), ``aliases`` (``|``-separated surface forms; an alias that is
also an everyday word, like 苹果 or 小米, ends in ``*``), ``category`` (free text, e.g. 手机),
``context`` (a regular expression of product words: an alias marked ``*`` counts only with one of
them within a few characters, so 苹果手机 is Apple while 苹果很甜 is fruit).

Latin aliases match whole words as written or in lower case (not where the lower-case form is an
everyday word, ``data/words/brand_words_en.txt``); Chinese aliases match anywhere, longest first. Offsets
index the text exactly as sent (matching runs on the normalised text and maps back).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mining.files import read_text
from mining.text import normalize_with_offsets
from mining.wordlists import word_list

COLUMNS = ("brand", "aliases", "category", "context")
# How far a context word may be from an alias marked `*`: characters for Chinese, more for
# English, where words are longer and separated by spaces.
_CONTEXT_CHARS = {"zh": 4, "en": 30}
_LATIN = re.compile(r"[A-Za-z]")


@dataclass(frozen=True)
class BrandMention:
    """``brand`` (canonical) named by ``text == input[start:end]``; ``category`` from the table."""

    brand: str
    text: str
    start: int
    end: int
    category: str


@dataclass(frozen=True)
class _Alias:
    brand: str
    form: str
    category: str
    context: re.Pattern[str] | None  # None: the alias stands alone


class BrandTable:
    """The brands table as a matcher. Build it with :meth:`load` or from rows."""

    def __init__(self, rows: Iterable[dict[str, str]]) -> None:
        by_brand: dict[str, dict[str, str]] = {}
        for i, row in enumerate(rows):
            missing = [c for c in ("brand", "aliases") if not (row.get(c) or "").strip()]
            if missing:
                raise ValueError(f"brands table row {i + 1}: {missing} empty; columns are {list(COLUMNS)}")
            by_brand[row["brand"].strip()] = row  # a later row (a user's table) overrides the built-in one
        aliases: list[_Alias] = []
        for brand, row in by_brand.items():
            ctx_src = (row.get("context") or "").strip()
            try:
                ctx = re.compile(ctx_src, re.IGNORECASE) if ctx_src else None
            except re.error as e:
                raise ValueError(f"brands table, brand {brand!r}: context is not a regular expression ({e})") from None
            for form in (a.strip() for a in row["aliases"].split("|")):
                if not form:
                    continue
                needs = form.endswith("*")
                form = form.rstrip("*")
                if needs and ctx is None:
                    raise ValueError(f"brands table, brand {brand!r}: alias {form!r} is marked * but context is empty")
                aliases.append(_Alias(brand, form, (row.get("category") or "").strip(), ctx if needs else None))
        # Search queries are typed in lower case ("nike air force 1", "iphone 15 pro"): a Latin
        # alias also matches its lower-case form, unless that form is an everyday word
        # (data/words/brand_words_en.txt: "sharp", "gap") or another alias already.
        forms = {a.form for a in aliases}
        words = word_list("brand_words_en")
        for a in list(aliases):
            low = a.form.lower()
            if _LATIN.search(a.form) and low not in forms and low not in words:
                aliases.append(_Alias(a.brand, low, a.category, a.context))
                forms.add(low)
        self.aliases = sorted(aliases, key=lambda a: -len(a.form))
        self.brands = sorted(by_brand)
        self._by_form = {a.form: a for a in reversed(self.aliases)}
        parts = []
        for a in self.aliases:
            escaped = re.escape(a.form)
            parts.append(rf"(?<![A-Za-z0-9]){escaped}(?![A-Za-z0-9])" if _LATIN.search(a.form) else escaped)
        self._pattern = re.compile("|".join(parts)) if parts else None

    @classmethod
    def load(cls, *paths: str | Path) -> BrandTable:
        """The table from CSV files (UTF-8, UTF-16 or GB18030; header ``brand,aliases,category,context``), later files
        overriding earlier ones by brand."""
        rows: list[dict[str, str]] = []
        for path in paths:
            with io.StringIO(read_text(path), newline="") as f:
                reader = csv.DictReader(f)
                missing = [c for c in ("brand", "aliases") if c not in (reader.fieldnames or [])]
                if missing:
                    raise ValueError(f"{path}: brands table needs columns {list(COLUMNS)}; missing {missing}")
                rows.extend(reader)
        return cls(rows)

    def find(self, text: str) -> list[BrandMention]:
        """Every brand mention in ``text``, non-overlapping (longest alias first), in text order."""
        if self._pattern is None:
            return []
        norm, src = normalize_with_offsets(text)
        out = []
        for m in self._pattern.finditer(norm):
            alias = self._by_form[m.group(0)]
            if alias.context is not None:
                reach = _CONTEXT_CHARS["en" if _LATIN.search(alias.form) else "zh"]
                window = norm[max(0, m.start() - reach) : m.start()] + " " + norm[m.end() : m.end() + reach]
                if not alias.context.search(window):
                    continue
            start, end = src[m.start()][0], src[m.end() - 1][1]
            out.append(BrandMention(alias.brand, text[start:end], start, end, alias.category))
        return out
