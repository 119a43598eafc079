"""Train aspect-level sentiment for one language and save it into the store as ``aspects-<lang>``.

    python -m training.train_aspects --lang zh     # Chinese phone, notebook, camera, car reviews
    python -m training.train_aspects --lang en     # SemEval-2014 laptops + restaurants, Flipkart TVs + T-shirts
    python -m training.train_aspects --lang en --data my_aspects.jsonl   # your own ``aspects`` table

Two models, one artifact (:class:`mining.models.aspects.AspectModel`):

* aspect term extraction as sequence labelling (character BiLSTM-CRF for zh, MiniLM-CRF for en;
  :mod:`training.train_ner`'s training loop), early-stopped on validation entity F1;
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

from mining.artifacts import pick_device, quantize
from mining.models.aspects import AspectDictionary, AspectModel, OpinionLexicon, polarity_input
from mining.models.textclf import Abstention
from mining.registry import model_name
from training import data
from training.common import (
    choose_quantization,
    classification_metrics,
    confusion_matrix,
    fingerprint,
    frozen_layers_field,
    parse_config,
    quantize_field,
    record_test_drop,
    search_field,
    search_on_validation,
    set_seed,
    write_report,
)
from training.dedup import dedup_key
from training.intervals import Headline, Statistic, f1_of_counts, ratio_of_sums, uncertainty
from training.store import save_to_store, shared_encoder_record
from training.textclf import Split, TextClfConfig, fit_and_evaluate, tfidf_baseline
from training.train_ner import NerConfig, build_model
from training.train_ner import train as train_extractor

Example = tuple[str, int, int, str]  # (text, aspect start, aspect end, polarity)
Spans = list[tuple[int, int]]
# Where each language's headline number comes from (None: pooled over every domain).
HEADLINE_DOMAIN = {"en": "laptop", "zh": None}
METRIC_KEYS = ("test_aspect_f1", "test_polarity_accuracy", "test_polarity_macro_f1", "test_pair_f1")
# The headline metrics given a bootstrap interval and a paired comparison with the strongest baseline.
INTERVAL_KEYS = ("test_aspect_f1", "test_polarity_accuracy", "test_pair_f1")


@dataclass
class AspectsConfig:
    """Train aspect extraction + aspect polarity for one language and save them as one model."""

    lang: str = field(default="zh", metadata={"help": "language", "choices": ["zh", "en"]})
    data: str = field(default="", metadata={"help": "aspects table (JSON lines, see docs/data.md); empty = built-in"})
    domains: str = field(default="", metadata={"help": "comma-separated domains to keep (empty: all)"})
    val_fraction: float = field(default=0.1, metadata={"help": "share of training sentences held out for validation"})
    max_train_samples: int = field(default=0, metadata={"help": "use only this many training sentences (0: all)"})
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
    polarity_arch: str = field(
        default="",
        metadata={"help": "polarity network: bilstm/cnn/e5 (zh), minilm/bilstm/cnn/e5 (en); empty = bilstm/minilm"},
    )
    polarity_epochs: int = field(default=0, metadata={"help": "polarity: maximum epochs (0: 12 bilstm/cnn, 4 minilm)"})
    polarity_patience: int = field(default=2, metadata={"help": "polarity: epochs without validation gain"})
    polarity_max_len: int = field(default=0, metadata={"help": "polarity: truncation (0: 256 chars / 128 tokens)"})
    polarity_lr: float = field(default=0.0, metadata={"help": "polarity: learning rate (0: the network's default)"})
    polarity_batch_size: int = field(default=32, metadata={"help": "polarity: batch size"})
    frozen_layers: int = frozen_layers_field("extractor on the English encoder")
    search: str = search_field("extractor_lr=1e-4,2e-4,4e-4")
    quantize: str = quantize_field("pair F1")
    seed: int = field(default=42, metadata={"help": "random seed"})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0: torch default)"})
    sentiment_model: str = field(
        default="", metadata={"help": "store tag of the whole-text baseline (default sentiment-<lang>:latest)"}
    )
    save: bool = field(default=True, metadata={"help": "save the model into the BentoML store"})
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
    dedup = {
        "key": "training.dedup.dedup_key of the sentence text",
        "val_removed_in_train": val_removed,
        "val_carved": len(val),
        "test_removed_in_train": len(published) - len(test),
        "n_test_published": len(published),
    }
    name = cfg.data or "vendored ABSA archive (" + ", ".join(sorted({r["domain"] for r in rows})) + ")"
    return {"train": train, "val": val_kept, "test": test}, published, dedup, name


def examples(rows: Sequence[dict[str, Any]]) -> list[Example]:
    return [(r["text"], a["start"], a["end"], a["polarity"]) for r in rows for a in r["aspects"]]


def gold_spans(row: dict[str, Any]) -> set[tuple[int, int]]:
    return {(a["start"], a["end"]) for a in row["aspects"]}


# --- Metrics ------------------------------------------------------------------------------------------
Predicted = tuple[list[Spans], list[list[str]], list[str]]
Predictor = Callable[[Sequence[dict[str, Any]]], Predicted]


@dataclass(frozen=True)
class ItemScores:
    """Per-sentence pieces of the headline metrics over n sentences: the statistics of
    :data:`HEADLINE_STATISTICS` turn them into the metrics, on all sentences or a resample."""

    span: np.ndarray  # (n, 3) int64: tp, fp, fn of aspect spans
    pair: np.ndarray  # (n, 3) int64: tp, fp, fn of (span, polarity) pairs
    polarity_correct: np.ndarray  # (n,) int64: gold aspects whose polarity was predicted right
    n_aspects: np.ndarray  # (n,) int64: gold aspects


HEADLINE_STATISTICS: dict[str, Callable[[ItemScores], Statistic]] = {
    "test_aspect_f1": lambda it: f1_of_counts(it.span),
    "test_polarity_accuracy": lambda it: ratio_of_sums(it.polarity_correct, it.n_aspects),
    "test_pair_f1": lambda it: f1_of_counts(it.pair),
}


def _counts(gold: set[Any], pred: set[Any]) -> tuple[int, int, int]:
    return len(gold & pred), len(pred - gold), len(gold - pred)


def item_scores(
    rows: Sequence[dict[str, Any]],
    spans: Sequence[Spans],
    span_polarity: Sequence[Sequence[str]],
    gold_polarity: Sequence[str],
) -> ItemScores:
    """Per-sentence counts of ``rows`` (arguments as :func:`score_domain`)."""
    pred_pairs = [{(s, e, p) for (s, e), p in zip(sp, pol, strict=True)} for sp, pol in zip(spans, span_polarity)]
    span, pair, correct, n_aspects = [], [], [], []
    k = 0
    for row, sp, pp in zip(rows, spans, pred_pairs, strict=True):
        span.append(_counts(gold_spans(row), set(sp)))
        pair.append(_counts({(a["start"], a["end"], a["polarity"]) for a in row["aspects"]}, pp))
        asked = gold_polarity[k : k + len(row["aspects"])]
        correct.append(sum(a["polarity"] == p for a, p in zip(row["aspects"], asked, strict=True)))
        n_aspects.append(len(row["aspects"]))
        k += len(row["aspects"])
    if k != len(gold_polarity):
        raise ValueError(f"{len(gold_polarity)} gold-aspect polarities for {k} gold aspects")
    return ItemScores(
        np.array(span, dtype=np.int64).reshape(-1, 3),
        np.array(pair, dtype=np.int64).reshape(-1, 3),
        np.array(correct, dtype=np.int64),
        np.array(n_aspects, dtype=np.int64),
    )


def score_domain(
    rows: Sequence[dict[str, Any]],
    spans: Sequence[Spans],
    span_polarity: Sequence[Sequence[str]],
    gold_polarity: Sequence[str],
    labels: Sequence[str],
) -> dict[str, float]:
    """The four metrics on ``rows``; aspect F1, polarity accuracy and pair F1 are
    :data:`HEADLINE_STATISTICS` of :func:`item_scores` over every row.

    Args:
        rows: n test sentences.
        spans: n lists of predicted (start, end).
        span_polarity: n lists, the polarity predicted for each predicted span.
        gold_polarity: the polarity predicted for each gold aspect, in :func:`examples` order.
        labels: polarity classes (macro-F1 averages over those present in gold or prediction).
    """
    items = item_scores(rows, spans, span_polarity, gold_polarity)
    every = np.arange(len(rows))
    truth = [p for _, _, _, p in examples(rows)]
    present = sorted(set(truth) | set(gold_polarity), key=list(labels).index)
    ids = {p: i for i, p in enumerate(present)}
    m = classification_metrics([ids[p] for p in truth], [ids[p] for p in gold_polarity], len(present))
    return {
        **{k: stat(items)(every) for k, stat in HEADLINE_STATISTICS.items()},
        "test_polarity_macro_f1": m["macro_f1"],
        "n_sentences": len(rows),
        "n_aspects": len(truth),
    }


def take(rows: Sequence[dict[str, Any]], predicted: Predicted, idx: Sequence[int]) -> Predicted:
    """The predictions of ``rows[i]`` for i in ``idx``, in that order."""
    spans, span_pol, gold_pol = predicted
    offsets = np.cumsum([0] + [len(r["aspects"]) for r in rows])
    return (
        [spans[i] for i in idx],
        [span_pol[i] for i in idx],
        [p for i in idx for p in gold_pol[offsets[i] : offsets[i + 1]]],
    )


def evaluate(
    rows: Sequence[dict[str, Any]], predicted: Predicted, labels: Sequence[str], lang: str
) -> tuple[dict[str, Any], ItemScores]:
    """Metrics per domain and pooled, and the headline keys (see :data:`HEADLINE_DOMAIN`).

    Args:
        rows: n sentences.
        predicted: (spans per row, polarity per predicted span, polarity per gold aspect), as a
            :data:`Predictor` returns them.
    Returns:
        (metrics, :func:`item_scores` of the headline's sentences: the domain's or every row).
    """
    by_domain: dict[str, Any] = {}
    parts: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        parts.setdefault(r["domain"], []).append(i)
    for d in sorted(parts):
        part = take(rows, predicted, parts[d])
        by_domain[d] = score_domain([rows[i] for i in parts[d]], *part, labels)
    pooled = score_domain(rows, *predicted, labels)
    headline = HEADLINE_DOMAIN.get(lang)
    idx = parts[headline] if headline in parts else list(range(len(rows)))
    top = by_domain.get(headline or "", pooled)
    metrics = {
        **{k: top[k] for k in METRIC_KEYS},
        "headline": headline if headline in by_domain else "pooled",
        "pooled": pooled,
        "metrics_by_domain": by_domain,
    }
    return metrics, item_scores([rows[i] for i in idx], *take(rows, predicted, idx))


def headline_uncertainty(model: ItemScores, baselines: dict[str, tuple[dict[str, Any], ItemScores]]) -> dict[str, Any]:
    """``ci95`` of each of :data:`INTERVAL_KEYS` and ``vs_baseline`` against the baseline strongest
    on that metric (the one :func:`strongest_baseline` reports), resampling test sentences.

    Args:
        model: the served model's headline item scores.
        baselines: name -> (its metrics, its item scores on the same sentences).
    """
    headlines = []
    for k in INTERVAL_KEYS:
        best = max(baselines, key=lambda b: baselines[b][0][k]) if baselines else None
        stat = HEADLINE_STATISTICS[k]
        base = stat(baselines[best][1]) if best else None
        headlines.append(Headline(k, stat(model), base, best or ""))
    return uncertainty(headlines, len(model.n_aspects))


# --- Baselines ----------------------------------------------------------------------------------------
def lexicon_predictor(dictionary: AspectDictionary, lexicon: OpinionLexicon) -> Predictor:
    def predict(rows: Sequence[dict[str, Any]]) -> Predicted:
        spans = [dictionary.find(r["text"]) for r in rows]
        span_pol = [[lexicon.polarity(r["text"], s, e) for s, e in sp] for r, sp in zip(rows, spans)]
        gold_pol = [lexicon.polarity(t, s, e) for t, s, e, _ in examples(rows)]
        return spans, span_pol, gold_pol

    return predict


def whole_text_predictor(dictionary: AspectDictionary, sentiment: Callable[[list[str]], list[str]]) -> Predictor:
    def predict(rows: Sequence[dict[str, Any]]) -> Predicted:
        labels = sentiment([r["text"] for r in rows])
        spans = [dictionary.find(r["text"]) for r in rows]
        span_pol = [[label] * len(sp) for label, sp in zip(labels, spans)]
        gold_pol = [label for r, label in zip(rows, labels) for _ in r["aspects"]]
        return spans, span_pol, gold_pol

    return predict


def strongest_baseline(baselines: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The model's keys filled with the strongest baseline per key (and per domain): what the model
    must beat, under the same keys as its own metrics."""
    measured = [b for b in baselines.values() if all(k in b for k in METRIC_KEYS)]
    domains = set.intersection(*(set(b["metrics_by_domain"]) for b in measured)) if measured else set()
    return {
        "name": "the stronger of " + " and ".join(baselines) + ", per metric",
        **{k: max(b[k] for b in measured) for k in METRIC_KEYS},
        "metrics_by_domain": {
            d: {k: max(b["metrics_by_domain"][d][k] for b in measured) for k in METRIC_KEYS} for d in sorted(domains)
        },
    }


