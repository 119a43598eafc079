"""Conventions every training script shares: config from a dataclass, seeding, splits, metrics,
early stopping, report plots and the data fingerprint."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import random
import sys
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

import numpy as np
import torch

C = TypeVar("C")
# Labels arrive as lists from tests and callers, and as numpy arrays from the splits and predictions.
Labels: TypeAlias = Sequence[Any] | np.ndarray
ClassIds: TypeAlias = Sequence[int] | np.ndarray


def parse_config(cls: type[C], argv: Sequence[str] | None) -> C:
    """Build a dataclass config from CLI flags: one ``--flag-name`` per field, help from the field's
    ``metadata['help']``, type and default from the field."""
    parser = argparse.ArgumentParser(description=(cls.__doc__ or "").strip().splitlines()[0])
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        flag = "--" + f.name.replace("_", "-")
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            raise TypeError(f"{cls.__name__}.{f.name} has no default, so it cannot become an optional CLI flag")
        # argparse formats help with %: a literal one ("70%", a dict default's repr) must be doubled.
        help_ = f"{f.metadata.get('help', '')} (default: {default})".replace("%", "%%")
        typ = f.type if isinstance(f.type, type) else eval(f.type, {"Path": Path})  # noqa: S307 - own annotations
        if typ is bool or typ == "bool":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_)
        else:
            kwargs: dict[str, Any] = {"default": default, "help": help_}
            if "choices" in f.metadata:
                kwargs["choices"] = f.metadata["choices"]
            base = typ.__args__[0] if hasattr(typ, "__args__") else typ  # Optional[X] -> X
            kwargs["type"] = base
            parser.add_argument(flag, **kwargs)
    return cls(**vars(parser.parse_args(list(argv) if argv is not None else None)))


def set_seed(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA) before anything random happens."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def stratified_split(
    labels: Labels, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index arrays (train, val, test) with every label spread in the given fractions.

    Args:
        labels: n labels.
        fractions: train, validation and test shares; must sum to 1.
    Returns:
        three sorted int64 arrays that partition ``range(n)``.
    """
    if abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions must sum to 1, got {fractions}")
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    parts: list[list[int]] = [[], [], []]
    for value in sorted(set(labels.tolist())):
        idx = np.flatnonzero(labels == value)
        rng.shuffle(idx)
        n_val = int(round(len(idx) * fractions[1]))
        n_test = int(round(len(idx) * fractions[2]))
        parts[2] += idx[:n_test].tolist()
        parts[1] += idx[n_test : n_test + n_val].tolist()
        parts[0] += idx[n_test + n_val :].tolist()
    return tuple(np.array(sorted(p), dtype=np.int64) for p in parts)  # type: ignore[return-value]


# Below this many training rows a logistic regression fits in about a second: starting worker
# processes would cost more than it saves.
PARALLEL_FIT_ROWS = 5000


def fit_logistic_grid(x: Any, y: ClassIds, grid: Sequence[float], max_iter: int = 3000) -> list[Any]:
    """One scikit-learn logistic regression per inverse regularisation strength ``C`` of ``grid``,
    fitted on ``x`` ((n, d) array or sparse matrix) and ``y`` ((n,) class ids), in grid order.

    Why: one fit is single-threaded, and the fits of a grid are independent; side by side in as
    many worker processes as torch may use threads (``--threads``), they take the time of the
    slowest. Each fit's BLAS runs one thread wherever it runs, so the models do not depend on how
    many fits ran at once (with the workers' one thread against the parent's two, the two ways'
    C = 10 models had disagreed on 0.2% of the validation reviews), and on these sparse problems a
    second BLAS thread only slowed a fit. The two fits of the Chinese category head's TF-IDF
    baseline (16,000 reviews, 158,743 n-grams, 10 classes), 2 cores: 44 s one after the other
    with two BLAS threads each (before), 32 s with one, 25 s side by side; the same coefficients
    both ways with one.
    """
    workers = min(len(grid), torch.get_num_threads())
    if workers < 2 or x.shape[0] < PARALLEL_FIT_ROWS:
        return [_fit_logistic(x, y, c, max_iter) for c in grid]
    from joblib import Parallel, delayed

    return list(Parallel(n_jobs=workers)(delayed(_fit_logistic)(x, y, c, max_iter) for c in grid))


def _fit_logistic(x: Any, y: ClassIds, c: float, max_iter: int) -> Any:
    # Module level: the worker processes unpickle it by name.
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return LogisticRegression(C=c, max_iter=max_iter).fit(x, y)


