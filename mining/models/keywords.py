"""Keyword and key-phrase extraction for Chinese and English: TF-IDF against a corpus's document
frequencies, with phrases built from adjacent content words.

The IDF table is fitted on the training corpus (reviews and titles) and saved as a store artifact
(``keywords.json``: per language, document count and term -> document frequency), so serving
scores words the way the corpus distributes them.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mining.limits import MAX_KEYWORDS as MAX_KEYWORDS  # re-exported for the runner
from mining.models.spec import read_spec
from mining.text import ZH_DEGREE_HEADS, detect_language, join_words, normalize, require_strings, segment_words
from mining.wordlists import stop_words

# A content word has a letter or a CJK character, is not a stop word, and is long enough to carry
# meaning on its own (single Chinese characters and 1-2 letter English words rarely do).
_HAS_WORD_CHAR = re.compile(r"[A-Za-z\u3400-\u4dbf\u4e00-\u9fff]")


def _is_content(word: str, lang: str) -> bool:
    stop = stop_words(lang)
    min_len = 2 if lang == "zh" or not word.isascii() else 3
    if lang == "zh" and word[:1] in ZH_DEGREE_HEADS:  # 很强, 挺好: a judgement, not what the text is about
        return False
    return len(word) >= min_len and word not in stop and bool(_HAS_WORD_CHAR.search(word))


# The longest compound looked for, in words (扫地 / 机器人, robot / vacuum / cleaner).
_COMPOUND_WORDS = 4


def merge_compounds(words: Sequence[str], compounds: frozenset[str], lang: str) -> list[str]:
    """``words`` with each run of 2 to 4 adjacent words that spells a listed compound (joined
    without a space in Chinese, with one in English) taken as one word, longest first:
    空气 / 炸锅 -> 空气炸锅, air / fryer -> air fryer.

    Why: the segmenter cuts names of goods it does not list (jieba: 空气 / 炸锅, 扫地 / 机器人), and
    a phrase of single-use words never outranks its best word, so `/keywords` answered 炸锅 and 空气
    (air) for an air fryer. ``compounds`` are lower-cased, normalised names: the product types."""
    if not compounds:
        return list(words)
    out: list[str] = []
    i = 0
    while i < len(words):
        for n in range(min(_COMPOUND_WORDS, len(words) - i), 1, -1):
            joined = join_words(words[i : i + n], lang)
            if joined in compounds:
                out.append(joined)
                i += n
                break
        else:
            out.append(words[i])
            i += 1
    return out


def content_runs(text: str, lang: str, compounds: frozenset[str] = frozenset()) -> list[list[str]]:
    """Runs of adjacent content words of a text (lower-cased, normalised), ``compounds`` merged
    (:func:`merge_compounds`); stop words, punctuation and numbers break runs."""
    runs: list[list[str]] = [[]]
    for w in merge_compounds(segment_words(normalize(text).lower(), lang), compounds, lang):  # type: ignore[arg-type]
        if _is_content(w, lang):
            runs[-1].append(w)
        elif runs[-1]:
            runs.append([])
    return [r for r in runs if r]


class KeywordExtractor:
    """TF-IDF keywords and phrases.

    Args:
        doc_freq: per language, term -> number of corpus documents containing it.
        n_docs: per language, corpus documents.
        max_phrase_words: longest phrase, in words.
    """

    kind = "tfidf_keywords"

    def __init__(
        self,
        doc_freq: dict[str, dict[str, int]],
        n_docs: dict[str, int],
        max_phrase_words: int = 3,
        compounds: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.doc_freq, self.n_docs, self.max_phrase_words = doc_freq, n_docs, max_phrase_words
        # Language -> multi-word terms read as one word (:func:`merge_compounds`), lower-cased.
        self.compounds = {lang: frozenset(w.lower() for w in words) for lang, words in (compounds or {}).items()}

    @classmethod
    def fit(
        cls,
        texts: Iterable[str],
        min_df: int = 2,
        max_phrase_words: int = 3,
        compounds: Mapping[str, Iterable[str]] | None = None,
    ) -> KeywordExtractor:
        """Document frequencies of content words per detected language, ``compounds`` (language ->
        multi-word terms) counted as one word each; terms in fewer than ``min_df`` documents are
        dropped (they score as unseen)."""
        out = cls({}, {}, max_phrase_words, compounds)
        df: dict[str, Counter[str]] = {"zh": Counter(), "en": Counter()}
        n: Counter[str] = Counter()
        for text in texts:
            lang = detect_language(text)
            n[lang] += 1
            df[lang].update({w for run in content_runs(text, lang, out.compounds.get(lang, frozenset())) for w in run})
        out.doc_freq = {lg: {w: c for w, c in counts.items() if c >= min_df} for lg, counts in df.items()}
        out.n_docs = dict(n)
        return out

    def idf(self, word: str, lang: str) -> float:
        """Smoothed inverse document frequency, ``ln((1 + N) / (1 + df)) + 1``; an unseen word gets
        the highest value (it is rare by the corpus's evidence)."""
        n = self.n_docs.get(lang, 0)
        return math.log((1 + n) / (1 + self.doc_freq.get(lang, {}).get(word, 0))) + 1

    def _idf_of(self, word: str, lang: str, compounds: frozenset[str]) -> float:
        # A merged compound the corpus counts did not see as one word (they were made without the
        # lists) is as rare as its rarest part, not rarer than every word of the corpus.
        if word not in compounds or word in self.doc_freq.get(lang, {}):
            return self.idf(word, lang)
        parts = segment_words(word, lang) if lang == "zh" else word.split(" ")  # type: ignore[arg-type]
        return max(self.idf(p, lang) for p in parts)

    def extract(
        self, text: str, top_k: int = 10, lang: str | None = None, compounds: frozenset[str] = frozenset()
    ) -> dict[str, Any]:
        """Top keywords and phrases of one text; the extractor's own compounds and ``compounds``
        (lower-cased names of goods, e.g. the product types of the text's language) are read as one
        word each (:func:`merge_compounds`).

        A word scores tf * idf (tf = its count / content words in the text); a phrase of 2 to
        ``max_phrase_words`` adjacent content words scores the mean of its words' scores times
        its count, so a phrase ranks above its words only when it says more than they do alone.
        A candidate sharing a word with a higher-ranked one is skipped, so the list does not repeat
        itself ("coffee maker", then not "maker" or "replacement coffee maker").

        Returns:
            ``{"lang": "zh" | "en", "keywords": [{"keyword": str, "score": float}, ...]}``,
            at most ``top_k``, best first; scores are relative, not probabilities. ``lang``:
            the text's language when the caller detected it already.
        """
        lang = lang or detect_language(text)
        compounds = self.compounds.get(lang, frozenset()) | compounds
        runs = content_runs(text, lang, compounds)
        words = [w for run in runs for w in run]
        if not words:
            return {"lang": lang, "keywords": []}
        tf = Counter(words)
        word_score = {w: c / len(words) * self._idf_of(w, lang, compounds) for w, c in tf.items()}
        phrase_count: Counter[tuple[str, ...]] = Counter()
        for run in runs:
            for n in range(2, self.max_phrase_words + 1):
                for i in range(len(run) - n + 1):
                    phrase_count[tuple(run[i : i + n])] += 1
        candidates: list[tuple[tuple[str, ...], float]] = [((w,), s) for w, s in word_score.items()]
        candidates += [
            (p, c * sum(word_score[w] for w in p) / len(p)) for p, c in phrase_count.items() if len(set(p)) == len(p)
        ]
        candidates.sort(key=lambda c: (-c[1], -len(c[0]), c[0]))
        chosen: list[tuple[tuple[str, ...], float]] = []
        covered: set[str] = set()
        for words_, score in candidates:
            if len(chosen) == top_k:
                break
            if covered.intersection(words_):
                continue
            chosen.append((words_, score))
            covered.update(words_)
        return {"lang": lang, "keywords": [{"keyword": join_words(p, lang), "score": round(s, 4)} for p, s in chosen]}

    def extract_many(
        self,
        texts: Sequence[str],
        top_k: int = 10,
        langs: Sequence[str | None] | None = None,
        compounds: dict[str, frozenset[str]] | None = None,
    ) -> list[dict[str, Any]]:
        """:meth:`extract` per text (``langs``: each text's language, when known; ``compounds``:
        language -> the compounds of :meth:`extract`); raises ``TypeError`` naming the first
        non-string item."""
        require_strings(texts)
        out = []
        for t, lg in zip(texts, langs or [None] * len(texts), strict=True):
            lang = lg or detect_language(t)
            out.append(self.extract(t, top_k, lang, (compounds or {}).get(lang, frozenset())))
        return out

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        spec = {
            "kind": self.kind,
            "n_docs": self.n_docs,
            "max_phrase_words": self.max_phrase_words,
            "compounds": {lang: sorted(words) for lang, words in self.compounds.items()},
        }
        (path / "model.json").write_text(json.dumps(spec, indent=1))
        (path / "doc_freq.json").write_text(json.dumps(self.doc_freq, ensure_ascii=False))

    @classmethod
    def load(cls, path: Path) -> KeywordExtractor:
        spec = read_spec(path, cls.kind)
        doc_freq = json.loads((Path(path) / "doc_freq.json").read_text())
        # An artifact written before compounds were kept has none.
        return cls(doc_freq, spec["n_docs"], spec["max_phrase_words"], spec.get("compounds"))
