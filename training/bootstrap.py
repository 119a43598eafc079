"""Fetch the data and train every default model the store does not hold yet.

    python -m training.bootstrap                    # default models, ~30 min on 2 CPU cores (README command 1)
    python -m training.bootstrap --profile full     # full-quality models, ~4 h on 2 CPU cores
    python -m training.bootstrap --profile quick    # tiny models in seconds, for tests and smoke runs

The default profile trains every model on real data with shorter schedules and subsamples, so a
fresh machine serves within 30 minutes; its held-out metrics are in docs/training.md beside the full
ones. ``full`` is what the result tables in docs/training.md were measured with.

Models train in processes of their own, two at a time where there are two cores or more
(``--jobs``), the cores shared out between them: on 2 cores two trainers with one thread each
finish sooner than one after the other with two, since much of a training step is single-threaded
Python (the 17 default models with their data: 17.4 minutes against 24.0; docs/training.md, timing).
Each trainer's output goes to ``<report-dir>/bootstrap/<name>.log``; the terminal gets a line per
model started and saved.

The default profile starts in two stages. The models above train first (under 30 minutes on
2 cores), so the service can start; then ``training.upgrade`` is started in the background (log:
``<report-dir>/upgrade.log``) to train the heads on the multilingual encoder, and each replaces its
default model in the serving runners only where it scores higher on the same validation split
(``--no-upgrade``: skip; progress in ``/readyz`` and ``python -m training.upgrade --status``).

A model already in the store is never retrained (delete it with ``bentoml models delete`` to
retrain); fetched data is cached (``training.data``), so a second run does nothing.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from mining.registry import MODELS, ModelSpec, Profile
from training.store import has_model, latest_tag


def trainer(spec: ModelSpec) -> Callable[[list[str]], dict[str, Any]]:
    """The ``main(argv) -> dict`` that trains ``spec``."""
    return importlib.import_module(f"training.{spec.trainer}").main


def train(spec: ModelSpec, profile: Profile, extra: Sequence[str] = ()) -> dict[str, Any]:
    """Train one model with its profile's flags plus ``extra`` (later flags win); returns the
    trainer's result, with the new store ``tag``."""
    return trainer(spec)(spec.flags(profile) + list(extra))


class Running(Protocol):
    """What the bootstrap needs of a started trainer: ``subprocess.Popen``'s ``poll`` and ``terminate``."""

    def poll(self) -> int | None: ...

    def terminate(self) -> None: ...


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass
class Lane:
    """One trainer running in its own process."""

    spec: ModelSpec
    process: Running
    log: Path
    started: float


def trainer_command(spec: ModelSpec, flags: Sequence[str], report_dir: str) -> list[str]:
    """The command line that trains ``spec`` with ``flags`` in a process of its own."""
    return [sys.executable, "-m", f"training.{spec.trainer}", *flags, "--report-dir", report_dir]


def next_ready(pending: Sequence[ModelSpec], unfinished: set[str]) -> ModelSpec | None:
    """The first of ``pending`` (registry order) none of whose ``after`` models is still
    ``unfinished`` (pending or running); None when each waits for one."""
    return next((s for s in pending if not unfinished.intersection(s.after)), None)


