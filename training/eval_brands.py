"""Measure brand finding on hand-labelled Chinese reviews: the brands table alone against the
table plus the served Chinese NER (ORG entities taken as brands).

    python -m training.eval_brands

The sample (``data/brands/brand_mentions_labelled.csv``): 100 online_shopping_10_cats reviews of
10-120 characters drawn at random (seed 11) from the categories where brands are named (平板, 手机,
计算机, 洗发水, 热水器), each with the brand mentions it holds as written (``|``-separated),
labelled by hand after the table was written: manufacturers' and makers' names, not shops (京东)
or software (XP, VISTA). Mentions are compared as strings per text; a brand whose name is in no
row of the table is "outside the table", the case only a model can find.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from mining.brands import BrandTable
from mining.settings import settings

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "brands" / "brand_mentions_labelled.csv"


def _scores(gold: list[set[str]], pred: list[set[str]]) -> dict[str, float]:
    tp = sum(len(g & p) for g, p in zip(gold, pred, strict=True))
    n_gold, n_pred = sum(map(len, gold)), sum(map(len, pred))
    precision, recall = (tp / n_pred if n_pred else 0.0), (tp / n_gold if n_gold else 0.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "gold": n_gold, "predicted": n_pred}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--sample", default=str(SAMPLE))
    args = parser.parse_args(argv)
    import bentoml

    from mining.models.ner import extract_entities, load_ner_artifact

    df = pd.read_csv(args.sample, dtype=str, keep_default_na=False)
    table = BrandTable.load(*settings().brands)
    known = {a.form.lower() for a in table.aliases}
    gold = [{b.lower() for b in row.split("|") if b} for row in df["brands"]]
    by_table = [{m.text.lower() for m in table.find(t)} for t in df["text"]]
    ner = load_ner_artifact(Path(bentoml.models.get(settings().model_tags["ner-zh"]).path))
    orgs = [
        {e["text"].lower() for e in ents if e["type"] == "ORG"} for ents in extract_entities(ner, df["text"].tolist())
    ]
    with_ner = [t | o for t, o in zip(by_table, orgs, strict=True)]
    outside = [{b for b in g if b not in known} for g in gold]
    result = {
        "n_texts": len(df),
        "table": _scores(gold, by_table),
        "table_and_ner_zh_org": _scores(gold, with_ner),
        "outside_the_table": {
            "gold": sum(map(len, outside)),
            "table_recall": _scores(outside, [p & o for p, o in zip(by_table, outside, strict=True)])["recall"],
            "table_and_ner_recall": _scores(outside, [p & o for p, o in zip(with_ner, outside, strict=True)])["recall"],
        },
    }
    print(json.dumps(result, ensure_ascii=False, indent=1), file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
