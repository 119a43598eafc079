"""Which texts the text models refuse as written in a language they cannot read
(:func:`mining.text.unsupported_language`), and which English texts they would wrongly refuse.

    python -m training.eval_languages

Two kinds of rows. Other languages (``data/languages/other_languages.tsv``): short reviews and
service messages in 17 languages written in Latin letters, the kind the two-way language detection
sends to the English models; a row is caught when it gets any language name (naming Portuguese
as Spanish still keeps it from the English models). The ``development`` rows are those the word
lists and the rule were written on; the ``check`` rows were written after both were fixed. English
(must not be refused): every English text of the training tables (reviews, the catalogue's titles,
the ABSA sentences, Bitext's requests and replies, the written requests, the English review
turns) and ``data/languages/english_loanwords.tsv``. Each share gets a 95% bootstrap
interval over its rows.

Output: a table on stderr and the metrics as a dict (``main``'s return).
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mining.text import unsupported_language
from training.common import parse_config
from training.intervals import bootstrap_ci, mean_of

CHECKS = Path(__file__).resolve().parents[1] / "data" / "languages"


@dataclass
class LanguagesConfig:
    """Refusals of texts in languages the models cannot read, and of English texts."""

    seed: int = field(default=0, metadata={"help": "seed of the bootstrap"})
    n_boot: int = field(default=1000, metadata={"help": "bootstrap resamples"})


def _tsv(name: str) -> list[dict[str, str]]:
    with open(CHECKS / name, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def english_texts() -> dict[str, list[str]]:
    """Corpus name -> its English texts: the training tables' and the written loanword checks."""
    from training import data
    from training.service_data import bitext_intents, bitext_replies, en_review_turns, shop_requests

    reviews = pd.read_csv(data.reviews_table(), dtype=str, keep_default_na=False)
    with open(data.aspects_table(), encoding="utf-8") as f:
        aspects = [row["text"] for line in f if (row := json.loads(line))["lang"] == "en"]
    return {
        "reviews": reviews.loc[reviews["lang"] == "en", "text"].tolist(),
        "catalogue titles": pd.read_csv(data.catalogue_table(), dtype=str, keep_default_na=False)["text"].tolist(),
        "ABSA sentences": aspects,
        "Bitext requests": [u.text for split in ("train", "validation", "test") for u in bitext_intents(split)],
        "Bitext replies": [text for r in bitext_replies() for text in (r.request, r.reply)],
        "written requests": [t.text for t in shop_requests() if t.source == "requests_en"],
        "review turns": [t.text for t in en_review_turns()],
        "loanwords": [r["text"] for r in _tsv("english_loanwords.tsv")],
    }


def share(flags: Sequence[bool], n_boot: int, seed: int) -> dict[str, Any]:
    """The share of true ``flags`` with its bootstrap interval, and the count."""
    values = [float(x) for x in flags]
    return {
        "n": len(values),
        "hits": int(sum(values)),
        "share": round(float(np.mean(values)), 4) if values else None,
        "ci95": bootstrap_ci(mean_of(values), len(values), n_boot=n_boot, seed=seed) if values else None,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    cfg = parse_config(LanguagesConfig, argv)
    result: dict[str, Any] = {"caught": {}, "english_refused": {}}
    rows = _tsv("other_languages.tsv")
    for part in ("development", "check"):
        texts = [r["text"] for r in rows if r["set"] == part]
        got = [unsupported_language(t) for t in texts]
        result["caught"][part] = {
            **share([g is not None for g in got], cfg.n_boot, cfg.seed),
            "missed": [t for t, g in zip(texts, got, strict=True) if g is None],
        }
    for name, texts in english_texts().items():
        got = [unsupported_language(t) for t in texts]
        result["english_refused"][name] = {
            **share([g is not None for g in got], cfg.n_boot, cfg.seed),
            "refused": [(t[:80], g) for t, g in zip(texts, got, strict=True) if g is not None][:10],
        }
    for group, parts in result.items():
        for part, r in parts.items():
            print(f"{group:16s} {part:18s} {r['hits']:5d} of {r['n']:6d}  {r['share']}  {r['ci95']}", file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
