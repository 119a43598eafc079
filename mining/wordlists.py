"""Word lists kept as data (``data/words/<name>.txt``: one word or phrase a line, ``#`` starts a
comment line), read on first use and cached: importing a module that uses one reads nothing."""

from __future__ import annotations

import functools
from pathlib import Path

WORDS_DIR = Path(__file__).resolve().parents[1] / "data" / "words"


@functools.cache
def word_list(name: str) -> frozenset[str]:
    """The words of ``data/words/<name>.txt`` (surrounding whitespace stripped, blank and comment
    lines skipped); raises ``FileNotFoundError`` naming the file when it is missing."""
    path = WORDS_DIR / f"{name}.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(w for line in lines if (w := line.strip()) and not w.startswith("#"))


def stop_words(lang: str) -> frozenset[str]:
    """The stop words of ``lang`` ('zh', else English), from ``data/words`` (read once)."""
    return word_list("zh_stop_words" if lang == "zh" else "en_stop_words")
