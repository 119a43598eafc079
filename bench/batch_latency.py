"""In-process latency of the sentiment models per batch size: the measurement behind the runner's
``max_batch_size`` / ``max_latency_ms``.

    python -m bench.batch_latency [--repeats 5] [--threads 2]

Texts are real reviews of median length from the built-in reviews table. Prints a table and, as
the last line, a JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import bentoml
import torch

from mining.models.textclf import load_artifact
from mining.text import detect_language
from training import data


def median_length_texts(lang: str, n: int) -> list[str]:
    """``n`` real reviews of ``lang`` whose lengths sit around the median."""
    df = data.read_table(data.reviews_table(), data.REVIEWS)
    texts = sorted((t for t, lg in zip(df["text"], df["lang"]) if lg == lang), key=len)
    mid = len(texts) // 2
    return texts[mid - n // 2 : mid - n // 2 + n]


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per batch size (median reported)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--batch-sizes", default="1,8,32,64", help="comma-separated batch sizes")
    parser.add_argument("--langs", default="zh,en", help="comma-separated model languages to measure")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    out: dict[str, dict[str, float]] = {}
    print(f"{'model':<14}{'batch':>6}{'median ms':>11}{'texts/s':>9}")
    for lang in args.langs.split(","):
        model = load_artifact(Path(bentoml.models.get(f"sentiment-{lang}:latest").path), torch.device("cpu"))
        texts = median_length_texts(lang, max(sizes))
        assert all(detect_language(t) == lang for t in texts[:5])
        model.predict_proba(texts[:8])  # warm-up
        for bs in sizes:
            runs = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                model.predict_proba(texts[:bs], batch_size=bs)
                runs.append(time.perf_counter() - t0)
            ms = statistics.median(runs) * 1000
            out[f"{lang}_bs{bs}"] = {"median_ms": round(ms, 2), "texts_per_s": round(bs / ms * 1000, 1)}
            print(f"sentiment-{lang:<4}{bs:>6}{ms:>11.1f}{bs / ms * 1000:>9.1f}")
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
