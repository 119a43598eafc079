"""Train aspect-level sentiment for one language and save it into the store as ``aspects-<lang>``.

    python -m training.train_aspects --lang zh     # Chinese phone, notebook, camera, car reviews
    python -m training.train_aspects --lang en     # SemEval-2014 laptops + restaurants, Flipkart TVs + T-shirts
    python -m training.train_aspects --lang en --data my_aspects.jsonl   # your own ``aspects`` table

Two models, one artifact (:class:`mining.models.aspects.AspectModel`):

* aspect term extraction as sequence labelling (character BiLSTM-CRF for zh, MiniLM-CRF for en;
  :mod:`training.tagging`'s training loop), early-stopped on validation entity F1;
* aspect polarity, a text classifier reading the text with the aspect marked
  (:func:`mining.models.aspects.polarity_input`; :mod:`training.textclf`'s loop), early-stopped
  on validation accuracy, calibrated on validation.

The published test splits stay test sets; validation is carved out of train (``--val-fraction``,
by sentence). Sentences are compared by :func:`training.dedup.dedup_key` of their text: validation
drops every sentence that also occurs in the rest of train, and the test numbers are those of the
published test split less every sentence that occurs in the published train split (the published
split's numbers are kept beside them, ``metrics["published_split"]``). Quantisation is chosen on
validation pair F1; the test split is read once, for what serves.

Metrics on test, per domain and pooled: exact-span aspect F1, polarity accuracy and macro-F1 on
the gold aspects, and the end-to-end F1 of (span, polarity) pairs. Baselines on the same test
sentences: ``lexicon`` (aspect terms seen in training, longest match; polarity of the nearest
opinion word of a lexicon derived from the training split, :class:`OpinionLexicon`) and
``whole_text`` (the same extraction; the stored whole-text sentiment model's label copied to
every aspect). The headline metrics are the SemEval-2014 laptops test set for English and the
pool of all domains for Chinese, each with a bootstrap interval over sentences and a paired
comparison with the strongest baseline on that metric (:mod:`training.intervals`).
"""

from __future__ import annotations

import dataclasses
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from mining.artifacts import pick_device, quantize, served_quantization
from mining.models.aspects import POLARITY_CONTEXTS, AspectDictionary, AspectModel, OpinionLexicon, polarity_input
from mining.models.textclf import Abstention
from mining.registry import model_name
from training import data
from training.aspects_eval import (
    HEADLINE_STATISTICS,
    METRIC_KEYS,
    ItemScores,
    Predictor,
    evaluate,
    examples,
    headline_uncertainty,
    item_scores,
    lexicon_predictor,
    published_block,
    served_predictor,
    strongest_baseline,
    take,
    whole_text_predictor,
)
from training.common import (
    choose_quantization,
    confusion_matrix,
    fingerprint,
    frozen_layers_field,
    parse_config,
    quantize_field,
    record_test_drop,
    search_field,
    search_on_validation,
)
from training.dedup import dedup_key
from training.intervals import paired_difference
from training.run import Report, Saved, TrainConfig, finish_run, sample_cap_field, setup_run
from training.store import shared_encoder_record
from training.tagging import TaggerConfig, build_model
from training.tagging import train as train_extractor
from training.textclf import Split, TextClfConfig, fit_and_evaluate, tfidf_baseline


