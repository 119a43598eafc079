"""Chinese written in Traditional characters, with known answers: validation texts of the stored
``sentiment-zh`` and ``aspects-zh`` rewritten character by character in Traditional script, read as
sent (the Traditional-to-Simplified step of :func:`mining.text.normalize` switched off) and as
served (normalised back to Simplified).

    python -m training.eval_traditional [--n 1500] [--seed 0]

Why: every Chinese model learnt from Simplified text, and shops in Taiwan and Hong Kong write
Traditional characters. Rewriting validation texts keeps every label and every aspect offset
(one character for one) and touches no test text.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from mining import text as text_mod
from training.intervals import mean_of, paired_difference


@contextlib.contextmanager
def read_as_sent() -> Iterator[None]:
    """Inside: Traditional characters stay as sent wherever the table is read (:func:`mining.text.normalize`
    and the aspect model's :func:`mining.models.aspects.fold`), as before the step existed."""
    from mining.models import aspects

    kept = text_mod.traditional_to_simplified
    text_mod.traditional_to_simplified = aspects.traditional_to_simplified = dict  # type: ignore[assignment]
    try:
        yield
    finally:
        text_mod.traditional_to_simplified = aspects.traditional_to_simplified = kept


def sentiment_scores(n: int, seed: int, to_traditional: dict[int, str]) -> dict[str, Any]:
    """Accuracy of the stored ``sentiment-zh`` on ``n`` validation reviews: Simplified, Traditional
    as sent, Traditional as served; and served minus as sent with its paired interval."""
    from training.store import served_text_classifier
    from training.train_sentiment import SentimentConfig, load_reviews

    splits, _, _ = load_reviews(SentimentConfig(lang="zh"))
    val = splits["val"]
    idx = np.random.default_rng(seed).permutation(len(val.texts))[:n]
    texts, y = [val.texts[i] for i in idx], np.asarray([val.y[i] for i in idx])
    model, _, tag = served_text_classifier("sentiment-zh:latest")
    traditional = [t.translate(to_traditional) for t in texts]
    right = {"simplified": model.predict_proba(texts).argmax(1) == y}
    with read_as_sent():
        right["traditional_as_sent"] = model.predict_proba(traditional).argmax(1) == y
    right["traditional_served"] = model.predict_proba([text_mod.normalize(t) for t in traditional]).argmax(1) == y
    out: dict[str, Any] = {"model": tag, "n": len(y)}
    out.update({f"accuracy_{k}": float(v.mean()) for k, v in right.items()})
    out["served_minus_as_sent"] = paired_difference(
        mean_of(right["traditional_served"]), mean_of(right["traditional_as_sent"]), len(y)
    )
    return out


def aspect_scores(to_traditional: dict[int, str]) -> dict[str, Any]:
    """Extraction F1 of the stored ``aspects-zh`` on its validation clauses, in the three readings."""
    import bentoml

    from mining.models.aspects import AspectModel
    from training.train_aspects import AspectsConfig, load_rows

    stored = bentoml.models.get("aspects-zh:latest")
    model, tag = AspectModel.load(Path(stored.path)), str(stored.tag)
    rows = load_rows(AspectsConfig(lang="zh"))[0]["val"]
    gold = [{(a["start"], a["end"]) for a in r["aspects"]} for r in rows]

    def f1(texts: list[str]) -> float:
        pred = [{(s, e) for s, e, _ in spans} for spans in model.extract(texts)]
        tp = sum(len(g & p) for g, p in zip(gold, pred, strict=True))
        return 2 * tp / (sum(map(len, pred)) + sum(map(len, gold)))

    texts = [r["text"] for r in rows]
    traditional = [t.translate(to_traditional) for t in texts]
    with read_as_sent():
        as_sent = f1(traditional)
    return {
        "model": tag,
        "n_clauses": len(rows),
        "extraction_f1_simplified": f1(texts),
        "extraction_f1_traditional_as_sent": as_sent,
        "extraction_f1_traditional_served": f1(traditional),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Print and return both models' scores in the three readings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1500, help="validation reviews for sentiment")
    parser.add_argument("--seed", type=int, default=0, help="which validation reviews")
    args = parser.parse_args(argv)
    to_traditional = text_mod.character_table("STCharacters.txt")
    out = {
        "sentiment_zh": sentiment_scores(args.n, args.seed, to_traditional),
        "aspects_zh": aspect_scores(to_traditional),
    }
    json.dump(out, sys.stdout, indent=1, ensure_ascii=False)
    print()
    return out


if __name__ == "__main__":
    main()
