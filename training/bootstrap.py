"""Fetch the data and train every default model the store does not hold yet.

    python -m training.bootstrap                    # default models, ~30 min on 2 CPU cores (README command 1)
    python -m training.bootstrap --profile full     # full-quality models, ~4 h on 2 CPU cores
    python -m training.bootstrap --profile quick    # tiny models in seconds, for tests and smoke runs

The default profile trains every model on real data with shorter schedules and subsamples, so a
fresh machine serves within 30 minutes; its held-out metrics are in docs/training.md beside the full
ones. ``full`` is what the result tables in docs/training.md were measured with.

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
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mining.registry import MODELS, ModelSpec, Profile
from training.store import has_model


def trainer(spec: ModelSpec) -> Callable[[list[str]], dict[str, Any]]:
    """The ``main(argv) -> dict`` that trains ``spec``."""
    return importlib.import_module(f"training.{spec.trainer}").main


def train(spec: ModelSpec, profile: Profile, extra: Sequence[str] = ()) -> dict[str, Any]:
    """Train one model with its profile's flags plus ``extra`` (later flags win); returns the
    trainer's result, with the new store ``tag``."""
    return trainer(spec)(spec.flags(profile) + list(extra))


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
        "--upgrade",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="default profile: train the multilingual-encoder heads in the background afterwards and swap "
        "in each that beats its default model on validation",
    )
    args = parser.parse_args(argv)
    profile: Profile = "quick" if args.quick else args.profile
    done: dict[str, str] = {}
    start = time.monotonic()
    for i, spec in enumerate(MODELS, 1):
        name = spec.name
        if has_model(name):
            print(f"[bootstrap {i}/{len(MODELS)}] {name}: in the store, not retrained", file=sys.stderr)
            done[name] = "present"
            continue
        print(f"[bootstrap {i}/{len(MODELS)}] {name}: training ({profile}) ...", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        result = train(spec, profile, ["--report-dir", args.report_dir])
        done[name] = result["tag"]
        print(
            f"[bootstrap {i}/{len(MODELS)}] {name}: saved {result['tag']} in {time.monotonic() - t0:.0f} s "
            f"({(time.monotonic() - start) / 60:.1f} min so far)",
            file=sys.stderr,
            flush=True,
        )
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
