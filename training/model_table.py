"""The model tables of docs/results.md, written from the model store's metadata (never typed by hand).

    python -m training.model_table                  # print the table of the store's latest models
    python -m training.model_table --write docs/results.md  # replace the table between its markers
    python -m training.model_table --exclude intent,replies,handoff-zh,handoff-en --write docs/results.md  # all but service
    python -m training.model_table --only intent --marker service-table --write docs/results.md   # one model's rows

One row per headline metric of each registry model in the store: the served model's held-out
value with its 95% bootstrap interval, the baseline's value, the paired difference with its
interval, and the verdict (``ahead`` only where the paired interval excludes zero). Notes say where
labels come from rules, where the baseline is what is served, and which test set the row is on.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

START, END = "<!-- model-table:start -->", "<!-- model-table:end -->"
HEADER = (
    "| model | metric (held-out test) | model [95% CI] | baseline | difference [95% CI] | verdict |\n"
    "|---|---|---|---|---|---|"
)


def _num(x: float) -> str:
    return f"{x:.3f}"


def _interval(ci: Any) -> str:
    return f"[{_num(ci[0])}, {_num(ci[1])}]" if isinstance(ci, (list, tuple)) and len(ci) == 2 else ""


def _signed(x: float) -> str:
    return f"{x:+.3f}"


def _metric_value(metrics: Mapping[str, Any], key: str) -> float | None:
    """A headline value from ``metrics`` by key; dotted keys reach nested blocks."""
    node: Any = metrics
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return float(node) if isinstance(node, (int, float)) else None


def _settings(values: Mapping[str, Any]) -> str:
    """``{"lr": 0.0004, "frozen_layers": 3}`` -> ``"lr 0.0004;frozen_layers 3"``."""
    return ";".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items())


def notes(metadata: Mapping[str, Any], stage: Mapping[str, Any] | None = None) -> list[str]:
    """What a reader must know beside a model's numbers; ``stage`` is the model's entry in the
    staged start's record (:class:`mining.upgrades.UpgradeEntry` as a dict), when it has one."""
    out = []
    params = metadata.get("params") or {}
    if "e5" in (params.get("arch"), params.get("extractor_arch")):
        out.append("on the multilingual encoder")
    if stage and stage.get("state") in ("swapped", "kept"):
        won = stage["state"] == "swapped"
        metric, s_val, c_val = stage.get("metric", ""), stage.get("served_val"), stage.get("candidate_val")
        scores = f" (validation {metric} {c_val:.4f} vs {s_val:.4f})" if s_val is not None and c_val is not None else ""
        out.append(
            f"stage 2: replaced the model served before it{scores}"
            if won
            else f"stage 2's encoder head lost on validation{scores}"
        )
    data = metadata.get("data") or {}
    if data.get("label_source") == "rules":
        out.append("test labels come from rules, not annotators")
    served = metadata.get("served") or {}
    baselines = {row.get("baseline") for row in (metadata.get("vs_baseline") or {}).values()}
    if served.get("model") in baselines:
        out.append(f"serves its baseline `{served['model']}`: {served.get('reason', 'the network lost on validation')}")
    elif served.get("model"):
        out.append(f"served: `{served['model']}`")
    if metadata.get("tie_order"):
        out.append(f"same-second events in {metadata['tie_order']} order")
    metrics = metadata.get("metrics") or {}
    for search in (metrics.get("search"), metrics.get("extractor_search")):
        if search:
            tried = ", ".join(_settings({k: v for k, v in c.items() if k != "val"}) for c in search["candidates"])
            out.append(
                f"{_settings(search['chosen'])} of {{{tried}}} (chosen on {search.get('chosen_on', 'validation')})"
            )
    q = metadata.get("quantization") or {}
    if q.get("mode", "none") != "none":
        kept = f", its {' and '.join(q['float_parts'])} float32" if q.get("float_parts") else ""
        out.append(f"served {q['mode']}{kept} (chosen on {q.get('chosen_on', 'validation')})")
    return out