def lane_threads(at_once: int, cores: int) -> int:
    """CPU threads for a trainer started while ``at_once`` trainers (itself included) will run:
    ``cores`` shared out, at least 1."""
    return max(1, cores // max(1, at_once))


def launch(spec: ModelSpec, profile: Profile, report_dir: str, threads: int) -> tuple[Running, Path]:
    """Start ``spec``'s trainer with ``threads`` CPU threads, its output in
    ``<report_dir>/bootstrap/<name>.log``; returns the process and the log's path."""
    import subprocess

    log = Path(report_dir) / "bootstrap" / f"{spec.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    # Torch, BLAS and OpenMP size their thread pools from these at start, so two trainers on two
    # cores each take one instead of both fighting over two.
    env = {**os.environ, **{k: str(threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            trainer_command(spec, spec.flags(profile), report_dir),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    return process, log


def log_tail(log: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a trainer's log (progress bars' carriage returns as line ends)."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.replace("\r", "\n").splitlines()[-lines:])


def train_in_lanes(
    specs: Sequence[ModelSpec],
    jobs: int,
    start: Callable[[ModelSpec, int], tuple[Running, Path]],
    cores: int,
    tag_of: Callable[[str], str | None] = latest_tag,
    wait_seconds: float = 0.5,
    say: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
) -> tuple[dict[str, str], str | None]:
    """Train ``specs`` (registry order), up to ``jobs`` at once, each model after its ``after``
    models; after a failure nothing new starts and the running ones finish (they are saved, so
    the next run resumes from them). ``start(spec, threads)`` starts a trainer with that many of
    the ``cores``: all of them for a trainer that will run alone, a share where others run or wait.

    Returns:
        (name -> new store tag of each model trained, the first failed model's name or None).
    """
    pending: list[ModelSpec] = list(specs)
    running: list[Lane] = []
    done: dict[str, str] = {}
    failed: str | None = None
    t0, total = time.monotonic(), len(specs)
    try:
        while running or (pending and failed is None):
            while failed is None and len(running) < jobs:
                spec = next_ready(pending, {s.name for s in pending} | {lane.spec.name for lane in running})
                if spec is None:
                    if not running:
                        raise ValueError(
                            f"{[s.name for s in pending]} wait for each other (their `after` in the registry)"
                        )
                    break
                pending.remove(spec)
                threads = lane_threads(min(jobs, len(running) + 1 + len(pending)), cores)
                process, log = start(spec, threads)
                running.append(Lane(spec, process, log, time.monotonic()))
                say(f"[bootstrap] {spec.name}: training on {threads} of {cores} cores (log {log}) ...")
            time.sleep(wait_seconds)
            for lane in [lane for lane in running if lane.process.poll() is not None]:
                running.remove(lane)
                code, name = lane.process.poll(), lane.spec.name
                if code == 0:
                    done[name] = tag_of(name) or "(not in the store)"
                    say(
                        f"[bootstrap {len(done)}/{total}] {name}: saved {done[name]} in "
                        f"{time.monotonic() - lane.started:.0f} s ({(time.monotonic() - t0) / 60:.1f} min so far)"
                    )
                else:
                    failed = failed or name
                    say(
                        f"[bootstrap] {name}: training failed (exit code {code}); the end of {lane.log}:\n{log_tail(lane.log)}"
                    )
    except BaseException:
        # Interrupted (Ctrl-C) or broken: no trainer is left running on its own.
        for lane in running:
            lane.process.terminate()
        raise
    return done, failed


def main(argv: list[str] | None = None) -> dict[str, str]:
    """Train what is missing. Returns store name -> ``"present"`` or the new tag."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument(
        "--profile",
        choices=("default", "full", "quick"),
        default="default",
        help="default: real data, short schedules (~30 min on 2 CPU cores); full: the measured models of docs/training.md "
        "(~4 h); quick: tiny models for tests, metrics meaningless",
    )
    parser.add_argument("--quick", action="store_true", help="same as --profile quick")
    parser.add_argument("--report-dir", default="reports", help="where training reports go")
    parser.add_argument(
        "--jobs",
        type=int,
        default=min(2, usable_cores()),
        help="models trained at once, each in its own process with the cores shared out (default: 2 where "
        "there are 2 cores or more); each trainer's output goes to <report-dir>/bootstrap/<name>.log",
    )
    parser.add_argument(
        "--upgrade",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="default profile: train the multilingual-encoder heads in the background afterwards and swap "
        "in each that beats its default model on validation",
    )
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs: at least 1, got {args.jobs}")
    profile: Profile = "quick" if args.quick else args.profile
    done: dict[str, str] = {}
    todo = []
    for spec in MODELS:
        if has_model(spec.name):
            print(f"[bootstrap] {spec.name}: in the store, not retrained", file=sys.stderr)
            done[spec.name] = "present"
        else:
            todo.append(spec)
    cores = usable_cores()
    if todo:
        print(
            f"[bootstrap] training {len(todo)} models ({profile}), up to {args.jobs} at once on {cores} cores",
            file=sys.stderr,
            flush=True,
        )
    trained, failed = train_in_lanes(
        todo, args.jobs, lambda spec, threads: launch(spec, profile, args.report_dir, threads), cores
    )
    done.update(trained)
    if failed:
        raise SystemExit(f"[bootstrap] {failed} failed: see its log above; run the same command again to resume")
    if profile == "default" and args.upgrade:
        start_upgrade(args.report_dir)
    return done


def start_upgrade(report_dir: str) -> int | None:
    """Start ``training.upgrade`` in the background when heads are pending and none runs; returns
    its pid. It stays in this process group, so Ctrl-C in the terminal that runs README command 1
    stops it together with the server."""
    import subprocess

    from mining.settings import settings
    from mining.upgrades import pid_alive, read_record, record_path
    from training.upgrade import pending

    record = read_record(record_path(settings().model_store))
    todo = pending(record)
    if not todo or pid_alive(record.pid):
        return None
    log_path = Path(report_dir) / "upgrade.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log_file:
        child = subprocess.Popen(
            [sys.executable, "-m", "training.upgrade", "--report-dir", report_dir],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    print(
        f"[bootstrap] serving can start now; {len(todo)} heads on the multilingual encoder train in the "
        f"background (pid {child.pid}, log {log_path}) and replace their default models where better on "
        "validation; progress: /readyz or `python -m training.upgrade --status`",
        file=sys.stderr,
        flush=True,
    )
    return child.pid


if __name__ == "__main__":
    main()
