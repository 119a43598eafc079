"""Measure the hand-over decision (mining/handoff.py) on STC-3's Chinese helpdesk dialogues.

    python -m training.eval_handoff              # choices on the fitting part, then the held-out numbers
    python -m training.eval_handoff --fit-only   # the choices alone, held-out part unread

STC-3 has no hand-over labels; a dialogue whose mean customer satisfaction (19 annotators, -2..2)
is at most :data:`LOW_SATISFACTION` stands in for one that should have gone to a person. Only the
training file has scores, so its 3,700 dialogues are split once, by a hash of the dialogue id
(:func:`held_out`): :data:`HELD_OUT_SHARE` of them are held out, the rest is the fitting part. The
sentiment model, the score's weights and the thresholds are chosen on the fitting part only; the
held-out part is read once, for the numbers reported.

Signals come from the customer turns only (the helpdesk's words say little of the customer's
mood): the largest P(negative) over them, from a TF-IDF + logistic-regression model trained here
on the Chinese shopping reviews (no model store needed); a request for a person in any of them
(:func:`mining.handoff.asks_for_human`); the number of customer turns; and the repeated complaints,
the customer turns before the last that were negative already (a dialogue is one issue, so each is
an earlier message on the same matter; in service the event store counts them across chats). There
is no intent model here, so the low-confidence reason is not measured: the flag's precision and
recall cover the other three.

The chosen weights and thresholds are copied into :mod:`mining.handoff`'s constants; the held-out
numbers are those of the library as it serves, and ``library_matches_fit`` says whether its
constants are still the ones this fit chose.

Reported on the held-out part: the AUC of :func:`mining.handoff.handoff_score` with its 95%
bootstrap interval, its paired difference to the sentiment-only ranking (the largest P(negative)),
and the precision and recall of the ``needed`` flag (``reports/handoff/metrics.json``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mining import handoff
from mining.handoff import HandoffSignals, asks_for_human, decide_handoff, handoff_score, score_features
from mining.models.linear import TfidfLinearModel
from mining.text import clean
from training.common import fit_logistic_grid, parse_config, set_seed
from training.intervals import Statistic, bootstrap_ci, paired_difference, ratio_of_sums
from training.service_data import Dialogue, stc3_dialogues

HELD_OUT_SHARE = 0.3
SPLIT_SALT = "handoff"
LOW_SATISFACTION = -1.0
# Candidates for the data-chosen thresholds; the lowest P(negative) cut is a coin flip.
NEGATIVE_GRID = tuple(np.round(np.arange(0.5, 1.0, 0.01), 2).tolist())
# Only counts some fitting dialogue reaches are tried: a higher one would be chosen on no evidence.
REPEAT_GRID = (1, 2, 3, 4, 5)
# What the decision would fire on without an intent model: every reason but low confidence.
MEASURED_REASONS = ("asks for a human", "repeated contact", "strong negative sentiment")


@dataclasses.dataclass
class HandoffEvalConfig:
    """Measure the hand-over decision on STC-3's Chinese training dialogues (fit and held-out parts)."""

    seed: int = dataclasses.field(default=0, metadata={"help": "seed of the review split and the bootstrap"})
    held_out_share: float = dataclasses.field(
        default=HELD_OUT_SHARE, metadata={"help": "share of dialogues held out by the id hash (fixed: 0.3)"}
    )
    sentiment_c: str = dataclasses.field(
        default="1,3,10", metadata={"help": "inverse regularisation strengths tried for the sentiment model"}
    )
    n_boot: int = dataclasses.field(default=1000, metadata={"help": "bootstrap resamples of the held-out part"})
    report_dir: Path = dataclasses.field(
        default=Path("reports/handoff"), metadata={"help": "where metrics.json is written"}
    )
    fit_only: bool = dataclasses.field(
        default=False,
        metadata={"help": "print the choices made on the fitting part and stop before the held-out part is read"},
    )


def held_out(dialogue_id: str, share: float = HELD_OUT_SHARE) -> bool:
    """Whether a dialogue is in the held-out part: the first 8 hex digits of
    sha256(``"handoff:" + id``), read as a fraction of 16^8, fall under ``share``. Fixed by the id
    alone, so every run and every caller holds out the same dialogues."""
    h = hashlib.sha256(f"{SPLIT_SALT}:{dialogue_id}".encode()).hexdigest()
    return int(h[:8], 16) / 16**8 < share


