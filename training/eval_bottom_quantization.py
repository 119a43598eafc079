"""Validation scores of the stored encoder heads with their frozen bottom as it serves by default
(float32) and quantised: what ``DEMAND_MINING_BOTTOM_QUANTIZATION`` is chosen on.

    python -m training.eval_bottom_quantization                          # every head with a frozen bottom
    python -m training.eval_bottom_quantization --only ner-en,aspects-zh --modes int8 --max-items 500

The bottom (embeddings and the first frozen layers) is one copy per process that every head above
it reads, so its quantisation is one choice for all of them, not a head's own (each head's top is
quantised as its training chose on validation, and stays so here). Each head is loaded as it
serves, scored on its trainer's validation split (the same split, seed and data as its training:
the store metadata's ``params``), then loaded again with the bottom quantised and scored on the
same items; the paired difference is bootstrapped over items. The rule: a mode may serve when no
head loses more than 0.5 point of its selection score (the registry's ``SELECTION``: served
accuracy, entity F1, aspect pair F1). No test split is read.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mining.registry import MODELS, ModelSpec
from training.common import parse_config
from training.intervals import Statistic, f1_of_counts, mean_of, paired_difference

ALLOWED_DROP = 0.005  # the project's rule for any quantisation: at most 0.5 point on validation


@dataclass
class BottomEvalConfig:
    """Score the stored encoder heads on validation with their frozen bottom float and quantised."""

    only: str = field(default="", metadata={"help": "comma-separated store names (default: every head with a bottom)"})
    modes: str = field(
        default="bf16,int8-channel,int8", metadata={"help": "bottom quantisations to compare with float"}
    )
    max_items: int = field(
        default=0, metadata={"help": "score at most this many validation items per head, drawn with seed 0 (0: all)"}
    )
    out: str = field(default="", metadata={"help": "also write the result here (JSON)"})


def config_from(cls: type[Any], params: dict[str, Any]) -> Any:
    """A trainer's config with the stored ``params`` of a model it trained (fields it has)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return dataclasses.replace(parse_config(cls, []), **{k: v for k, v in params.items() if k in names})


@dataclass
class Scorer:
    """One head's validation items and how to score a loaded model on them: ``score(model)`` is a
    per-item array the ``statistic`` turns into the selection score (on all items or a resample)."""

    n: int
    load: Callable[[], Any]
    score: Callable[[Any], np.ndarray]
    statistic: Callable[[np.ndarray], Statistic]
    metric: str


def _pick(n: int, max_items: int) -> np.ndarray:
    idx = np.arange(n)
    if max_items and n > max_items:
        idx = np.sort(np.random.default_rng(0).choice(n, max_items, replace=False))
    return idx


def text_classifier(spec: ModelSpec, path: Path, params: dict[str, Any], max_items: int) -> Scorer:
    from mining.models.textclf import load_artifact

    if spec.task == "sentiment":
        from training.train_sentiment import SentimentConfig, load_reviews

        val = load_reviews(config_from(SentimentConfig, params))[0]["val"]
    elif spec.task == "classification":
        from training.textclf import prepare_splits
        from training.train_classifier import ClassifierConfig, labelled_texts

        cfg = config_from(ClassifierConfig, params)
        texts, labels, _ = labelled_texts(cfg)
        val = prepare_splits(texts, labels, cfg.seed, cfg.max_train_samples)[0]["val"]  # the first split's
    else:
        from training.train_intents import IntentConfig, service_splits

        val = service_splits(config_from(IntentConfig, params))[0]["val"]
    idx = _pick(len(val.texts), max_items)
    texts, y = [val.texts[i] for i in idx], np.asarray(val.y)[idx]
    return Scorer(
        len(idx),
        lambda: load_artifact(path),
        lambda model: (model.predict_proba(texts).argmax(1) == y).astype(np.float64),
        mean_of,
        "served_val_accuracy",
    )


def tagger(spec: ModelSpec, path: Path, params: dict[str, Any], max_items: int) -> Scorer:
    from mining.models.ner import load_ner_artifact
    from training.ner_data import load_splits
    from training.tagging import evaluate
    from training.train_ner import NerConfig

    val = load_splits(config_from(NerConfig, params))[0]["val"]
    sentences = [val[i] for i in _pick(len(val), max_items)]
    return Scorer(
        len(sentences),
        lambda: load_ner_artifact(path),
        lambda model: np.asarray(evaluate(model, sentences)["counts"], dtype=np.int64).reshape(-1, 3),
        f1_of_counts,
        "val_entity_f1",
    )


