"""Measure reply retrieval: does a scorer rank the reply a helpdesk actually gave first?

    python -m training.eval_replies                      # the reported run (reports/replies/metrics.json)
    python -m training.eval_replies --max-queries 30     # a quick smoke run

For each held-out customer turn, the reply that followed it is put among 99 replies drawn at
random (fixed seed) from the other held-out replies of the same language, all distinct texts, and
each scorer ranks the 100: (a) the multilingual encoder, cosine of ``query: `` + turn against the
reply with the prefix chosen on validation (``passage: `` or ``query: ``), (b) BM25 and (c) TF-IDF
cosine of :mod:`mining.replies`, fitted on the replies of the fitting part (as a served index is
fitted on its knowledge base). Texts are prepared as the knowledge base prepares them
(:mod:`training.build_replies`); the customer turn of Bitext is cleaned as a served request is.

Sets:

- ``stc3_zh``: STC-3 Chinese TEST dialogues, every customer turn followed by a helpdesk turn.
  Validation: the TRAIN dialogues with sha256 bucket 0 of 10; the other TRAIN dialogues fit.
- ``bitext_en``: Bitext requests with replies, split by sha256 bucket of the request's template
  (:func:`training.service_data.template_key`): buckets 0-4 test, 5 validation, 6-9 fitting, so no
  test request (nor its template) is in the fitting part; test rankers fit on fitting + validation.
- ``bitext_en_strict``: the test rows whose template is not among the templates of Bitext's
  intent TRAIN file either (the file the intent models train on); all of them, same pools.

A second measurement, of what the 1 + 99 one cannot score (a row's example request: there the
query is the true reply's own request), is :func:`written_sets`: messages written for one of the
shop's written replies each (``reply_queries.csv``, two per reply, never its example request),
the intended reply ranked among the language's written replies, all of them (``all``) or those of
its intent (``intent``, as /reply orders them when the intent is right).

R@1, R@5 and MRR are expectations under a random order of tied scores (a query whose reply ties
with t others and trails g gets R@1 = 1/(t+1) when g = 0), each with a 95% bootstrap interval over
queries; a comparison is ``ahead`` only when its paired interval excludes zero.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mining.contracts import Lang
from mining.replies import Ranker, ReplyEntry, make_ranker
from mining.text import clean
from training.build_replies import en_entry, zh_pairs, zh_text
from training.intervals import bootstrap_ci, mean_of, paired_difference

SEED = 20261210
N_CANDIDATES = 100
PREFIXES = ("passage: ", "query: ")
METRICS = ("r@1", "r@5", "mrr")
REPORT = Path("reports") / "replies" / "metrics.json"


@dataclass(frozen=True)
class EvalSet:
    """Queries with their true replies, the texts the lexical rankers fit on, and the rows of
    ``queries`` each reported subset scores (all for a plain set)."""

    name: str
    queries: list[str]
    replies: list[str]
    fit_docs: list[str]
    subsets: dict[str, list[int]]
    counts: dict[str, int]


def bucket(key: str) -> int:
    """0-9 from the first 8 hex digits of sha256("replies:" + key)."""
    return int(hashlib.sha256(f"replies:{key}".encode()).hexdigest()[:8], 16) % 10


def _sample(n: int, cap: int, rng: np.random.Generator) -> list[int]:
    """Up to ``cap`` of range(n) drawn without replacement, in ascending order."""
    return sorted(rng.choice(n, size=min(cap, n), replace=False).tolist()) if n else []


def stc3_sets(cap: int, val_cap: int, seed: int) -> tuple[EvalSet, EvalSet]:
    """(validation, test) sets of STC-3 Chinese (module docstring)."""
    train = [(d, zh_text(c), zh_text(h)) for d, c, h, _ in zh_pairs("train")]
    train = [p for p in train if p[1] and p[2]]
    test = [(d, zh_text(c), zh_text(h)) for d, c, h, _ in zh_pairs("test")]
    test = [p for p in test if p[1] and p[2]]
    val = [p for p in train if bucket(f"stc3:{p[0]}") == 0]
    fit = [p for p in train if bucket(f"stc3:{p[0]}") != 0]
    out = []
    for name, rows, fit_rows, n in (("stc3_zh", val, fit, val_cap), ("stc3_zh", test, train, cap)):
        idx = _sample(len(rows), n, np.random.default_rng(seed))
        counts = {"pairs": len(rows), "fit_docs": len(fit_rows), "queries": len(idx)}
        qs, rs = [rows[i][1] for i in idx], [rows[i][2] for i in idx]
        out.append(EvalSet(name, qs, rs, [p[2] for p in fit_rows], {name: list(range(len(idx)))}, counts))
    return out[0], out[1]


def bitext_sets(cap: int, val_cap: int, seed: int) -> tuple[EvalSet, EvalSet]:
    """(validation, test) sets of Bitext; the test set also reports ``bitext_en_strict``."""
    from training.service_data import bitext_intents, bitext_replies, template_key

    rows = bitext_replies()
    keys = [template_key(r.request, r.slots) for r in rows]
    parts = [bucket(f"bitext:{k}") for k in keys]
    intent_train = {template_key(u.text, u.slots) for u in bitext_intents("train")}
    fit = [i for i, b in enumerate(parts) if b >= 6]
    val = [i for i, b in enumerate(parts) if b == 5]
    test = [i for i, b in enumerate(parts) if b <= 4]
    strict = [i for i in test if keys[i] not in intent_train]
    if {keys[i] for i in test} & {keys[i] for i in fit + val}:
        raise AssertionError("a test template is in the fitting part")
    reply = {i: en_entry(rows[i]).text for i in fit + val + test}
    counts = {"rows": len(rows), "fit": len(fit), "validation": len(val), "test": len(test), "test_strict": len(strict)}

    v_idx = [val[i] for i in _sample(len(val), val_cap, np.random.default_rng(seed))]
    v_set = EvalSet(
        "bitext_en",
        [clean(rows[i].request) for i in v_idx],
        [reply[i] for i in v_idx],
        [reply[i] for i in fit],
        {"bitext_en": list(range(len(v_idx)))},
        {**counts, "queries": len(v_idx)},
    )
    main = [test[i] for i in _sample(len(test), cap, np.random.default_rng(seed))]
    strict_capped = [strict[i] for i in _sample(len(strict), cap, np.random.default_rng(seed))]
    union = sorted(set(main) | set(strict_capped))
    pos = {row: j for j, row in enumerate(union)}
    t_set = EvalSet(
        "bitext_en",
        [clean(rows[i].request) for i in union],
        [reply[i] for i in union],
        [reply[i] for i in fit + val],
        {"bitext_en": [pos[i] for i in main], "bitext_en_strict": [pos[i] for i in strict_capped]},
        {**counts, "queries": len(main), "queries_strict": len(strict_capped)},
    )
    return v_set, t_set


def candidates(replies: Sequence[str], seed: int, n: int = N_CANDIDATES) -> tuple[list[str], np.ndarray]:
    """(pool of distinct reply texts, (len(replies), n) pool indices): column 0 is each query's
    own reply, the others drawn without replacement from the rest of the pool (all of it when
    smaller)."""
    pool = list(dict.fromkeys(replies))
    where = {t: i for i, t in enumerate(pool)}
    rng = np.random.default_rng(seed)
    k = min(n - 1, len(pool) - 1)
    out = np.zeros((len(replies), k + 1), dtype=np.int64)
    for q, text in enumerate(replies):
        own = where[text]
        others = rng.choice(len(pool) - 1, size=k, replace=False)
        out[q, 0] = own
        out[q, 1:] = others + (others >= own)  # skip the own reply's index
    return pool, out


def rank_metrics(scores: np.ndarray) -> dict[str, np.ndarray]:
    """Per-query R@1, R@5 and reciprocal rank from (n_queries, n_candidates) scores whose column 0
    is the true reply, averaged over the orders of tied scores."""
    own = scores[:, :1]
    g = (scores[:, 1:] > own).sum(axis=1)
    t = (scores[:, 1:] == own).sum(axis=1)
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, scores.shape[1] + 1))])
    out = {f"r@{k}": np.clip((k - g) / (t + 1), 0.0, 1.0) for k in (1, 5)}
    out["mrr"] = (harmonic[g + t + 1] - harmonic[g]) / (t + 1)
    return out


def lexical_scores(ranker: Ranker, queries: Sequence[str], pool: Sequence[str], cand: np.ndarray) -> np.ndarray:
    """(n_queries, n_candidates) ranker scores of each query's candidates."""
    docs = ranker.doc_matrix(pool)
    out = np.zeros(cand.shape)
    for q, text in enumerate(queries):
        out[q] = np.asarray(docs[cand[q]] @ ranker.query_vector(text)).ravel()
    return out