def auc(scores: Sequence[float] | np.ndarray, labels: Sequence[bool] | np.ndarray) -> float:
    """Area under the ROC curve by the Mann-Whitney count: the share of (positive, negative) pairs
    the scores order correctly, ties counting one half; nan without both classes.

    Args:
        scores: (n,) higher means more likely positive.
        labels: (n,) True for a positive.
    """
    from scipy.stats import rankdata

    s, y = np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)  # ties get their mean rank, which counts a tied pair one half
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auc_of(scores: Sequence[float] | np.ndarray, labels: Sequence[bool] | np.ndarray) -> Statistic:
    """Statistic of :func:`auc` over the resampled items (an index array, repeats allowed)."""
    s, y = np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=bool)
    return lambda idx: auc(s[idx], y[idx])


def fit_sentiment(
    c_grid: Sequence[float], seed: int, lang: str = "zh", max_reviews: int = 0
) -> tuple[TfidfLinearModel, dict[str, Any]]:
    """TF-IDF + logistic regression for P(negative) on reviews of ``lang`` (``zh``: the Chinese
    shopping reviews, character 1-3-grams; ``en``: the Fine Food reviews, word 1-2-grams), texts
    cleaned as served; C chosen by accuracy on a seeded 10% of the reviews, and the model fitted on
    the other 90% kept. ``max_reviews`` > 0 keeps a seeded sample of that many reviews (quick runs).
    Returns (the model, labels ``positive``/``negative``; its choice record)."""
    import pandas as pd
    from sklearn.feature_extraction.text import TfidfVectorizer

    from training.data import reviews_table, shopping_reviews

    if lang == "zh":
        df, analyzer, ngrams = shopping_reviews(), "char", (1, 3)
    else:
        table = pd.read_csv(reviews_table(), dtype=str, keep_default_na=False)
        df, analyzer, ngrams = table[table["lang"] == "en"].reset_index(drop=True), "word", (1, 2)
    texts = [clean(t) for t in df["text"]]
    y = (df["label"] == "negative").to_numpy().astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(texts))
    if max_reviews:
        order = order[:max_reviews]
    cut = int(len(order) * 0.9)
    tr, va = order[:cut], order[cut:]
    vec = TfidfVectorizer(analyzer=analyzer, ngram_range=ngrams, sublinear_tf=True, min_df=2)
    x_tr = vec.fit_transform([texts[i] for i in tr])
    x_va = vec.transform([texts[i] for i in va])
    fits = dict(zip(c_grid, fit_logistic_grid(x_tr, y[tr], c_grid), strict=True))
    val_acc = {c: float((m.predict(x_va) == y[va]).mean()) for c, m in fits.items()}
    best = max(c_grid, key=lambda c: val_acc[c])
    model = TfidfLinearModel.from_sklearn(vec, fits[best], ["positive", "negative"])
    record = {
        "C": best,
        "val_accuracy": val_acc,
        "n_train": len(tr),
        "n_val": len(va),
        "features": f"{analyzer} {ngrams[0]}-{ngrams[1]}-gram",
        "data": "online_shopping_10_cats" if lang == "zh" else "Amazon Fine Food (built-in reviews table)",
    }
    return model, record


def dialogue_signals(d: Dialogue, p_negative: Sequence[float], repeat_cut: float = 0.5) -> HandoffSignals:
    """The signals of one dialogue from its customer turns.

    Args:
        d: the dialogue.
        p_negative: P(negative) of each customer turn, in order (as many as the customer turns).
        repeat_cut: a customer turn at least this negative counts as a complaint: one more likely
            negative than not (fixed, not fitted).
    Returns:
        signals with no intent (abstained, score 0): ``negative`` the largest P(negative),
        ``asks_human`` any turn asking for a person, ``turns`` the customer turns and
        ``repeat_contacts`` the complaints among the turns before the last.
    """
    texts = [clean(t.text) for t in d.turns if t.sender == "customer"]
    if len(texts) != len(p_negative):
        raise ValueError(f"dialogue {d.id}: {len(texts)} customer turns, {len(p_negative)} probabilities")
    return HandoffSignals(
        intent=None,
        intent_score=0.0,
        asks_human=any(asks_for_human(t, "zh") for t in texts),
        negative=float(max(p_negative, default=0.0)),
        repeat_contacts=int(sum(p >= repeat_cut for p in p_negative[:-1])),
        turns=len(texts),
    )


def measured_flags(signals: Sequence[HandoffSignals], repeat_threshold: int, negative_threshold: float) -> np.ndarray:
    """(n,) bool: the decision fires on one of :data:`MEASURED_REASONS` at these thresholds."""
    return np.array(
        [
            (r := decide_handoff(s, repeat_threshold, negative_threshold).reason) is not None
            and r.startswith(MEASURED_REASONS)
            for s in signals
        ],
        dtype=bool,
    )


def f1(flags: np.ndarray, y: np.ndarray) -> float:
    """F1 of ``flags`` against ``y`` ((n,) bools each); 0 without a true positive."""
    tp = float((flags & y).sum())
    return 2 * tp / (float(flags.sum()) + float(y.sum())) if tp else 0.0


