"""Word lists kept as data (``data/words/<name>.txt``: one word or phrase a line, ``#`` starts a
comment line), read on first use and cached: importing a module that uses one reads nothing."""

from __future__ import annotations

import functools
from pathlib import Path

from mining.files import read_text

WORDS_DIR = Path(__file__).resolve().parents[1] / "data" / "words"


def read_words(path: str | Path) -> list[str]:
    """The entries of a word-list file in file order: one word or phrase a line, surrounding
    whitespace stripped, blank and ``#`` comment lines skipped; the file in UTF-8, UTF-16 or
    GB18030 (:func:`mining.files.read_text`). Raises ``FileNotFoundError`` naming a missing file."""
    return [w for line in read_text(path).splitlines() if (w := line.strip()) and not w.startswith("#")]


@functools.cache
def word_list(name: str) -> frozenset[str]:
    """The words of ``data/words/<name>.txt`` (:func:`read_words`)."""
    return frozenset(read_words(WORDS_DIR / f"{name}.txt"))


def stop_words(lang: str) -> frozenset[str]:
    """The stop words of ``lang`` ('zh', else English), from ``data/words`` (read once)."""
    return word_list("zh_stop_words" if lang == "zh" else "en_stop_words")