def score_set(ev: EvalSet, seed: int, prefixes: Sequence[str], encoder: bool) -> dict[str, np.ndarray]:
    """(n_queries, n_candidates) scores per method: ``encoder[<prefix>]`` per reply prefix, ``bm25``, ``tfidf``."""
    pool, cand = candidates(ev.replies, seed)
    out = {
        kind: lexical_scores(make_ranker(kind).fit(ev.fit_docs), ev.queries, pool, cand) for kind in ("bm25", "tfidf")
    }
    if encoder:
        from training.encoders import e5_dir, embed

        folder = e5_dir()
        q = embed(folder, ev.queries, "query: ")
        for prefix in prefixes:
            p = embed(folder, pool, prefix)
            sims = q @ p.T
            out[f"encoder[{prefix}]"] = np.take_along_axis(sims, cand, axis=1).astype(np.float64)
    return out


def summarise(per_query: dict[str, dict[str, np.ndarray]], rows: list[int], seed: int) -> dict[str, Any]:
    """Metrics with intervals per method and paired comparisons, over the queries ``rows``."""
    n = len(rows)
    methods: dict[str, Any] = {}
    for name, m in per_query.items():
        methods[name] = {}
        for metric in METRICS:
            v = m[metric][rows]
            methods[name][metric] = round(float(v.mean()), 4)
            methods[name][f"{metric}_ci95"] = bootstrap_ci(mean_of(v), n, seed=seed)
    names = list(per_query)
    comparisons: dict[str, Any] = {}
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            comparisons[f"{a} vs {b}"] = {
                metric: paired_difference(
                    mean_of(per_query[a][metric][rows]), mean_of(per_query[b][metric][rows]), n, seed=seed
                )
                for metric in METRICS
            }
    return {"n_queries": n, "methods": methods, "comparisons": comparisons}