def classification_metrics(y_true: ClassIds, y_pred: ClassIds, n_classes: int) -> dict[str, float]:
    """Accuracy and macro-F1 (mean of per-class F1, a class absent from both counting as F1 0)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    f1s = []
    for c in range(n_classes):
        tp = np.sum((y_pred == c) & (y_true == c))
        fp = np.sum((y_pred == c) & (y_true != c))
        fn = np.sum((y_pred != c) & (y_true == c))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return {"accuracy": float(np.mean(y_true == y_pred)), "macro_f1": float(np.mean(f1s))}


def confusion_matrix(y_true: ClassIds, y_pred: ClassIds, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) int64 counts; rows are true classes, columns predictions."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def fingerprint(rows: Sequence[str]) -> str:
    """sha256 over the rows in order (one per line): changes when any training example changes."""
    h = hashlib.sha256()
    for r in rows:
        h.update(r.encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


@dataclasses.dataclass
class History:
    """Per-epoch curves for the report."""

    train_loss: list[float] = dataclasses.field(default_factory=list)
    val_loss: list[float] = dataclasses.field(default_factory=list)
    val_score: list[float] = dataclasses.field(default_factory=list)
    seconds: list[float] = dataclasses.field(default_factory=list)


class EarlyStopping:
    """Keeps the best state dict by validation score; says stop after ``patience`` epochs without
    improvement."""

    def __init__(self, patience: int) -> None:
        self.patience, self.best, self.bad_epochs, self.best_epoch = patience, -np.inf, 0, -1
        self.best_state: dict[str, torch.Tensor] | None = None

    def step(self, score: float, model: torch.nn.Module, epoch: int) -> bool:
        if score > self.best:
            self.best, self.bad_epochs, self.best_epoch = score, 0, epoch
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience


def plot_history(report_dir: Path, history: History, score_name: str = "accuracy") -> None:
    """Write ``loss.png``: train/validation loss and the validation score per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    report_dir.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    epochs = range(1, len(history.train_loss) + 1)
    ax[0].plot(epochs, history.train_loss, label="train")
    ax[0].plot(epochs, history.val_loss, label="validation")
    ax[0].set(xlabel="epoch", ylabel="loss", title="loss")
    ax[0].legend()
    ax[1].plot(epochs, history.val_score, marker="o")
    if not history.train_loss:
        ax[0].text(0.5, 0.5, "no epochs in this run", ha="center", transform=ax[0].transAxes)
    ax[1].set(xlabel="epoch", ylabel=score_name, title=f"validation {score_name}")
    fig.tight_layout()
    fig.savefig(report_dir / "loss.png", dpi=100)
    plt.close(fig)


def write_report(
    report_dir: Path,
    history: History,
    cm: np.ndarray,
    class_names: Sequence[str],
    metrics: dict[str, Any],
) -> None:
    """Write ``loss.png`` (train/val loss and val score per epoch), ``confusion.png`` and
    ``metrics.json`` into ``report_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plot_history(report_dir, history)
    fig, ax = plt.subplots(figsize=(1.2 * len(class_names) + 3, 1.2 * len(class_names) + 2))
    ax.imshow(cm, cmap="Blues")
    # matplotlib's bundled font has no CJK glyphs: a non-ASCII class shows as its index, and
    # metrics.json beside the plot maps indices to names.
    ticks = [n if n.isascii() else f"class {i}" for i, n in enumerate(class_names)]
    ax.set_xticks(range(len(class_names)), ticks, rotation=45, ha="right")
    ax.set_yticks(range(len(class_names)), ticks)
    ax.set(xlabel="predicted", ylabel="true", title="test confusion matrix")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", color="black")
    fig.tight_layout()
    fig.savefig(report_dir / "confusion.png", dpi=100)
    plt.close(fig)
    report = {**metrics, "classes": dict(enumerate(class_names))}
    (report_dir / "metrics.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))


def per_class_report(y_true: ClassIds, y_pred: ClassIds, names: Sequence[str]) -> dict[str, dict[str, float]]:
    """Per class: precision, recall, F1 and support (true count). A class never predicted has
    precision 0; one absent from ``y_true`` has support 0 and recall 0."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    out = {}
    for c, name in enumerate(names):
        tp = int(np.sum((y_pred == c) & (y_true == c)))
        n_pred, n_true = int(np.sum(y_pred == c)), int(np.sum(y_true == c))
        p = tp / n_pred if n_pred else 0.0
        r = tp / n_true if n_true else 0.0
        out[name] = {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "support": n_true}
    return out