def rows(name: str, metadata: Mapping[str, Any], label: str = "", stage: Mapping[str, Any] | None = None) -> list[str]:
    """Markdown rows of one model: one per ``vs_baseline`` metric (or per ``ci95`` metric when a
    model has no baseline), one against frozen USE + LR where it was measured; an empty list for a
    model whose metadata has neither."""
    metrics = metadata.get("metrics") or metadata
    ci = metadata.get("ci95") or {}
    vs = metadata.get("vs_baseline") or {}
    out = []
    for metric in list(vs) + [m for m in ci if m not in vs]:
        value = _metric_value(metrics, metric)
        if value is None:
            continue
        row = vs.get(metric)
        if row:
            base = f"{row.get('baseline', 'baseline')} {_num(value - float(row['diff']))}"
            diff = f"{_signed(float(row['diff']))} {_interval(row.get('ci95'))}"
            verdict = str(row["verdict"])
        else:
            base, diff, verdict = "none", "", ""
        out.append(
            f"| `{name}` | {metric}{label} | {_num(value)} {_interval(ci.get(metric))} | {base} | {diff} | {verdict} |"
        )
    # A classifier trained on one split keeps these per split; its intervals are that split's.
    splits = metrics.get("per_split")
    single = splits[0] if isinstance(splits, list) and len(splits) == 1 and isinstance(splits[0], Mapping) else {}
    # An ensemble with its baseline also shows the network alone on the same items.
    alone = metrics.get("neural_only") or single.get("neural_only")
    if isinstance(alone, Mapping) and alone.get("ci95"):
        out += rows(name, alone, label=", network alone")
    frozen = metrics.get("frozen_use_lr") or single.get("frozen_use_lr")
    if isinstance(frozen, Mapping) and isinstance(frozen.get("vs_served"), Mapping):
        vs_frozen = frozen["vs_served"]
        key = str(vs_frozen.get("metric", "test_accuracy"))
        value = _metric_value(metrics, key)
        if value is not None:
            out.append(
                f"| `{name}` | {key}, vs frozen vectors | {_num(value)} {_interval(ci.get(key))} | "
                f"frozen-use-lr {_num(float(frozen[key]))} | {_signed(float(vs_frozen['diff']))} "
                f"{_interval(vs_frozen.get('ci95'))} | {vs_frozen['verdict']} |"
            )
    # Per test group (the service intents: new English templates, repeated ones, Chinese), against each baseline.
    for group, block in (metrics.get("by_group") or {}).items():
        for key, row in ((k, v) for k, v in block.items() if k.startswith("vs_")):
            for metric, cmp in row.items():
                value = block.get(f"model_{metric}")
                if value is None:
                    continue
                out.append(
                    f"| `{name}` | {metric}, {group} (n={block['n']}) | {_num(value)} "
                    f"{_interval(block.get('ci95', {}).get(metric))} | {key[3:]} {_num(value - float(cmp['diff']))} | "
                    f"{_signed(float(cmp['diff']))} {_interval(cmp.get('ci95'))} | {cmp['verdict']} |"
                )
    extra = notes(metadata, stage) if not label else []
    if out and extra:
        out.append(f"| `{name}` | note | {'; '.join(extra)} | | | |")
    return out


def render(
    models: Iterable[tuple[str, Mapping[str, Any]]], stages: Mapping[str, Mapping[str, Any]] | None = None
) -> str:
    """The whole table (header and rows) for ``(store name, metadata)`` pairs, in the given order,
    with ``stages`` (store name -> staged-start record entry); a model without intervals gets a
    row saying so rather than a number without one."""
    lines = [HEADER]
    for name, meta in models:
        body = rows(name, meta, stage=(stages or {}).get(name))
        lines += body or [f"| `{name}` | not evaluated with intervals | | | | |"]
    return "\n".join(lines)


def replace_between_markers(text: str, table: str, marker: str = "model-table") -> str:
    """``text`` with what stands between ``<!-- {marker}:start -->`` and ``<!-- {marker}:end -->``
    (default: :data:`START` and :data:`END`) replaced by ``table``."""
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"no {start} ... {end} markers in the file")
    return pattern.sub(lambda _: f"{start}\n{table}\n{end}", text)


def stages_of(
    stored: Iterable[tuple[str, str, Mapping[str, Any]]], entries: Mapping[str, Mapping[str, Any]]
) -> dict[str, Mapping[str, Any]]:
    """The staged start's record entries (store name -> entry) that speak of the version the table
    shows (``stored``: name, tag, metadata): an entry is about the candidate it trained, not about a
    version trained after it."""
    latest = {name: tag for name, tag, _ in stored}
    return {n: e for n, e in entries.items() if e.get("candidate") and e["candidate"] == latest.get(n)}


def from_store() -> list[tuple[str, str, dict[str, Any]]]:
    """``(name, tag, metadata)`` of the latest version of every registry model the store holds."""
    import bentoml
    from bentoml.exceptions import NotFound

    from mining.registry import MODELS

    found = []
    for spec in MODELS:
        try:
            model = bentoml.models.get(f"{spec.name}:latest")
            found.append((spec.name, str(model.tag), dict(model.info.metadata)))
        except NotFound:
            continue
    return found


def selected(names: Iterable[str], only: str, exclude: str) -> list[str]:
    """The names kept from ``names``, in order: those in the comma-separated ``only`` (all when
    empty), minus those in the comma-separated ``exclude``."""
    keep = {n for n in only.split(",") if n}
    drop = {n for n in exclude.split(",") if n}
    return [n for n in names if (not keep or n in keep) and n not in drop]


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--write", type=Path, help="a Markdown file whose table between the markers is replaced")
    parser.add_argument("--only", default="", help="comma-separated store names: only these models' rows")
    parser.add_argument("--exclude", default="", help="comma-separated store names: leave these models' rows out")
    parser.add_argument("--marker", default="model-table", help="the markers' name in the --write file")
    args = parser.parse_args(argv)
    from mining.settings import settings
    from mining.upgrades import read_record, record_path

    record = read_record(record_path(settings().model_store))
    stored = from_store()
    keep = set(selected([n for n, _, _ in stored], args.only, args.exclude))
    models = [(n, m) for n, _, m in stored if n in keep]
    table = render(models, stages_of(stored, {n: e.model_dump() for n, e in record.models.items()}))
    if args.write:
        text = args.write.read_text(encoding="utf-8")
        args.write.write_text(replace_between_markers(text, table, args.marker), encoding="utf-8")
    else:
        print(table)
    return table


if __name__ == "__main__":
    main()