@dataclass
class AspectsConfig(TrainConfig):
    """Train aspect extraction + aspect polarity for one language and save them as one model."""

    lang: str = field(default="zh", metadata={"help": "language", "choices": ["zh", "en"]})
    data: str = field(default="", metadata={"help": "aspects table (JSON lines, see docs/data.md); empty = built-in"})
    domains: str = field(default="", metadata={"help": "comma-separated domains to keep (empty: all)"})
    val_fraction: float = field(default=0.1, metadata={"help": "share of training sentences held out for validation"})
    max_train_samples: int = sample_cap_field("training sentences")
    max_eval_samples: int = field(default=0, metadata={"help": "use only this many val/test sentences (0: all)"})
    extractor_epochs: int = field(default=20, metadata={"help": "extractor: maximum epochs"})
    extractor_patience: int = field(default=3, metadata={"help": "extractor: epochs without validation F1 gain"})
    extractor_max_len: int = field(default=160, metadata={"help": "extractor: training sentences cut to this"})
    extractor_arch: str = field(
        default="", metadata={"help": "extractor network: bilstm, minilm (en) or e5; empty = train_ner's default"}
    )
    extractor_lr: float = field(
        default=0.0, metadata={"help": "extractor: learning rate (0: train_ner's default for the network)"}
    )
    extractor_char_lstm: int = field(
        default=0,
        metadata={"help": "extractor, e5, Chinese: BiLSTM units over the characters (train_ner's --char-lstm)"},
    )
    polarity_arch: str = field(
        default="",
        metadata={"help": "polarity network: bilstm/cnn/e5 (zh), minilm/bilstm/cnn/e5 (en); empty = bilstm/minilm"},
    )
    polarity_epochs: int = field(default=0, metadata={"help": "polarity: maximum epochs (0: 12 bilstm/cnn, 4 minilm)"})
    polarity_patience: int = field(default=2, metadata={"help": "polarity: epochs without validation gain"})
    polarity_max_len: int = field(default=0, metadata={"help": "polarity: truncation (0: 256 chars / 128 tokens)"})
    polarity_lr: float = field(default=0.0, metadata={"help": "polarity: learning rate (0: the network's default)"})
    polarity_batch_size: int = field(default=32, metadata={"help": "polarity: batch size"})
    polarity_context: str = field(
        default="clause",
        metadata={
            "help": "what the polarity classifier reads around an aspect: its clause or its sentence (English "
            "stage 2 and full: sentence, chosen on validation with 3 epochs; one epoch learnt clauses better)",
            "choices": list(POLARITY_CONTEXTS),
        },
    )
    frozen_layers: int = frozen_layers_field("extractor on the English encoder")
    search: str = search_field("extractor_lr=1e-4,2e-4,4e-4")
    quantize: str = quantize_field("pair F1")
    sentiment_model: str = field(
        default="",
        metadata={
            "help": "store tag of the whole-text baseline (default sentiment-<lang>:latest), read from the "
            "store DEMAND_MINING_BASELINE_STORE names (default: BENTOML_HOME's)"
        },
    )
    validation_only: bool = field(
        default=False,
        metadata={"help": "train, print the validation scores and stop: the test split is not read and nothing is "
                  "saved (for comparing settings)"},
    )  # fmt: skip
    validation_against: str = field(
        default="",
        metadata={
            "help": "with --validation-only: a stored aspect model (name:version) read as it serves on the same "
            "validation sentences, and the paired difference of each score against it"
        },
    )
    report_dir: str = field(default="reports", metadata={"help": "where loss curves and metrics.json go"})


