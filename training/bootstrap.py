"""Fetch the data and train every default model the store does not hold yet.

    python -m training.bootstrap                    # default models, ~20 min on 2 CPU cores (README command 1)
    python -m training.bootstrap --profile full     # full-quality models, ~4 h on 2 CPU cores
    python -m training.bootstrap --profile quick    # tiny models in seconds, for tests and smoke runs

The default profile trains every model on real data with shorter schedules and subsamples, so a
fresh machine serves within 30 minutes; its held-out metrics are in docs/training.md beside the full
ones. ``full`` is what the result tables in docs/training.md were measured with.

A model already in the store is never retrained (delete it with ``bentoml models delete`` to
retrain); fetched data is cached (``training.data``), so a second run does nothing.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Callable, Sequence
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
        help="default: real data, short schedules (~20 min); full: the measured models of docs/training.md "
        "(~4 h); quick: tiny models for tests, metrics meaningless",
    )
    parser.add_argument("--quick", action="store_true", help="same as --profile quick")
    parser.add_argument("--report-dir", default="reports", help="where training reports go")
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
    return done


if __name__ == "__main__":
    main()
