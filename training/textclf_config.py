"""The text classifiers' shared options (:class:`TextClfConfig`) and the unit of data they train
and are measured on (:class:`Split`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from mining.models.textclf import EN_MAX_TOKENS, ZH_MAX_CHARS
from training.common import bottom_cache_field, frozen_layers_field, quantize_field, search_field
from training.run import TrainConfig

CHAR_ARCHS = ("bilstm", "cnn")
ENCODER_ARCHS = ("minilm", "e5")  # e5: the multilingual encoder (training.encoders)


@dataclass
class TextClfConfig(TrainConfig):
    """Options shared by every text-classifier training script."""

    lang: str = field(default="zh", metadata={"help": "language of the model", "choices": ["zh", "en"]})
    data: str = field(default="", metadata={"help": "table file (CSV/TSV/Parquet); empty = the built-in data"})
    arch: str = field(
        default="",
        metadata={
            "help": "bilstm, cnn (character network), minilm (English encoder) or e5 (multilingual encoder); "
            "empty = task default"
        },
    )
    epochs: int = field(
        default=0, metadata={"help": "maximum epochs; 0 = 12 (bilstm/cnn) or 4 (minilm, the LR decays to 0 over them)"}
    )
    patience: int = field(default=2, metadata={"help": "epochs without validation gain before stopping"})
    batch_size: int = field(default=32, metadata={"help": "training batch size"})
    lr: float = field(default=0.0, metadata={"help": "peak learning rate; 0 = 2e-3 (bilstm/cnn) or 5e-5 (minilm)"})
    bag_lr: float = field(default=1e-2, metadata={"help": "learning rate of the n-gram bag (bilstm/cnn)"})
    warmup_ratio: float = field(default=0.1, metadata={"help": "share of steps with linear LR warm-up (minilm)"})
    n_buckets: int = field(default=2**20, metadata={"help": "hash buckets of the n-gram bag (bilstm/cnn)"})
    embed_dropout: float = field(default=0.0, metadata={"help": "dropout of whole character embeddings (bilstm/cnn)"})
    hidden: int = field(default=128, metadata={"help": "BiLSTM units per direction / CNN filters per width"})
    max_len: int = field(
        default=0,
        metadata={"help": f"truncation; 0 = {ZH_MAX_CHARS} chars (bilstm/cnn), {EN_MAX_TOKENS} tokens (minilm)"},
    )
    max_train_samples: int = field(default=0, metadata={"help": "cap on training rows for quick runs; 0 = all"})
    network_samples: int = field(
        default=0,
        metadata={"help": "train the network on a seeded sample of this many training rows while the TF-IDF "
                  "baseline (and the ensemble, calibration, choices) use them all; 0 = all"},
    )  # fmt: skip
    encoder: str = field(
        default="", metadata={"help": "pretrained encoder folder (minilm/e5); empty = the packaged one of --arch"}
    )
    frozen_layers: int = frozen_layers_field("minilm")
    bottom_cache_mb: int = bottom_cache_field()
    search: str = search_field()
    quantize: str = quantize_field("accuracy")
    seed: int = field(default=42, metadata={"help": "seed for the split, initialisation and batching"})
    threads: int = field(default=0, metadata={"help": "torch CPU threads; 0 = torch's default"})
    report_dir: str = field(default="reports", metadata={"help": "report root; plots go in <root>/<model name>"})
    from_store: str = field(
        default="", metadata={"help": "evaluate this stored model's network instead of training one"}
    )
    ensemble: bool = field(
        default=True, metadata={"help": "average with the TF-IDF model when that helps on validation"}
    )
    baseline_fallback: bool = field(
        default=True,
        metadata={"help": "serve the TF-IDF + LR baseline instead where the model scores below it on validation"},
    )
    frozen_baseline: bool = field(
        default=False,
        metadata={"help": "also measure frozen multilingual USE vectors + logistic regression on the same splits"},
    )
    abstain_precision: float = field(
        default=0.9,
        metadata={"help": "served texts get a label only where validation precision reaches this; else null"},
    )
    abstain_outside: float = field(
        default=0.05,
        metadata={"help": "at most this share of out-of-domain texts (where the task has them) may get a label"},
    )

    def resolve(self, allowed_archs: Sequence[str]) -> None:
        """Fill architecture-dependent defaults; refuse an architecture the task does not allow."""
        self.arch = self.arch or allowed_archs[0]
        if self.arch not in allowed_archs:
            raise SystemExit(f"--arch for {self.lang} must be one of {tuple(allowed_archs)}, got {self.arch!r}")
        self.epochs = self.epochs or (4 if self.arch in ENCODER_ARCHS else 12)


@dataclass
class Split:
    texts: list[str]
    y: np.ndarray  # (n,) int64 class ids
    groups: np.ndarray | None = None  # (n,) str: the source of each text, where known


def network_sample(split: Split, n: int, seed: int) -> Split:
    """``n`` rows of ``split`` drawn without replacement with ``seed`` (in their original order);
    the whole split when ``n`` is 0 or not smaller than it."""
    if not n or n >= len(split.texts):
        return split
    keep = np.sort(np.random.default_rng(seed + 1).permutation(len(split.texts))[:n])
    groups = None if split.groups is None else split.groups[keep]
    return Split([split.texts[i] for i in keep], split.y[keep], groups)


def accuracy_by_group(split: Split, pred: np.ndarray) -> dict[str, float]:
    """Accuracy of ``pred`` ((n,) class ids) on ``split`` per source group."""
    if split.groups is None:
        return {}
    return {
        str(g): float((pred[split.groups == g] == split.y[split.groups == g]).mean()) for g in np.unique(split.groups)
    }
