"""Train the general text classifier on any (text, label) table and save it into the model store.

    python -m training.train_classifier                       # product titles -> 23 categories
    python -m training.train_classifier --dataset shopping-zh # Chinese reviews -> 10 categories
    python -m training.train_classifier --arch minilm         # fine-tuned MiniLM instead of the CNN
    python -m training.train_classifier --data intents.csv --name intent   # your own table

The built-in data (the Costco electronics catalogue, 553 unique titles) is small, so the script
trains and evaluates on ``--n-splits`` seeded stratified 80/10/10 splits and reports mean and
spread for the model and the TF-IDF + logistic-regression baseline; the first split's model is
the one saved. Repeated titles collapse before splitting, so none straddles train and test.

The bootstrap intervals (``ci95``, ``vs_baseline`` paired with the baseline on the same titles) are
computed on the first split's test set, the saved model's: the seeded splits overlap, so pooling
them would count a title several times. ``intervals_on`` says so, with that split's point values.
Where a split's model scores below the baseline on validation, the baseline serves (``served``).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from mining.artifacts import pick_device
from mining.models.textclf import goods_seen, unread_goods
from mining.text import Lang, detect_language
from training import data as data_mod
from training.common import confusion_matrix, parse_config, per_class_report, set_seed
from training.run import Report, Saved, finish_run, setup_run
from training.textclf import TextClfConfig, fit_and_evaluate, prepare_splits, tfidf_baseline

# Built-in data: (table builder, language, description, texts outside every label for abstention)
DATASETS = ("catalogue", "shopping-zh")


def outside_texts(dataset: str, limit: int = 2000) -> list[str]:
    """Real texts that belong to none of a built-in data set's labels, to calibrate abstention on:
    Amazon Fine Food reviews for the electronics catalogue (food is not electronics), and Chinese
    car reviews (the ABSA set) for the ten shopping categories (cars are none of them)."""
    import pandas as pd

    if dataset == "catalogue":
        reviews = pd.read_csv(data_mod.reviews_table(), dtype=str, keep_default_na=False)
        texts = reviews.loc[reviews["source"] == "fine_food", "text"].tolist()
    else:
        texts = [r["text"] for r in data_mod.absa_rows() if r["lang"] == "zh" and r["domain"] == "car"]
    return list(dict.fromkeys(texts))[:limit]


def goods_record(
    train_texts: Sequence[str], test_texts: Sequence[str], y_test: np.ndarray, pred_test: np.ndarray, lang: Lang
) -> dict[str, Any]:
    """The ``goods_seen`` metadata of a category model: the built-in product types its training
    texts name (``types``; the runner withholds the category of a text that names only others,
    :func:`mining.models.textclf.withhold_unseen_goods`) and what that does on the test split:
    texts withheld, and how many of them the served model had right."""
    from mining.products import ProductTypes

    products = ProductTypes.load(lang)
    seen = goods_seen(train_texts, products)
    kept = frozenset(seen)
    withheld = [i for i, t in enumerate(test_texts) if unread_goods(t, products, kept, lang)]
    return {
        "types": seen,
        "n_types_in_list": len(products.words),
        "source": "the built-in product-type list, named by at least one training text",
        "test_withheld": len(withheld),
        "test_withheld_right_before": int(sum(int(y_test[i] == pred_test[i]) for i in withheld)),
        "n_test": len(test_texts),
    }


@dataclass
class ClassifierConfig(TextClfConfig):
    """Train the general text classifier on a (text, label) table and save it into the model store."""

    dataset: str = field(
        default="catalogue",
        metadata={
            "help": "built-in data: catalogue (Costco titles, en) or shopping-zh (Chinese reviews, 10 categories)",
            "choices": list(DATASETS),
        },
    )
    lang: str = field(default="", metadata={"help": "zh or en; empty = the majority language of the texts"})
    arch: str = field(
        default="cnn",
        metadata={
            "help": "cnn or bilstm (character network), minilm (English encoder)",
            "choices": ["cnn", "bilstm", "minilm", "e5"],
        },
    )
    name: str = field(
        default="category",
        metadata={"help": "what the labels are, e.g. category or intent; stored as the model's `subject` label"},
    )
    # A catalogue has hundreds of titles, not tens of thousands of reviews: 2**16 buckets (4M
    # parameters) instead of 2**20 (67M).
    n_buckets: int = field(default=2**16, metadata={"help": "hash buckets of the n-gram bag (bilstm/cnn)"})
    n_splits: int = field(default=5, metadata={"help": "seeded splits to average over (seed, seed+1, ...)"})
    synthetic: bool = field(default=False, metadata={"help": "the table is generated, not real: say so in metadata"})


def mixed_language_note(langs: Sequence[str], lang: str) -> str | None:
    """What to say where a table's texts are not all of ``lang``, the language whose model this run
    trains: at serving, a text is read by its own language's model, so the other language's texts
    of a request go to the store's other classifier, whose labels are not this table's. None where
    fewer than 5% of the texts (and under 20) are of the other language."""
    other = "en" if lang == "zh" else "zh"
    n = sum(x == other for x in langs)
    if n == 0 or (n < 0.05 * len(langs) and n < 20):
        return None
    return (
        f"{n} of the {len(langs)} texts read as {other}: this run trains classification-{lang}, which "
        f"serves {lang} texts only; {other} texts of a request go to classification-{other}. For them to "
        f"get these labels too, train that model on the same table: --lang {other}"
    )


def labelled_texts(cfg: ClassifierConfig) -> tuple[list[str], list[str], Path]:
    """(texts, their labels, the table read): ``--data`` or the built-in data set ``--dataset``."""
    builtin = {"catalogue": data_mod.catalogue_table, "shopping-zh": data_mod.shopping_categories_table}
    path = Path(cfg.data) if cfg.data else builtin[cfg.dataset]()
    table = data_mod.read_table(path, data_mod.LABELLED_TEXTS)
    return table["text"].tolist(), table["label"].tolist(), path


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Train and evaluate on ``n_splits`` splits, write the report, save the first split's model.

    Returns:
        ``{"metrics": {...mean, std, per split...}, "baseline_metrics": {...}, "served": {...},
        "ci95", "vs_baseline", "n_test_items", "intervals_on": {...} (of the first split), "tag": str | None, ...}``.
    """
    cfg = parse_config(ClassifierConfig, argv)
    texts, labels_raw, path = labelled_texts(cfg)
    langs: list[str] = [detect_language(t) for t in texts]
    cfg.lang = cfg.lang or max(("zh", "en"), key=langs.count)
    if other := mixed_language_note(langs, cfg.lang):
        print(other, file=sys.stderr)
    cfg.resolve(("cnn", "bilstm", "e5") if cfg.lang == "zh" else ("cnn", "bilstm", "minilm", "e5"))
    setup_run(cfg)
    device = pick_device()
    store_name = f"classification-{cfg.lang}"
    run_name = f"{store_name}-{cfg.name}"

    outside = [] if cfg.data else outside_texts(cfg.dataset)
    runs: list[dict[str, Any]] = []
    first: dict[str, Any] | None = None
    for k in range(cfg.n_splits):
        seed = cfg.seed + k
        set_seed(seed)
        splits, labels, data_meta = prepare_splits(texts, labels_raw, seed, cfg.max_train_samples)
        # Set to zh or en above, from --lang or the majority language of the texts.
        baseline, linear = tfidf_baseline(splits, cast(Lang, cfg.lang), labels)
        split_cfg = dataclasses.replace(cfg, seed=seed)
        out = fit_and_evaluate(
            split_cfg,
            splits,
            labels,
            device,
            f"{run_name} split {k + 1}/{cfg.n_splits}",
            linear,
            data_meta["sha256"],
            outside,
        )
        print(
            f"[{run_name}] split {k + 1}: test acc {out['metrics']['test_accuracy']:.4f} "
            f"macro-F1 {out['metrics']['test_macro_f1']:.4f} | baseline acc {baseline['test_accuracy']:.4f} "
            f"macro-F1 {baseline['test_macro_f1']:.4f}",
            file=sys.stderr,
        )
        runs.append(
            {
                "out": out,
                "baseline": baseline,
                "y": splits["test"].y,
                "labels": labels,
                "data": data_meta,
                "train_texts": splits["train"].texts,
                "test_texts": splits["test"].texts,
            }
        )
        print(f"[{run_name}] split {k + 1}: served {out['served']}", file=sys.stderr)
        first = first or runs[-1]

    if first is None:
        raise SystemExit(f"--n-splits must be at least 1, got {cfg.n_splits}")
    labels = first["labels"]
    if any(r["labels"] != labels for r in runs):
        raise RuntimeError("label sets differ between splits; this cannot happen after one deduplication")

    def summary(values: list[float]) -> dict[str, float]:
        return {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0}

    model_acc = [r["out"]["metrics"]["test_accuracy"] for r in runs]
    model_f1 = [r["out"]["metrics"]["test_macro_f1"] for r in runs]
    base_acc = [r["baseline"]["test_accuracy"] for r in runs]
    base_f1 = [r["baseline"]["test_macro_f1"] for r in runs]
    metrics = {
        "test_accuracy": summary(model_acc)["mean"],
        "test_macro_f1": summary(model_f1)["mean"],
        "test_accuracy_std": summary(model_acc)["std"],
        "test_macro_f1_std": summary(model_f1)["std"],
        "per_split": [r["out"]["metrics"] for r in runs],
        "n_splits": cfg.n_splits,
        # Of the saved (first split's) model: what a later version is compared with (registry SELECTION).
        "served_val_accuracy": first["out"]["metrics"]["served_val_accuracy"],
        "abstention": first["out"]["abstention"],
        "quantization": first["out"]["quantization"],
    }
    baseline_metrics = {
        "test_accuracy": summary(base_acc)["mean"],
        "test_macro_f1": summary(base_f1)["mean"],
        "test_accuracy_std": summary(base_acc)["std"],
        "test_macro_f1_std": summary(base_f1)["std"],
        "model": f"tf-idf {first['baseline']['features']} + logistic regression",
    }
    # Intervals of the saved (first) split's model; its point values beside them, since the
    # headline test_accuracy above is the mean over splits when there are several.
    first_metrics = first["out"]["metrics"]
    intervals_on = {
        "test_set": "the test split" if cfg.n_splits == 1 else f"split 1 of {cfg.n_splits} (the saved model's)",
        "n_test_items": first["out"]["uncertainty"]["n_test_items"],
        "test_accuracy": first_metrics["test_accuracy"],
        "test_macro_f1": first_metrics["test_macro_f1"],
    }
    y_all = np.concatenate([r["y"] for r in runs])
    pred_all = np.concatenate([r["out"]["pred"] for r in runs])
    per_class = per_class_report(y_all, pred_all, labels)
    data_meta = {
        "name": str(path)
        if cfg.data
        else {
            "catalogue": "Costco electronics catalogue (titles -> sub-category)",
            "shopping-zh": "online_shopping_10_cats (Chinese reviews -> product category)",
        }[cfg.dataset],
        **first["data"],
        "synthetic": cfg.synthetic,
    }
    result: dict[str, Any] = {
        "metrics": metrics,
        "baseline_metrics": baseline_metrics,
        "per_class": per_class,
        "data": data_meta,
        "served": first["out"]["served"],
        **first["out"]["uncertainty"],
        "intervals_on": intervals_on,
        "tag": None,
    }
    report = Path(cfg.report_dir) / run_name
    first_out = first["out"]
    goods = goods_record(first["train_texts"], first["test_texts"], first["y"], first_out["pred"], cast(Lang, cfg.lang))
    result["goods_seen"] = {k: v for k, v in goods.items() if k != "types"}
    extra = {
        "goods_seen": goods,
        "per_class": per_class,
        "subject": cfg.name,
        "synthetic": cfg.synthetic,
        "history": dataclasses.asdict(first_out["history"]),
        "abstention": first_out["abstention"],
        "quantization": first_out["quantization"],
        "served": first_out["served"],
        **first_out["uncertainty"],
        "intervals_on": intervals_on,
    }
    return finish_run(
        cfg,
        run_name,
        result,
        metrics=metrics,
        baseline_metrics=baseline_metrics,
        summary=f"[{run_name}] test accuracy {metrics['test_accuracy']:.4f} ± {metrics['test_accuracy_std']:.4f}, "
        f"macro-F1 {metrics['test_macro_f1']:.4f} ± {metrics['test_macro_f1_std']:.4f} | baseline accuracy "
        f"{baseline_metrics['test_accuracy']:.4f} ± {baseline_metrics['test_accuracy_std']:.4f}, macro-F1 "
        f"{baseline_metrics['test_macro_f1']:.4f} ± {baseline_metrics['test_macro_f1_std']:.4f} | report {report}",
        report=Report(
            dict(result), first_out["history"], confusion=(confusion_matrix(y_all, pred_all, len(labels)), labels)
        ),
        saved=lambda: Saved(
            "classification",
            cfg.lang,
            first_out["served"]["model"],
            first_out["model"].save,
            data_meta,
            {str(i): label for i, label in enumerate(labels)},
            extra,
        ),
    )


if __name__ == "__main__":
    main()
