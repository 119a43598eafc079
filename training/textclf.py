"""The training core of every text classifier (sentiment, category, intent): data preparation,
the TF-IDF baseline, the network (trained by :mod:`training.textclf_fit`), the optional ensemble,
and evaluation of the artifact exactly as serving loads it. Task scripts add data and store naming;
their options and the :class:`Split` type live in :mod:`training.textclf_config`.

Every choice (epochs, ensemble weight, quantisation, serving the baseline instead of the network,
calibration and abstention) is made on the validation split; the test split is read once, for the
reported numbers of what is served, of its network alone and of the baseline, each with a bootstrap
interval (:mod:`training.intervals`)."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import bentoml
import numpy as np
import torch

from mining.artifacts import quantize
from mining.models.linear import EnsembleModel, TfidfLinearModel
from mining.models.textclf import BASELINE_SERVED, CharNgramModel, EncoderModel, TextClassifier, load_artifact
from mining.text import Lang, clean
from training.calibration import choose_threshold, fit_temperature, split_outside, temper
from training.common import (
    History,
    choose_quantization,
    classification_metrics,
    fingerprint,
    fit_logistic_grid,
    record_test_drop,
    search_on_validation,
    stratified_split,
)
from training.dedup import deduplicate_labelled
from training.frozen import frozen_block
from training.intervals import Headline, macro_f1_of, mean_of, uncertainty
from training.textclf_config import (
    CHAR_ARCHS,
    ENCODER_ARCHS,
    Split,
    TextClfConfig,
    accuracy_by_group,
    network_sample,
)
from training.textclf_fit import train_neural

__all__ = [
    "CHAR_ARCHS",
    "ENCODER_ARCHS",
    "Split",
    "TextClfConfig",
    "accuracy_by_group",
    "choose_and_measure",
    "choose_ensemble_weight",
    "fit_and_evaluate",
    "network_sample",
    "prepare_splits",
    "tfidf_baseline",
    "train_neural",
]


def prepare_splits(
    texts: Sequence[str],
    labels: Sequence[str],
    seed: int,
    max_train_samples: int = 0,
    groups: Sequence[str] | None = None,
) -> tuple[dict[str, Split], list[str], dict[str, Any]]:
    """Clean, deduplicate and split labelled texts 80/10/10, stratified by label.

    Duplicates (exact and near) collapse to one text before the split, also across ``groups``
    (sources), and duplicate clusters with conflicting labels are dropped, so no test text has a
    copy in training. A kept text keeps the group of its cluster's first member.

    Returns:
        ({"train", "val", "test"} -> Split, sorted label names, the ``data`` metadata block
        without its ``name``).
    """
    texts = [clean(t) for t in texts]
    keep, stats = deduplicate_labelled(texts, list(labels))
    texts = [texts[i] for i in keep]
    names = sorted(set(labels[i] for i in keep))
    if len(names) < 2:
        raise ValueError(f"need at least 2 labels after deduplication, found {names}")
    y = np.array([names.index(labels[i]) for i in keep], dtype=np.int64)
    tr, va, te = stratified_split(y, seed=seed)
    if not (len(tr) and len(va) and len(te)):
        # Each label gives a tenth of its texts, rounded, to validation and to test.
        raise ValueError(
            f"{len(texts)} texts remain after deduplication ({stats.n_duplicates} duplicates dropped): too few "
            f"for a 80/10/10 split with texts in validation and test ({len(tr)}/{len(va)}/{len(te)}); give at "
            "least 6 distinct texts of some label, 20 or more of each for a useful model"
        )
    if max_train_samples:
        tr = np.sort(np.random.default_rng(seed).permutation(tr)[:max_train_samples])
    g = np.array([groups[i] for i in keep], dtype=object) if groups is not None else None
    splits = {
        k: Split([texts[i] for i in idx], y[idx], None if g is None else g[idx])
        for k, idx in (("train", tr), ("val", va), ("test", te))
    }
    meta = {
        "sha256": fingerprint([f"{texts[i]}\t{y[i]}" for i in np.concatenate([tr, va, te])]),
        # The validation rows alone (unchanged by --max-train-samples): what two versions are compared on.
        "val_sha256": fingerprint([f"{texts[i]}\t{y[i]}" for i in va]),
        "n_train": len(tr),
        "n_val": len(va),
        "n_test": len(te),
        "dedup": {
            "rows_in": stats.n_in,
            "duplicates_dropped": stats.n_duplicates,
            "conflicting_dropped": stats.n_conflicting,
        },
    }
    return splits, names, meta


def tfidf_baseline(splits: dict[str, Split], lang: Lang, labels: list[str]) -> tuple[dict[str, Any], TfidfLinearModel]:
    """TF-IDF + logistic regression (character 1-3-grams for zh, word 1-2-grams for en), C tuned on
    the validation split. Returns (test metrics and the chosen C, the fitted model as an artifact)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    if lang == "zh":
        vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2)
    else:
        vec = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=2, lowercase=True)
    x_tr = vec.fit_transform(splits["train"].texts)
    x_va = vec.transform(splits["val"].texts)
    # On tens of thousands of reviews a fit takes minutes and the best C is always >= 3 (sentiment
    # and category, measured): search the upper part of the grid only.
    grid = (0.3, 1.0, 3.0, 10.0, 30.0) if len(splits["train"].texts) <= 20000 else (3.0, 10.0)
    best = max(
        fit_logistic_grid(x_tr, splits["train"].y, grid),
        key=lambda m: (m.predict(x_va) == splits["val"].y).mean(),
    )
    model = TfidfLinearModel.from_sklearn(vec, best, labels)
    # Scored as it serves (the artifact's own TF-IDF): the same per-text predictions the model is paired with.
    m = classification_metrics(splits["test"].y, model.predict_proba(splits["test"].texts).argmax(1), len(labels))
    metrics = {
        "test_accuracy": m["accuracy"],
        "test_macro_f1": m["macro_f1"],
        "C": best.C,
        "features": "char 1-3-gram" if lang == "zh" else "word 1-2-gram",
    }
    return metrics, model


