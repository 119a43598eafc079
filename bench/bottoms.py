"""What a quantised encoder bottom buys the service: ``/mine`` and ``/reply`` on two servers over
the same model store, one serving the frozen bottoms as ``DEMAND_MINING_BOTTOM_QUANTIZATION`` says
(``--mode``), the other float32. Both are up at once and each cell is measured on one right after
the other, in alternating order, with texts new to both (as :mod:`bench.stages`).

    python -m bench.bottoms                       # bf16 against float32, 6 s per cell
    python -m bench.bottoms --mode int8 --seconds 3

Prints requests/s and p50 / p95 per cell and the ratio quantised / float32; writes
``reports/bench/bottoms.json``. Which mode may serve is decided on validation, not here
(``python -m training.eval_bottom_quantization``).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from pathlib import Path
from typing import Any

from bench.run import ROOT, serve
from bench.servers import ServerGroup
from bench.stages import measure, service_cells, service_turns


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from mining.settings import BOTTOM_QUANTIZATIONS, settings

    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--mode", default="bf16", choices=[m for m in BOTTOM_QUANTIZATIONS if m != "none"])
    parser.add_argument("--seconds", type=float, default=6.0, help="measured window per cell")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench" / "bottoms.json")
    args = parser.parse_args(argv)
    cells = service_cells(service_turns())
    random.seed(0)
    with tempfile.TemporaryDirectory() as tmp, ServerGroup() as servers:
        logs = Path(tmp)
        env = "DEMAND_MINING_BOTTOM_QUANTIZATION"
        _, quantised = serve(servers, True, logs, logs / "events-q.db", {env: args.mode}, label=args.mode)
        _, plain = serve(servers, True, logs, logs / "events-f.db", {env: "none"}, label="float32")
        result = measure({args.mode: quantised, "float32": plain}, cells, args.seconds)
    out = {"store": str(settings().model_store), "mode": args.mode, "seconds": args.seconds, "cells": result}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1), encoding="utf-8")
    return out


if __name__ == "__main__":
    main()
