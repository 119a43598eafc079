"""The staged start's shared record: which encoder heads are being trained after the default
models went into service, and what became of each.

``training.upgrade`` writes the record (``upgrades.json`` beside the model store); runners and
the gateway only read it (the gateway shows it in ``/readyz``). No BentoML here: the decision
whether a candidate replaces the served model is plain arithmetic on two metadata dicts.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from mining.registry import ModelSpec

State = Literal["waiting", "training", "swapped", "kept", "failed"]
# A model in one of these states is not trained again for the same served version.
FINAL: frozenset[str] = frozenset({"swapped", "kept"})


class UpgradeEntry(BaseModel):
    """What the staged start did with one model.

    ``served`` is the tag in service when the entry was written; ``candidate`` the encoder head's
    tag in the staging store; ``served_val`` / ``candidate_val`` their scores on the shared
    validation split (the registry's selection metric, ``metric``).
    """

    state: State
    served: str = ""
    candidate: str = ""
    metric: str = ""
    served_val: float | None = None
    candidate_val: float | None = None
    reason: str = ""
    seconds: float | None = None
    updated: float = Field(default_factory=time.time, description="unix time of this entry")


class UpgradeRecord(BaseModel):
    """The whole record: one entry per model with an upgrade, and the trainer's process id while
    it runs (so a second start does not train the same heads twice)."""

    pid: int | None = None
    started: float | None = None
    finished: float | None = None
    models: dict[str, UpgradeEntry] = Field(default_factory=dict)


def record_path(store_home: Path) -> Path:
    """Where the record of the store at ``store_home`` (BentoML's home) lives."""
    return store_home / "upgrades.json"


def read_record(path: Path) -> UpgradeRecord:
    """The record at ``path``; an empty one when there is none or it cannot be read (a record
    half-written by a killed process must not stop a server from starting)."""
    try:
        return UpgradeRecord.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return UpgradeRecord()


def write_record(path: Path, record: UpgradeRecord) -> None:
    """Replace the record atomically (readers see the old or the new one, never a part)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upgrades-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(record.model_dump_json(indent=2))
    os.replace(tmp, path)


def pid_alive(pid: int | None) -> bool:
    """True when process ``pid`` exists (signal 0 checks without sending anything)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def left_by_gone_processes(folder: Path, prefix: str, suffix: str = "") -> list[Path]:
    """Entries of ``folder`` named ``<prefix><pid><suffix...>`` (the id followed by ``-``, ``.`` or
    the end) whose process no longer runs, in name order: what a killed process left behind. A
    name without an id there, or with a live one, is not listed."""
    out = []
    for path in sorted(folder.glob(f"{prefix}*{suffix}")):
        found = re.match(r"\d+(?=[-.]|$)", path.name[len(prefix) :])
        if found and not pid_alive(int(found.group())):
            out.append(path)
    return out


def validation_score(metadata: dict[str, Any], metric: str) -> float | None:
    """``metadata["metrics"][metric]`` as a float, or None when the model did not record it."""
    value = (metadata.get("metrics") or {}).get(metric)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def same_split(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Both models were validated on the same rows: the same fingerprint of the validation rows
    where both recorded one (a training subsample leaves it unchanged), else of all the data."""
    da, db = a.get("data") or {}, b.get("data") or {}
    key = "val_sha256" if da.get("val_sha256") and db.get("val_sha256") else "sha256"
    return bool(da.get(key)) and all(da.get(k) == db.get(k) for k in (key, "n_val"))


def decide(spec: ModelSpec, served: dict[str, Any], candidate: dict[str, Any]) -> tuple[bool, str]:
    """Whether ``candidate`` (store metadata) replaces ``served`` for ``spec``, and why.

    It does only when both recorded the registry's selection metric on the same validation split
    and the candidate's is strictly better: a tie keeps what already serves.
    """
    metric, direction = spec.selection
    if not metric:
        return False, f"{spec.task} has no validation metric to compare versions on"
    if not same_split(served, candidate):
        return False, "the two versions were validated on different data; not comparable"
    s, c = validation_score(served, metric), validation_score(candidate, metric)
    if s is None or c is None:
        missing = "served model" if s is None else "candidate"
        return False, f"the {missing} did not record validation {metric}"
    better = c > s if direction == "max" else c < s
    verdict = "better" if better else "not better"
    return better, f"validation {metric}: candidate {c:.4f} vs served {s:.4f} ({verdict}; {direction} wins)"