@dataclass(frozen=True)
class WrittenSet:
    """The written shop replies of one language and the messages written for them."""

    lang: Lang
    entries: list[ReplyEntry]  # the language's rows of shop_replies.csv, in file order
    queries: list[str]
    targets: list[int]  # per query, the index in ``entries`` of the reply it was written for


WRITTEN_SETTINGS = ("all", "intent")


def written_sets(split: str, shop: Sequence[ReplyEntry] | None = None) -> list[WrittenSet]:
    """Per language (zh, en), the written replies (``shop``, default: read from
    ``shop_replies.csv``) and the ``split`` (validation / test) messages of ``reply_queries.csv``."""
    from training.build_replies import shop_entries
    from training.service_data import reply_queries

    shop = shop_entries() if shop is None else shop
    messages = reply_queries(split)
    out = []
    langs: tuple[Lang, ...] = ("zh", "en")
    for lang in langs:
        entries = [e for e in shop if e.lang == lang]
        where = {e.request: i for i, e in enumerate(entries)}
        rows = [m for m in messages if m.lang == lang]
        missing = sorted({m.target for m in rows} - set(where))
        if missing:
            raise ValueError(f"reply_queries.csv names {lang} requests no written reply has: {missing[:3]}")
        out.append(WrittenSet(lang, entries, [m.text for m in rows], [where[m.target] for m in rows]))
    return out