def load_sentiment(tag: str, device: torch.device) -> tuple[Callable[[list[str]], list[str]], str] | None:
    """The stored whole-text sentiment model as texts -> labels, and its tag; None when the store has
    none (the baseline is then left out of the report, and the report says so)."""
    import bentoml
    from bentoml.exceptions import NotFound

    from mining.models.textclf import load_artifact

    try:
        stored = bentoml.models.get(tag)
    except NotFound:
        return None
    model = load_artifact(Path(stored.path), device)
    label_map = cast(dict[str, str], stored.info.metadata["label_map"])
    names = [str(label_map[str(i)]) for i in range(len(label_map))]
    return (lambda texts: [names[i] for i in model.predict_proba(texts).argmax(1)]), str(stored.tag)


# --- Training -----------------------------------------------------------------------------------------
def train_extractor_model(cfg: AspectsConfig, splits: dict[str, list[dict[str, Any]]], device: torch.device) -> Any:
    """The extraction CRF, early-stopped on validation F1. Returns (model, history, best epoch)."""
    ner_cfg = NerConfig(
        dataset=f"absa-{cfg.lang}",
        epochs=cfg.extractor_epochs,
        patience=cfg.extractor_patience,
        max_len=cfg.extractor_max_len,
        seed=cfg.seed,
        frozen_layers=cfg.frozen_layers,
        arch=cfg.extractor_arch,
        lr=cfg.extractor_lr,
        save=False,
    ).resolve()
    sentences = {k: data.aspect_sentences(v) for k, v in splits.items()}
    model = build_model(ner_cfg, sentences["train"], ["O", "B-ASP", "I-ASP"])
    history, best_epoch = train_extractor(ner_cfg, model, sentences, device)
    return model, history, best_epoch, asdict(ner_cfg)


