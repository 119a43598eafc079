"""Scoring aspect-level sentiment: aspect F1, polarity accuracy and macro-F1, pair F1, per domain
and pooled, with bootstrap intervals; the lexicon and whole-text baselines and the served model as
predictors over review rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mining.models.aspects import AspectDictionary, AspectModel, OpinionLexicon
from training.common import (
    classification_metrics,
)
from training.intervals import Headline, Statistic, f1_of_counts, ratio_of_sums, uncertainty

Example = tuple[str, int, int, str]  # (text, aspect start, aspect end, polarity)
Spans = list[tuple[int, int]]
# Where each language's headline number comes from (None: pooled over every domain).
HEADLINE_DOMAIN = {"en": "laptop", "zh": None}
METRIC_KEYS = ("test_aspect_f1", "test_polarity_accuracy", "test_polarity_macro_f1", "test_pair_f1")
# The headline metrics given a bootstrap interval and a paired comparison with the strongest baseline.
INTERVAL_KEYS = ("test_aspect_f1", "test_polarity_accuracy", "test_pair_f1")


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


def reading_predictor(
    extract: Callable[[list[str]], list[list[tuple[int, int, float]]]],
    classify: Callable[[list[tuple[str, int, int]]], np.ndarray],
    labels: Sequence[str],
) -> Predictor:
    """Rows -> (spans, polarity per span, polarity per gold aspect) of an extractor (texts -> spans
    per text, as :meth:`AspectModel.extract`) and a polarity classifier ((text, start, end) aspects
    -> (n, len(labels)) probabilities, as :meth:`AspectModel.classify`)."""

    def predict(rows: Sequence[dict[str, Any]]) -> Predicted:
        texts = [r["text"] for r in rows]
        spans = [[(s, e) for s, e, _ in found] for found in extract(texts)]
        flat = [(t, s, e) for t, sp in zip(texts, spans) for s, e in sp]
        p_spans = classify(flat).argmax(1) if flat else np.zeros(0, dtype=int)
        span_pol, k = [], 0
        for sp in spans:
            span_pol.append([labels[int(i)] for i in p_spans[k : k + len(sp)]])
            k += len(sp)
        gold = [(t, s, e) for t, s, e, _ in examples(rows)]
        gold_pol = [labels[int(i)] for i in classify(gold).argmax(1)] if gold else []
        return spans, span_pol, gold_pol

    return predict


def served_predictor(model: AspectModel, labels: Sequence[str]) -> Predictor:
    """Rows -> (spans, polarity per span, polarity per gold aspect) of an aspect model as it serves."""
    return reading_predictor(model.extract, model.classify, labels)


def published_block(metrics: dict[str, Any]) -> dict[str, Any]:
    """What the ``published_split`` entry keeps of :func:`evaluate`'s metrics."""
    return {**{k: metrics[k] for k in METRIC_KEYS}, "headline": metrics["headline"], "pooled": metrics["pooled"]}