def written_rank_metrics(ws: WrittenSet, scores: Sequence[np.ndarray], setting: str) -> dict[str, np.ndarray]:
    """Per-query R@1, R@5 and reciprocal rank of each message's intended reply, from ``scores``
    (per query, (len(ws.entries),) scores of the language's written replies, file order), among
    all of them (``all``) or those of the intended reply's intent (``intent``)."""
    if setting not in WRITTEN_SETTINGS:
        raise ValueError(f"setting must be one of {WRITTEN_SETTINGS}, got {setting!r}")
    rows: dict[str, list[float]] = {m: [] for m in METRICS}
    for s, t in zip(scores, ws.targets, strict=True):
        intent = ws.entries[t].intent
        others = [j for j, e in enumerate(ws.entries) if j != t and (setting == "all" or e.intent == intent)]
        one = rank_metrics(np.concatenate([[s[t]], s[others]])[None, :])
        for m in METRICS:
            rows[m].append(float(one[m][0]))
    return {m: np.array(v) for m, v in rows.items()}


def _log(msg: str, start: float) -> None:
    print(f"[{time.time() - start:6.0f} s] {msg}", file=sys.stderr, flush=True)


def table(result: dict[str, Any]) -> str:
    """The compact text table of a result: one line per set and method, then the comparisons."""
    lines = [f"{'set':<18} {'method':<8} {'n':>4}  {'R@1':<22} {'R@5':<22} {'MRR':<22}"]
    for name, s in result["sets"].items():
        for method, m in s["methods"].items():
            cells = [f"{m[k]:.3f} [{m[k + '_ci95'][0]:.3f}, {m[k + '_ci95'][1]:.3f}]" for k in METRICS]
            lines.append(f"{name:<18} {method:<8} {s['n_queries']:>4}  " + " ".join(f"{c:<22}" for c in cells))
    for name, s in result["sets"].items():
        for pair, c in s["comparisons"].items():
            cells = [
                f"{k} {c[k]['diff']:+.3f} [{c[k]['ci95'][0]:+.3f}, {c[k]['ci95'][1]:+.3f}] {c[k]['verdict']}"
                for k in METRICS
            ]
            lines.append(f"{name:<18} {pair:<18} " + "; ".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the measurement, write it as JSON and print the table; returns the result."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--max-queries", type=int, default=500, help="test queries per set (seeded sample)")
    parser.add_argument("--max-val-queries", type=int, default=200, help="validation queries per set")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the encoder")
    parser.add_argument("--no-encoder", action="store_true", help="lexical rankers only")
    parser.add_argument("--out", type=Path, default=REPORT, help="JSON to write")
    args = parser.parse_args(argv)
    start = time.time()
    if not args.no_encoder:
        import torch

        torch.set_num_threads(args.threads)
    result: dict[str, Any] = {
        "seed": args.seed,
        "n_candidates": N_CANDIDATES,
        "max_queries": args.max_queries,
        "sets": {},
    }
    for loader in (stc3_sets, bitext_sets):
        val, test = loader(args.max_queries, args.max_val_queries, args.seed)
        _log(f"{test.name}: {test.counts}", start)
        val_scores = score_set(val, args.seed, PREFIXES, not args.no_encoder)
        val_mrr = {k: round(float(rank_metrics(s)["mrr"].mean()), 4) for k, s in val_scores.items()}
        prefix = max(PREFIXES, key=lambda p: val_mrr.get(f"encoder[{p}]", -1.0))
        _log(f"{test.name} validation MRR {val_mrr}; reply prefix {prefix!r}", start)
        test_scores = score_set(test, args.seed, (prefix,) if not args.no_encoder else (), not args.no_encoder)
        per_query = {k.split("[")[0]: rank_metrics(s) for k, s in test_scores.items()}
        per_query = {k: per_query[k] for k in ("encoder", "bm25", "tfidf") if k in per_query}
        for subset, rows in test.subsets.items():
            result["sets"][subset] = {
                **summarise(per_query, rows, args.seed),
                "counts": test.counts,
                "validation": {"n_queries": len(val.queries), "mrr": val_mrr},
                "encoder_reply_prefix": None if args.no_encoder else prefix,
            }
        _log(f"{test.name} scored", start)
    result["seconds"] = round(time.time() - start, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    print(table(result))
    return result


if __name__ == "__main__":
    main()