def polarity_splits(splits: dict[str, list[dict[str, Any]]], lang: str) -> tuple[dict[str, Split], list[str]]:
    """Aspect-marked inputs per gold aspect and their class ids; labels sorted."""
    labels = sorted({p for _, _, _, p in examples(splits["train"])})
    out = {}
    for k, rows in splits.items():
        ex = [e for e in examples(rows) if e[3] in labels]
        out[k] = Split(
            [polarity_input(t, s, e, lang) for t, s, e, _ in ex], np.array([labels.index(p) for *_, p in ex])
        )
    return out, labels


def served_predictor(model: AspectModel, labels: Sequence[str]) -> Predictor:
    """Rows -> (spans, polarity per span, polarity per gold aspect) of an aspect model as it serves."""

    def predict(rows: Sequence[dict[str, Any]]) -> Predicted:
        texts = [r["text"] for r in rows]
        spans = [[(s, e) for s, e, _ in found] for found in model.extract(texts)]
        flat = [(t, s, e) for t, sp in zip(texts, spans) for s, e in sp]
        p_spans = model.classify(flat).argmax(1) if flat else np.zeros(0, dtype=int)
        span_pol, k = [], 0
        for sp in spans:
            span_pol.append([labels[int(i)] for i in p_spans[k : k + len(sp)]])
            k += len(sp)
        gold = [(t, s, e) for t, s, e, _ in examples(rows)]
        gold_pol = [labels[int(i)] for i in model.classify(gold).argmax(1)] if gold else []
        return spans, span_pol, gold_pol

    return predict