def choose_ensemble_weight(p_model: np.ndarray, p_linear: np.ndarray, y: np.ndarray) -> float:
    """Weight of the TF-IDF model in a probability average with the neural model, picked on the
    validation split from 0, 0.1, ..., 0.9 by the mean of accuracy and macro-F1 (the two numbers
    a model is reported and compared by: accuracy alone lets the average trade small classes for
    large ones), ties by lower log-loss. 0 means no ensemble.

    Args:
        p_model, p_linear: (n, K) validation probabilities.
        y: (n,) validation class ids.
    """

    def score(w: float) -> tuple[float, float]:
        p = (1 - w) * p_model + w * p_linear
        m = classification_metrics(y, p.argmax(1), p.shape[1])
        return (m["accuracy"] + m["macro_f1"]) / 2, float(np.mean(np.log(p[np.arange(len(y)), y] + 1e-9)))

    return max((round(w, 1) for w in np.arange(0, 1.0, 0.1)), key=score)


def _accuracy(p: np.ndarray, y: np.ndarray) -> float:
    """Share of rows of ``p`` ((n, K) probabilities) whose argmax is ``y`` ((n,) class ids)."""
    return float((p.argmax(1) == y).mean()) if len(y) else 0.0


def _probas(model: TextClassifier, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(the model's (n, K) probabilities, its network's): for a network + linear ensemble each
    member runs once and is averaged as :class:`EnsembleModel` does; a lone model is its own network."""
    if isinstance(model, EnsembleModel):
        parts = [m.predict_proba(texts) for m in model.members]
        mixed = sum(w * p for w, p in zip(model.weights, parts) if w > 0)
        return cast(np.ndarray, mixed), parts[0]
    p = model.predict_proba(texts)
    return p, p


def _headlines(y: np.ndarray, pred: np.ndarray, baseline_pred: np.ndarray, n_classes: int) -> list[Headline]:
    """Accuracy and macro-F1 of ``pred`` paired with the TF-IDF baseline's ``baseline_pred`` on
    the same test items ((n,) class ids each)."""
    return [
        Headline("test_accuracy", mean_of(pred == y), mean_of(baseline_pred == y), BASELINE_SERVED),
        Headline(
            "test_macro_f1", macro_f1_of(y, pred, n_classes), macro_f1_of(y, baseline_pred, n_classes), BASELINE_SERVED
        ),
    ]


def choose_and_measure(
    cfg: TextClfConfig,
    splits: dict[str, Split],
    labels: list[str],
    device: torch.device,
    neural: TextClassifier,
    linear: TextClassifier,
    arch: str,
    outside: Sequence[str] = (),
) -> dict[str, Any]:
    """Decide on validation what serves, then read the test split once to report it.

    On validation, in order: the TF-IDF weight of the network + ``linear`` ensemble
    (:func:`choose_ensemble_weight`, unless ``cfg.ensemble`` is off), the quantisation of that
    model (:func:`training.common.choose_quantization` on validation accuracy), then whether it
    serves at all: where its validation accuracy (as served, quantised) is below ``linear``'s and
    ``cfg.baseline_fallback`` is on, ``linear`` alone serves. Then the served model's temperature
    and abstention threshold (out-of-domain ``outside`` texts: threshold on one seeded half, share
    answered reported on the other). Every model is measured after a save/load round trip.

    Args:
        neural: the trained network (any text classifier with ``save``).
        linear: the TF-IDF + LR baseline of the same labels.
        arch: the network's architecture name, for the ``served`` block.
    Returns:
        ``{"model": artifact to save, "metrics": {...}, "pred" / "neural_pred" / "baseline_pred":
        (n_test,) class ids of the served model, the network alone (as it would serve) and the
        baseline, "weight": TF-IDF weight in what serves (1 for the baseline alone), "served":
        {"model", "reason", ...}, "uncertainty": ``ci95`` / ``vs_baseline`` / ``n_test_items`` of
        the served model's test accuracy and macro-F1 against the baseline, "abstention": {...},
        "quantization": what serving runs, with its test drop}``.
    """
    val, test, n_classes = splits["val"], splits["test"], len(labels)
    p_val_net = neural.predict_proba(val.texts)
    with tempfile.TemporaryDirectory() as tmp:
        linear.save(Path(tmp) / "baseline")  # type: ignore[attr-defined]  # every artifact kind saves
        baseline = load_artifact(Path(tmp) / "baseline", device)
        p_val_lin = baseline.predict_proba(val.texts)
        weight = float(choose_ensemble_weight(p_val_net, p_val_lin, val.y)) if cfg.ensemble else 0.0
        candidate = EnsembleModel([neural, linear], [1 - weight, weight]) if weight > 0 else neural
        candidate.save(Path(tmp) / "model")  # type: ignore[union-attr]

        def variant(mode: str) -> TextClassifier:
            return cast(TextClassifier, quantize(load_artifact(Path(tmp) / "model", device), mode))

        fp32 = variant("none")
        # The float32 ensemble's validation probabilities are its members' already computed ones,
        # mixed as EnsembleModel mixes them: an encoder pass over validation saved.
        p_val: dict[str, np.ndarray] = {"none": (1 - weight) * p_val_net + weight * p_val_lin if weight else p_val_net}

        def val_accuracy(mode: str) -> float:
            p_val[mode] = _probas(variant(mode), val.texts)[0]
            return _accuracy(p_val[mode], val.y)

        quantization = choose_quantization(cfg.quantize, "val_accuracy", _accuracy(p_val["none"], val.y), val_accuracy)
        mode = str(quantization["mode"])
        model = fp32 if mode == "none" else variant(mode)
        model_val, baseline_val = _accuracy(p_val[mode], val.y), _accuracy(p_val_lin, val.y)
        use_baseline = cfg.baseline_fallback and model_val < baseline_val

        # The test split, read once: what serves, its network alone, the baseline (paired items).
        p_test_model, p_test_net = _probas(model, test.texts)
        p_test_lin = baseline.predict_proba(test.texts)
        test_fp32 = _accuracy(p_test_model if mode == "none" else _probas(fp32, test.texts)[0], test.y)
        record_test_drop(quantization, test_fp32, _accuracy(p_test_model, test.y))
        served = baseline if use_baseline else model
        p_outside = _probas(served, list(outside))[0] if outside else None

    name = f"{arch}+tfidf" if weight > 0 else arch
    what = f"{arch} + TF-IDF ensemble (TF-IDF weight {weight})" if weight > 0 else f"the {arch} network"
    what += f", {mode}" if mode != "none" else ""
    served_block: dict[str, Any] = {
        "model": BASELINE_SERVED if use_baseline else name,
        "chosen_on": "validation",
        "metric": "val_accuracy",
        "model_val_accuracy": model_val,
        "baseline_val_accuracy": baseline_val,
    }
    if use_baseline:
        served_block["reason"] = (
            f"{what} scored {model_val:.4f} validation accuracy, below the TF-IDF + LR baseline's "
            f"{baseline_val:.4f}: the baseline serves"
        )
        served_block["model_quantization"] = quantization
        base_test = _accuracy(p_test_lin, test.y)
        quantization = record_test_drop(
            {
                "mode": "none",
                "requested": cfg.quantize,
                "metric": "val_accuracy",
                "chosen_on": "validation",
                "drop_points": 0.0,
                "reason": "the TF-IDF + LR baseline serves: it has no network to quantise",
            },
            base_test,
            base_test,
        )
        p_val_served, p_test = p_val_lin, p_test_lin
    else:
        relation = "below" if model_val < baseline_val else "not below"
        served_block["reason"] = (
            f"{what} scored {model_val:.4f} validation accuracy, {relation} the TF-IDF + LR baseline's "
            f"{baseline_val:.4f}" + ("" if cfg.baseline_fallback else " (baseline fallback switched off)")
        )
        p_val_served, p_test = p_val[mode], p_test_model

    y = test.y
    pred, neural_pred, baseline_pred = p_test.argmax(1), p_test_net.argmax(1), p_test_lin.argmax(1)
    m = classification_metrics(y, pred, n_classes)
    m_neural = classification_metrics(y, neural_pred, n_classes)
    served_unc = uncertainty(_headlines(y, pred, baseline_pred, n_classes), len(y))
    neural_unc = uncertainty(_headlines(y, neural_pred, baseline_pred, n_classes), len(y))

    temperature = fit_temperature(p_val_served, val.y)
    p_fit = p_check = None
    if p_outside is not None:
        fit_idx, check_idx = split_outside(len(p_outside), cfg.seed)
        p_fit, p_check = temper(p_outside[fit_idx], temperature), temper(p_outside[check_idx], temperature)
    abstention = choose_threshold(
        temper(p_val_served, temperature), val.y, cfg.abstain_precision, p_fit, cfg.abstain_outside, p_check
    )
    abstention["temperature"] = temperature
    answered = temper(p_test, temperature).max(1) >= abstention["threshold"]
    abstention["test_coverage"] = float(answered.mean())
    abstention["test_precision"] = float((pred[answered] == y[answered]).mean()) if answered.any() else None
    if p_outside is not None:
        abstention["n_outside"] = len(outside)
    # Store metadata holds no None (a precision over zero answered texts is undefined: left out).
    abstention = {k: v for k, v in abstention.items() if v is not None}
    metrics = {
        "test_accuracy": m["accuracy"],
        "test_macro_f1": m["macro_f1"],
        "neural_only_test_accuracy": m_neural["accuracy"],
        "neural_only_test_macro_f1": m_neural["macro_f1"],
        # The network alone as it would serve (quantised as chosen), beside the served model.
        "neural_only": {
            "test_accuracy": m_neural["accuracy"],
            "test_macro_f1": m_neural["macro_f1"],
            "ci95": neural_unc["ci95"],
            "vs_baseline": neural_unc["vs_baseline"],
        },
        "tfidf_ensemble_weight": weight,
        "served_model": served_block["model"],
        "served_val_accuracy": _accuracy(p_val_served, val.y),
        "baseline_val_accuracy": baseline_val,
    }
    return {
        "model": linear if use_baseline else candidate,
        "metrics": metrics,
        "pred": pred,
        "neural_pred": neural_pred,
        "baseline_pred": baseline_pred,
        "weight": 1.0 if use_baseline else weight,
        "served": served_block,
        "uncertainty": served_unc,
        "abstention": abstention,
        "quantization": quantization,
    }


def fit_and_evaluate(
    cfg: TextClfConfig,
    splits: dict[str, Split],
    labels: list[str],
    device: torch.device,
    name: str,
    linear: TfidfLinearModel,
    data_sha256: str,
    outside: Sequence[str] = (),
) -> dict[str, Any]:
    """Train the network (or take it from the store), then choose on validation what serves and
    measure it on test (:func:`choose_and_measure`).

    Returns:
        :func:`choose_and_measure`'s dict, its ``metrics`` joined by the network's training figures
        (``val_accuracy``, ``best_epoch``, ...) and, with ``cfg.frozen_baseline``, ``frozen_use_lr``
        (:func:`training.frozen.frozen_block`), plus ``"history"``: the network's History.
    """
    arch = cfg.arch
    if cfg.from_store:
        # Re-evaluate (and possibly ensemble) a stored network on this split instead of training.
        source = bentoml.models.get(cfg.from_store)
        # Written by save_to_store from this package's metadata dicts, so its nesting is known.
        source_meta = cast(dict[str, Any], source.info.metadata)
        if source_meta["data"]["sha256"] != data_sha256:
            raise SystemExit(
                f"{cfg.from_store} was trained on another split (data sha256 differs): "
                "its test metrics here would leak; use the same data, seed and caps"
            )
        stored = load_artifact(Path(source.path), device)
        member = stored.members[0] if isinstance(stored, EnsembleModel) else stored
        if not isinstance(member, (CharNgramModel, EncoderModel)):
            raise SystemExit(
                f"{cfg.from_store} holds no network (found {type(member).__name__}; "
                f"served: {(source_meta.get('served') or {}).get('model', 'unknown')})"
            )
        neural: CharNgramModel | EncoderModel = member
        if neural.labels != labels:
            raise SystemExit(f"{cfg.from_store} has labels {neural.labels}, this data has {labels}")
        history = History(**source_meta.get("history", {}))
        keep = ("val_accuracy", "best_epoch", "epochs_run", "train_seconds")
        info = {
            "from_store": str(source.tag),
            "source_params": source_meta["params"],
            **{k: v for k, v in source_meta["metrics"].items() if k in keep},
        }
        arch = str(source_meta["params"].get("arch") or arch)
    else:
        net_splits = {**splits, "train": network_sample(splits["train"], cfg.network_samples, cfg.seed)}
        cfg, (neural, history, info), search = search_on_validation(
            cfg, lambda c: train_neural(c, net_splits, labels, device, name), lambda r: r[2]["val_accuracy"], "accuracy"
        )
        info["network_train_rows"] = len(net_splits["train"].texts)
        if search:
            info["search"] = search
    out = choose_and_measure(cfg, splits, labels, device, neural, linear, arch, outside)
    if cfg.frozen_baseline:
        out["metrics"]["frozen_use_lr"] = frozen_block(splits, labels, out["pred"], cfg.threads)
    out["metrics"].update(info)
    out["history"] = history
    return out
