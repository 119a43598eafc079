"""What every training script does around its model: the config fields they share, the run setup
(seed, torch threads) and the close of a run (summary, report files, store metadata and save)."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from training.common import History, plot_history, set_seed, write_report
from training.store import save_to_store


@dataclass
class RunConfig:
    """Flags every training script has: where the report goes and whether the model is saved."""

    save: bool = field(default=True, metadata={"help": "save the model into the BentoML store"})
    report_dir: str = field(default="reports", metadata={"help": "where metrics.json goes"})


@dataclass
class TrainConfig(RunConfig):
    """:class:`RunConfig` plus the seed and torch's CPU thread count of a script that trains a network."""

    seed: int = field(default=42, metadata={"help": "random seed"})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0: torch default)"})


def sample_cap_field(what: str) -> Any:
    """The ``--max-train-samples`` config field: a cap on ``what`` (e.g. ``training sentences``) for
    quick runs."""
    return field(default=0, metadata={"help": f"use only this many {what} (0: all)"})


def setup_run(cfg: Any) -> None:
    """Seed every generator (when ``cfg`` has a ``seed``) and set torch's CPU threads (when ``cfg``
    has a non-zero ``threads``), before anything random happens."""
    if hasattr(cfg, "seed"):
        set_seed(cfg.seed)
    if getattr(cfg, "threads", 0):
        torch.set_num_threads(cfg.threads)


@dataclass
class Report:
    """The report files of a run, written under ``<report_dir>/<name>``.

    ``metrics.json`` always (``payload``, or what it returns when called after the save); with
    ``history``, ``loss.png`` (validation ``score_name`` per epoch); with ``confusion``
    (counts, class names), ``confusion.png`` too, and ``metrics.json`` then maps class ids to names.
    """

    payload: Mapping[str, Any] | Callable[[], Mapping[str, Any]]
    history: History | None = None
    score_name: str = "accuracy"
    confusion: tuple[np.ndarray, Sequence[str]] | None = None

    def write(self, folder: Path) -> None:
        payload = dict(self.payload() if callable(self.payload) else self.payload)
        if self.confusion is not None and self.history is not None:
            write_report(folder, self.history, self.confusion[0], self.confusion[1], payload)
            return
        if self.history is not None:
            plot_history(folder, self.history, self.score_name)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "metrics.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str))


@dataclass
class Saved:
    """What the store gets for a run: built only when the run saves, since it may refit the model.

    ``metadata`` holds the entries beside the five every model has (metrics, baseline_metrics,
    params, data, label_map); ``params`` replaces the config's fields when given.
    """

    task: str
    lang: str | None
    arch: str
    write: Callable[[Path], None]
    data: dict[str, Any]
    label_map: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] | None = None
    domain: str | None = None
    note: str = ""


def run_metadata(
    cfg: Any, metrics: Mapping[str, Any], baseline_metrics: Mapping[str, Any], saved: Saved
) -> dict[str, Any]:
    """The store metadata of a run: ``metrics``, ``baseline_metrics``, ``params`` (the config's
    fields unless ``saved.params``), ``data``, ``label_map``, then ``saved.metadata``'s entries."""
    return {
        "metrics": metrics,
        "baseline_metrics": baseline_metrics,
        "params": saved.params if saved.params is not None else dataclasses.asdict(cfg),
        "data": saved.data,
        "label_map": saved.label_map,
        **saved.metadata,
    }


def finish_run(
    cfg: RunConfig,
    name: str,
    result: dict[str, Any],
    *,
    metrics: Mapping[str, Any],
    baseline_metrics: Mapping[str, Any],
    summary: str,
    report: Report,
    saved: Callable[[], Saved],
    report_name: str = "",
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Close a run: print the model-against-baseline summary, save into the store when
    ``cfg.save``, then write the report.

    Args:
        cfg: the run's config (``save``, ``report_dir``; its fields are the stored ``params``).
        name: the model's name in log lines, e.g. ``sentiment-zh``; the report folder too unless
            ``report_name`` is given.
        result: what the script returns; gets the store ``tag`` (None when not saved).
        summary: the closing lines printed to stderr (model beside its baseline).
        report: the report files (see :class:`Report`), written after the save, so a payload
            given as a callable sees the tag.
        saved: builds what is stored (see :class:`Saved`); called only when saving.
        log: prints a line (default: ``[name] line`` on stderr).
    Returns:
        ``result``, with ``tag`` set when saved.
    """
    say = log or (lambda line: print(f"[{name}] {line}", file=sys.stderr, flush=True))
    print(summary, file=sys.stderr, flush=True)
    if cfg.save:
        entry = saved()
        metadata = run_metadata(cfg, metrics, baseline_metrics, entry)
        result["tag"] = save_to_store(entry.task, entry.lang, entry.arch, metadata, entry.write, entry.domain)
        say(f"saved {result['tag']}{entry.note}")
    report.write(Path(cfg.report_dir) / (report_name or name))
    return result