def choose_thresholds(signals: Sequence[HandoffSignals], y: np.ndarray) -> dict[str, Any]:
    """The repeated-contact count (of those some fitting dialogue reaches) and P(negative) cut
    whose flag has the best F1 on the fitting part (ties: the higher cuts, which flag fewer
    conversations); and, for the baseline flag, the best P(negative) cut alone."""
    best: tuple[float, int, float] = (-1.0, 0, 0.0)
    reached = max(s.repeat_contacts for s in signals)
    for r in (r for r in REPEAT_GRID if r <= reached):
        for t in NEGATIVE_GRID:
            best = max(best, (f1(measured_flags(signals, r, t), y), r, t))
    neg = np.array([s.negative for s in signals])
    base = max((f1(neg >= t, y), t) for t in NEGATIVE_GRID)
    return {
        "repeat_threshold": best[1],
        "negative_threshold": best[2],
        "fit_f1": round(best[0], 4),
        "baseline_negative_threshold": base[1],
        "baseline_fit_f1": round(base[0], 4),
    }


def fit_weights(signals: Sequence[HandoffSignals], y: np.ndarray) -> dict[str, float]:
    """Logistic-regression weights of :data:`mining.handoff.SCORE_FEATURES` on the fitting part
    (L2, C = 1), rounded to two decimals as :data:`mining.handoff.SCORE_WEIGHTS` keeps them."""
    from sklearn.linear_model import LogisticRegression

    x = np.array([[score_features(s)[k] for k in handoff.SCORE_FEATURES] for s in signals])
    m = LogisticRegression(C=1.0, max_iter=1000).fit(x, y)
    out = {"bias": round(float(m.intercept_[0]), 2)}
    out.update({k: round(float(w), 2) for k, w in zip(handoff.SCORE_FEATURES, m.coef_[0], strict=True)})
    return out


def precision_recall(flags: np.ndarray, y: np.ndarray, n_boot: int, seed: int) -> dict[str, Any]:
    """Precision and recall of ``flags`` against ``y`` with 95% bootstrap intervals."""
    tp, f, t = (flags & y).astype(float), flags.astype(float), y.astype(float)
    precision, recall = ratio_of_sums(tp, f), ratio_of_sums(tp, t)
    every = np.arange(len(y))
    return {
        "flagged": int(flags.sum()),
        "precision": round(precision(every), 4),
        "precision_ci95": bootstrap_ci(precision, len(y), n_boot=n_boot, seed=seed),
        "recall": round(recall(every), 4),
        "recall_ci95": bootstrap_ci(recall, len(y), n_boot=n_boot, seed=seed),
    }


def customer_probabilities(model: TfidfLinearModel, dialogues: Sequence[Dialogue]) -> list[list[float]]:
    """P(negative) of every customer turn, per dialogue in order."""
    texts = [[t.text for t in d.turns if t.sender == "customer"] for d in dialogues]
    flat = model.predict_proba([t for ts in texts for t in ts])[:, model.labels.index("negative")]
    out, k = [], 0
    for ts in texts:
        out.append([float(p) for p in flat[k : k + len(ts)]])
        k += len(ts)
    return out


def _part(model: TfidfLinearModel, dialogues: Sequence[Dialogue]) -> tuple[list[HandoffSignals], np.ndarray]:
    probs = customer_probabilities(model, dialogues)
    signals = [dialogue_signals(d, p) for d, p in zip(dialogues, probs, strict=True)]
    y = np.array([d.s_score is not None and d.s_score <= LOW_SATISFACTION for d in dialogues], dtype=bool)
    return signals, y


