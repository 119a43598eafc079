"""Train a review-sentiment model for one language and save it into the BentoML model store.

    python -m training.train_sentiment --lang zh            # BiLSTM + n-gram bag, from scratch
    python -m training.train_sentiment --lang en            # fine-tuned all-MiniLM-L6-v2
    python -m training.train_sentiment --lang zh --max-train-samples 2000 --epochs 2   # quick run

Data: a reviews table (``text, label, lang``; see ``training.data.REVIEWS``), the built-in one by
default. Texts are cleaned and deduplicated (exact and near duplicates; clusters with
conflicting labels dropped) before a stratified 80/10/10 split, so no test text leaks into
training. A TF-IDF + logistic-regression baseline is tuned on the same validation split and
reported beside the model, paired with it on the test texts (``ci95``, ``vs_baseline``); where the
model scores below the baseline on validation, the baseline is what is saved and served (``served``).
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from mining.artifacts import pick_device
from mining.models.textclf import BASELINE_SERVED
from mining.registry import model_name
from mining.text import Lang
from training import data as data_mod
from training.common import confusion_matrix, parse_config
from training.run import Report, Saved, finish_run, setup_run
from training.store import shared_encoder_record
from training.textclf import Split, TextClfConfig, accuracy_by_group, fit_and_evaluate, prepare_splits, tfidf_baseline

# MiniLM is English-only (63% of Chinese characters are [UNK] in its vocabulary).
ARCHS = {"zh": ("bilstm", "cnn", "e5"), "en": ("minilm", "cnn", "bilstm", "e5")}


@dataclass
class SentimentConfig(TextClfConfig):
    """Train a review-sentiment model for one language and save it into the BentoML model store."""


def load_reviews(cfg: SentimentConfig) -> tuple[dict[str, Split], list[str], dict[str, Any]]:
    """The reviews of ``cfg.lang``, cleaned, deduplicated and split (see ``prepare_splits``)."""
    path = Path(cfg.data) if cfg.data else data_mod.reviews_table()
    table = data_mod.read_table(path, data_mod.REVIEWS)
    found = table["lang"].value_counts().to_dict()
    table = table[table["lang"] == cfg.lang]
    if table.empty:
        raise ValueError(f"{path} has no rows with lang == {cfg.lang!r}; its lang values: {found}")
    splits, labels, meta = prepare_splits(
        table["text"].tolist(), table["label"].tolist(), cfg.seed, cfg.max_train_samples, table["source"].tolist()
    )
    sources = sorted(table["source"].unique())
    meta = {"name": f"reviews ({', '.join(sources)})" if not cfg.data else str(path), "sources": sources, **meta}
    return splits, labels, meta


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Train, evaluate on the held-out test split, write the report, save to the store.

    Returns:
        ``{"metrics": {...}, "baseline_metrics": {...}, "served": {...}, "ci95": {...},
        "vs_baseline": {...}, "n_test_items": int, "tag": str | None, ...}``.
    """
    cfg = parse_config(SentimentConfig, argv)
    cfg.resolve(ARCHS[cfg.lang])
    name = model_name("sentiment", cfg.lang)
    setup_run(cfg)
    device = pick_device()
    splits, labels, data_meta = load_reviews(cfg)
    print(
        f"[{name}] {data_meta['n_train']} train / {data_meta['n_val']} val / "
        f"{data_meta['n_test']} test after dedup {data_meta['dedup']}",
        file=sys.stderr,
    )
    # SentimentConfig.lang stays a plain str so parse_config can read it; its CLI choices are zh and en.
    baseline, linear = tfidf_baseline(splits, cast(Lang, cfg.lang), labels)
    print(f"[{name}] baseline {baseline}", file=sys.stderr)

    out = fit_and_evaluate(cfg, splits, labels, device, name, linear, data_meta["sha256"])
    metrics, pred, history = out["metrics"], out["pred"], out["history"]
    metrics["test_accuracy_by_source"] = accuracy_by_group(splits["test"], pred)
    metrics["abstention"] = out["abstention"]
    metrics["quantization"] = out["quantization"]
    baseline_metrics = {k: baseline[k] for k in ("test_accuracy", "test_macro_f1")}
    baseline_metrics["test_accuracy_by_source"] = accuracy_by_group(splits["test"], out["baseline_pred"])
    result: dict[str, Any] = {
        "metrics": metrics,
        "baseline_metrics": baseline_metrics,
        "baseline": baseline,
        "served": out["served"],
        **out["uncertainty"],
        "data": data_meta,
        "tag": None,
    }

    def saved() -> Saved:
        extra = {
            "history": dataclasses.asdict(history),
            "abstention": out["abstention"],
            "quantization": out["quantization"],
            "served": out["served"],
            **out["uncertainty"],
        }
        # A served baseline has no encoder to share.
        if cfg.frozen_layers and out["served"]["model"] != BASELINE_SERVED:
            extra["shared_encoder"] = shared_encoder_record(
                name, cfg.frozen_layers, data_meta["sha256"], "test_accuracy", metrics["test_accuracy"]
            )
        return Saved("sentiment", cfg.lang, out["served"]["model"], out["model"].save, data_meta,
                     {str(i): label for i, label in enumerate(labels)}, extra)  # fmt: skip

    return finish_run(
        cfg,
        name,
        result,
        metrics=metrics,
        baseline_metrics={
            **baseline_metrics,
            "model": f"tf-idf {baseline['features']} + logistic regression",
            "C": baseline["C"],
        },
        summary=f"[{name}] test {metrics} | baseline {baseline_metrics} | vs baseline {result['vs_baseline']} | "
        f"served {out['served']} | report {Path(cfg.report_dir) / name}",
        report=Report(dict(result), history, confusion=(confusion_matrix(splits["test"].y, pred, len(labels)), labels)),
        saved=saved,
    )


if __name__ == "__main__":
    main()
