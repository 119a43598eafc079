"""Measure the slot rules (mining/slots.py) on Bitext's slot annotations, beside a digit-run baseline.

    python -m training.eval_slots

Bitext's intent rows carry at most one slot each (:func:`training.service_data.bitext_intents`);
its types map onto the rules' types by :data:`BITEXT_TYPES`. A predicted slot counts only where
type, start and end all equal a gold slot's (exact-span micro F1); only the mapped types are
scored, so a size or an address the rules find in a Bitext row is neither right nor wrong here.
Every row is an item, those without slots too (a slot found there is a false positive).

Measured on ``validation``, on ``test``, and on ``test`` without the rows whose
:func:`training.service_data.template_key` (own slots given) is the key of some training row
(generated near-duplicates). The rules were written on ``train`` and ``validation`` only; ``test``
is read for the numbers reported. Each F1 gets a 95% bootstrap interval over the rows, and the
rules' overall F1 a paired interval against the baseline (``training/intervals.py``).

Bitext's order number ``113542617735902`` (about one gold order number in six) passes the Luhn check of
a 15-digit card number, so the rules never return it (a card number is never an order id): the
report counts such gold slots as ``gold_card_like``, the misses the rules accept by design.
Chinese: the test half of the labelled Chinese service turns (``zh_turns.csv``; ``zh_test``) and a
development sample of 396 train-half turns (``zh_dev``), every slot of the rule types marked by
reading with the guide in ``data/customer_service/README.md`` (:func:`zh_slot_turns`). Rule changes
are chosen on ``zh_dev``; ``zh_test`` is read for the numbers reported. Scored types:
:data:`ZH_TYPES` (the entity-based product, brand and attribute slots need the NER model and are
not scored); baseline: :data:`ZH_BASELINE`.

Output: a table on stderr and ``<report-dir>/metrics.json``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mining.slots import SLOT_TYPES, extract_slots
from mining.text import _card_spans
from training.intervals import bootstrap_ci, f1_of_counts, paired_difference
from training.service_data import (
    ZH_TURNS_FILE,
    Slot,
    TurnSplit,
    Utterance,
    _csv_rows,
    bitext_intents,
    template_key,
    zh_turns,
)

BITEXT_TYPES = {
    "order_id": "order_id",
    "invoice_id": "invoice_id",
    "refund_amount": "amount",
    "delivery_city": "city",
    "delivery_country": "country",
    "person_name": "person_name",
    "account_type": "account_type",
}
TYPES = tuple(dict.fromkeys(BITEXT_TYPES.values()))
BASELINE = "digit runs of 5+ = order_id, $ + number = amount"
# The rule types of Chinese text; product, brand and attribute come from the NER model.
ZH_TYPES = ("order_id", "invoice_id", "amount", "size", "city", "country", "address", "account_type", "person_name")
ZH_BASELINE = "digit runs of 5+ = order_id, a number before 元/块 or after ¥ = amount"
# Slots marked by reading: the test half's turns, and a development sample of the train half's.
ZH_SLOTS_FILES = {"test": "zh_slots_test.csv", "train": "zh_slots_dev.csv"}

Span = tuple[str, int, int]  # type, start, end
Predictor = Callable[[str], set[Span]]

_BASE_ID = re.compile(r"(?<![\d$])\d{5,}(?!\d)")
_BASE_AMOUNT = re.compile(r"\$\s?(\d+(?:\.\d+)?)")
_BASE_AMOUNT_ZH = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s?(?:元|块)|[¥￥]\s?(\d+(?:\.\d+)?)")


@dataclasses.dataclass
class SlotEvalConfig:
    """Exact-span slot F1 of the slot rules against a digit-run baseline on Bitext's slots."""

    n_boot: int = dataclasses.field(default=1000, metadata={"help": "bootstrap resamples of the rows"})
    seed: int = dataclasses.field(default=0, metadata={"help": "seed of the bootstrap"})
    report_dir: Path = dataclasses.field(
        default=Path("reports/slots"), metadata={"help": "where metrics.json is written"}
    )


def gold_spans(row: Utterance) -> set[Span]:
    """The row's slots as (rule type, start, end)."""
    return {(BITEXT_TYPES[s.type], s.start, s.end) for s in row.slots}