MAX_QUANTIZATION_DROP = 0.5  # points of the validation metric a quantised model may lose, else float32 is served


def frozen_layers_field(part: str = "minilm") -> Any:
    """The ``--frozen-layers`` config field of a script that fine-tunes the English encoder."""
    return dataclasses.field(
        default=0,
        metadata={"help": f"{part}: keep the embeddings and this many bottom layers pretrained, so serving shares "
                  "them with the other heads on the same encoder (0: fine-tune all)"},
    )  # fmt: skip


def bottom_cache_field() -> Any:
    """The ``--bottom-cache-mb`` config field of a script that fine-tunes above a frozen encoder bottom."""
    return dataclasses.field(
        default=4096,
        metadata={"help": "with --frozen-layers and texts read more than once (epochs, repeated rows): memory for "
                  "keeping each text's frozen-bottom states, so later passes run only the layers that learn; 0: off"},
    )  # fmt: skip


def bottom_cache_texts(frozen_layers: int, epochs: int, train: Sequence[Hashable], val: Sequence[Hashable]) -> int:
    """How many texts' frozen-bottom states to keep while training (:func:`mining.models.bert.cached_bottom`;
    0: none): every distinct training and validation text where some text is read more than once
    (several epochs, repeated rows). The memory they may take is ``--bottom-cache-mb``
    (:func:`bottom_cache_bytes`), reckoned on each text's real length, not the longest input's."""
    distinct = len(set(train))
    if not frozen_layers or (epochs <= 1 and distinct == len(train)):
        return 0
    return distinct + len(set(val))


def bottom_cache_bytes(mb: int) -> int:
    """``--bottom-cache-mb`` in bytes: the most a training bottom cache holds."""
    return mb * 2**20


def quantize_field(metric: str) -> Any:
    """The ``--quantize`` config field: what :func:`choose_quantization` may choose."""
    return dataclasses.field(
        default="int8",
        metadata={"help": f"serve with int8 Linear layers on CPU (each input row scaled alone; LSTMs stay float32) when the validation {metric} stays within "
                  f"{MAX_QUANTIZATION_DROP} point of float32: int8 tries one scale per weight tensor, then one "
                  "per output row; int8-channel only the latter; none: always float32",
                  "choices": ["none", "int8", "int8-channel"]},
    )  # fmt: skip


def choose_quantization(
    requested: str, metric: str, fp32: float, score_quantized: Callable[[str], float]
) -> dict[str, Any]:
    """The ``quantization`` block of a model's store metadata: what serving runs, chosen on the
    validation split (test is read once afterwards, for the served variant: :func:`record_test_drop`).

    Args:
        requested: the ``--quantize`` flag (``none``, ``int8`` or ``int8-channel``).
        metric: name of the validation metric compared (higher is better, a share in [0, 1]).
        fp32: the float32 model's validation value of ``metric``.
        score_quantized: mode -> the validation value of ``metric`` of a fresh copy quantised that way.
    Returns:
        ``{"mode", "requested", "metric", "chosen_on": "validation", "fp32", "<mode>"...,
        "drop_points", "reason"?}``: ``mode`` is the first tried mode whose validation drop is at
        most :data:`MAX_QUANTIZATION_DROP` points (``int8`` tries ``int8`` then ``int8-channel``;
        per-row scales are tried only when one scale per tensor loses too much), else ``none`` with
        the reason; each tried mode's validation value is kept.
    """
    from mining.artifacts import QUANTIZATIONS

    if requested not in QUANTIZATIONS:
        raise ValueError(f"--quantize must be one of {', '.join(QUANTIZATIONS)}; got {requested!r}")
    out: dict[str, Any] = {
        "mode": "none", "requested": requested, "metric": metric, "chosen_on": "validation", "fp32": float(fp32),
    }  # fmt: skip
    if requested == "none":
        out["drop_points"] = 0.0
        return out
    drops = {}
    for mode in ("int8", "int8-channel") if requested == "int8" else (requested,):
        out[mode] = float(score_quantized(mode))
        drops[mode] = round((fp32 - out[mode]) * 100, 3)
        if drops[mode] <= MAX_QUANTIZATION_DROP:
            out.update({"mode": mode, "drop_points": drops[mode]})
            return out
    tried = ", ".join(f"{m} loses {d}" for m, d in drops.items())
    out["reason"] = f"{tried} points of {metric} (more than {MAX_QUANTIZATION_DROP}): float32 served"
    out["drop_points"] = 0.0  # what is served loses nothing
    return out


