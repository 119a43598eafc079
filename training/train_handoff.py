"""Train the hand-over model of one language (store model ``handoff-<lang>``): P(the customer ends a
service conversation dissatisfied) from the customer's turns, served by ``/reply``.

    python -m training.train_handoff --lang zh
    python -m training.train_handoff --lang en      # STC-3's English translation (1,672 dialogues)
    python -m training.train_handoff --lang zh --conversations my_chats.csv   # a shop's own scored chats

A shop's own conversations (``--conversations``): a CSV with one customer turn per row, in order,
columns ``conversation_id``, ``text`` and ``low_satisfaction`` (1 where the customer ended
dissatisfied, e.g. a satisfaction survey's lowest scores, else 0; the same on every row of a
conversation), all in the language of ``--lang``. They replace STC-3, with the same split rule,
choices and baseline.

Data: STC-3's training dialogues with their satisfaction scores (the test split has none), split
once by :func:`training.eval_handoff.held_out` (a hash of the dialogue id: the same 30% held out as
for the rules' measurement). The label is mean satisfaction <= -1; the text is the customer's turns
(:func:`mining.handoff.conversation_text`), as ``/reply`` sees the message and its ``history``.

Model: TF-IDF n-grams + logistic regression. Chosen on the fitting part alone, by a 5-fold
cross-validation whose folds keep near-duplicate conversations together
(:func:`training.dedup.duplicate_clusters`): the n-gram kind and range and C (by AUC of the
out-of-fold scores), then the hand-over threshold on those out-of-fold probabilities (best F1 of
the flag). The model is refitted on the whole fitting part; the held-out part is read once.

Baseline: the sentiment-only ranking, the largest P(negative) over the customer turns, from a
TF-IDF sentiment model of the language's reviews (:func:`training.eval_handoff.fit_sentiment`),
with its flag's cut chosen on the fitting part the same way.

Beside the model, ``/reply`` may also hand over on one message's P(negative) alone (the reason
``strong negative sentiment``). Whether it does, and from which P(negative), is chosen here on the
fitting part too (:func:`choose_negative_cut`, the saved ``decision.negative_threshold``): kept
only where some cut raises the F1 of the combined flag over the model's own; the same review
sentiment model stands in for the served one.
"""

from __future__ import annotations

import csv
import io
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mining.files import read_text
from mining.handoff import conversation_text
from mining.models.linear import TfidfLinearModel
from training.common import fingerprint, parse_config
from training.eval_handoff import (
    HELD_OUT_SHARE,
    LOW_SATISFACTION,
    NEGATIVE_GRID,
    auc,
    auc_of,
    customer_probabilities,
    f1,
    fit_sentiment,
    held_out,
    precision_recall,
)
from training.intervals import bootstrap_ci, paired_difference
from training.run import Report, Saved, TrainConfig, finish_run, sample_cap_field, setup_run
from training.service_data import Dialogue, Turn, stc3_dialogues

LABELS = ["other", "low_satisfaction"]
# Candidate features per language: characters for Chinese (no spaces between words), words for English.
FEATURES: dict[str, tuple[tuple[str, int, int], ...]] = {
    "zh": (("char", 1, 2), ("char", 1, 3)),
    "en": (("word", 1, 1), ("word", 1, 2)),
}
# Flag thresholds tried on the out-of-fold probabilities.
THRESHOLDS = tuple(np.round(np.arange(0.05, 0.96, 0.01), 2).tolist())


@dataclass
class HandoffConfig(TrainConfig):
    """Train the hand-over model (P(low satisfaction) of a conversation) of one language."""

    lang: str = field(default="zh", metadata={"help": "zh or en (STC-3's English translation)"})
    seed: int = field(default=0, metadata={"help": "seed of the folds, the review split and the bootstrap"})
    c: str = field(default="1,3,10,30", metadata={"help": "inverse regularisation strengths tried"})
    folds: int = field(default=5, metadata={"help": "cross-validation folds on the fitting part"})
    min_df: int = field(default=2, metadata={"help": "n-grams seen in fewer fitting conversations are dropped"})
    min_precision: float = field(
        default=0.0,
        metadata={
            "help": "hand over only at this out-of-fold precision or better: the lowest such threshold "
            "(0: the threshold with the best F1)"
        },
    )
    sentiment_c: str = field(default="1,3,10", metadata={"help": "C tried for the baseline's sentiment model"})
    max_reviews: int = field(default=0, metadata={"help": "reviews for the baseline's sentiment model (0: all)"})
    n_boot: int = field(default=1000, metadata={"help": "bootstrap resamples of the held-out part"})
    conversations: str = field(
        default="", metadata={"help": "CSV of your own scored conversations (see the module doc); default STC-3"}
    )
    max_train_samples: int = sample_cap_field("fitting dialogues")