def rule_spans(text: str) -> set[Span]:
    """What :func:`mining.slots.extract_slots` finds in an English text, of the scored types."""
    return {(s.type, s.start, s.end) for s in extract_slots(text, "en") if s.type in TYPES}


def baseline_spans(text: str) -> set[Span]:
    """The baseline: every run of 5 or more digits is an order id, a number after ``$`` an amount."""
    found = {("order_id", m.start(), m.end()) for m in _BASE_ID.finditer(text)}
    return found | {("amount", m.start(1), m.end(1)) for m in _BASE_AMOUNT.finditer(text)}


@dataclasses.dataclass(frozen=True)
class SlottedTurn:
    """A Chinese turn of one half with its hand-labelled slots."""

    id: str
    text: str
    slots: tuple[Slot, ...]


def zh_slot_turns(split: TurnSplit = "test") -> list[SlottedTurn]:
    """Turns of ``split`` of ``zh_turns.csv`` with their slots from :data:`ZH_SLOTS_FILES` (``id``
    and ``slots``, a JSON list of ``{type, start, end, text}``, ``text`` equal to the turn's
    ``text[start:end]``), in file order; raises ``ValueError`` naming the row at fault."""
    name = ZH_SLOTS_FILES[split]
    turns = {t.id: t for t in zh_turns(split)}
    out = []
    for r in _csv_rows(name):
        turn = turns.get(r["id"])
        if turn is None:
            raise ValueError(f"{name}: {r['id']} is not a {split}-half turn of {ZH_TURNS_FILE}")
        slots = tuple(Slot(x["type"], int(x["start"]), int(x["end"]), x["text"]) for x in json.loads(r["slots"]))
        for x in slots:
            if x.type not in SLOT_TYPES or turn.text[x.start : x.end] != x.text:
                raise ValueError(f"{name}: {r['id']}: {x} is not a slot span of the text")
        out.append(SlottedTurn(turn.id, turn.text, slots))
    return out


def zh_rule_spans(text: str) -> set[Span]:
    """What :func:`mining.slots.extract_slots` finds in a Chinese text, of :data:`ZH_TYPES`."""
    return {(s.type, s.start, s.end) for s in extract_slots(text, "zh") if s.type in ZH_TYPES}


def zh_baseline_spans(text: str) -> set[Span]:
    """The Chinese baseline (:data:`ZH_BASELINE`)."""
    found = {("order_id", m.start(), m.end()) for m in _BASE_ID.finditer(text)}
    for m in _BASE_AMOUNT_ZH.finditer(text):
        g = 1 if m.group(1) is not None else 2
        found.add(("amount", m.start(g), m.end(g)))
    return found


def row_counts(gold: Sequence[set[Span]], pred: Sequence[set[Span]], kind: str | None = None) -> np.ndarray:
    """(n, 3) per-row (tp, fp, fn) over all scored types, or over one ``kind``."""
    rows = []
    for g, p in zip(gold, pred, strict=True):
        if kind is not None:
            g, p = {s for s in g if s[0] == kind}, {s for s in p if s[0] == kind}
        rows.append((len(g & p), len(p - g), len(g - p)))
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def card_like(row: Utterance) -> int:
    """Gold order and invoice ids of the row that are card numbers to :func:`mining.text.mask_pii`."""
    cards = _card_spans(row.text)
    ids = [s for s in row.slots if s.type in ("order_id", "invoice_id")]
    return sum(any(a < s.end and s.start < b for a, b, _ in cards) for s in ids)


def _f1(counts: np.ndarray) -> float:
    return round(f1_of_counts(counts)(np.arange(len(counts))), 4)


def measure(
    gold: Sequence[set[Span]],
    preds: Mapping[str, Sequence[set[Span]]],
    types: Sequence[str],
    n_boot: int,
    seed: int,
    card_like_ids: int = 0,
) -> dict[str, Any]:
    """Overall and per-type F1 of the rules and the baseline (``preds``: ``rules``, ``baseline``;
    one span set per row, as ``gold``), with intervals over the rows."""
    n = len(gold)
    out: dict[str, Any] = {"n_rows": n, "n_gold": sum(len(g) for g in gold), "types": list(types)}
    out["gold_card_like"] = card_like_ids
    for kind in (None, *types):
        key = kind or "overall"
        entry: dict[str, Any] = {"n_gold": sum(1 for g in gold for s in g if kind in (None, s[0]))}
        counts = {name: row_counts(gold, p, kind) for name, p in preds.items()}
        if entry["n_gold"] == 0:  # an F1 of nothing is no number: count what was found instead
            out[key] = entry | {f"{name}_fp": int(c[:, 1].sum()) for name, c in counts.items()}
            continue
        for name, c in counts.items():
            tp, fp, fn = (int(v) for v in c.sum(axis=0))
            entry[name] = {"f1": _f1(c), "ci95": bootstrap_ci(f1_of_counts(c), n, n_boot, seed), "tp": tp}
            entry[name] |= {"fp": fp, "fn": fn}
        entry["rules_minus_baseline"] = paired_difference(
            f1_of_counts(counts["rules"]), f1_of_counts(counts["baseline"]), n, n_boot=n_boot, seed=seed
        )
        out[key] = entry
    return out


