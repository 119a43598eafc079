"""How reliable the Chinese intent labels are: second readings of a seeded sample of
``zh_turns.csv`` by annotators who saw neither the stored labels nor any model's output.

    python -m training.eval_agreement

``data/customer_service/zh_turns_agreement.csv`` holds, per sampled turn (160 of each half, drawn
with seeds 20261208 and 20261209), the labels of two more annotators (columns ``id, half,
reader_1, reader_2``), each given only the text and the label guide. Reported per half, each with
a 95% bootstrap interval over the turns: the share of turns where the two readers agree with each
other and where each agrees with the stored label, and Cohen's kappa (agreement beyond what the
label frequencies give by chance). A reader's agreement with the stored labels is what a model
could be expected to reach if it read as well as a person; the intent model's accuracy on the
whole test half is in docs/results.md.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from training.common import parse_config
from training.intervals import bootstrap_ci, mean_of
from training.service_data import LABELS, verified, zh_turns

AGREEMENT_FILE = "zh_turns_agreement.csv"


@dataclass
class AgreementConfig:
    """Agreement of second readings with the stored Chinese intent labels."""

    seed: int = field(default=0, metadata={"help": "seed of the bootstrap"})
    n_boot: int = field(default=1000, metadata={"help": "bootstrap resamples"})


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float:
    """Cohen's kappa of two labelings of the same n items: (observed agreement - chance agreement)
    / (1 - chance agreement), chance from each labeling's own label frequencies; 1.0 when both
    use one same label throughout (no disagreement is possible)."""
    if len(a) != len(b) or not a:
        raise ValueError(f"need two labelings of the same non-empty items, got {len(a)} and {len(b)}")
    n = len(a)
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    chance = sum(ca[k] * cb[k] for k in ca) / (n * n)
    return 1.0 if chance == 1.0 else (observed - chance) / (1.0 - chance)


def readings() -> list[dict[str, str]]:
    """The rows of :data:`AGREEMENT_FILE` (checksum verified), each label one of :data:`LABELS`."""
    rows = list(csv.DictReader(io.StringIO(verified(AGREEMENT_FILE).decode("utf-8"))))
    for r in rows:
        if r["half"] not in ("train", "test") or r["reader_1"] not in LABELS or r["reader_2"] not in LABELS:
            raise ValueError(f"{AGREEMENT_FILE}: bad half or label in row {r['id']}")
    return rows


def agreement(pairs: dict[str, tuple[list[str], list[str]]], n_boot: int, seed: int) -> dict[str, Any]:
    """Per named pair of labelings: share agreeing with its interval, and kappa."""
    out = {}
    for name, (a, b) in pairs.items():
        same = [float(x == y) for x, y in zip(a, b, strict=True)]
        stat = mean_of(same)
        out[name] = {
            "agreement": round(float(np.mean(same)), 4),
            "agreement_ci95": bootstrap_ci(stat, len(same), n_boot=n_boot, seed=seed),
            "kappa": round(cohen_kappa(a, b), 4),
        }
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    cfg = parse_config(AgreementConfig, argv)
    stored = {t.id: t for t in zh_turns()}
    every = readings()
    result: dict[str, Any] = {}
    for half in ("train", "test"):
        rows = [r for r in every if r["half"] == half]
        missing = [r["id"] for r in rows if r["id"] not in stored or stored[r["id"]].split != half]
        if missing:
            raise ValueError(f"{AGREEMENT_FILE}: ids not in the {half} half of zh_turns.csv: {missing[:5]}")
        gold = [stored[r["id"]].label for r in rows]
        r1, r2 = [r["reader_1"] for r in rows], [r["reader_2"] for r in rows]
        result[half] = {
            "n": len(rows),
            **agreement(
                {"reader_1 vs reader_2": (r1, r2), "reader_1 vs stored": (r1, gold), "reader_2 vs stored": (r2, gold)},
                cfg.n_boot,
                cfg.seed,
            ),
        }
    print(json.dumps(result, indent=1), file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
