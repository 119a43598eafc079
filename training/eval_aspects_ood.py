"""Measure the served aspect models on review sentences from domains they were not trained on.

    python -m training.eval_aspects_ood [--lang zh|en] [--tag aspects-zh:abc]
    python -m training.eval_aspects_ood --set dev --lang zh --tag aspects-zh:new --against aspects-zh:old

The test set (``data/aspects_ood/aspects_ood.jsonl``, its README has the guide and the sampling):
217 Chinese sentences from seven online_shopping_10_cats categories (books, clothes, fruit, water
heaters, dairy, hotels, shampoo) and 116 English Fine Food sentences, labelled before any model
ran on them; read once per served model, never to choose. The development set
(``aspects_ood_dev.jsonl``, ``--set dev``): 140 Chinese and 60 English sentences of the same
domains drawn from other reviews, labelled by the same guide; settings meant for text outside the
training domains are chosen on it. Scored on character spans, with bootstrap intervals over
sentences and a paired difference against the lexicon baseline built from the in-domain training
sentences, or against another stored model (``--against``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from training import data
from training.aspects_eval import (
    HEADLINE_STATISTICS,
    examples,
    item_scores,
    lexicon_predictor,
    score_domain,
    served_predictor,
)
from training.intervals import Headline, uncertainty

OOD_SET = Path(__file__).resolve().parents[1] / "data" / "aspects_ood" / "aspects_ood.jsonl"
OOD_DEV_SET = OOD_SET.with_name("aspects_ood_dev.jsonl")
SETS = {"test": OOD_SET, "dev": OOD_DEV_SET}
METRICS = ("test_aspect_f1", "test_polarity_accuracy", "test_pair_f1")


def evaluate_lang(lang: str, tag: str, path: Path = OOD_SET, against: str = "") -> dict[str, Any]:
    """The stored aspect model ``tag`` and the lexicon baseline (or the stored model ``against``) on
    the ``lang`` rows of ``path``.

    Returns:
        ``{"tag", "n_sentences", "n_aspects", "model": {metric: value}, "baseline": {...},
        "by_domain": {domain: {"model": pair F1, "baseline": pair F1}}, "ci95", "vs_baseline"}``.
    """
    import bentoml

    from mining.models.aspects import AspectDictionary, AspectModel, OpinionLexicon

    rows = [r for r in data.read_aspects(path) if r["lang"] == lang]
    if not rows:
        raise SystemExit(f"{path.name} has no {lang} sentences")
    if against:
        other_stored = bentoml.models.get(against)
        other = AspectModel.load(Path(other_stored.path))
        baseline, baseline_name = served_predictor(other, other.labels), str(other_stored.tag)
    else:
        train = [r for r in data.read_aspects(data.aspects_table()) if r["lang"] == lang and r["split"] == "train"]
        train_examples = examples(train)
        baseline = lexicon_predictor(
            AspectDictionary.from_examples(train_examples, lang), OpinionLexicon.derive(train_examples, lang)
        )
        baseline_name = "lexicon"
    stored = bentoml.models.get(tag)
    model = AspectModel.load(Path(stored.path))
    predicted, base_predicted = served_predictor(model, model.labels)(rows), baseline(rows)
    model_items, base_items = item_scores(rows, *predicted), item_scores(rows, *base_predicted)
    by_domain = {}
    for domain in sorted({r["domain"] for r in rows}):
        idx = np.array([i for i, r in enumerate(rows) if r["domain"] == domain])
        pair = HEADLINE_STATISTICS["test_pair_f1"]
        by_domain[domain] = {"model": pair(model_items)(idx), "baseline": pair(base_items)(idx), "n": int(len(idx))}
    headlines = [
        Headline(k, HEADLINE_STATISTICS[k](model_items), HEADLINE_STATISTICS[k](base_items), baseline_name)
        for k in METRICS
    ]
    return {
        "tag": str(stored.tag),
        "n_sentences": len(rows),
        "n_aspects": sum(len(r["aspects"]) for r in rows),
        "model": {k: v for k, v in score_domain(rows, *predicted, data.POLARITY_VALUES).items() if k in METRICS},
        "baseline": {
            k: v for k, v in score_domain(rows, *base_predicted, data.POLARITY_VALUES).items() if k in METRICS
        },
        "by_domain": by_domain,
        **uncertainty(headlines, len(rows)),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0])
    parser.add_argument("--lang", choices=("zh", "en"), action="append", help="language (default: the set's)")
    parser.add_argument("--tag", action="append", default=[], help="store tag per --lang (default aspects-<lang>)")
    parser.add_argument("--set", choices=sorted(SETS), default="test", help="the test set or the development set")
    parser.add_argument("--against", action="append", default=[], help="compare with this stored model per --lang")
    args = parser.parse_args(argv)
    langs = args.lang or sorted({r["lang"] for r in data.read_aspects(SETS[args.set])}, reverse=True)
    tags = args.tag or [f"aspects-{lang}:latest" for lang in langs]
    if len(tags) != len(langs):
        raise SystemExit(f"give one --tag per --lang: {len(tags)} tags for {len(langs)} languages")
    if args.against and len(args.against) != len(langs):
        raise SystemExit(f"give one --against per --lang: {len(args.against)} for {len(langs)} languages")
    against = args.against or [""] * len(langs)
    result = {
        lang: evaluate_lang(lang, tag, SETS[args.set], other)
        for lang, tag, other in zip(langs, tags, against, strict=True)
    }
    print(json.dumps(result, ensure_ascii=False, indent=1), file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
