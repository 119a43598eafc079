"""What the staged start's second stage costs the service: ``/mine`` and ``/reply`` on two servers
over the same model store, one serving every model's latest version, the other pinned (by the
``<NAME>_MODEL`` settings) to the version each encoder head replaced, as the store's
``upgrades.json`` records it. Both are up at once and each cell is measured on one right after the
other, in alternating order.

    python -m bench.stages                                  # the store of BENTOML_HOME, 6 s per cell
    python -m bench.stages --seconds 3 --pin replies=replies:abc123

Every text sent is new to the servers (:func:`bench.run.fresh`): a request's texts are drawn from
the payload pools (real reviews; real customer-service turns for ``/reply``) and end in a number no
request used before. Prints requests/s and p50 / p95 per cell and the
ratio stage 2 / stage 1; writes ``reports/bench/stages.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.run import ROOT, Cell, _pool, alternating, fresh, serve
from bench.servers import ServerGroup

CONCURRENCY = (1, 16)


def _mine(langs: tuple[str, ...]) -> Callable[[], dict[str, Any]]:
    return lambda: {"texts": [fresh(random.choice(_pool(f"reviews_{lang}"))) for lang in langs]}


def service_turns() -> dict[str, list[str]]:
    """Real customer turns per language: the labelled Chinese turns and Bitext's test requests."""
    from training.service_data import bitext_intents, zh_turns

    return {"zh": [t.text for t in zh_turns()], "en": [u.text for u in bitext_intents("test")]}


def _reply(lang: str, turns: dict[str, list[str]]) -> Callable[[], dict[str, Any]]:
    return lambda: {"text": fresh(random.choice(turns[lang])), "k": 3}


def service_cells(turns: dict[str, list[str]]) -> dict[str, Cell]:
    """The cells both comparisons measure: ``/mine`` with two texts a request (Chinese, English,
    one of each) and ``/reply`` with one customer turn per language."""
    return {
        "mine zh": ("/mine", _mine(("zh", "zh"))),
        "mine en": ("/mine", _mine(("en", "en"))),
        "mine mixed": ("/mine", _mine(("zh", "en"))),
        "reply zh": ("/reply", _reply("zh", turns)),
        "reply en": ("/reply", _reply("en", turns)),
    }


def stage_one_pins(store_home: Path) -> dict[str, str]:
    """``<NAME>_MODEL`` -> the tag each swapped model replaced, from the store's upgrade record."""
    from mining.registry import MODELS
    from mining.upgrades import read_record, record_path

    record = read_record(record_path(store_home))
    env = {spec.name: spec.env for spec in MODELS}
    return {env[name]: e.served for name, e in record.models.items() if e.state == "swapped" and e.served}


def measure(urls: dict[str, str], cells: dict[str, Cell], seconds: float) -> dict[str, dict[str, dict[str, Any]]]:
    """label -> cell -> concurrency -> load result, cells alternating between the servers, with
    the ratio of the first server's requests/s to the second's per line."""
    print(f"{'cell':<10} {'c':>3}  " + " | ".join(f"{label:>26}" for label in urls) + " | ratio")

    def row(name: str, c: int, results: list[dict[str, Any]]) -> str:
        ratio = results[0]["rps"] / results[1]["rps"] if results[1]["rps"] else float("nan")
        errors = [r["errors"] for r in results]
        return (
            f"{name:<10} {c:>3}  "
            + " | ".join(f"{r['rps']:>7.1f} req/s {r['p50_ms']:>6.0f} / {r['p95_ms']:>6.0f}" for r in results)
            + f" | {ratio:.2f}"
            + (f"  non-200: {errors}" if any(errors) else "")
        )

    return alternating(urls, cells, CONCURRENCY, seconds, row)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="measured window per cell")
    parser.add_argument("--pin", action="append", default=[], help="NAME=TAG pinned on the stage-1 server too")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench" / "stages.json")
    args = parser.parse_args(argv)
    from mining.settings import settings

    home = settings().model_store
    pins = stage_one_pins(home)
    from mining.registry import MODELS

    for pin in args.pin:
        name, _, tag = pin.partition("=")
        spec = next((s for s in MODELS if s.name == name), None)
        if spec is None or not tag:
            raise SystemExit(f"--pin {pin!r}: expected NAME=TAG with NAME one of {[s.name for s in MODELS]}")
        pins[spec.env] = tag
    if not pins:
        raise SystemExit(f"{home}: no upgrade record with swapped models and no --pin: nothing to compare")
    print(f"stage-1 server pins: {pins}", file=sys.stderr, flush=True)
    cells = service_cells(service_turns())
    random.seed(0)
    with tempfile.TemporaryDirectory() as tmp, ServerGroup() as servers:
        logs = Path(tmp)
        _, latest = serve(servers, True, logs, logs / "events-2.db")
        _, first = serve(servers, True, logs, logs / "events-1.db", extra=pins)
        result = measure({"stage 2": latest, "stage 1": first}, cells, args.seconds)
    out = {"store": str(home), "pins": pins, "seconds": args.seconds, "cells": result}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1), encoding="utf-8")
    return out


if __name__ == "__main__":
    main()