def _library_choices() -> dict[str, Any]:
    return {
        "repeat_threshold": handoff.REPEAT_THRESHOLD,
        "negative_threshold": handoff.NEGATIVE_THRESHOLD,
        "weights": dict(handoff.SCORE_WEIGHTS),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    cfg = parse_config(HandoffEvalConfig, argv)
    set_seed(cfg.seed)
    start = time.time()
    dialogues = stc3_dialogues("train", "zh")
    fit_d = [d for d in dialogues if not held_out(d.id, cfg.held_out_share)]
    held_d = [d for d in dialogues if held_out(d.id, cfg.held_out_share)]
    model, sentiment = fit_sentiment([float(c) for c in cfg.sentiment_c.split(",")], cfg.seed)
    fit_s, fit_y = _part(model, fit_d)

    # Everything below until the held-out part is chosen on the fitting part alone.
    chosen = choose_thresholds(fit_s, fit_y)
    weights = fit_weights(fit_s, fit_y)
    library = _library_choices()
    fitted = {"repeat_threshold": chosen["repeat_threshold"], "negative_threshold": chosen["negative_threshold"]}
    matches = all(library[k] == v for k, v in fitted.items()) and library["weights"] == weights
    fit_auc = {
        "handoff_score": round(auc([handoff_score(s, weights) for s in fit_s], fit_y), 4),
        "max_negative": round(auc([s.negative for s in fit_s], fit_y), 4),
    }

    if cfg.fit_only:
        out = {"chosen_on_fit": {**chosen, "weights": weights, "fit_auc": fit_auc}, "library": library}
        print(json.dumps({**out, "library_matches_fit": matches}, indent=1), file=sys.stderr)
        return out

    held_s, held_y = _part(model, held_d)
    n = len(held_d)
    score = np.array([handoff_score(s) for s in held_s])  # as served: the library's weights
    negative = np.array([s.negative for s in held_s])
    model_auc, base_auc = auc_of(score, held_y), auc_of(negative, held_y)
    every = np.arange(n)
    flags = measured_flags(held_s, handoff.REPEAT_THRESHOLD, handoff.NEGATIVE_THRESHOLD)
    reasons: dict[str, int] = {}
    for s in held_s:
        r = decide_handoff(s).reason
        key = next((m for m in MEASURED_REASONS if r and r.startswith(m)), "none measured")
        reasons[key] = reasons.get(key, 0) + 1
    result: dict[str, Any] = {
        "data": "STC-3 Chinese train dialogues; label: mean satisfaction <= -1",
        "split": f"held out: sha256('{SPLIT_SALT}:' + id) first 8 hex / 16^8 < {cfg.held_out_share}",
        "n_fit": len(fit_d),
        "n_fit_positive": int(fit_y.sum()),
        "n_held_out": n,
        "n_held_out_positive": int(held_y.sum()),
        "sentiment": sentiment,
        "chosen_on_fit": {**chosen, "weights": weights, "fit_auc": fit_auc},
        "library": library,
        "library_matches_fit": matches,
        "held_out": {
            "auc": round(model_auc(every), 4),
            "auc_ci95": bootstrap_ci(model_auc, n, n_boot=cfg.n_boot, seed=cfg.seed),
            "baseline": "max P(negative) over the customer turns",
            "baseline_auc": round(base_auc(every), 4),
            "baseline_auc_ci95": bootstrap_ci(base_auc, n, n_boot=cfg.n_boot, seed=cfg.seed),
            "vs_baseline": paired_difference(model_auc, base_auc, n, n_boot=cfg.n_boot, seed=cfg.seed),
            "flag": precision_recall(flags, held_y, cfg.n_boot, cfg.seed),
            "flag_reasons": reasons,
            "baseline_flag": {
                "rule": f"P(negative) >= {chosen['baseline_negative_threshold']} (cut chosen on fit)",
                **precision_recall(negative >= chosen["baseline_negative_threshold"], held_y, cfg.n_boot, cfg.seed),
            },
        },
        "note": "no intent model here: the low-intent-confidence reason is not measured",
        "seconds": round(time.time() - start, 1),
    }
    cfg.report_dir.mkdir(parents=True, exist_ok=True)
    (cfg.report_dir / "metrics.json").write_text(json.dumps(result, ensure_ascii=False, indent=1))
    _print_table(result)
    return result


def _print_table(r: dict[str, Any]) -> None:
    h = r["held_out"]
    vs = h["vs_baseline"]
    lines = [
        f"held-out dialogues {r['n_held_out']} ({r['n_held_out_positive']} low satisfaction); "
        f"fit {r['n_fit']} ({r['n_fit_positive']}); library matches fit: {r['library_matches_fit']}",
        "| ranking | AUC [95% CI] |",
        "|---|---|",
        f"| handoff_score | {h['auc']:.3f} [{h['auc_ci95'][0]:.3f}, {h['auc_ci95'][1]:.3f}] |",
        f"| max P(negative) | {h['baseline_auc']:.3f} [{h['baseline_auc_ci95'][0]:.3f}, {h['baseline_auc_ci95'][1]:.3f}] |",
        f"| difference | {vs['diff']:+.3f} [{vs['ci95'][0]:+.3f}, {vs['ci95'][1]:+.3f}] {vs['verdict']} |",
        "| flag | flagged | precision [95% CI] | recall [95% CI] |",
        "|---|---|---|---|",
    ]
    for name, f in (("needed (measured reasons)", h["flag"]), (h["baseline_flag"]["rule"], h["baseline_flag"])):
        lines.append(
            f"| {name} | {f['flagged']} | {f['precision']:.3f} [{f['precision_ci95'][0]:.3f}, {f['precision_ci95'][1]:.3f}]"
            f" | {f['recall']:.3f} [{f['recall_ci95'][0]:.3f}, {f['recall_ci95'][1]:.3f}] |"
        )
    print("\n".join(lines), file=sys.stderr)


if __name__ == "__main__":
    main()
