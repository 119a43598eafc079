"""Two stored sentiment heads trained on different versions of a reviews table, compared as served
on texts neither of them trained on.

    python -m training.compare_sentiment --before sentiment-zh:OLD --after sentiment-zh:NEW \\
        --before-data ~/.cache/demand-mining/tables/reviews-v3.csv [--splits val,test]

A table that gains rows redraws the split (``prepare_splits``), so most of the new head's test
texts were the old head's training texts, and the new test split cannot judge the old head. The
texts compared here are, per split asked for, the rows of the new head's split that are in the
same split of the old head's (both heads held them out) and the rows of sources the old table did
not have (the old head never saw any of them). Each head's split is rebuilt from its stored
``params`` (seed, sample caps) and the table it was trained on. Scores are per source, with the
paired bootstrap interval of after minus before (:func:`training.intervals.paired_difference`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from training.common import parse_config
from training.intervals import bootstrap_ci, mean_of, paired_difference
from training.textclf import Split


@dataclass
class CompareSentimentConfig:
    """Compare two stored sentiment heads on texts neither trained on."""

    before: str = field(default="", metadata={"help": "store tag of the head trained on the older table"})
    after: str = field(default="", metadata={"help": "store tag of the head trained on the newer table"})
    before_data: str = field(
        default="", metadata={"help": "the reviews table the before head trained on (default: the built-in one)"}
    )
    after_data: str = field(
        default="", metadata={"help": "the reviews table the after head trained on (default: the built-in one)"}
    )
    splits: str = field(default="val", metadata={"help": "comma-separated splits of the after head to read: val, test"})


def held_out_by_both(before: dict[str, Split], after: dict[str, Split], split: str) -> dict[str, list[int]]:
    """Indices into ``after[split]`` of the texts neither head trained on, per source: those in
    ``before[split]`` too, and those of a source ``before`` has none of. Texts are compared as
    cleaned by the split (both splits clean alike)."""
    held = set(before[split].texts)
    known = {str(g) for s in before.values() if s.groups is not None for g in s.groups}
    part = after[split]
    groups = part.groups if part.groups is not None else np.full(len(part.texts), "all")
    out: dict[str, list[int]] = {}
    for i, (text, group) in enumerate(zip(part.texts, groups, strict=True)):
        if text in held or str(group) not in known:
            out.setdefault(str(group), []).append(i)
    return out


def compare(before_correct: np.ndarray, after_correct: np.ndarray) -> dict[str, Any]:
    """Accuracies (with 95% intervals) of two heads on the same n texts, from their (n,) 0/1
    correctness, and the paired difference after minus before."""
    n = len(after_correct)
    a, b = mean_of(before_correct.astype(float)), mean_of(after_correct.astype(float))
    return {
        "n": n,
        "before": round(float(before_correct.mean()), 4),
        "before_ci95": bootstrap_ci(a, n),
        "after": round(float(after_correct.mean()), 4),
        "after_ci95": bootstrap_ci(b, n),
        "difference": paired_difference(b, a, n),
    }


def _splits(tag: str, table: str) -> tuple[dict[str, Split], Path]:
    """The split ``tag`` was trained on, rebuilt from its stored params and ``table``, and its path."""
    import bentoml

    from training.eval_bottom_quantization import config_from
    from training.train_sentiment import SentimentConfig, load_reviews

    model = bentoml.models.get(tag)
    metadata: dict[str, Any] = dict(model.info.metadata)
    params = dict(metadata.get("params") or {})
    cfg = config_from(SentimentConfig, {**params, "data": table})
    return load_reviews(cfg)[0], Path(model.path)


def main(argv: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """Print and return ``{"<split>/<source>": compare(...)}``."""
    from mining.models.textclf import load_artifact

    cfg = parse_config(CompareSentimentConfig, argv)
    if not cfg.before or not cfg.after:
        raise SystemExit("--before and --after name the two stored heads (NAME:VERSION)")
    before, before_path = _splits(cfg.before, cfg.before_data)
    after, after_path = _splits(cfg.after, cfg.after_data)
    heads = load_artifact(before_path), load_artifact(after_path)
    out = {}
    for split in (s.strip() for s in cfg.splits.split(",") if s.strip()):
        if split not in ("val", "test"):
            raise SystemExit(f"--splits: {split!r} is not val or test")
        part = after[split]
        for source, idx in sorted(held_out_by_both(before, after, split).items()):
            texts, y = [part.texts[i] for i in idx], np.asarray(part.y)[idx]
            correct = [head.predict_proba(texts).argmax(1) == y for head in heads]
            out[f"{split}/{source}"] = row = compare(*correct)
            d = row["difference"]
            print(
                f"{split}/{source}: {row['n']} texts, before {row['before']:.4f}, after {row['after']:.4f}, "
                f"{d['diff']:+.4f} [{d['ci95'][0]:+.4f}, {d['ci95'][1]:+.4f}] {d['verdict']}",
                file=sys.stderr,
            )
    return out


if __name__ == "__main__":
    main()