def published_block(metrics: dict[str, Any]) -> dict[str, Any]:
    """What the ``published_split`` entry keeps of :func:`evaluate`'s metrics."""
    return {**{k: metrics[k] for k in METRIC_KEYS}, "headline": metrics["headline"], "pooled": metrics["pooled"]}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Train both parts, choose the quantisation on validation, measure what serves and both
    baselines on the test split (deduplicated against train, and as published), write the report,
    save.

    Returns:
        ``{"metrics": {...}, "baseline_metrics": {"lexicon": {...}, "whole_text": {...}}, "tag": ...,
        "ci95": {...}, "vs_baseline": {...}, "n_test_items": ...}``.
    """
    cfg = parse_config(AspectsConfig, argv)
    set_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
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

    pol_splits, labels = polarity_splits(splits, cfg.lang)
    pol_cfg = TextClfConfig(
        lang=cfg.lang,
        arch=cfg.polarity_arch,
        epochs=cfg.polarity_epochs,
        patience=cfg.polarity_patience,
        batch_size=cfg.polarity_batch_size,
        lr=cfg.polarity_lr,
        max_len=cfg.polarity_max_len or (0 if cfg.lang == "zh" else 128),
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
        AspectModel(cfg.lang, extractor, pol["model"], labels, lexicon, abstention).save(Path(tmp))

        def variant(mode: str) -> AspectModel:
            return cast(AspectModel, quantize(AspectModel.load(Path(tmp), device, abstention), mode))

        def val_pair_f1(model: AspectModel) -> float:
            """Pair F1 over every validation sentence (all domains: more sentences than the headline's)."""
            val = splits["val"]
            return float(
                evaluate(val, served_predictor(model, labels)(val), labels, cfg.lang)[0]["pooled"]["test_pair_f1"]
            )

        fp32 = variant("none")
        quantization = choose_quantization(
            cfg.quantize, "val_pair_f1", val_pair_f1(fp32), lambda mode: val_pair_f1(variant(mode))
        )
        mode = str(quantization["mode"])
        served = fp32 if mode == "none" else variant(mode)
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
    for k in METRIC_KEYS:
        line = f"[{name}] {k}: model {metrics[k]:.4f}"
        for b, m in baseline_metrics.items():
            line += f", {b} {m[k]:.4f}" if k in m else ""
        published_k = metrics["published_split"][k]
        print(line + f" ({metrics['headline']}; published split: model {published_k:.4f})", file=sys.stderr, flush=True)
    baseline_metrics.update(strongest_baseline(baseline_metrics))
    intervals = headline_uncertainty(items, baseline_items)
    metrics.update(
        {
            "val_pair_f1": quantization.get(mode, quantization["fp32"]),
            "val_aspect_f1": max(ext_history.val_score) if ext_history.val_score else 0.0,
            "extractor_best_epoch": ext_best,
            "extractor_seconds": round(extractor_seconds, 1),
            "polarity": {k: v for k, v in pol["metrics"].items() if not k.startswith(("test_", "neural_only"))},
            "polarity_tfidf_weight": pol["weight"],
            "test_seconds": round(test_seconds, 1),
            "opinion_lexicon": lexicon.stats,
            "quantization": quantization,
            **({"extractor_search": search} if search else {}),
        }
    )
    result: dict[str, Any] = {"metrics": metrics, "baseline_metrics": baseline_metrics, "tag": None, **intervals}
    report = Path(cfg.report_dir) / name
    write_report(
        report,
        ext_history,
        confusion_matrix(
            [labels.index(gold_truth[i]) for i in known], [labels.index(gold_pred[i]) for i in known], len(labels)
        ),
        labels,
        {**result, "polarity_history": dataclasses.asdict(pol["history"])},
    )
    if cfg.save:
        metadata = {
            "metrics": metrics,
            "baseline_metrics": baseline_metrics,
            "params": {**asdict(cfg), "extractor": ext_params, "polarity": asdict(pol_cfg)},
            "data": {
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
            },
            "label_map": {str(i): p for i, p in enumerate(labels)},
            "abstention": pol["abstention"],
            "history": {"extractor": asdict(ext_history), "polarity": dataclasses.asdict(pol["history"])},
            "quantization": quantization,
            **intervals,
        }
        if cfg.frozen_layers:
            metadata["shared_encoder"] = shared_encoder_record(
                name, cfg.frozen_layers, metadata["data"]["sha256"], "test_pair_f1", metrics["test_pair_f1"]
            )
        model = AspectModel(cfg.lang, extractor, pol["model"], labels, lexicon, abstention)
        arch = f"{ext_params['arch']}-crf+{pol_cfg.arch}"
        result["tag"] = save_to_store("aspects", cfg.lang, arch, metadata, model.save)
        print(f"[{name}] saved {result['tag']}", file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
