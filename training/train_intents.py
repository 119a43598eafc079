"""Train the customer-service intent model (13 labels, Chinese and English in one model) and save it
into the BentoML model store as ``intent``.

    python -m training.train_intents                          # the multilingual encoder (e5-small)
    python -m training.train_intents --arch cnn --epochs 6    # a character CNN, minutes on a CPU
    python -m training.train_intents --no-zh-train --no-save  # English only: cross-lingual transfer

Data (``data/customer_service/``, label guide ``LABELS.md``): Bitext's official splits (English,
its 27 intents mapped onto the 13 labels), the hand-labelled Chinese customer turns, whose
``train`` half is cut 70/30 (seeded, by label) into training and validation rows, the English
versions STC-3 gives of 701 of those turns, each on the side of its original, and the
hand-labelled English review turns, cut the same way, and the train part of the written shop
requests (:func:`training.service_data.shop_requests`), cut so too, whose 70% train (``--requests-train``,
the default), and the chat requests generated from seed templates
(:func:`training.service_data.template_requests`, ``--template-requests``, the default: training
only); the ``test`` halves are read once, at the end. Every choice (epochs,
ensemble weight, quantisation, abstention threshold) is made on validation: Bitext's validation
split plus the validation rows of the other sets (the abstention thresholds on real messages
alone, :data:`VALIDATION_SOURCES`).

``--data`` adds a user's own labelled messages (:func:`own_turns`): their 80% trains, their 10%
validates beside the built-in rows, and their 10% is the test groups ``own_zh`` and ``own_en``.

Test groups, each reported with a 95% interval and paired against both baselines: ``en`` (Bitext
test rows whose template, :func:`training.service_data.template_key`, is new), ``en_template``
(test rows repeating a training template: generated near-copies, reported apart), ``zh`` (the
Chinese test half, near-duplicates of training turns removed), ``en_stc3`` (the English versions
of that half's STC-3 turns, :func:`training.service_data.en_stc3_turns`: real customers' English),
``en_reviews`` (the test half of the English review turns,
:func:`training.service_data.en_review_turns`) and ``requests_zh`` / ``requests_en`` (the written
requests' test part: plain phrasings, written by the same hand as their train part). Baselines:
TF-IDF + logistic regression (character 1-3-grams, which read both scripts) and the review
intent rules of :mod:`mining.intents` mapped onto the labels (:data:`RULE_LABELS`; without
sentiment, so they never say complaint or feedback).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mining.artifacts import pick_device
from mining.intents import intent_of
from mining.models.textclf import BASELINE_SERVED
from mining.text import clean, detect_language
from training.common import confusion_matrix, fingerprint, parse_config, per_class_report, stratified_split
from training.dedup import duplicate_clusters
from training.intervals import Headline, mean_of, uncertainty
from training.run import Report, Saved, finish_run, setup_run
from training.service_data import (
    LABELS,
    LabelledTurn,
    bitext_intents,
    en_review_turns,
    en_stc3_turns,
    shop_requests,
    template_key,
    template_requests,
    zh_turns,
)
from training.store import shared_encoder_record
from training.textclf import Split, TextClfConfig, fit_and_evaluate, tfidf_baseline

NAME = "intent"
ARCHS = ("e5", "cnn", "bilstm")
GROUPS = ("en", "en_template", "en_stc3", "en_reviews", "zh", "requests_en", "requests_zh", "own_en", "own_zh")
# The validation groups of each language, pooled for its abstention threshold: real messages only (the
# written requests validate the other choices, but being plain they would lower the threshold that the
# real turns need).
VALIDATION_SOURCES = {"en": ("en", "en_stc3", "en_reviews", "own_en"), "zh": ("zh", "own_zh")}


def group_language(group: str) -> str:
    """``"zh"`` or ``"en"``: the language of a test or validation group (:data:`GROUPS`)."""
    return "zh" if group == "zh" or group.endswith("_zh") else "en"


# The review intent rules' labels on this label set: a return, refund or repair is a return first
# (LABELS.md rule 3), a wish or a question is about a product.
RULE_LABELS = {
    "return_refund": "return_exchange",
    "order_status": "order_status",
    "request": "product_question",
    "question": "product_question",
    "complaint": "complaint",
    "praise": "feedback",
    "neutral": "other",
}


@dataclass
class IntentConfig(TextClfConfig):
    """Train the customer-service intent model and save it into the model store."""

    data: str = field(
        default="",
        metadata={
            "help": "your own labelled customer messages (CSV/TSV/Parquet with text, label and optionally lang; "
            "labels from data/customer_service/LABELS.md): added to the built-in data, split 80/10/10 by label, "
            "reported as the test groups own_zh and own_en"
        },
    )
    zh_train: bool = field(
        default=True,
        metadata={
            "help": "train with the Chinese train half; off: no Chinese row trains (nor the Chinese written or "
            "generated requests): English only, for transfer"
        },
    )
    zh_val_share: float = field(default=0.3, metadata={"help": "share of the Chinese train half kept for validation"})
    zh_repeat: int = field(
        default=1,
        metadata={
            "help": "times each hand-labelled training turn (Chinese; English STC-3 and review turns where they "
            "train) is seen per epoch (a few hundred beside 6,480 Bitext rows)"
        },
    )
    en_stc3_train: bool = field(
        default=True,
        metadata={
            "help": "train with the English versions of the labelled STC-3 turns of the train half (real English "
            "customers' messages); off with --no-zh-train and --no-en-reviews-train for transfer from Bitext alone"
        },
    )
    en_reviews_train: bool = field(
        default=True,
        metadata={
            "help": "train with the hand-labelled English review turns of the train half (reviews read as messages "
            "to the shop, mostly feedback and complaints)"
        },
    )
    requests_train: bool = field(
        default=True,
        metadata={
            "help": "train with 70% of the written shop requests' train part (requests.csv: plain requests such as "
            "我想取消这个订单, both languages); the other 30% validate either way and the test part is the groups "
            "requests_zh / requests_en (--no-requests-train: without them)"
        },
    )
    template_requests: bool = field(
        default=True,
        metadata={
            "help": "train with the chat requests generated from data/customer_service/request_templates.csv "
            "(12 a template, both languages; training.service_data.template_requests), less any that "
            "near-duplicates a validation or test text; they validate and test nothing. With --requests-train "
            "the default since, on the same validation rows, both stages kept their real-message accuracy and "
            "read plain Chinese requests far better (docs/training.md#service-intents)"
        },
    )


def _macro_f1(y: np.ndarray, pred: np.ndarray, classes: np.ndarray) -> Any:
    """Statistic: macro-F1 over ``classes`` (the labels present in the group's truth) of resampled items."""

    def stat(idx: np.ndarray) -> float:
        t, p = y[idx], pred[idx]
        f1 = []
        for c in classes:
            tp = float(((t == c) & (p == c)).sum())
            denom = float((t == c).sum() + (p == c).sum())
            f1.append(2 * tp / denom if denom else 0.0)
        return float(np.mean(f1))

    return stat


def _cut_by_label(turns: Sequence[LabelledTurn], share: float, rng: np.random.Generator) -> tuple[list[int], list[int]]:
    """(fit, validation) indices of ``turns``: ``share`` of each label's turns, drawn with ``rng``,
    for validation, so a rare label has validation rows too; both sorted."""
    val: list[int] = []
    for label in LABELS:
        of_label = [i for i, t in enumerate(turns) if t.label == label]
        rng.shuffle(of_label)
        val += of_label[: int(round(len(of_label) * share))]
    chosen = set(val)
    return [i for i in range(len(turns)) if i not in chosen], sorted(val)


def _unseen(test: list[str], known: list[str]) -> list[int]:
    """Indices of the non-empty ``test`` texts that near-duplicate none of ``known`` (a repeated post)."""
    clusters = duplicate_clusters(known + test)
    known_clusters = set(clusters[: len(known)].tolist())
    return [j for j in range(len(test)) if clusters[len(known) + j] not in known_clusters and test[j]]


@dataclass(frozen=True)
class OwnTurns:
    """A user's labelled messages, deduplicated and split: per part, (texts, label ids, groups)."""

    parts: dict[str, tuple[list[str], list[int], list[str]]]
    dropped: int


def own_turns(path: str | Path, seed: int) -> OwnTurns:
    """Read a user's labelled messages (``training.data.LABELLED_TEXTS``: ``text``, ``label``, ``lang``
    optional, else detected), check every label against :data:`LABELS`, drop near-duplicate clusters
    (conflicting labels: the whole cluster) and split 80/10/10 stratified by label with ``seed``.

    Raises:
        ValueError: a label outside the label set (with its row; case does not count), or too few rows
            for a part.
    """
    from training.data import LABELLED_TEXTS, read_table
    from training.dedup import deduplicate_labelled

    table = read_table(path, LABELLED_TEXTS)
    table["label"] = [label.casefold() if label.casefold() in LABELS else label for label in table["label"]]
    for row, label in enumerate(table["label"], start=1):
        if label not in LABELS:
            raise ValueError(
                f"{path}, data row {row} (1 = the first under the header): label must be one of the service "
                f"intents ({', '.join(LABELS)}; data/customer_service/LABELS.md), got {label!r}"
            )
    texts = [clean(t) for t in table["text"]]
    keep, stats = deduplicate_labelled(texts, table["label"].tolist())
    ids = {label: i for i, label in enumerate(LABELS)}
    y = np.array([ids[table["label"].iloc[i]] for i in keep], dtype=np.int64)
    langs = [table["lang"].iloc[i] or detect_language(texts[i]) for i in keep]
    parts = dict(zip(("train", "val", "test"), stratified_split(y, seed=seed)))
    if not all(len(p) for p in parts.values()):
        raise ValueError(
            f"{path}: {len(keep)} distinct messages give none to some part of an 80/10/10 split by label "
            f"({', '.join(f'{k} {len(v)}' for k, v in parts.items())}); give at least 6 messages of a label"
        )
    return OwnTurns(
        {
            part: (
                [texts[keep[j]] for j in rows],
                [int(y[j]) for j in rows],
                ["own_zh" if langs[j] == "zh" else "own_en" for j in rows],
            )
            for part, rows in parts.items()
        },
        stats.n_duplicates,
    )


def service_splits(cfg: IntentConfig) -> tuple[dict[str, Split], dict[str, Any]]:
    """The train / val / test splits with a group per test row (see the module docstring).

    Returns:
        ({"train", "val", "test"} -> Split over :data:`LABELS` ids, the ``data`` metadata block).
    """
    ids = {label: i for i, label in enumerate(LABELS)}
    en = {s: bitext_intents(s) for s in ("train", "validation", "test")}
    train_t = [clean(u.text) for u in en["train"]]
    train_y = [ids[u.label] for u in en["train"]]
    val_t = [clean(u.text) for u in en["validation"]]
    n_val_en = len(val_t)
    val_y = [ids[u.label] for u in en["validation"]]
    seen_templates = {template_key(u.text, u.slots) for u in en["train"]}
    test_t = [clean(u.text) for u in en["test"]]
    test_y = [ids[u.label] for u in en["test"]]
    test_g = ["en_template" if template_key(u.text, u.slots) in seen_templates else "en" for u in en["test"]]

    zh_tr, zh_te = zh_turns("train"), zh_turns("test")
    rng = np.random.default_rng(cfg.seed)
    zh_fit, zh_val = _cut_by_label(zh_tr, cfg.zh_val_share, rng)
    if cfg.zh_train:
        train_t += [clean(zh_tr[i].text) for i in zh_fit] * cfg.zh_repeat
        train_y += [ids[zh_tr[i].label] for i in zh_fit] * cfg.zh_repeat
    val_t += [clean(zh_tr[i].text) for i in sorted(zh_val)]
    val_y += [ids[zh_tr[i].label] for i in sorted(zh_val)]
    val_g = ["en"] * n_val_en + ["zh"] * len(zh_val)
    # A turn's English version goes where its Chinese original went: never one in training and
    # the other in validation or test.
    english = {t.id.removesuffix("-en"): t for t in en_stc3_turns()}
    en_fit = [english[zh_tr[i].id] for i in zh_fit if zh_tr[i].id in english]
    if cfg.en_stc3_train:
        train_t += [clean(t.text) for t in en_fit] * cfg.zh_repeat
        train_y += [ids[t.label] for t in en_fit] * cfg.zh_repeat
    en_val = [english[zh_tr[i].id] for i in sorted(zh_val) if zh_tr[i].id in english]
    val_t += [clean(t.text) for t in en_val]
    val_y += [ids[t.label] for t in en_val]
    val_g += ["en_stc3"] * len(en_val)
    # English review turns: the train half cut as the Chinese one (after it, so the Chinese cut is
    # unchanged), the test half a group of its own.
    rv_tr, rv_te = en_review_turns("train"), en_review_turns("test")
    rv_fit, rv_val = _cut_by_label(rv_tr, cfg.zh_val_share, rng)
    if cfg.en_reviews_train:
        train_t += [clean(rv_tr[i].text) for i in rv_fit] * cfg.zh_repeat
        train_y += [ids[rv_tr[i].label] for i in rv_fit] * cfg.zh_repeat
    val_t += [clean(rv_tr[i].text) for i in rv_val]
    val_y += [ids[rv_tr[i].label] for i in rv_val]
    val_g += ["en_reviews"] * len(rv_val)
    rv_test = [clean(t.text) for t in rv_te]
    rv_keep = _unseen(rv_test, [clean(t.text) for t in rv_tr])
    test_t += [rv_test[j] for j in rv_keep]
    test_y += [ids[rv_te[j].label] for j in rv_keep]
    test_g += ["en_reviews"] * len(rv_keep)
    # A Chinese test turn that near-duplicates a labelled train-half turn (a repeated post) is dropped.
    zh_test = [clean(t.text) for t in zh_te]
    keep = _unseen(zh_test, [clean(t.text) for t in zh_tr])
    test_t += [zh_test[j] for j in keep]
    test_y += [ids[zh_te[j].label] for j in keep]
    test_g += ["zh"] * len(keep)
    en_test = [english[zh_te[j].id] for j in keep if zh_te[j].id in english]
    test_t += [clean(t.text) for t in en_test]
    test_y += [ids[t.label] for t in en_test]
    test_g += ["en_stc3"] * len(en_test)
    # The written shop requests: their train part cut as the turns above (after them, so those cuts
    # are unchanged), so validation holds plain requests too and the choices see them; their
    # validation rows stay whether or not they train (validation is the same both ways).
    rq_tr, rq_te = shop_requests("train"), shop_requests("test")
    rq_texts = [clean(t.text) for t in rq_tr]
    rq_fit, rq_cut = _cut_by_label(rq_tr, cfg.zh_val_share, rng)
    # A short request that trains elsewhere ("Thanks", "？" read as "?") validates nothing; texts
    # without letters form no near-duplicate cluster, so exact copies are dropped too.
    trained = train_t + [rq_texts[i] for i in rq_fit]
    known = set(trained)
    cut = [i for i in sorted(rq_cut) if rq_texts[i] not in known]
    rq_val = [cut[j] for j in _unseen([rq_texts[i] for i in cut], trained)]
    if cfg.requests_train:
        rq_fit = [i for i in rq_fit if cfg.zh_train or rq_tr[i].source != "requests_zh"]
        train_t += [rq_texts[i] for i in rq_fit] * cfg.zh_repeat
        train_y += [ids[rq_tr[i].label] for i in rq_fit] * cfg.zh_repeat
    val_t += [rq_texts[i] for i in rq_val]
    val_y += [ids[rq_tr[i].label] for i in rq_val]
    val_g += [rq_tr[i].source for i in rq_val]
    rq_test = [clean(t.text) for t in rq_te]
    # A written test request that repeats any training or validation text (好的，谢谢) tests nothing.
    rq_keep = _unseen(rq_test, train_t + val_t + rq_texts)
    test_t += [rq_test[j] for j in rq_keep]
    test_y += [ids[rq_te[j].label] for j in rq_keep]
    test_g += [rq_te[j].source for j in rq_keep]
    n_generated = 0
    if cfg.template_requests:
        generated = [t for t in template_requests() if cfg.zh_train or t.source != "generated_zh"]
        gen_texts = [clean(t.text) for t in generated]
        # A generated request near a held-out text would score the template, not the model.
        kept = _unseen(gen_texts, val_t + test_t)
        train_t += [gen_texts[i] for i in kept]
        train_y += [ids[generated[i].label] for i in kept]
        n_generated = len(kept)
    own = own_turns(cfg.data, cfg.seed) if cfg.data else None
    if own is not None:
        texts, y, _ = own.parts["train"]
        train_t += texts * cfg.zh_repeat
        train_y += y * cfg.zh_repeat
        texts, y, g = own.parts["val"]
        val_t, val_y, val_g = val_t + texts, val_y + y, val_g + g
        # A test message that repeats a training text (built-in or own) is not a test of the model.
        texts, y, g = own.parts["test"]
        unseen = _unseen(texts, train_t)
        test_t += [texts[j] for j in unseen]
        test_y += [y[j] for j in unseen]
        test_g += [g[j] for j in unseen]

    if cfg.max_train_samples and cfg.max_train_samples < len(train_t):
        pick = np.sort(np.random.default_rng(cfg.seed).permutation(len(train_t))[: cfg.max_train_samples])
        train_t, train_y = [train_t[i] for i in pick], [train_y[i] for i in pick]
    splits = {
        "train": Split(train_t, np.array(train_y, dtype=np.int64)),
        "val": Split(val_t, np.array(val_y, dtype=np.int64), np.array(val_g, dtype=object)),
        "test": Split(test_t, np.array(test_y, dtype=np.int64), np.array(test_g, dtype=object)),
    }
    rows = [f"{t}\t{y}" for s in ("train", "val", "test") for t, y in zip(splits[s].texts, splits[s].y)]
    meta = {
        "name": "Bitext customer-service intents (en) + hand-labelled STC-3 / review turns (zh) + the English "
        "versions of the labelled STC-3 turns (en) + hand-labelled English review turns (en) + written shop requests "
        "(zh, en)"
        + (" + generated shop requests (zh, en)" if cfg.template_requests else "")
        + (f" + {cfg.data}" if cfg.data else ""),
        "sha256": fingerprint(rows),
        "val_sha256": fingerprint([f"{t}\t{y}" for t, y in zip(val_t, val_y)]),
        "n_train": len(train_t),
        "n_val": len(val_t),
        "n_test": len(test_t),
        "n_test_by_group": {g: test_g.count(g) for g in GROUPS if g in test_g},
        "zh_test_near_duplicates_dropped": len(zh_test) - len(keep),
        "en_reviews_test_near_duplicates_dropped": len(rv_test) - len(rv_keep),
        "zh_train": cfg.zh_train,
        "en_stc3_train": cfg.en_stc3_train,
        "en_reviews_train": cfg.en_reviews_train,
        "requests_train": cfg.requests_train,
        "n_requests": {"train": len(rq_fit) if cfg.requests_train else 0, "val": len(rq_val), "test": len(rq_keep)},
        "template_requests": cfg.template_requests,
        "n_generated_train": n_generated,
        "n_en_stc3": {"train": len(en_fit) if cfg.en_stc3_train else 0, "val": len(en_val), "test": len(en_test)},
    }
    if own is not None:
        meta["own"] = {
            "file": cfg.data,
            "duplicates_dropped": own.dropped,
            **{part: len(rows[0]) for part, rows in own.parts.items()},
        }
    return splits, meta


def rule_predictions(texts: Sequence[str]) -> np.ndarray:
    """(n,) label ids of the review intent rules (no sentiment) mapped by :data:`RULE_LABELS`."""
    ids = {label: i for i, label in enumerate(LABELS)}
    return np.array([ids[RULE_LABELS[intent_of(t, detect_language(t), None)]] for t in texts], dtype=np.int64)


def by_group(test: Split, preds: dict[str, np.ndarray]) -> dict[str, Any]:
    """Accuracy and macro-F1 per test group of ``preds["model"]``, each with its interval and paired
    against every other entry of ``preds`` (the baselines), on the same rows."""
    assert test.groups is not None
    out: dict[str, Any] = {}
    for g in GROUPS:
        rows = np.flatnonzero(test.groups == g)
        if not len(rows):
            continue
        y = test.y[rows]
        classes = np.unique(y)
        p = {k: v[rows] for k, v in preds.items()}
        block: dict[str, Any] = {"n": int(len(rows))}
        for base in (k for k in preds if k != "model"):
            heads = [
                Headline("accuracy", mean_of(p["model"] == y), mean_of(p[base] == y), base),
                Headline("macro_f1", _macro_f1(y, p["model"], classes), _macro_f1(y, p[base], classes), base),
            ]
            unc = uncertainty(heads, len(rows))
            block.setdefault("ci95", unc["ci95"])
            block[f"vs_{base}"] = unc["vs_baseline"]
        for k, v in p.items():
            block[f"{k}_accuracy"] = float((v == y).mean())
            block[f"{k}_macro_f1"] = _macro_f1(y, v, classes)(np.arange(len(rows)))
        out[g] = block
    return out


def abstention_by_language(
    model: Any, mode: str, splits: dict[str, Split], temperature: float, min_precision: float
) -> tuple[dict[str, float], dict[str, Any]]:
    """Per language, the lowest threshold whose answered validation texts of that language (its
    :data:`VALIDATION_SOURCES`, pooled) reach ``min_precision`` (the shared threshold lets the many
    English texts carry the few Chinese ones), and on each test group the share answered and their
    accuracy at it.

    English pools Bitext's generated requests with the real English turns: held to 0.9 on the
    real turns alone, the encoder head's English threshold left 31% of Bitext's test requests and
    1% of the real turns answered (docs/training.md#service-intents); pooled, 99% and 47% (at 0.66
    precision on the real ones).

    Args:
        model: the served artifact (its ``save``), quantised by ``mode`` as serving does.
    Returns:
        ({lang: threshold}, {group: {"coverage", "n_answered", "precision" (where any was answered)}}).
    """
    import tempfile

    from mining.artifacts import quantize
    from mining.models.textclf import load_artifact
    from training.calibration import choose_threshold, temper

    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / "m")
        served = quantize(load_artifact(Path(tmp) / "m"), mode)
        val, test = splits["val"], splits["test"]
        p_val = temper(served.predict_proba(val.texts), temperature)
        p_test = temper(served.predict_proba(test.texts), temperature)
    assert val.groups is not None and test.groups is not None
    of_lang = {lang: np.isin(val.groups, groups) for lang, groups in VALIDATION_SOURCES.items()}
    thresholds = {
        lang: float(choose_threshold(p_val[rows], val.y[rows], min_precision)["threshold"])
        for lang, rows in of_lang.items()
    }
    answered: dict[str, Any] = {}
    for group in GROUPS:
        rows = test.groups == group
        if not rows.any():
            continue  # an own_* group without --data
        top, right = p_test[rows].max(1), p_test[rows].argmax(1) == test.y[rows]
        kept = top >= thresholds[group_language(group)]
        # Store metadata holds no None: a precision over no answered turn is left out.
        answered[group] = {"coverage": float(kept.mean()), "n_answered": int(kept.sum())}
        if kept.any():
            answered[group]["precision"] = float(right[kept].mean())
    return thresholds, answered


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Train, choose on validation, measure once on the test groups, save into the store.

    Returns:
        ``{"metrics": {..., "by_group": {group: {"n", "model_accuracy", "model_macro_f1",
        "tfidf_accuracy", ..., "ci95", "vs_tfidf", "vs_rules"}}}, "baseline_metrics", "served",
        "ci95", "vs_baseline", "data", "tag"}``.
    """
    cfg = parse_config(IntentConfig, argv)
    cfg.lang = "zh"  # the TF-IDF baseline's character n-grams, which read both scripts
    cfg.max_len = cfg.max_len or 64
    cfg.resolve(ARCHS)
    setup_run(cfg)
    device = pick_device()
    splits, data_meta = service_splits(cfg)
    labels = list(LABELS)
    print(
        f"[{NAME}] {data_meta['n_train']} train / {data_meta['n_val']} val / {data_meta['n_test']} test "
        f"{data_meta['n_test_by_group']}",
        file=sys.stderr,
    )
    baseline, linear = tfidf_baseline(splits, "zh", labels)
    out = fit_and_evaluate(cfg, splits, labels, device, NAME, linear, data_meta["sha256"])
    metrics, pred, history = out["metrics"], out["pred"], out["history"]
    test = splits["test"]
    groups = by_group(test, {"model": pred, "tfidf": out["baseline_pred"], "rules": rule_predictions(test.texts)})
    metrics["by_group"] = groups
    by_lang, answered = abstention_by_language(
        out["model"], str(out["quantization"]["mode"]), splits, out["abstention"]["temperature"], cfg.abstain_precision
    )
    out["abstention"] = {**out["abstention"], "by_lang": by_lang, "test_answered_by_group": answered}
    metrics["abstention"] = out["abstention"]
    metrics["quantization"] = out["quantization"]
    baseline_metrics = {
        "test_accuracy": baseline["test_accuracy"],
        "test_macro_f1": baseline["test_macro_f1"],
        "model": f"tf-idf {baseline['features']} + logistic regression",
        "C": baseline["C"],
    }
    result: dict[str, Any] = {
        "metrics": metrics,
        "baseline_metrics": baseline_metrics,
        "served": out["served"],
        **out["uncertainty"],
        "data": data_meta,
        "per_class": per_class_report(test.y, pred, labels),
        "tag": None,
    }

    def saved() -> Saved:
        extra = {
            "history": dataclasses.asdict(history),
            "abstention": out["abstention"],
            "quantization": out["quantization"],
            "served": out["served"],
            "by_group": groups,
            **out["uncertainty"],
        }
        if cfg.arch == "e5" and cfg.frozen_layers and out["served"]["model"] != BASELINE_SERVED:
            extra["shared_encoder"] = shared_encoder_record(
                NAME, cfg.frozen_layers, data_meta["sha256"], "test_accuracy", metrics["test_accuracy"]
            )
        return Saved("intent", None, out["served"]["model"], out["model"].save, data_meta,
                     {str(i): label for i, label in enumerate(labels)}, extra)  # fmt: skip

    lines = [
        f"  {g:<11} n={b['n']:<4} model acc {b['model_accuracy']:.3f} macro-F1 {b['model_macro_f1']:.3f} | "
        f"tfidf {b['tfidf_accuracy']:.3f} / {b['tfidf_macro_f1']:.3f} | rules {b['rules_accuracy']:.3f} / "
        f"{b['rules_macro_f1']:.3f}"
        + (
            f" | answered {a['coverage']:.2f} at {a['precision']:.3f}"
            if "precision" in (a := out["abstention"]["test_answered_by_group"][g])
            else " | answered 0.00"
        )
        for g, b in groups.items()
    ]
    return finish_run(
        cfg,
        NAME,
        result,
        metrics=metrics,
        baseline_metrics=baseline_metrics,
        summary=f"[{NAME}] served {out['served']['model']}; test by group:\n" + "\n".join(lines),
        report=Report(dict(result), history, confusion=(confusion_matrix(test.y, pred, len(labels)), labels)),
        saved=saved,
    )


if __name__ == "__main__":
    main()