def record_test_drop(quantization: dict[str, Any], test_fp32: float, test_served: float) -> dict[str, Any]:
    """Add what the chosen variant costs on test to a :func:`choose_quantization` block, in place.

    ``test_drop_points`` is float32 minus the served variant on the test split, in points (negative
    when quantisation gained): the number a benchmark may check, since nothing was chosen on it.
    """
    quantization.update(
        {
            "test_fp32": float(test_fp32),
            "test_served": float(test_served),
            "test_drop_points": round((float(test_fp32) - float(test_served)) * 100, 3),
        }
    )
    return quantization


R = TypeVar("R")


def search_field(example: str = "lr=1e-4,2e-4,4e-4") -> Any:
    """The ``--search`` config field: settings tried one after another, chosen on validation."""
    return dataclasses.field(
        default="",
        metadata={"help": f"settings tried on validation, e.g. '{example}' (';' between settings): every "
                  "combination is trained and the one with the best validation score is kept; empty: the flags "
                  "as given"},
    )  # fmt: skip


# Settings that decide which rows train, validate and test: the data is read once, before the
# search, so a candidate could not change them (a search over them would fit the same data twice).
DATA_SETTINGS = frozenset({"max_train_samples", "seed", "lang", "data", "dataset"})


def search_grid(cfg: Any, spec: str) -> list[dict[str, Any]]:
    """Every combination of the settings in ``spec`` (``name=v1,v2;name2=v3``), each value parsed
    as the type of ``cfg``'s current value; in the order written (the first combination wins ties).
    Raises ValueError naming the setting on an unknown field, an on/off flag, a setting of the data
    (:data:`DATA_SETTINGS`), an empty list or an unparsable value."""
    axes: list[tuple[str, list[Any]]] = []
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        name, sep, values = part.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not hasattr(cfg, name) or name == "search":
            raise ValueError(f"--search: {part!r} is not 'setting=value,...' for a setting of {type(cfg).__name__}")
        kind = type(getattr(cfg, name))
        if kind is bool:
            raise ValueError(f"--search: {name} is an on/off flag; run with and without it instead")
        if name in DATA_SETTINGS:
            raise ValueError(
                f"--search: {name} sets the data, which is read once before the search; run once per value"
            )
        try:
            parsed = [kind(v.strip()) for v in values.split(",") if v.strip()]
        except ValueError as e:
            raise ValueError(f"--search: {name} values {values!r} are not {kind.__name__}: {e}") from None
        if not parsed:
            raise ValueError(f"--search: {name} has no values")
        axes.append((name, parsed))
    combos: list[dict[str, Any]] = [{}]
    for name, options in axes:
        combos = [{**c, name: v} for c in combos for v in options]
    return combos if axes else []


def search_on_validation(
    cfg: C, fit: Callable[[C], R], val_score: Callable[[R], float], metric: str
) -> tuple[C, R, dict[str, Any]]:
    """Fit once per combination of ``cfg.search`` (:func:`search_grid`) and keep the best on
    validation; with no search, fit ``cfg`` as given.

    Args:
        cfg: a training config with a ``search`` field; the chosen settings are copied onto it, so
            what is saved as the model's params is what trained the kept model.
        fit: config -> fitted result (the model and whatever the caller needs with it).
        val_score: fitted result -> its validation ``metric`` (higher is better).
    Returns:
        (cfg, the kept result, the metadata's ``search`` block: ``{"chosen_on": "validation",
        "metric", "candidates": [{setting: value, ..., "val": score}], "chosen": {setting: value}}``,
        empty without a search).
    """
    combos = search_grid(cfg, getattr(cfg, "search", ""))
    if not combos:
        return cfg, fit(cfg), {}
    rows: list[dict[str, Any]] = []
    best: tuple[float, dict[str, Any], R] | None = None
    for combo in combos:
        trial = dataclasses.replace(cfg, **combo)  # type: ignore[type-var]
        if hasattr(trial, "seed"):
            set_seed(trial.seed)  # every candidate starts from the same initialisation and batch order
        result = fit(trial)
        score = float(val_score(result))
        rows.append({**combo, "val": score})
        print(f"search: {combo} -> validation {metric} {score:.4f}", file=sys.stderr, flush=True)
        if best is None or score > best[0]:
            best = (score, combo, result)
        del result  # only the best result stays in memory
    assert best is not None
    for name, value in best[1].items():
        setattr(cfg, name, value)
    block = {"chosen_on": "validation", "metric": metric, "candidates": rows, "chosen": best[1]}
    return cfg, best[2], block
