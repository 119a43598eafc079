"""Measure brand and product-type finding against people, in Chinese and English: what `/ner`
serves (models, brands table, product-type list) against the same without the product-type list,
and, in Chinese, with ``ner-zh``'s ORG entities taken as brands or with a product tagger
(``training.train_ner --dataset products-zh``).

    python -m training.eval_products                          # Chinese, the dev half: choices are made here
    python -m training.eval_products --half test              # the test half, read once for the docs
    python -m training.eval_products --lang en --half test    # English
    python -m training.eval_products --model ner-products-zh:TAG   # also a Chinese product tagger in the store

The samples (``data/brands/product_mentions_{zh,en}.csv``, drawn and labelled as
``data/brands/README.md`` says): real customer texts, split in halves by a hash of the id before
anyone labelled them, then marked by four annotators (a quarter each) by reading: BRAND (makers,
product brands, carriers) and CATEGORY (kinds of goods, the guides' PRODUCT), as character spans.
Chinese: 400 texts (36 reviews of each online_shopping_10_cats category, 40 STC-3 turns); English:
200 (120 Fine Food reviews, 80 laptop, T-shirt and TV review sentences). The Chinese texts are left
out of the product tagger's training data (:func:`training.data.product_ner_zh_table`). Spans
count when type, start and end all match; 95% intervals come from resampling texts, and each
``... minus ...`` difference is paired on the same texts.
"""

from __future__ import annotations

import argparse
import contextlib
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

SAMPLES = {
    lang: Path(__file__).resolve().parents[1] / "data" / "brands" / f"product_mentions_{lang}.csv"
    for lang in ("zh", "en")
}
TYPES = ("BRAND", "CATEGORY")
Span = tuple[str, int, int]


def read_sample(half: str, path: Path = SAMPLES["zh"]) -> tuple[list[str], list[set[Span]]]:
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


def _spans(found: Sequence[EntitySpan], as_brand: tuple[str, ...] = ()) -> set[Span]:
    """BRAND and CATEGORY spans of ``found``, with the types ``as_brand`` (ORG, COMPANY) counted as BRAND."""
    kinds = {"BRAND": "BRAND", "CATEGORY": "CATEGORY", **{t: "BRAND" for t in as_brand}}
    return {(kinds[e.type], e.start, e.end) for e in found if e.type in kinds}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--lang", default="zh", choices=sorted(SAMPLES))
    parser.add_argument("--half", default="dev", choices=("dev", "test"))
    parser.add_argument("--sample", default="", help="a sample file of the same columns (default: the built-in one)")
    parser.add_argument(
        "--model", default="", help="a Chinese product tagger's tag in the store to score beside the lists"
    )
    args = parser.parse_args(argv)
    import bentoml

    from mining.models.ner import load_ner_artifact
    from mining.registry import MODELS

    texts, gold = read_sample(args.half, Path(args.sample or SAMPLES[args.lang]))
    cfg = settings()
    brands, types = BrandTable.load(*cfg.brands), ProductTypes.load(args.lang, *cfg.product_types)
    # The NER models /ner serves for the language, as the runner loads them (those in the store).
    names = [m.name for m in MODELS if m.task == "ner" and m.lang == args.lang]
    served = []
    for name in names:
        with contextlib.suppress(bentoml.exceptions.NotFound):
            served.append(load_ner_artifact(Path(bentoml.models.get(cfg.model_tags[name]).path)))
    other_names = ("ORG",) if args.lang == "zh" else ("COMPANY",)

    systems: dict[str, list[set[Span]]] = {}
    systems["without the list"] = [_spans(e) for e in entities_of(texts, served, brands)]
    systems["served"] = [_spans(e) for e in entities_of(texts, served, brands, types)]
    systems[f"served, {other_names[0]} as BRAND"] = [
        _spans(e, other_names) for e in entities_of(texts, served, brands, types)
    ]
    if args.model:
        tagger = load_ner_artifact(Path(bentoml.models.get(args.model).path))
        systems["tagger"] = [_spans(e) for e in entities_of(texts, [tagger], BrandTable([]))]
        systems["served + tagger"] = [_spans(e) for e in entities_of(texts, [*served, tagger], brands, types)]

    listed = {m.lower() for m in types.words} | {a.form.lower() for a in brands.aliases}
    outside = [{s for s in g if t[s[1] : s[2]].lower() not in listed} for t, g in zip(texts, gold, strict=True)]
    result: dict[str, Any] = {"lang": args.lang, "half": args.half, "n_texts": len(texts), "models": names}
    for name, pred in systems.items():
        result[name] = {
            kind: scores(counts(gold, pred, ks)) for kind, ks in (("all", TYPES), *((t, (t,)) for t in TYPES))
        }
        result[name]["recall_outside_lists"] = scores(counts(outside, [p & o for p, o in zip(pred, outside)]))["recall"]
    served_f1 = f1_of_counts(counts(gold, systems["served"]))
    for name in systems:
        if name != "served":
            other = f1_of_counts(counts(gold, systems[name]))
            result[f"served minus {name}"] = paired_difference(served_f1, other, len(texts))
    result["n_gold_outside_lists"] = sum(map(len, outside))
    print(json.dumps(result, ensure_ascii=False, indent=1), file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
