"""Draw Chinese review sentences from domains the aspect models were not trained on, for labelling.

    python -m training.sample_aspects_ood --seed 20261206 --per-category 20 \
        --exclude data/aspects_ood/aspects_ood.jsonl --out /tmp/ood_dev_unlabelled.jsonl

The procedure of ``data/aspects_ood/README.md`` (its "Sampling" section), Chinese part: categories
in a fixed order, each category's rows of :func:`training.data.shopping_reviews` shuffled by one
seeded generator, one eligible sentence drawn per review, no sentence found in the ABSA archive
and none near-identical to one already taken. With the test set's seed and 31 a category it
draws the test set's Chinese sentences again (a unit test checks the first of them), which is what
makes the development set drawn with another seed and ``--exclude`` disjoint from it: rows
(reviews) the excluded file drew from are skipped, and its sentences count as already taken.

Writes unlabelled rows (``"aspects": null``) for the labelling guide of the same README.
"""

from __future__ import annotations

import difflib
import json
import random
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.common import parse_config

#: Category (as :func:`training.data.shopping_reviews` names it) -> the set's ``domain``, in
#: drawing order; the order is part of the procedure (one generator drives every draw).
DOMAINS: dict[str, str] = {
    "书籍": "books",
    "衣服": "clothes",
    "水果": "fruit",
    "热水器": "water_heater",
    "乳制品": "dairy",
    "酒店": "hotel",
    "洗发水": "shampoo",
}
_SENTENCE = re.compile(r"[^。！？!?；;\n\r]+[。！？!?；;]*")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_NEAR = 0.8


@dataclass
class SampleConfig:
    """Draw Chinese review sentences of other domains for labelling (data/aspects_ood/README.md)."""

    seed: int = field(default=20261206, metadata={"help": "seed of the one generator behind every draw"})
    per_category: int = field(default=20, metadata={"help": "sentences drawn per category (one per review)"})
    exclude: str = field(
        default="", metadata={"help": "a labelled set (JSON lines) whose reviews and sentences the draw avoids"}
    )
    out: str = field(default="", metadata={"help": "where to write the unlabelled rows (JSON lines)"})


def normalised(text: str) -> str:
    """NFKC, lower-case, all whitespace removed: the form compared with the ABSA archive."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text).lower())


def near_key(text: str) -> str:
    """:func:`normalised` with punctuation and symbols also removed: the form compared between drawn
    sentences."""
    return "".join(c for c in normalised(text) if not unicodedata.category(c).startswith(("P", "S")))


def eligible_sentences(review: str) -> list[str]:
    """The review's sentences (closing punctuation kept, surrounding space stripped) of 6 to 60
    characters with at least one CJK character, in order."""
    out = []
    for m in _SENTENCE.finditer(review):
        s = m.group(0).strip()
        if 6 <= len(s) <= 60 and _CJK.search(s):
            out.append(s)
    return out


class _Taken:
    """Sentences drawn so far, for the near-identical filter."""

    def __init__(self, texts: Iterable[str] = ()) -> None:
        self.keys: list[str] = [near_key(t) for t in texts]

    def near(self, text: str) -> bool:
        key = near_key(text)
        return any(key == k or difflib.SequenceMatcher(None, key, k).ratio() >= _NEAR for k in self.keys)

    def add(self, text: str) -> None:
        self.keys.append(near_key(text))


def draw(
    reviews: Sequence[tuple[str, str]],
    archive_texts: Iterable[str],
    seed: int,
    per_category: int,
    exclude_rows: set[int] | None = None,
    exclude_texts: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """Draw up to ``per_category`` sentences from each category of :data:`DOMAINS`.

    Args:
        reviews: ``(text, category)`` per row of the review table; a row's index is its ``source.row``.
        archive_texts: the ABSA archive's Chinese sentences; a sentence inside one is never drawn.
        exclude_rows: review rows not to draw from (another set's).
        exclude_texts: sentences that count as already drawn (another set's).

    Returns:
        Rows ``{"text", "lang": "zh", "domain", "split", "source": {"corpus", "row"}, "aspects": None}``
        in drawing order.
    """
    rng = random.Random(seed)
    archive = "\x00".join(normalised(t) for t in archive_texts)
    taken, skip = _Taken(exclude_texts), exclude_rows or set()
    rows: list[dict[str, Any]] = []
    for category, domain in DOMAINS.items():
        indices = [i for i, (_, c) in enumerate(reviews) if c == category]
        n = 0
        for i in rng.sample(indices, len(indices)):
            if n == per_category:
                break
            if i in skip:
                continue
            candidates = [
                s for s in eligible_sentences(reviews[i][0]) if normalised(s) not in archive and not taken.near(s)
            ]
            if not candidates:
                continue
            sentence = rng.choice(candidates)
            taken.add(sentence)
            rows.append(
                {
                    "text": sentence,
                    "lang": "zh",
                    "domain": domain,
                    "split": "test",  # the table format's word for "not trained on"
                    "source": {"corpus": "online_shopping_10_cats", "row": i},
                    "aspects": None,
                }
            )
            n += 1
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    cfg = parse_config(SampleConfig, argv)
    from training import data

    table = data.shopping_reviews()
    reviews = list(zip(table["text"], table["category"], strict=True))
    archive = [r["text"] for r in data.absa_rows() if r["lang"] == "zh"]
    excluded = [r for r in (data.read_aspects(cfg.exclude) if cfg.exclude else []) if r["lang"] == "zh"]
    rows = draw(
        reviews,
        archive,
        cfg.seed,
        cfg.per_category,
        exclude_rows={r["source"]["row"] for r in excluded},
        exclude_texts=[r["text"] for r in excluded],
    )
    if cfg.out:
        Path(cfg.out).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return {"sentences": len(rows), "out": cfg.out}


if __name__ == "__main__":
    print(main())
