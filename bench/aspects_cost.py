"""In-process cost of two versions of an aspect model on the same sentences: what a change to the
extractor or the polarity head costs per text, as the ratio of their rates measured in one run.

    python -m bench.aspects_cost aspects-zh:OLD aspects-zh:NEW [--n 300] [--batch 16] [--rounds 3]

Both models are loaded as served (each quantised as its metadata chose, unless ``--quantize``
names one mode for both) and read the first ``--n``
sentences of the language's deduplicated ABSA test split in batches of ``--batch``, taking turns
``--rounds`` times so that a slower machine phase hits both. Prints sentences/s per round and the
ratio new / old (the slowest rounds, and the fastest); the last line is a JSON object.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import bentoml

from mining.artifacts import quantize, served_quantization
from mining.models.aspects import AspectModel


def _rate(model: AspectModel, texts: list[str], batch: int) -> float:
    """Sentences per second of one pass over ``texts``."""
    t0 = time.perf_counter()
    for i in range(0, len(texts), batch):
        model.predict(texts[i : i + batch])
    return len(texts) / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from training.train_aspects import AspectsConfig, load_rows

    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("old", help="store tag of the model compared against")
    parser.add_argument("new", help="store tag of the changed model")
    parser.add_argument("--n", type=int, default=300, help="test sentences read")
    parser.add_argument("--batch", type=int, default=16, help="sentences a call")
    parser.add_argument("--rounds", type=int, default=3, help="turns each model takes")
    parser.add_argument(
        "--quantize",
        default="served",
        choices=["served", "none", "int8", "int8-channel"],
        help="served: each model as its metadata chose; otherwise this mode for both",
    )
    args = parser.parse_args(argv)

    tags = {"old": args.old, "new": args.new}
    models, modes = {}, {}
    for k, t in tags.items():
        stored = bentoml.models.get(t)
        mode, float_parts = (
            served_quantization(stored.info.metadata) if args.quantize == "served" else (args.quantize, [])
        )
        modes[k] = mode + "".join(f", {p} float32" for p in float_parts)
        models[k] = quantize(AspectModel.load(Path(stored.path)), mode, float_parts)
    langs = {m.lang for m in models.values()}
    if len(langs) != 1:
        raise SystemExit(f"both models must be of one language, got {sorted(langs)}")
    splits, *_ = load_rows(AspectsConfig(lang=langs.pop()))
    texts = [r["text"] for r in splits["test"][: args.n]]
    for m in models.values():
        m.predict(texts[: args.batch])  # warm-up: first-call allocations out of the timing
    rates: dict[str, list[float]] = {k: [] for k in models}
    for _ in range(args.rounds):
        for k, m in models.items():
            rates[k].append(_rate(m, texts, args.batch))
    out = {
        "tags": tags,
        "quantization": modes,
        "sentences": len(texts),
        "rates": {k: [round(r, 1) for r in v] for k, v in rates.items()},
        "ratio_slowest": round(min(rates["new"]) / min(rates["old"]), 2),
        "ratio_fastest": round(max(rates["new"]) / max(rates["old"]), 2),
    }
    for k, v in out["rates"].items():
        print(f"{k:3s} {tags[k]} ({modes[k]}): {v} sentences/s")
    print(f"new / old: {out['ratio_slowest']} (slowest rounds), {out['ratio_fastest']} (fastest)")
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
