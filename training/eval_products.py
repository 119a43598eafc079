"""Measure Chinese brand and product-type finding against people: the word lists the NER runner
serves (brands table + product-type list), the lists with ``ner-zh``'s ORG entities taken as
brands, and the lists with a product tagger (``training.train_ner --dataset products-zh``).

    python -m training.eval_products                          # the dev half: choices are made here
    python -m training.eval_products --half test              # the test half, read once for the docs
    python -m training.eval_products --model ner-products-zh:TAG   # also a product tagger in the store

The sample (``data/brands/product_mentions_zh.csv``): 400 real Chinese customer texts of 8-120
characters, 36 reviews drawn at random from each of the ten online_shopping_10_cats categories
(seed 20261205) and 40 STC-3 customer turns, split in halves by a hash of the id before anyone
labelled them, then marked by four annotators (a quarter each) by reading, with the guide in
``data/brands/README.md``: BRAND (makers, product brands, carriers) and CATEGORY (kinds of goods,
the guide's PRODUCT), as character spans. The texts are left out of the product tagger's training
data (:func:`training.data.product_ner_zh_table`). Spans count when type, start and end all match;
95% intervals come from resampling texts, and each ``lists + ... minus lists`` is paired on the same texts.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mining.brands import BrandTable
from mining.contracts import EntitySpan
from mining.entities import entities_of
from mining.products import ProductTypes
from mining.settings import settings
from training.intervals import bootstrap_ci, f1_of_counts, paired_difference

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "brands" / "product_mentions_zh.csv"
TYPES = ("BRAND", "CATEGORY")
Span = tuple[str, int, int]


def read_sample(half: str, path: Path = SAMPLE) -> tuple[list[str], list[set[Span]]]:
    """The texts of ``half`` (``dev`` or ``test``) and each text's gold spans ``(type, start, end)``."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df = df[df["half"] == half]
    if df.empty:
        raise ValueError(f"{path}: no rows of half {half!r} (halves: dev, test)")
    gold = [{(e["type"], e["start"], e["end"]) for e in json.loads(row)} for row in df["entities"]]
    return df["text"].tolist(), gold


def counts(gold: Sequence[set[Span]], pred: Sequence[set[Span]], types: Sequence[str] = TYPES) -> np.ndarray:
    """(n, 3) per-text ``(tp, fp, fn)`` over the spans of ``types``."""
    rows = []
    for g, p in zip(gold, pred, strict=True):
        g2, p2 = {s for s in g if s[0] in types}, {s for s in p if s[0] in types}
        rows.append((len(g2 & p2), len(p2 - g2), len(g2 - p2)))
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def scores(c: np.ndarray) -> dict[str, Any]:
    """Precision, recall and F1 (with its 95% interval) of per-text counts."""
    tp, fp, fn = (int(x) for x in c.sum(axis=0))
    f1 = f1_of_counts(c)
    return {
        "precision": round(tp / (tp + fp), 4) if tp + fp else 0.0,
        "recall": round(tp / (tp + fn), 4) if tp + fn else 0.0,
        "f1": round(f1(np.arange(len(c))), 4),
        "f1_ci95": [round(x, 4) for x in bootstrap_ci(f1, len(c))],
        "gold": tp + fn,
        "predicted": tp + fp,
    }


def _spans(found: Sequence[EntitySpan], with_org: bool) -> set[Span]:
    kinds = {"BRAND": "BRAND", "CATEGORY": "CATEGORY", **({"ORG": "BRAND"} if with_org else {})}
    return {(kinds[e.type], e.start, e.end) for e in found if e.type in kinds}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--half", default="dev", choices=("dev", "test"))
    parser.add_argument("--sample", default=str(SAMPLE))
    parser.add_argument(
        "--model", default="", help="a Chinese product tagger's tag in the store to score beside the lists"
    )
    args = parser.parse_args(argv)
    import bentoml

    from mining.models.ner import load_ner_artifact

    texts, gold = read_sample(args.half, Path(args.sample))
    cfg = settings()
    brands, types = BrandTable.load(*cfg.brands), ProductTypes.load(*cfg.product_types)
    ner_zh = load_ner_artifact(Path(bentoml.models.get(cfg.model_tags["ner-zh"]).path))

    systems: dict[str, list[set[Span]]] = {}
    systems["lists"] = [_spans(e, False) for e in entities_of(texts, [], brands, types)]
    systems["lists + ner-zh ORG"] = [_spans(e, True) for e in entities_of(texts, [ner_zh], brands, types)]
    if args.model:
        tagger = load_ner_artifact(Path(bentoml.models.get(args.model).path))
        systems["tagger"] = [_spans(e, False) for e in entities_of(texts, [tagger], BrandTable([]))]
        systems["lists + tagger"] = [_spans(e, False) for e in entities_of(texts, [tagger], brands, types)]

    listed = {m.lower() for m in types.words} | {a.form.lower() for a in brands.aliases}
    outside = [{s for s in g if t[s[1] : s[2]].lower() not in listed} for t, g in zip(texts, gold, strict=True)]
    result: dict[str, Any] = {"half": args.half, "n_texts": len(texts), "tagger": args.model or None}
    for name, pred in systems.items():
        result[name] = {
            kind: scores(counts(gold, pred, ks)) for kind, ks in (("all", TYPES), *((t, (t,)) for t in TYPES))
        }
        result[name]["recall_outside_lists"] = scores(counts(outside, [p & o for p, o in zip(pred, outside)]))["recall"]
    base = f1_of_counts(counts(gold, systems["lists"]))
    for name in [n for n in systems if n.startswith("lists +")]:
        result[f"{name} minus lists"] = paired_difference(f1_of_counts(counts(gold, systems[name])), base, len(texts))
    result["n_gold_outside_lists"] = sum(map(len, outside))
    print(json.dumps(result, ensure_ascii=False, indent=1), file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