def measure_bitext(rows: Sequence[Utterance], n_boot: int, seed: int) -> dict[str, Any]:
    """:func:`measure` on Bitext rows, their types mapped by :data:`BITEXT_TYPES`."""
    preds = {"rules": [rule_spans(r.text) for r in rows], "baseline": [baseline_spans(r.text) for r in rows]}
    gold = [gold_spans(r) for r in rows]
    return measure(gold, preds, TYPES, n_boot, seed, sum(card_like(r) for r in rows))


def measure_zh(rows: Sequence[SlottedTurn], n_boot: int, seed: int) -> dict[str, Any]:
    """:func:`measure` on the labelled Chinese turns, over :data:`ZH_TYPES`."""
    gold = [{(s.type, s.start, s.end) for s in r.slots if s.type in ZH_TYPES} for r in rows]
    preds = {"rules": [zh_rule_spans(r.text) for r in rows], "baseline": [zh_baseline_spans(r.text) for r in rows]}
    return measure(gold, preds, ZH_TYPES, n_boot, seed)


def _table(result: dict[str, Any]) -> str:
    head = f"{'set':<14}{'type':<13}{'gold':>5}  {'rules F1 [95% CI]':<24}{'baseline F1':<13}{'diff [95% CI]':<26}"
    lines = [head, "-" * len(head)]
    for name, m in result["sets"].items():
        for key in ("overall", *m["types"]):
            e = m[key]
            if e["n_gold"] == 0:
                found = f"no gold slots; found by the rules {e['rules_fp']}, by the baseline {e['baseline_fp']}"
                lines.append(f"{'':<14}{key:<13}{0:>5}  {found}")
                continue
            r, b, d = e["rules"], e["baseline"], e["rules_minus_baseline"]
            ci = f"{r['f1']:.3f} [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}]"
            diff = f"{d['diff']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}] {d['verdict']}"
            label = name if key == "overall" else ""
            lines.append(f"{label:<14}{key:<13}{e['n_gold']:>5}  {ci:<24}{b['f1']:<13.3f}{diff:<26}")
        lines.append(f"{'':<14}rows {m['n_rows']}, gold ids that are card numbers (never found): {m['gold_card_like']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from training.common import parse_config  # imports torch: only the command needs it, not the tests

    cfg = parse_config(SlotEvalConfig, argv)
    train_keys = {template_key(r.text, r.slots) for r in bitext_intents("train")}
    test = bitext_intents("test")
    unseen = [r for r in test if template_key(r.text, r.slots) not in train_keys]
    sets = {"validation": bitext_intents("validation"), "test": test, "test_unseen": unseen}
    result: dict[str, Any] = {
        "data": "Bitext customer-service intents, slot annotations; exact span and type",
        "types": dict(BITEXT_TYPES),
        "baseline": BASELINE,
        "test_unseen": f"test without the {len(test) - len(unseen)} rows whose template_key is a training row's",
        "sets": {name: measure_bitext(rows, cfg.n_boot, cfg.seed) for name, rows in sets.items()},
        "zh_baseline": ZH_BASELINE,
    }
    result["sets"]["zh_dev"] = measure_zh(zh_slot_turns("train"), cfg.n_boot, cfg.seed)
    result["sets"]["zh_test"] = measure_zh(zh_slot_turns("test"), cfg.n_boot, cfg.seed)
    cfg.report_dir.mkdir(parents=True, exist_ok=True)
    (cfg.report_dir / "metrics.json").write_text(json.dumps(result, ensure_ascii=False, indent=1))
    print(_table(result), file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
