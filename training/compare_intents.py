"""Two stored intent models on the same validation rows, as they serve: accuracy, and what each
answers at its own abstention thresholds, per validation group (no test row is read).

    python -m training.compare_intents --candidate intent:latest --against intent:<version>

Both are loaded as they serve (each quantised as its training chose) and read the validation split
of the candidate's training parameters (its store metadata's ``params``); a pair validated on
other rows is refused. Per group (``en`` Bitext, ``zh`` the Chinese turns, ``en_stc3``,
``en_reviews``, ``requests_zh`` / ``requests_en`` the written requests' validation rows): accuracy
of the top label, the share answered (tempered top probability at or above the language's
threshold) and the precision of what is answered. Paired differences (candidate minus against,
bootstrap over rows) for all rows and for the real messages alone (``zh``, ``en_stc3``,
``en_reviews``): the rows whose accuracy a new recipe must not lose.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from training.common import parse_config
from training.eval_bottom_quantization import config_from, stored_model
from training.intervals import mean_of, paired_difference
from training.store import served_text_classifier

REAL_GROUPS = ("zh", "en_stc3", "en_reviews")


@dataclass
class CompareIntentsConfig:
    """Compare two stored intent models on the candidate's validation split, as served."""

    candidate: str = field(default="intent:latest", metadata={"help": "the store tag of the new model"})
    against: str = field(default="", metadata={"help": "the store tag of the model it would replace (required)"})
    out: str = field(default="", metadata={"help": "also write the result here (JSON)"})


def served_answers(tag: str, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The stored model ``tag`` loaded as it serves, on ``texts``.

    Returns:
        (top label id per text (n,), tempered top probability (n,), the store metadata).
    """
    from mining.models.textclf import Abstention

    model, metadata, _ = served_text_classifier(tag)
    p = Abstention.from_metadata(metadata).apply(model.predict_proba(list(texts)))
    return p.argmax(1), p.max(1), metadata


def group_table(
    pred: np.ndarray, top: np.ndarray, y: np.ndarray, groups: np.ndarray, metadata: dict[str, Any]
) -> dict[str, dict[str, float]]:
    """Per validation group: ``n``, ``accuracy``, ``answered`` (share at or above the threshold of
    the group's language) and ``precision`` (of those answered; absent where none is)."""
    from mining.models.textclf import Abstention
    from training.train_intents import group_language

    out: dict[str, dict[str, float]] = {}
    for group in sorted(set(groups.tolist())):
        rows = groups == group
        kept = top[rows] >= Abstention.from_metadata(metadata, group_language(str(group))).threshold
        right = pred[rows] == y[rows]
        out[str(group)] = {"n": int(rows.sum()), "accuracy": float(right.mean()), "answered": float(kept.mean())}
        if kept.any():
            out[str(group)]["precision"] = float(right[kept].mean())
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Prints a line per group for both models and the paired differences; returns them."""
    from training.train_intents import IntentConfig, service_splits

    cfg = parse_config(CompareIntentsConfig, argv)
    if not cfg.against:
        raise SystemExit("--against: the store tag of the model to compare with is required (e.g. intent:abc123)")
    params = dict(stored_model(cfg.candidate).info.metadata.get("params") or {})
    splits, data = service_splits(config_from(IntentConfig, params))
    val = splits["val"]
    y, groups = np.asarray(val.y), np.asarray(val.groups, dtype=object)
    answers = {tag: served_answers(tag, val.texts) for tag in (cfg.candidate, cfg.against)}
    theirs = answers[cfg.against][2].get("data") or {}
    if theirs.get("val_sha256") != data["val_sha256"]:
        raise SystemExit(f"{cfg.against} was validated on other rows than {cfg.candidate}'s split; not comparable")
    result: dict[str, Any] = {
        tag: group_table(pred, top, y, groups, metadata) for tag, (pred, top, metadata) in answers.items()
    }
    right = {tag: (pred == y).astype(np.float64) for tag, (pred, _, _) in answers.items()}
    real = np.isin(groups, REAL_GROUPS)
    result["diff"] = {
        "all": paired_difference(mean_of(right[cfg.candidate]), mean_of(right[cfg.against]), len(y)),
        "real": paired_difference(
            mean_of(right[cfg.candidate][real]), mean_of(right[cfg.against][real]), int(real.sum())
        ),
    }
    for group in result[cfg.candidate]:
        a, b = result[cfg.candidate][group], result[cfg.against][group]
        print(
            f"{group:12s} n={a['n']:4d}  accuracy {a['accuracy']:.3f} vs {b['accuracy']:.3f}  "
            f"answered {a['answered']:.2f} at {a.get('precision', float('nan')):.3f} vs "
            f"{b['answered']:.2f} at {b.get('precision', float('nan')):.3f}"
        )
    for part, d in result["diff"].items():
        print(
            f"accuracy difference, {part} rows: {d['diff']:+.4f} [{d['ci95'][0]:+.4f}, {d['ci95'][1]:+.4f}] {d['verdict']}"
        )
    if cfg.out:
        Path(cfg.out).write_text(json.dumps(result, indent=1), encoding="utf-8")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