def _log(msg: str, start: float) -> None:
    print(f"[handoff {time.time() - start:5.0f} s] {msg}", file=sys.stderr, flush=True)


def customer_text(d: Dialogue) -> str:
    """The conversation text of a dialogue's customer turns (:func:`conversation_text`)."""
    return conversation_text([t.text for t in d.turns if t.sender == "customer"])


def low_satisfaction(dialogues: list[Dialogue]) -> np.ndarray:
    """(n,) bool: mean satisfaction at most :data:`LOW_SATISFACTION`."""
    return np.array([d.s_score is not None and d.s_score <= LOW_SATISFACTION for d in dialogues], dtype=bool)


CONVERSATION_COLUMNS = ("conversation_id", "text", "low_satisfaction")


def read_conversations(path: str) -> tuple[list[Dialogue], np.ndarray]:
    """A shop's scored conversations: (one dialogue of customer turns per ``conversation_id``, in
    order of first appearance; (n,) bool low satisfaction). Raises ``ValueError`` naming the row
    and the rule for a missing column, an empty id, a label other than 0/1, or a conversation whose
    rows disagree on its label."""
    with io.StringIO(read_text(path), newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in CONVERSATION_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: columns {missing} missing; it has {reader.fieldnames}")
        turns: dict[str, list[str]] = {}
        labels: dict[str, bool] = {}
        for line, row in enumerate(reader, start=2):
            cid, flag = row["conversation_id"].strip(), row["low_satisfaction"].strip()
            if not cid:
                raise ValueError(f"{path}, line {line}: conversation_id is empty")
            if flag not in ("0", "1"):
                raise ValueError(f"{path}, line {line}: low_satisfaction must be 0 or 1, got {flag!r}")
            if labels.setdefault(cid, flag == "1") != (flag == "1"):
                raise ValueError(f"{path}, line {line}: conversation {cid!r} has both labels")
            turns.setdefault(cid, []).append(row["text"])
    dialogues = [
        Dialogue(cid, tuple(Turn("customer", t, (t,)) for t in ts), None, None, None) for cid, ts in turns.items()
    ]
    return dialogues, np.array([labels[d.id] for d in dialogues], dtype=bool)


def load(cfg: HandoffConfig) -> tuple[list[Dialogue], np.ndarray, str]:
    """(dialogues, (n,) bool low satisfaction, data name) of ``--conversations`` or of STC-3."""
    if cfg.conversations:
        dialogues, y = read_conversations(cfg.conversations)
        return dialogues, y, f"conversations of {cfg.conversations} ({cfg.lang}); label: low_satisfaction"
    dialogues = stc3_dialogues("train", cfg.lang)  # type: ignore[arg-type]
    return (
        dialogues,
        low_satisfaction(dialogues),
        (f"STC-3 train dialogues ({cfg.lang}); label: mean satisfaction <= {LOW_SATISFACTION}"),
    )


def _fit(texts: list[str], y: np.ndarray, feature: tuple[str, int, int], c: float, min_df: int) -> TfidfLinearModel:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    analyzer, lo, hi = feature
    vec = TfidfVectorizer(analyzer=analyzer, ngram_range=(lo, hi), sublinear_tf=True, min_df=min_df)
    x = vec.fit_transform(texts)
    return TfidfLinearModel.from_sklearn(vec, LogisticRegression(C=c, max_iter=3000).fit(x, y.astype(int)), LABELS)


def out_of_fold(
    texts: list[str], y: np.ndarray, groups: np.ndarray, feature: tuple[str, int, int], c: float, cfg: HandoffConfig
) -> np.ndarray:
    """(n,) P(low satisfaction) of each fitting conversation from the model fitted on the other
    folds; a group (near-duplicate cluster) never spans two folds."""
    from sklearn.model_selection import StratifiedGroupKFold

    out = np.zeros(len(texts))
    folds = StratifiedGroupKFold(cfg.folds, shuffle=True, random_state=cfg.seed)
    for tr, va in folds.split(texts, y, groups):
        if len(set(y[tr].tolist())) < 2:
            raise SystemExit(
                "a cross-validation fold holds one class only: near-duplicate conversations (kept in one fold) "
                f"fill it; try fewer --folds than {cfg.folds} or more varied conversations"
            )
        model = _fit([texts[i] for i in tr], y[tr], feature, c, cfg.min_df)
        out[va] = model.predict_proba([texts[i] for i in va])[:, 1]
    return out


def best_threshold(p: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(threshold, F1) of the flag ``p >= threshold`` with the best F1 over :data:`THRESHOLDS`
    (ties: the higher threshold, which flags fewer conversations)."""
    best = max((f1(p >= t, y), t) for t in THRESHOLDS)
    return best[1], best[0]


def precise_threshold(p: np.ndarray, y: np.ndarray, min_precision: float) -> tuple[float, float]:
    """(threshold, precision): the lowest threshold of :data:`THRESHOLDS` whose flag ``p >=
    threshold`` has at least ``min_precision`` precision, so the most recall at that precision.
    Raises ``SystemExit`` with the best precision any threshold reaches when none does."""
    reached = []
    for t in THRESHOLDS:
        flags = p >= t
        if flags.any():
            precision = float((flags & y).sum() / flags.sum())
            if precision >= min_precision:
                return t, precision
            reached.append(precision)
    raise SystemExit(
        f"no threshold reaches --min-precision {min_precision} on the out-of-fold scores "
        f"(best {max(reached, default=0.0):.3f}); ask for less"
    )


def choose_negative_cut(p_model: np.ndarray, threshold: float, p_negative: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Whether the sentiment alone should hand over beside the model, and from which P(negative).

    Args:
        p_model: (n,) out-of-fold P(low satisfaction) of the fitting conversations.
        threshold: the model's chosen hand-over threshold on ``p_model``.
        p_negative: (n,) the largest P(negative) over each conversation's customer turns (a
            conversation is handed over once any of its messages is that negative).
        y: (n,) bool, low satisfaction.
    Returns:
        ``negative_threshold``: the cut of :data:`NEGATIVE_GRID` whose flag ``p_model >= threshold
        or p_negative >= cut`` has the best F1 (ties: the higher cut), or None where none beats the
        model's flag alone; ``model_flag_f1``; ``best_with_sentiment`` (that cut and its F1).
    """
    alone = f1(p_model >= threshold, y)
    best_f1, cut = max((f1((p_model >= threshold) | (p_negative >= t), y), t) for t in NEGATIVE_GRID)
    return {
        "negative_threshold": cut if best_f1 > alone else None,
        "model_flag_f1": round(alone, 4),
        "best_with_sentiment": {"cut": cut, "f1": round(best_f1, 4)},
    }


def choose(texts: list[str], y: np.ndarray, cfg: HandoffConfig, start: float) -> tuple[dict[str, Any], np.ndarray]:
    """Features, C and threshold by cross-validation on the fitting part alone. Returns (the choice
    record, (n,) the chosen model's out-of-fold probabilities)."""
    from training.dedup import duplicate_clusters

    groups = duplicate_clusters(texts)
    cv: dict[str, float] = {}
    oof: dict[tuple[tuple[str, int, int], float], np.ndarray] = {}
    for feature in FEATURES[cfg.lang]:
        for c in (float(v) for v in cfg.c.split(",")):
            oof[feature, c] = out_of_fold(texts, y, groups, feature, c, cfg)
            cv[f"{feature[0]} {feature[1]}-{feature[2]}, C={c:g}"] = round(auc(oof[feature, c], y), 4)
            _log(f"cv AUC {feature} C={c:g}: {cv[f'{feature[0]} {feature[1]}-{feature[2]}, C={c:g}']:.4f}", start)
    feature, c = max(oof, key=lambda k: auc(oof[k], y))
    threshold, cv_f1 = best_threshold(oof[feature, c], y)
    rule = "best F1"
    if cfg.min_precision:
        threshold, _ = precise_threshold(oof[feature, c], y, cfg.min_precision)
        cv_f1, rule = f1(oof[feature, c] >= threshold, y), f"lowest with precision >= {cfg.min_precision}"
    return {
        "feature": feature,
        "C": c,
        "threshold": threshold,
        "threshold_rule": rule,
        "val_auc": round(auc(oof[feature, c], y), 4),
        "val_flag_f1": round(cv_f1, 4),
        "cv_auc": cv,
        "duplicate_clusters": int(len(set(groups.tolist()))),
    }, oof[feature, c]


def _max_negative(model: TfidfLinearModel, dialogues: list[Dialogue]) -> np.ndarray:
    """(n,) the largest P(negative) over each dialogue's customer turns (0 without one)."""
    return np.array([max(p, default=0.0) for p in customer_probabilities(model, dialogues)])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Choose on the fitting part, fit, measure once on the held-out part, save. Returns the metrics."""
    cfg = parse_config(HandoffConfig, argv)
    if cfg.lang not in FEATURES:
        raise SystemExit(f"--lang must be one of {sorted(FEATURES)}, got {cfg.lang!r}")
    setup_run(cfg)
    start = time.time()
    dialogues, y, data_name = load(cfg)
    fit_i = [i for i, d in enumerate(dialogues) if not held_out(d.id)]
    held_i = [i for i, d in enumerate(dialogues) if held_out(d.id)]
    if cfg.max_train_samples:
        keep = np.sort(np.random.default_rng(cfg.seed).permutation(len(fit_i))[: cfg.max_train_samples])
        fit_i = [fit_i[k] for k in keep]
    fit_d, held_d = [dialogues[i] for i in fit_i], [dialogues[i] for i in held_i]
    fit_y, held_y = y[fit_i], y[held_i]
    for part, labels in (("fitting", fit_y), ("held-out", held_y)):
        if labels.sum() < cfg.folds or (~labels).sum() < cfg.folds:
            raise SystemExit(
                f"the {part} part has {int(labels.sum())} low-satisfaction and {int((~labels).sum())} other "
                f"conversations; each needs at least --folds ({cfg.folds})"
            )
    fit_t, held_t = [customer_text(d) for d in fit_d], [customer_text(d) for d in held_d]
    _log(f"{len(fit_d)} fitting dialogues ({int(fit_y.sum())} low), {len(held_d)} held out", start)

    chosen, fit_p = choose(fit_t, fit_y, cfg, start)
    model = _fit(fit_t, fit_y, chosen["feature"], chosen["C"], cfg.min_df)
    sentiment, sentiment_record = fit_sentiment(
        [float(v) for v in cfg.sentiment_c.split(",")], cfg.seed, cfg.lang, cfg.max_reviews
    )
    base_fit = _max_negative(sentiment, fit_d)
    base_cut, base_fit_f1 = best_threshold(base_fit, fit_y)
    chosen["sentiment_reason"] = choose_negative_cut(fit_p, chosen["threshold"], base_fit, fit_y)
    negative_cut = chosen["sentiment_reason"]["negative_threshold"]
    _log(
        f"chosen on the fitting part: {chosen['feature']} C={chosen['C']:g} threshold {chosen['threshold']}, "
        f"sentiment alone {'from P(negative) ' + str(negative_cut) if negative_cut is not None else 'never'} "
        f"(flag F1 {chosen['sentiment_reason']['model_flag_f1']} alone, "
        f"{chosen['sentiment_reason']['best_with_sentiment']['f1']} at best with it)",
        start,
    )

    # The held-out part, read once.
    p = model.predict_proba(held_t)[:, 1]
    base = _max_negative(sentiment, held_d)
    n, every = len(held_d), np.arange(len(held_d))
    model_auc, base_auc = auc_of(p, held_y), auc_of(base, held_y)
    flag = precision_recall(p >= chosen["threshold"], held_y, cfg.n_boot, cfg.seed)
    base_flag = precision_recall(base >= base_cut, held_y, cfg.n_boot, cfg.seed)
    # What /reply flags: the model, and the sentiment alone where the fitting part kept it.
    served_flag = (p >= chosen["threshold"]) | (base >= (negative_cut if negative_cut is not None else np.inf))
    vs = paired_difference(model_auc, base_auc, n, n_boot=cfg.n_boot, seed=cfg.seed)
    metrics = {
        "val_auc": chosen["val_auc"],
        "val_flag_f1": chosen["val_flag_f1"],
        "test_auc": round(model_auc(every), 4),
        "test_flag_precision": flag["precision"],
        "test_flag_recall": flag["recall"],
        "test_flag_f1": round(f1(p >= chosen["threshold"], held_y), 4),
    }
    baseline_metrics = {
        "val_auc": round(auc(base_fit, fit_y), 4),
        "val_flag_f1": round(base_fit_f1, 4),
        "test_auc": round(base_auc(every), 4),
        "test_flag_precision": base_flag["precision"],
        "test_flag_recall": base_flag["recall"],
        "test_flag_f1": round(f1(base >= base_cut, held_y), 4),
    }
    baseline_name = "max P(negative) over the customer turns"
    ci95 = {"test_auc": bootstrap_ci(model_auc, n, n_boot=cfg.n_boot, seed=cfg.seed)}
    vs_baseline = {"test_auc": {"baseline": baseline_name, **vs}}
    feature = chosen["feature"]
    data_meta = {
        "name": data_name,
        "sha256": fingerprint([f"{d.id}\t{int(v)}\t{t}" for d, v, t in zip(fit_d, fit_y, fit_t, strict=True)]),
        "split": f"held out: sha256('handoff:' + id) first 8 hex / 16^8 < {HELD_OUT_SHARE}",
        "n_train": len(fit_d),
        "n_val": len(fit_d),  # validation is the out-of-fold scores of the fitting part
        "n_test": n,
        "n_test_positive": int(held_y.sum()),
    }
    summary = (
        f"[handoff-{cfg.lang}] held-out AUC {metrics['test_auc']:.3f} [{ci95['test_auc'][0]:.3f}, "
        f"{ci95['test_auc'][1]:.3f}] vs {baseline_metrics['test_auc']:.3f} ({baseline_name}): "
        f"{vs['diff']:+.3f} [{vs['ci95'][0]:+.3f}, {vs['ci95'][1]:+.3f}] {vs['verdict']}; flag at "
        f"{chosen['threshold']}: precision {flag['precision']:.3f}, recall {flag['recall']:.3f} "
        f"(baseline at {base_cut}: {base_flag['precision']:.3f}, {base_flag['recall']:.3f})"
    )
    payload = {
        "chosen_on_fit": chosen,
        "baseline": {"ranking": baseline_name, "flag_cut": base_cut, "sentiment": sentiment_record},
        "held_out": {
            "model_flag": flag,
            "served_flag": precision_recall(served_flag, held_y, cfg.n_boot, cfg.seed),
            "baseline_flag": base_flag,
            "vs_baseline": vs,
            "auc_ci95": ci95["test_auc"],
        },
        "metrics": metrics,
        "baseline_metrics": baseline_metrics,
    }
    params = {
        **vars(cfg),
        "analyzer": feature[0],
        "ngram_range": [feature[1], feature[2]],
        "C": chosen["C"],
        "threshold": chosen["threshold"],
    }
    return finish_run(
        cfg,
        f"handoff-{cfg.lang}",
        {"metrics": metrics, "baseline_metrics": baseline_metrics, "comparisons": vs_baseline},
        metrics=metrics,
        baseline_metrics=baseline_metrics,
        summary=summary,
        report=Report(payload, score_name="auc"),
        saved=lambda: Saved(
            "handoff",
            cfg.lang,
            "tfidf-lr",
            model.save,
            data_meta,
            {str(i): label for i, label in enumerate(LABELS)},
            metadata={
                # No entry: the sentiment alone never hands over beside this model (metadata holds no None).
                "decision": {"threshold": chosen["threshold"]}
                | ({} if negative_cut is None else {"negative_threshold": negative_cut}),
                "ci95": ci95,
                "vs_baseline": vs_baseline,
                "quantization": {"mode": "none"},
            },
            params=params,
        ),
    )


if __name__ == "__main__":
    main()
