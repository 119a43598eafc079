"""Measure the demand intents on the hand-labelled sample as ``/mine`` serves them, beside the rules alone.

    python -m training.eval_intents                 # the held-out half (the number in the docs)
    python -m training.eval_intents --split tune    # the half the rules were written on

The sample (``data/intents/intents_labelled.csv``) holds 500 real review texts, Chinese and
English, drawn at random from the review sets and labelled by hand before any rule was written;
it was split in half first, the rules were written and their thresholds chosen on ``tune``, and
``test`` was left for this measurement (docs/training.md, "Intents", says how the labels were
made). Sentiment comes from the store's ``sentiment-zh`` and ``sentiment-en`` and the service
intent from its ``intent`` model (latest, or the tags the settings pin), exactly as ``/mine``
computes them (:func:`mining.intents.demand_intent`); ``rules`` is the same sample read by the
rules alone, the baseline, with the paired difference.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from mining.contracts import text_items
from mining.intents import INTENTS, demand_intent, intent_of
from mining.models.textclf import Abstention, load_artifact, predict_routed
from mining.settings import settings
from training.common import classification_metrics, per_class_report
from training.intervals import mean_of, paired_difference

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "intents" / "intents_labelled.csv"


def positive_probabilities(texts: list[str]) -> list[float | None]:
    """P(positive) of each text from the store's sentiment model of its language, as ``/mine``
    reads it: calibrated (the temperature of the model's ``abstention``), read also where the model
    abstains; None for a text without words (no model reads it)."""
    import bentoml

    tags = settings().model_tags
    models, names, rules = {}, {}, {}
    for lang in ("zh", "en"):
        model = bentoml.models.get(tags[f"sentiment-{lang}"])
        models[lang], names[lang] = load_artifact(Path(model.path)), str(model.tag)
        rules[lang] = Abstention.from_metadata(model.info.metadata, lang)
    results = predict_routed(models, names, text_items(texts), task="sentiment", abstention=rules)
    return [r.probabilities.get("positive") for r in results]


def service_labels(texts: list[str]) -> list[str | None]:
    """The label the store's service ``intent`` model gives each text as ``/mine`` reads it (one
    model for both languages, each language's threshold), None where it withholds one."""
    from training.store import served_text_classifier

    model, metadata, tag = served_text_classifier(settings().model_tags["intent"])
    rules = {lang: Abstention.from_metadata(metadata, lang) for lang in ("zh", "en")}
    results = predict_routed({"zh": model, "en": model}, {"zh": tag, "en": tag}, text_items(texts), "intent", rules)
    return [r.label for r in results]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--split", choices=("test", "tune"), default="test", help="which half to measure")
    parser.add_argument("--sample", default=str(SAMPLE), help="labelled CSV: id, split, lang, intent, text, ...")
    parser.add_argument("--report-dir", default="reports", help="metrics go to <dir>/intents/metrics-<split>.json")
    args = parser.parse_args(argv)
    df = pd.read_csv(args.sample, dtype=str, keep_default_na=False)
    df = df[df["split"] == args.split].reset_index(drop=True)
    positive = positive_probabilities(df["text"].tolist())
    rule = [intent_of(t, lang, p) for t, lang, p in zip(df["text"], df["lang"], positive, strict=True)]
    pred = [demand_intent(r, s) for r, s in zip(rule, service_labels(df["text"].tolist()), strict=True)]
    y = [INTENTS.index(i) for i in df["intent"]]
    p = [INTENTS.index(i) for i in pred]
    m = classification_metrics(y, p, len(INTENTS))
    right = [float(a == b) for a, b in zip(pred, df["intent"], strict=True)]
    rule_right = [float(a == b) for a, b in zip(rule, df["intent"], strict=True)]
    result: dict[str, Any] = {
        "split": args.split,
        "n": len(df),
        "accuracy": m["accuracy"],
        "rules": {
            "accuracy": sum(rule_right) / len(rule_right),
            "changed": sum(a != b for a, b in zip(rule, pred, strict=True)),
            "difference": paired_difference(mean_of(right), mean_of(rule_right), len(right)),
        },
        "macro_f1_present": None,
        "per_intent": per_class_report(y, p, list(INTENTS)),
        "by_lang": {
            lang: float((df.loc[df["lang"] == lang, "intent"] == pd.Series(pred)[df["lang"] == lang]).mean())
            for lang in ("zh", "en")
        },
    }
    present = [v for v in result["per_intent"].values() if v.get("support", 0) > 0]
    result["macro_f1_present"] = sum(v["f1"] for v in present) / len(present) if present else None
    out = Path(args.report_dir) / "intents" / f"metrics-{args.split}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=1))
    print(json.dumps(result, ensure_ascii=False, indent=1), file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
