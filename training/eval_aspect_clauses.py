"""Chinese aspects on reviews of several clauses, with known answers: the validation clauses of
``aspects-zh``'s training split joined two or three at a time, read whole (the model's input before
clause-by-clause reading) and clause by clause (as served).

    python -m training.eval_aspect_clauses [--tag aspects-zh:abc] [--seed 7] [--joins conjunctions]

Why: the Chinese aspect corpora annotate single clauses without punctuation, so their own test
split cannot show what a served review of several clauses gets. Joining validation clauses keeps
every gold aspect and its polarity and touches no test sentence. Scored like the published splits
(:mod:`training.aspects_eval`), with bootstrap intervals over joined texts and the paired
difference of the two readings.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mining.models.aspects import CONTEXT_CHARS, AspectModel, aspect_context, zh_marked
from training import data
from training.aspects_eval import (
    HEADLINE_STATISTICS,
    Predictor,
    item_scores,
    reading_predictor,
    score_domain,
    served_predictor,
)
from training.intervals import Headline, uncertainty

# What joins two clauses of a review: mostly a comma, sometimes a full stop, "!" or a space.
JOINERS = ("，", "，", "，", "。", "！", " ")
# --joins conjunctions: two judgements joined by a bare conjunction, as reviews also write them
# (价格偏贵但是质量不错).
CONJUNCTIONS = ("但是", "不过", "而且", "就是", "但", "可是")
JOINS = {"punctuation": JOINERS, "conjunctions": CONJUNCTIONS}
METRICS = ("test_aspect_f1", "test_polarity_accuracy", "test_pair_f1")


def join_clauses(
    rows: Sequence[dict[str, Any]], sizes: Sequence[int], seed: int, joiners: Sequence[str] = JOINERS
) -> list[dict[str, Any]]:
    """Rows of texts made of 2-3 (``sizes``) of ``rows`` (each ``{"text", "aspects"}``) in a seeded
    order, glued by one of ``joiners`` drawn each time, the gold aspects' offsets moved with them;
    every row is used once."""
    rng = random.Random(seed)
    order = list(range(len(rows)))
    rng.shuffle(order)
    out, i = [], 0
    while i < len(order):
        group = [rows[j] for j in order[i : i + rng.choice(list(sizes))]]
        i += len(group)
        text, aspects = "", []
        for row in group:
            text += rng.choice(list(joiners)) if text else ""
            aspects += [{**a, "start": a["start"] + len(text), "end": a["end"] + len(text)} for a in row["aspects"]]
            text += row["text"]
        out.append({"text": text, "lang": "zh", "domain": "joined", "split": "val", "aspects": aspects})
    return out


def whole_text_reading(model: AspectModel) -> Predictor:
    """The model reading a review whole, as it did before clause by clause: the extractor over the
    whole text, and polarity over the aspect's sentence (:func:`aspect_context`)."""
    from mining.models.ner import extract_entities

    def extract(texts: list[str]) -> list[list[tuple[int, int, float]]]:
        return [
            [(e["start"], e["end"], float(e["score"])) for e in ents if e["type"] == "ASP"]
            for ents in extract_entities(model.extractor, texts)
        ]

    def classify(aspects: list[tuple[str, int, int]]) -> np.ndarray:
        inputs = [zh_marked(t, s, e, *aspect_context(t, s, e, CONTEXT_CHARS["zh"])) for t, s, e in aspects]
        return model.abstention.apply(model.polarity.predict_proba(inputs))

    return reading_predictor(extract, classify, model.labels)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Both readings of the joined validation clauses; returns (and prints) their metrics."""
    import bentoml

    from training.train_aspects import AspectsConfig, load_rows

    parser = argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0])
    parser.add_argument("--tag", default="aspects-zh:latest", help="store tag of the Chinese aspect model")
    parser.add_argument("--seed", type=int, default=7, help="seed of the joins")
    parser.add_argument(
        "--joins",
        choices=sorted(JOINS),
        default="punctuation",
        help="what glues the clauses: punctuation or conjunctions",
    )
    args = parser.parse_args(argv)
    splits, *_ = load_rows(AspectsConfig(lang="zh"))  # the validation split its training held out
    rows = join_clauses(splits["val"], (2, 3), args.seed, JOINS[args.joins])
    stored = bentoml.models.get(args.tag)
    model = AspectModel.load(Path(stored.path))
    clause, whole = served_predictor(model, model.labels)(rows), whole_text_reading(model)(rows)
    items = {"clause": item_scores(rows, *clause), "whole": item_scores(rows, *whole)}
    headlines = [
        Headline(k, HEADLINE_STATISTICS[k](items["clause"]), HEADLINE_STATISTICS[k](items["whole"]), "whole text")
        for k in METRICS
    ]
    result = {
        "tag": str(stored.tag),
        "joins": args.joins,
        "n_texts": len(rows),
        "n_clauses": len(splits["val"]),
        "n_aspects": sum(len(r["aspects"]) for r in rows),
        "clause_by_clause": {
            k: v for k, v in score_domain(rows, *clause, data.POLARITY_VALUES).items() if k in METRICS
        },
        "whole_text": {k: v for k, v in score_domain(rows, *whole, data.POLARITY_VALUES).items() if k in METRICS},
        **uncertainty(headlines, len(rows)),
    }
    print(json.dumps(result, ensure_ascii=False, indent=1), file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
