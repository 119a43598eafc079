"""Fine-tuning above a frozen encoder bottom, with and without caching each text's bottom states
(:func:`mining.models.bert.cached_bottom`, what ``--bottom-cache-mb`` turns on in the text
classifiers' training). Both runs train the same head on the same customer-service texts (Bitext
requests and the labelled Chinese turns, each repeated as the intent training repeats its
hand-labelled turns) in the same order from the same seed; the bench prints each run's seconds,
their ratio, and how far the two trained heads' logits on held-back texts are apart.

    python -m bench.train_cache                      # 600 texts x 4, 2 epochs: a few minutes on 2 cores
    python -m bench.train_cache --texts 200 --epochs 3

Writes ``reports/bench/train_cache.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mining.artifacts import load_encoder
from mining.models.bert import cached_bottom
from mining.models.textclf import EncoderClassifier, EncoderModel
from training.encoders import e5_dir
from training.service_data import LABELS, bitext_intents, zh_turns


def _train(texts: list[str], y: np.ndarray, probe: list[str], args: argparse.Namespace, cache: bool) -> dict[str, Any]:
    """Seconds of ``args.epochs`` epochs over ``texts`` and the trained head's (len(probe), len(LABELS)) logits."""
    torch.manual_seed(0)
    encoder, tok = load_encoder(e5_dir())
    net = EncoderClassifier(encoder.freeze_bottom(args.frozen_layers), len(LABELS))
    model = EncoderModel(net, tok, list(LABELS), args.max_len)
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=2e-4)
    order = np.random.default_rng(0)
    net.train()
    context = cached_bottom(encoder, len(set(texts))) if cache else nullcontext()
    start = time.perf_counter()
    with context:
        for _ in range(args.epochs):
            for idx in np.array_split(order.permutation(len(texts)), max(1, len(texts) // 32)):
                opt.zero_grad(set_to_none=True)
                loss = torch.nn.functional.cross_entropy(
                    net(**model.encode([texts[i] for i in idx])), torch.as_tensor(y[idx])
                )
                loss.backward()
                opt.step()
    seconds = time.perf_counter() - start
    net.eval()
    with torch.inference_mode():
        logits = net(**model.encode(probe))
    return {"seconds": seconds, "logits": logits}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--texts", type=int, default=600, help="distinct training texts (half Bitext, half Chinese turns)")
    ap.add_argument("--repeat", type=int, default=4, help="times each text is a training row per epoch")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--frozen-layers", type=int, default=8)
    ap.add_argument("--max-len", type=int, default=64)
    ap.add_argument("--out", default="reports/bench/train_cache.json")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(1)
    en, zh = bitext_intents("train"), zh_turns("train")
    picked = [en[i] for i in rng.permutation(len(en))[: args.texts // 2]]
    picked += [zh[i] for i in rng.permutation(len(zh))[: args.texts - args.texts // 2 + 40]]
    rows, probe = picked[:-40], [t.text for t in picked[-40:]]
    texts = [t.text for t in rows] * args.repeat
    y = np.array([LABELS.index(t.label) for t in rows] * args.repeat, dtype=np.int64)
    plain = _train(texts, y, probe, args, cache=False)
    cached = _train(texts, y, probe, args, cache=True)
    result = {
        "rows_per_epoch": len(texts),
        "distinct_texts": len(rows),
        "epochs": args.epochs,
        "seconds_uncached": round(plain["seconds"], 1),
        "seconds_cached": round(cached["seconds"], 1),
        "speedup": round(plain["seconds"] / cached["seconds"], 2),
        "max_abs_logit_difference": float((plain["logits"] - cached["logits"]).abs().max()),
    }
    print(
        f"{result['rows_per_epoch']} rows/epoch ({result['distinct_texts']} distinct) x {args.epochs} epochs: "
        f"uncached {result['seconds_uncached']} s, cached {result['seconds_cached']} s, "
        f"x{result['speedup']}; trained heads' logits differ by at most {result['max_abs_logit_difference']:.2e}"
    )
    print(json.dumps(result))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
