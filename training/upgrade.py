"""The staged start's second stage: train the heads on the multilingual encoder while the default
models serve, and put each into service only where it beats the model it replaces.

    python -m training.upgrade            # train every pending head (the bootstrap starts this)
    python -m training.upgrade --status   # print the record
    python -m training.upgrade --stop     # stop a running upgrade

Each head (the registry's ``upgrade`` flags) is trained by its own trainer in a child process
into a staging store beside the real one, so nothing half-trained or worse is ever ``latest``.
Its validation score (the registry's selection metric, same split) is then compared with the
served model's: better -> imported into the store, where every runner serving ``name:latest``
swaps it in within ``DEMAND_MINING_MODEL_WATCH_SECONDS``; not better -> the served model stays.
What happened to each is written to ``upgrades.json`` in the store's home (shown by ``/readyz``)
and to the log. A head is not trained again for the same served version; an interrupted run
resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mining.registry import MODELS, ModelSpec
from mining.settings import settings
from mining.upgrades import (
    FINAL,
    UpgradeEntry,
    UpgradeRecord,
    decide,
    pid_alive,
    read_record,
    record_path,
    validation_score,
    write_record,
)
from training.bootstrap import trainer_command
from training.common import parse_config


@dataclass
class UpgradeConfig:
    """Train the encoder heads of the staged start and swap in the better ones."""

    only: str = field(default="", metadata={"help": "comma-separated store names to upgrade (default: all pending)"})
    flags: str = field(
        default="",
        metadata={
            "help": "trainer flags to use instead of the registry's upgrade flags (a candidate of your own; "
            "needs --only with one name)"
        },
    )
    again: bool = field(default=False, metadata={"help": "train even where the record says it was decided"})
    candidate_store: str = field(
        default="",
        metadata={
            "help": "a BentoML home whose latest version of each model is the candidate instead of a new "
            "training (e.g. heads trained on a GPU machine); it still has to win on validation"
        },
    )
    report_dir: str = field(default="reports", metadata={"help": "where training reports go"})
    status: bool = field(default=False, metadata={"help": "print the record and exit"})
    stop: bool = field(default=False, metadata={"help": "stop a running upgrade (SIGTERM to it and its trainer)"})


def staging_home(home: Path) -> Path:
    """The staging store: candidates live here until they win."""
    return home / "staging"


def served_metadata(name: str) -> tuple[str, dict[str, Any]] | None:
    """(tag, metadata) of ``name:latest`` in the real store, None when it has none."""
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        model = bentoml.models.get(f"{name}:latest")
    except NotFound:
        return None
    return str(model.tag), dict(model.info.metadata)


def pending(record: UpgradeRecord, specs: tuple[ModelSpec, ...] = MODELS, again: bool = False) -> list[ModelSpec]:
    """Models with an upgrade that were not yet decided for the version now served (a model the
    store lacks is left to the bootstrap); ``again``: decided ones too."""
    out = []
    for spec in specs:
        if not spec.upgrade:
            continue
        served = served_metadata(spec.name)
        if served is None:
            continue
        entry = record.models.get(spec.name)
        if not again and entry and entry.state in FINAL and served[0] in (entry.served, entry.candidate):
            continue
        out.append(spec)
    return out


def _train_candidate(spec: ModelSpec, staging: Path, report_dir: str) -> str:
    """Train ``spec``'s head into the staging store in a child process; returns its tag there.

    A child process keeps the trainer's memory (the encoder, its data) out of this long-lived one,
    and the staging ``BENTOML_HOME`` keeps the candidate out of the real store."""
    env = {
        **os.environ,
        "BENTOML_HOME": str(staging),
        "BENTOML_DO_NOT_TRACK": "true",
        # Baselines that are stored models (the aspect models' whole-text sentiment) come from the served store.
        "DEMAND_MINING_BASELINE_STORE": str(settings().model_store),
    }
    cmd = trainer_command(spec, spec.upgrade, f"{report_dir}/upgrade")
    child = subprocess.Popen(cmd, env=env)
    try:
        if child.wait() != 0:
            raise subprocess.CalledProcessError(child.returncode, cmd[:3])
    finally:
        if child.poll() is None:  # this process is being stopped: the trainer stops with it
            child.terminate()
            child.wait(30)
    tags = subprocess.run(
        [sys.executable, "-c", f"import bentoml; print(bentoml.models.get('{spec.name}:latest').tag)"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return tags.stdout.strip().splitlines()[-1]


def _candidate(staging: Path, tag: str) -> tuple[Any, dict[str, Any]]:
    """The staged model object and its metadata."""
    import bentoml
    from bentoml._internal.models.model import ModelStore

    store = ModelStore(staging / "models")
    model = bentoml.models.get(tag, _model_store=store)
    return store, dict(model.info.metadata)


def _promote(store: Any, tag: str, keep: bool = False) -> None:
    """Copy ``tag`` from ``store`` into the real store, where it becomes ``latest``; the staged
    copy is removed unless ``keep`` (a store of the user's own)."""
    import bentoml

    # A directory copy: an export archive would gzip hundreds of MB of encoder weights for nothing.
    bentoml.models.get(tag, _model_store=store).save()
    # BentoML points ``latest`` at the newest creation time; a head trained earlier elsewhere must
    # still become what serves, so the pointer is set here (replaced, never rewritten in place).
    name, version = tag.split(":")
    pointer = settings().model_store / "models" / name / "latest"
    tmp = pointer.with_name(".latest.tmp")
    tmp.write_text(version)
    os.replace(tmp, pointer)
    if not keep:  # the real store holds it now; a candidate that lost stays staged for inspection
        bentoml.models.delete(tag, _model_store=store)


def _latest_in(home: Path, name: str) -> str:
    """Tag of ``name:latest`` in the store of BentoML home ``home``."""
    import bentoml
    from bentoml._internal.models.model import ModelStore
    from bentoml.exceptions import NotFound

    try:
        return str(bentoml.models.get(f"{name}:latest", _model_store=ModelStore(home / "models")).tag)
    except NotFound:
        raise ValueError(f"the candidate store {home} holds no {name}") from None


def upgrade_one(
    spec: ModelSpec, record: UpgradeRecord, path: Path, staging: Path, report_dir: str, given: Path | None = None
) -> UpgradeEntry:
    """Train, compare and (if better) promote one head; the record is rewritten at each step.
    With ``given`` (a BentoML home), its ``name:latest`` is the candidate instead of a new training."""
    served = served_metadata(spec.name)
    assert served is not None  # pending() only yields served models
    served_tag, served_meta = served
    metric = spec.selection[0]
    record.models[spec.name] = UpgradeEntry(state="training", served=served_tag, metric=metric)
    write_record(path, record)
    what = f"taking {spec.name}:latest of {given}" if given else "training the encoder head"
    log(f"{spec.name}: {what} (serving {served_tag} meanwhile) ...")
    t0 = time.monotonic()
    try:
        tag = _latest_in(given, spec.name) if given else _train_candidate(spec, staging, report_dir)
        store, meta = _candidate(given or staging, tag)
        better, reason = decide(spec, served_meta, meta)
        if better:
            _promote(store, tag, keep=given is not None)
    except (subprocess.CalledProcessError, OSError, ValueError) as e:
        entry = UpgradeEntry(
            state="failed",
            served=served_tag,
            metric=metric,
            reason=f"{type(e).__name__}: {e}"[:300],
            seconds=round(time.monotonic() - t0, 1),
        )
    else:
        entry = UpgradeEntry(
            state="swapped" if better else "kept",
            served=served_tag,
            candidate=tag,
            metric=metric,
            served_val=validation_score(served_meta, metric),
            candidate_val=validation_score(meta, metric),
            reason=reason,
            seconds=round(time.monotonic() - t0, 1),
        )
    record.models[spec.name] = entry
    write_record(path, record)
    what = {"swapped": f"{entry.candidate} now serves", "kept": f"{served_tag} keeps serving"}.get(entry.state, "")
    log(f"{spec.name}: {entry.state} after {entry.seconds:.0f} s: {what} ({entry.reason})")
    return entry


def log(message: str) -> None:
    print(f"[upgrade {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def stop(path: Path) -> bool:
    """SIGTERM the running upgrade (it stops its trainer and records where it stopped); True when
    one was running. Only its own pid: its process group may be the shell job that also runs the
    server."""
    pid = read_record(path).pid
    if pid is None or not pid_alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    return True


def _on_term(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> dict[str, str]:
    """Upgrade what is pending. Returns store name -> final state."""
    cfg = parse_config(UpgradeConfig, argv)
    home = settings().model_store
    path = record_path(home)
    record = read_record(path)
    if cfg.status:
        print(record.model_dump_json(indent=2))
        return {n: e.state for n, e in record.models.items()}
    if cfg.stop:
        log("stopped the running upgrade" if stop(path) else "no upgrade is running")
        return {}
    if pid_alive(record.pid) and record.pid != os.getpid():
        log(f"an upgrade is already running (pid {record.pid}); not starting another")
        return {}
    names = {n.strip() for n in cfg.only.split(",") if n.strip()}
    if cfg.flags and len(names) != 1:
        raise SystemExit(f"--flags needs --only with exactly one model name, got --only {cfg.only!r}")
    todo = pending(record, MODELS, again=cfg.again)
    if names:
        todo = [s for s in todo if s.name in names]
    if cfg.flags:
        todo = [dataclasses.replace(s, upgrade=tuple(shlex.split(cfg.flags))) for s in todo]
    for spec in todo:
        record.models[spec.name] = UpgradeEntry(state="waiting", served=(served_metadata(spec.name) or ("", {}))[0])
    record.pid, record.started, record.finished = os.getpid(), time.time(), None
    write_record(path, record)
    # SIGTERM (``--stop``, a container stop) ends the run through ``finally``: the child trainer
    # gets it too (same process group) and the record says where it stopped.
    signal.signal(signal.SIGTERM, _on_term)
    log(f"{len(todo)} encoder heads to train: {', '.join(s.name for s in todo) or 'none'}; record: {path}")
    t0 = time.monotonic()
    done: dict[str, str] = {}
    try:
        for spec in todo:
            given = Path(cfg.candidate_store).expanduser() if cfg.candidate_store else None
            done[spec.name] = upgrade_one(spec, record, path, staging_home(home), cfg.report_dir, given).state
    finally:
        for name, entry in record.models.items():
            if entry.state in ("waiting", "training"):
                record.models[name] = entry.model_copy(update={"state": "waiting", "reason": "interrupted"})
        record.pid, record.finished = None, time.time()
        write_record(path, record)
    log(f"done in {(time.monotonic() - t0) / 60:.1f} min: {done}")
    return done


if __name__ == "__main__":
    main()