def aspect_model(spec: ModelSpec, path: Path, params: dict[str, Any], max_items: int) -> Scorer:
    from mining.models.aspects import AspectModel
    from training.aspects_eval import item_scores, served_predictor
    from training.train_aspects import AspectsConfig, load_rows

    val = load_rows(config_from(AspectsConfig, params))[0]["val"]
    rows = [val[i] for i in _pick(len(val), max_items)]

    def score(model: AspectModel) -> np.ndarray:
        return item_scores(rows, *served_predictor(model, model.labels)(rows)).pair

    return Scorer(len(rows), lambda: AspectModel.load(path), score, f1_of_counts, "val_pair_f1")


SCORERS: dict[str, Callable[[ModelSpec, Path, dict[str, Any], int], Scorer]] = {
    "sentiment": text_classifier,
    "classification": text_classifier,
    "intent": text_classifier,
    "ner": tagger,
    "aspects": aspect_model,
}


def stored_model(tag: str) -> Any:
    """The store's model ``tag`` (BentoML's store of ``BENTOML_HOME``)."""
    import bentoml

    return bentoml.models.get(tag)


def evaluate_head(spec: ModelSpec, modes: Sequence[str], max_items: int) -> dict[str, Any]:
    """One stored head (``<name>:latest``), float bottom against each mode in ``modes``."""
    from bentoml.exceptions import NotFound

    from mining.artifacts import frozen_encoders, quantize, quantize_bottom, served_quantization

    try:
        stored = stored_model(f"{spec.name}:latest")
    except NotFound:
        return {"model": None, "skipped": "not in the store"}
    metadata: dict[str, Any] = dict(stored.info.metadata)
    scorer = SCORERS[spec.task](spec, Path(stored.path), dict(metadata.get("params") or {}), max_items)

    def served(bottom: str) -> Any:
        model = scorer.load()
        for encoder in frozen_encoders(model):
            quantize_bottom(encoder, bottom)
        return quantize(model, *served_quantization(metadata))

    encoders = frozen_encoders(scorer.load())
    if not encoders:
        return {"model": str(stored.tag), "skipped": "no frozen encoder bottom"}
    layers = sorted({e.frozen_layers for e in encoders})
    t0 = time.time()
    base = scorer.score(served("none"))
    everything = np.arange(scorer.n)
    out: dict[str, Any] = {
        "model": str(stored.tag),
        "metric": scorer.metric,
        "n": scorer.n,
        "frozen_layers": layers,
        "none": round(float(scorer.statistic(base)(everything)), 4),
        "seconds": {"none": round(time.time() - t0, 1)},
    }
    for mode in modes:
        t0 = time.time()
        items = scorer.score(served(mode))
        out["seconds"][mode] = round(time.time() - t0, 1)
        diff = paired_difference(scorer.statistic(items), scorer.statistic(base), scorer.n)
        out[mode] = {
            "score": round(float(scorer.statistic(items)(everything)), 4),
            "diff": diff,
            "within_rule": diff["diff"] >= -ALLOWED_DROP,
        }
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Every head (or ``--only``), each mode; prints a line per head and the verdict per mode.

    Returns:
        ``{"heads": {name: {...}}, "modes": {mode: {"every_head_within_rule": bool, "worst": ...}}}``.
    """
    cfg = parse_config(BottomEvalConfig, argv)
    wanted = {n.strip() for n in cfg.only.split(",") if n.strip()}
    modes = [m.strip() for m in cfg.modes.split(",") if m.strip()]
    heads: dict[str, Any] = {}
    for spec in MODELS:
        if spec.task not in SCORERS or (wanted and spec.name not in wanted):
            continue
        heads[spec.name] = result = evaluate_head(spec, modes, cfg.max_items)
        print(f"[bottom] {spec.name}: {json.dumps(result)}", file=sys.stderr, flush=True)
    verdict = {}
    for mode in modes:
        rows = {n: h[mode] for n, h in heads.items() if mode in h}
        worst = min(rows, key=lambda n: rows[n]["diff"]["diff"]) if rows else None
        verdict[mode] = {
            "every_head_within_rule": all(r["within_rule"] for r in rows.values()),
            "worst": {"head": worst, **rows[worst]["diff"]} if worst else None,
        }
    result = {"heads": heads, "modes": verdict}
    print(json.dumps(result, indent=2))
    if cfg.out:
        Path(cfg.out).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