# --- Data --------------------------------------------------------------------------------------------
def load_rows(
    cfg: AspectsConfig,
) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]], dict[str, Any], str]:
    """The rows of ``cfg.lang``: ({train, val, test}, the published test rows, the ``dedup`` block of
    the data metadata, data description).

    A table without test rows gets 10% of its sentences as test. Validation (``--val-fraction`` of
    train) drops every sentence whose :func:`dedup_key` occurs in the rest of train; ``test`` is the
    published test rows (a random ``--max-eval-samples`` of them) less those whose key occurs in
    the published train split, validation included. ``test`` keeps the published rows' order.
    """
    rows = data.read_aspects(cfg.data or data.aspects_table())
    rows = [r for r in rows if r["lang"] == cfg.lang]
    if cfg.domains:
        keep = set(cfg.domains.split(","))
        rows = [r for r in rows if r["domain"] in keep]
    if not rows:
        raise SystemExit(
            f"no aspect rows with lang {cfg.lang!r}" + (f" in domains {cfg.domains}" if cfg.domains else "")
        )
    rng = random.Random(cfg.seed)
    train = [r for r in rows if r["split"] == "train"]
    published = [r for r in rows if r["split"] == "test"]
    if not published:
        rng.shuffle(train)
        cut = max(1, len(train) // 10)
        published, train = train[:cut], train[cut:]
    seen = {dedup_key(r["text"]) for r in train}
    rng.shuffle(train)
    n_val = max(1, int(len(train) * cfg.val_fraction))
    val, train = train[:n_val], train[n_val:]
    in_train = {dedup_key(r["text"]) for r in train}
    val_kept = [r for r in val if dedup_key(r["text"]) not in in_train]
    val_removed = len(val) - len(val_kept)
    if not val_kept:
        raise SystemExit(f"every validation sentence also occurs in train ({len(val)}): raise --val-fraction")
    if cfg.max_train_samples:
        train = train[: cfg.max_train_samples]
    if cfg.max_eval_samples:
        # A random sample: the table lists test sentences domain by domain.
        val_kept = val_kept[: cfg.max_eval_samples]
        published = rng.sample(published, min(cfg.max_eval_samples, len(published)))
    test = [r for r in published if dedup_key(r["text"]) not in seen]
    if not test:
        raise SystemExit(f"every test sentence also occurs in train ({len(published)})")
    polarities = sorted({a["polarity"] for r in train for a in r["aspects"]})
    if len(polarities) < 2:
        raise SystemExit(
            f"the training aspects carry {len(polarities)} polarity ({polarities}): the polarity classifier "
            "needs aspects of at least 2 polarities"
        )
    dedup = {
        "key": "training.dedup.dedup_key of the sentence text",
        "val_removed_in_train": val_removed,
        "val_carved": len(val),
        "test_removed_in_train": len(published) - len(test),
        "n_test_published": len(published),
    }
    name = cfg.data or "vendored ABSA archive (" + ", ".join(sorted({r["domain"] for r in rows})) + ")"
    return {"train": train, "val": val_kept, "test": test}, published, dedup, name


def load_sentiment(tag: str, device: torch.device) -> tuple[Callable[[list[str]], list[str]], str] | None:
    """The stored whole-text sentiment model as texts -> labels, and its tag; None when the store has
    none (the baseline is then left out of the report, and the report says so)."""
    import bentoml
    from bentoml._internal.models.model import ModelStore
    from bentoml.exceptions import NotFound

    from mining.models.textclf import load_artifact
    from mining.settings import settings

    # The served store, not necessarily this run's: the staged start trains in a staging home.
    try:
        stored = bentoml.models.get(tag, _model_store=ModelStore(settings().baseline_store / "models"))
    except NotFound:
        return None
    model = load_artifact(Path(stored.path), device)
    label_map = cast(dict[str, str], stored.info.metadata["label_map"])
    names = [str(label_map[str(i)]) for i in range(len(label_map))]
    return (lambda texts: [names[i] for i in model.predict_proba(texts).argmax(1)]), str(stored.tag)


# --- Training -----------------------------------------------------------------------------------------
def train_extractor_model(cfg: AspectsConfig, splits: dict[str, list[dict[str, Any]]], device: torch.device) -> Any:
    """The extraction CRF, early-stopped on validation F1. Returns (model, history, best epoch)."""
    ner_cfg = TaggerConfig(
        dataset=f"absa-{cfg.lang}",
        epochs=cfg.extractor_epochs,
        patience=cfg.extractor_patience,
        max_len=cfg.extractor_max_len,
        seed=cfg.seed,
        frozen_layers=cfg.frozen_layers,
        arch=cfg.extractor_arch,
        lr=cfg.extractor_lr,
        char_lstm=cfg.extractor_char_lstm,
        save=False,
    ).resolve()
    sentences = {k: data.aspect_sentences(v) for k, v in splits.items()}
    model = build_model(ner_cfg, sentences["train"], ["O", "B-ASP", "I-ASP"])
    history, best_epoch = train_extractor(ner_cfg, model, sentences, device)
    return model, history, best_epoch, asdict(ner_cfg)


def polarity_splits(
    splits: dict[str, list[dict[str, Any]]], lang: str, context: str = "clause"
) -> tuple[dict[str, Split], list[str]]:
    """Aspect-marked inputs (:func:`polarity_input` reading ``context``) per gold aspect and their
    class ids; labels sorted."""
    labels = sorted({p for _, _, _, p in examples(splits["train"])})
    out = {}
    for k, rows in splits.items():
        ex = [e for e in examples(rows) if e[3] in labels]
        out[k] = Split(
            [polarity_input(t, s, e, lang, context) for t, s, e, _ in ex], np.array([labels.index(p) for *_, p in ex])
        )
    return out, labels


def validation_scores(
    cfg: AspectsConfig,
    val: list[dict[str, Any]],
    served: AspectModel,
    labels: list[str],
    ext_history: Any,
    pol: dict[str, Any],
    quantization: dict[str, Any],
) -> dict[str, Any]:
    """``--validation-only``: what serves, scored on validation (pooled), printed and returned as
    ``{"metrics": {...}}``; the test split is never read."""
    predicted = served_predictor(served, labels)(val)
    pooled = evaluate(val, predicted, labels, cfg.lang)[0]["pooled"]
    metrics: dict[str, Any] = {
        "val_aspect_f1": pooled["test_aspect_f1"],  # evaluate names its keys test_*; these are validation
        "val_polarity_accuracy": pooled["test_polarity_accuracy"],
        "val_pair_f1": pooled["test_pair_f1"],
        "extractor_val_f1_by_epoch": [round(v, 4) for v in ext_history.val_score],
        "polarity_val_accuracy": pol["metrics"].get("val_accuracy"),
        "quantization": {k: quantization[k] for k in ("mode", "fp32", "float_parts") if k in quantization},
    }
    if cfg.validation_against:
        metrics["against"] = scores_against(cfg.validation_against, val, item_scores(val, *predicted))
    print(f"[{model_name('aspects', cfg.lang)}] validation only: {json.dumps(metrics)}", flush=True)
    return {"metrics": metrics}


def scores_against(tag: str, val: list[dict[str, Any]], items: ItemScores) -> dict[str, Any]:
    """The stored aspect model ``tag``, quantised as its metadata says it serves, scored on the
    validation sentences ``val`` (all domains, pooled), and the paired difference of ``items`` (the
    new model's item scores on the same sentences) against it, resampling sentences."""
    import bentoml

    stored = bentoml.models.get(tag)
    other = quantize(AspectModel.load(Path(stored.path)), *served_quantization(dict(stored.info.metadata)))
    theirs = item_scores(val, *served_predictor(other, other.labels)(val))
    out: dict[str, Any] = {"model": str(stored.tag)}
    for key in ("test_aspect_f1", "test_polarity_accuracy", "test_pair_f1"):
        stat = HEADLINE_STATISTICS[key]
        name = key.replace("test_", "val_")
        out[name] = round(float(stat(theirs)(np.arange(len(val)))), 4)
        out[f"{name}_diff"] = paired_difference(stat(items), stat(theirs), len(val))
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Train both parts, choose the quantisation on validation, measure what serves and both
    baselines on the test split (deduplicated against train, and as published), write the report,
    save.

    Returns:
        ``{"metrics": {...}, "baseline_metrics": {"lexicon": {...}, "whole_text": {...}}, "tag": ...,
        "ci95": {...}, "vs_baseline": {...}, "n_test_items": ...}``.
    """
    cfg = parse_config(AspectsConfig, argv)
    if cfg.validation_against and not cfg.validation_only:
        raise SystemExit("--validation-against compares on validation only: add --validation-only")
    setup_run(cfg)
    device = pick_device()
    name = model_name("aspects", cfg.lang)
    splits, published, dedup, data_name = load_rows(cfg)
    print(
        f"[{name}] sentences train {len(splits['train'])}, val {len(splits['val'])} "
        f"({dedup['val_removed_in_train']} dropped: in train), test {len(splits['test'])} of "
        f"{len(published)} published ({dedup['test_removed_in_train']} in train); "
        f"aspects train {sum(len(r['aspects']) for r in splits['train'])}",
        file=sys.stderr,
        flush=True,
    )
    train_examples = examples(splits["train"])
    lexicon = OpinionLexicon.derive(train_examples, cfg.lang)
    dictionary = AspectDictionary.from_examples(train_examples, cfg.lang)

    t0 = time.time()
    cfg, (extractor, ext_history, ext_best, ext_params), search = search_on_validation(
        cfg, lambda c: train_extractor_model(c, splits, device), lambda r: max(r[1].val_score), "extractor_f1"
    )
    extractor_seconds = time.time() - t0

    pol_splits, labels = polarity_splits(splits, cfg.lang, cfg.polarity_context)
    if cfg.validation_only:
        # The polarity trainer measures its "test" split: here that is validation again.
        pol_splits["test"] = pol_splits["val"]
    pol_cfg = TextClfConfig(
        lang=cfg.lang,
        arch=cfg.polarity_arch,
        epochs=cfg.polarity_epochs,
        patience=cfg.polarity_patience,
        batch_size=cfg.polarity_batch_size,
        lr=cfg.polarity_lr,
        max_len=cfg.polarity_max_len or (0 if cfg.lang == "zh" else 128),
        # On the multilingual encoder the polarity head keeps the extractor's frozen bottom: one copy
        # of those weights serves every head of a process (the clause is a text of its own, so its
        # pass is not shared). MiniLM's six layers are all tuned, as before.
        frozen_layers=cfg.frozen_layers if cfg.polarity_arch == "e5" else 0,
        seed=cfg.seed,
        threads=cfg.threads,
        quantize="none",  # decided below for the whole aspect model
        save=False,
        report_dir=cfg.report_dir,
    )
    pol_cfg.resolve(("bilstm", "cnn", "e5") if cfg.lang == "zh" else ("minilm", "bilstm", "cnn", "e5"))
    _, linear = tfidf_baseline(pol_splits, "zh" if cfg.lang == "zh" else "en", labels)
    rows = [f"{r['domain']}\t{r['split']}\t{r['text']}\t{r['aspects']}" for part in splits.values() for r in part]
    pol = fit_and_evaluate(pol_cfg, pol_splits, labels, device, f"{name} polarity", linear, fingerprint(rows))
    abstention = Abstention.from_metadata({"abstention": pol["abstention"]})
    # Rows of the published test split that make up the deduplicated one (in order).
    in_test = {id(r) for r in splits["test"]}
    kept = [i for i, r in enumerate(published) if id(r) in in_test]

    # Measure what is served: the whole artifact after a save/load round trip, quantised as chosen
    # on validation pair F1; then the test split, read once.
    with tempfile.TemporaryDirectory() as tmp:
        AspectModel(cfg.lang, extractor, pol["model"], labels, lexicon, abstention, cfg.polarity_context).save(
            Path(tmp)
        )

        def variant(mode: str, float_parts: Sequence[str] = ()) -> AspectModel:
            return cast(AspectModel, quantize(AspectModel.load(Path(tmp), device, abstention), mode, float_parts))

        def val_pair_f1(model: AspectModel) -> float:
            """Pair F1 over every validation sentence (all domains: more sentences than the headline's)."""
            val = splits["val"]
            return float(
                evaluate(val, served_predictor(model, labels)(val), labels, cfg.lang)[0]["pooled"]["test_pair_f1"]
            )

        fp32 = variant("none")
        fp32_val = val_pair_f1(fp32)
        quantization = choose_quantization(
            cfg.quantize, "val_pair_f1", fp32_val, lambda mode: val_pair_f1(variant(mode))
        )
        if quantization["mode"] == "none" and cfg.quantize != "none":
            # int8 may lose only in the polarity classifier (English MiniLM reading sentences lost 1.3
            # points of pair F1 where the extractor lost none): the extractor alone, then.
            partial = choose_quantization(
                cfg.quantize, "val_pair_f1", fp32_val, lambda mode: val_pair_f1(variant(mode, ("polarity",)))
            )
            if partial["mode"] != "none":
                whole = {k: quantization[k] for k in ("int8", "int8-channel", "reason") if k in quantization}
                quantization = {**partial, "float_parts": ["polarity"], "whole_model": whole}
        mode, float_parts = str(quantization["mode"]), list(quantization.get("float_parts", []))
        served = fp32 if mode == "none" else variant(mode, float_parts)
        if cfg.validation_only:
            return validation_scores(cfg, splits["val"], served, labels, ext_history, pol, quantization)
        t0 = time.time()
        predicted = served_predictor(served, labels)(published)
        test_seconds = time.time() - t0
        fp32_predicted = predicted if mode == "none" else served_predictor(fp32, labels)(published)

    test_rows = splits["test"]
    metrics, items = evaluate(test_rows, take(published, predicted, kept), labels, cfg.lang)
    test_fp32 = evaluate(test_rows, take(published, fp32_predicted, kept), labels, cfg.lang)[0]["test_pair_f1"]
    record_test_drop(quantization, test_fp32, metrics["test_pair_f1"])
    metrics["published_split"] = published_block(evaluate(published, predicted, labels, cfg.lang)[0])
    gold_truth = [p for *_, p in examples(test_rows)]
    gold_pred = take(published, predicted, kept)[2]
    known = [i for i, p in enumerate(gold_truth) if p in labels]

    baselines: dict[str, Predictor] = {"lexicon": lexicon_predictor(dictionary, lexicon)}
    baseline_names = {
        "lexicon": "aspect terms seen in training (longest match) + nearest opinion word of the training lexicon"
    }
    sentiment = load_sentiment(cfg.sentiment_model or f"sentiment-{cfg.lang}:latest", device)
    baseline_metrics: dict[str, Any] = {}
    baseline_items: dict[str, tuple[dict[str, Any], ItemScores]] = {}
    if sentiment is not None:
        baselines["whole_text"] = whole_text_predictor(dictionary, sentiment[0])
        baseline_names["whole_text"] = (
            f"training-term extraction + whole-text sentiment ({sentiment[1]}) copied to every aspect"
        )
    for b, predict in baselines.items():
        b_predicted = predict(published)
        b_metrics, b_items = evaluate(test_rows, take(published, b_predicted, kept), labels, cfg.lang)
        b_metrics["published_split"] = published_block(evaluate(published, b_predicted, labels, cfg.lang)[0])
        baseline_metrics[b] = {"name": baseline_names[b], **b_metrics}
        baseline_items[b] = (b_metrics, b_items)
    if sentiment is None:
        baseline_metrics["whole_text"] = {"name": "whole-text sentiment", "missing": "no sentiment model in the store"}
    summary = []
    for k in METRIC_KEYS:
        line = f"[{name}] {k}: model {metrics[k]:.4f}"
        for b, m in baseline_metrics.items():
            line += f", {b} {m[k]:.4f}" if k in m else ""
        published_k = metrics["published_split"][k]
        summary.append(line + f" ({metrics['headline']}; published split: model {published_k:.4f})")
    baseline_metrics.update(strongest_baseline(baseline_metrics))
    intervals = headline_uncertainty(items, baseline_items)
    metrics.update(
        {
            "val_pair_f1": quantization.get(mode, quantization["fp32"]),
            "val_aspect_f1": max(ext_history.val_score) if ext_history.val_score else 0.0,
            "extractor_best_epoch": ext_best,
            "extractor_seconds": round(extractor_seconds, 1),
            "polarity": {
                **{k: v for k, v in pol["metrics"].items() if not k.startswith(("test_", "neural_only"))},
                "context": cfg.polarity_context,
            },
            "polarity_tfidf_weight": pol["weight"],
            "test_seconds": round(test_seconds, 1),
            "opinion_lexicon": lexicon.stats,
            "quantization": quantization,
            **({"extractor_search": search} if search else {}),
        }
    )
    result: dict[str, Any] = {"metrics": metrics, "baseline_metrics": baseline_metrics, "tag": None, **intervals}
    cm = confusion_matrix(
        [labels.index(gold_truth[i]) for i in known], [labels.index(gold_pred[i]) for i in known], len(labels)
    )

    def saved() -> Saved:
        data_meta: dict[str, Any] = {
            "name": data_name,
            "sha256": fingerprint(rows),
            # The validation rows alone: two versions are compared on validation only if it matches.
            "val_sha256": fingerprint(
                [f"{r['domain']}\t{r['split']}\t{r['text']}\t{r['aspects']}" for r in splits["val"]]
            ),
            "n_train": len(splits["train"]),
            "n_val": len(splits["val"]),
            "n_test": len(splits["test"]),
            "dedup": dedup,
        }
        extra = {
            "abstention": pol["abstention"],
            "history": {"extractor": asdict(ext_history), "polarity": dataclasses.asdict(pol["history"])},
            "quantization": quantization,
            **intervals,
        }
        if cfg.frozen_layers:
            extra["shared_encoder"] = shared_encoder_record(
                name, cfg.frozen_layers, data_meta["sha256"], "test_pair_f1", metrics["test_pair_f1"]
            )
        model = AspectModel(cfg.lang, extractor, pol["model"], labels, lexicon, abstention, cfg.polarity_context)
        arch = f"{ext_params['arch']}-crf+{pol_cfg.arch}"
        params = {**asdict(cfg), "extractor": ext_params, "polarity": asdict(pol_cfg)}
        label_map = {str(i): p for i, p in enumerate(labels)}
        return Saved("aspects", cfg.lang, arch, model.save, data_meta, label_map, extra, params)

    return finish_run(
        cfg,
        name,
        result,
        metrics=metrics,
        baseline_metrics=baseline_metrics,
        summary="\n".join(summary),
        report=Report(
            {**result, "polarity_history": dataclasses.asdict(pol["history"])}, ext_history, confusion=(cm, labels)
        ),
        saved=saved,
    )


if __name__ == "__main__":
    main()
