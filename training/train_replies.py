"""Build the served reply ranking (store model ``replies``) over the reply knowledge base, choose it
on held-out dialogues' validation part and measure it once on their test part.

    python -m training.train_replies                       # lexical: BM25 or TF-IDF, chosen on validation
    python -m training.train_replies --arch e5             # the multilingual encoder (the staged start's)
    python -m training.train_replies --kb my_replies.csv   # a shop's own knowledge base

The measurement is :mod:`training.eval_replies`': a customer turn's actual next reply among 1 + 99
replies of the same language (STC-3 Chinese test dialogues; Bitext requests held out by template),
R@1 / R@5 / MRR with 95% intervals. What is chosen, on the validation queries only: for ``lexical``
the ranker kind, for ``e5`` the prefixes put before a message and before a reply (a message
without a prefix has the same pieces as the heads read, so a runner serving both runs the
encoder's shared bottom once for it). The selection score ``val_mrr`` is the mean of the two sets'
validation MRR. The baseline is the best lexical ranker chosen the same way (for ``lexical``, the
kind not chosen).

Then the weight of the example requests (:mod:`mining.models.reply_ranker`), which that
measurement cannot score, is chosen among :data:`REQUEST_WEIGHTS` on the validation messages of
the written shop replies (:func:`training.eval_replies.written_sets`; the mean MRR of its two
settings, both languages pooled; ties to the smaller weight) and measured on their test messages
against the same ranker on the reply texts alone and BM25 over the requests alone.

The knowledge base is not a training set: it is what the served model ranks (its rows and, for
``e5``, a vector per reply and per example request), so a new knowledge base needs this script run on it; the gateway
uses the model only for the file whose sha256 it recorded.
"""

from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mining.contracts import ReplyQuery
from mining.models.reply_ranker import ENCODER_KIND, ReplyRanker, blend
from mining.replies import ReplyEntry, load_kb, make_ranker
from training.common import fingerprint, parse_config
from training.eval_replies import (
    METRICS,
    SEED,
    WRITTEN_SETTINGS,
    EvalSet,
    WrittenSet,
    bitext_sets,
    candidates,
    lexical_scores,
    rank_metrics,
    stc3_sets,
    summarise,
    written_rank_metrics,
    written_sets,
)
from training.run import Report, Saved, TrainConfig, finish_run, setup_run

LEXICAL = ("bm25", "tfidf")
QUERY_PREFIXES = ("", "query: ")
DOC_PREFIXES = ("passage: ", "query: ")
TABLE_METRICS = ("r@1", "mrr")
REQUEST_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass
class RepliesConfig(TrainConfig):
    """Build and measure the reply ranking served by /reply."""

    seed: int = field(default=SEED, metadata={"help": "seed of the query samples, candidates and bootstrap"})
    arch: str = field(default="lexical", metadata={"help": "lexical (BM25 or TF-IDF) or e5 (multilingual encoder)"})
    kb: str = field(default="", metadata={"help": "knowledge-base CSV (default: the DEMAND_MINING_REPLIES setting)"})
    max_queries: int = field(default=500, metadata={"help": "test queries per set (seeded sample)"})
    max_val_queries: int = field(default=200, metadata={"help": "validation queries per set"})
    frozen_layers: int = field(
        default=8, metadata={"help": "encoder layers marked frozen, as the heads': their pass is shared at serving"}
    )
    max_len: int = field(default=128, metadata={"help": "encoder pieces per text"})
    batch: int = field(default=32, metadata={"help": "texts per encoder batch"})


def _log(msg: str, start: float) -> None:
    print(f"[replies {time.time() - start:5.0f} s] {msg}", file=sys.stderr, flush=True)


def _mrr(scores: np.ndarray) -> float:
    return float(rank_metrics(scores)["mrr"].mean())


def _lexical(kind: str, ev: EvalSet, seed: int) -> np.ndarray:
    pool, cand = candidates(ev.replies, seed)
    return lexical_scores(make_ranker(kind).fit(ev.fit_docs), ev.queries, pool, cand)  # type: ignore[arg-type]


def _encoder_scores(encoder: Any, ev: EvalSet, seed: int, q_prefix: str, d_prefix: str) -> np.ndarray:
    pool, cand = candidates(ev.replies, seed)
    sims = encoder.embed(ev.queries, q_prefix) @ encoder.embed(pool, d_prefix).T
    return np.take_along_axis(sims, cand, axis=1).astype(np.float64)


def _load_encoder(cfg: RepliesConfig) -> Any:
    from mining.artifacts import load_encoder
    from mining.models.sentence import SentenceEncoder
    from training.encoders import e5_dir

    encoder, tokenizer = load_encoder(e5_dir())
    return SentenceEncoder(encoder.freeze_bottom(cfg.frozen_layers), tokenizer, cfg.max_len)


def choose(
    cfg: RepliesConfig, vals: list[EvalSet], encoder: Any, start: float
) -> tuple[dict[str, Any], dict[str, Any], dict[str, float]]:
    """(model choice, baseline choice, validation MRR of every candidate) on the validation sets;
    a choice is ``{"kind", "val_mrr"}`` plus the prefixes for ``e5``."""
    val_mrr: dict[str, float] = {}
    for kind in LEXICAL:
        val_mrr[kind] = float(np.mean([_mrr(_lexical(kind, ev, cfg.seed)) for ev in vals]))
    best_lexical = max(LEXICAL, key=lambda k: (val_mrr[k], k == "bm25"))
    lexical = {"kind": best_lexical, "val_mrr": round(val_mrr[best_lexical], 4)}
    if encoder is None:
        other = next(k for k in LEXICAL if k != best_lexical)
        return lexical, {"kind": other, "val_mrr": round(val_mrr[other], 4)}, val_mrr
    for q in QUERY_PREFIXES:
        for d in DOC_PREFIXES:
            scores = [_encoder_scores(encoder, ev, cfg.seed, q, d) for ev in vals]
            val_mrr[f"e5[{q!r}, {d!r}]"] = float(np.mean([_mrr(s) for s in scores]))
            _log(f"validation e5 query prefix {q!r}, reply prefix {d!r}: MRR {val_mrr[f'e5[{q!r}, {d!r}]']:.4f}", start)
    # Ties go to the prefix-free query: it shares the heads' encoder pass.
    q, d = max(
        ((q, d) for q in QUERY_PREFIXES for d in DOC_PREFIXES),
        key=lambda p: (val_mrr[f"e5[{p[0]!r}, {p[1]!r}]"], p[0] == ""),
    )
    model = {
        "kind": ENCODER_KIND,
        "query_prefix": q,
        "doc_prefix": d,
        "val_mrr": round(val_mrr[f"e5[{q!r}, {d!r}]"], 4),
    }
    return model, lexical, val_mrr


def measure(
    cfg: RepliesConfig, tests: list[EvalSet], model: dict[str, Any], baseline: dict[str, Any], encoder: Any
) -> dict[str, Any]:
    """Test metrics of the model and the baseline per reported subset, with paired comparisons."""
    out: dict[str, Any] = {}
    for ev in tests:
        per_query = {}
        for role, choice in (("model", model), ("baseline", baseline)):
            if choice["kind"] == ENCODER_KIND:
                s = _encoder_scores(encoder, ev, cfg.seed, choice["query_prefix"], choice["doc_prefix"])
            else:
                s = _lexical(choice["kind"], ev, cfg.seed)
            per_query[role] = rank_metrics(s)
        for subset, rows in ev.subsets.items():
            out[subset] = summarise(per_query, rows, cfg.seed)
    return out


Parts = list[list[tuple[np.ndarray, np.ndarray | None]]]


def _written_parts(ranker: ReplyRanker, sets: list[WrittenSet]) -> Parts:
    """Per set, per message, (reply-text scores, request scores) of the set's written replies."""
    return [ranker.score_parts([ReplyQuery(text=q, lang=ws.lang) for q in ws.queries]) for ws in sets]


def _written_metrics(sets: list[WrittenSet], parts: Parts, weight: float, setting: str) -> dict[str, np.ndarray]:
    """Per-message metrics of every set, concatenated in set order."""
    per_set = [
        written_rank_metrics(ws, [blend(t, r, weight) for t, r in p], setting)
        for ws, p in zip(sets, parts, strict=True)
    ]
    return {m: np.concatenate([x[m] for x in per_set]) for m in METRICS}


def choose_request_weight(sets: list[WrittenSet], parts: Parts) -> tuple[float, dict[str, float]]:
    """(weight, validation score of each weight): the mean over :data:`WRITTEN_SETTINGS` of the
    MRR of every validation message, both languages pooled; ties to the smaller weight."""
    score = {
        str(w): float(np.mean([_written_metrics(sets, parts, w, st)["mrr"].mean() for st in WRITTEN_SETTINGS]))
        for w in REQUEST_WEIGHTS
    }
    best = max(REQUEST_WEIGHTS, key=lambda w: (round(score[str(w)], 10), -w))
    return best, score


def measure_written(sets: list[WrittenSet], parts: Parts, weight: float, bm25: Parts, seed: int) -> dict[str, Any]:
    """Test metrics per ``<lang>_<setting>`` of the model at ``weight``, the same ranker on the
    reply texts alone (weight 0, as served before) and BM25 over the requests alone (as /reply
    ranks a knowledge base without a model), with paired comparisons."""
    out: dict[str, Any] = {}
    for i, ws in enumerate(sets):
        for setting in WRITTEN_SETTINGS:
            per_query = {
                "model": _written_metrics([ws], [parts[i]], weight, setting),
                "texts alone": _written_metrics([ws], [parts[i]], 0.0, setting),
                "bm25 requests": _written_metrics([ws], [bm25[i]], 1.0, setting),
            }
            out[f"{ws.lang}_{setting}"] = summarise(per_query, list(range(len(ws.queries))), seed)
    return out


def read_kb(cfg: RepliesConfig) -> tuple[list[ReplyEntry], str]:
    """(the knowledge base's entries, its sha256), read before anything is measured so that a
    missing or malformed file stops the run at once, naming the problem.

    Raises:
        SystemExit: the file cannot be read or a row breaks the table's rules.
    """
    from mining.settings import settings

    path = Path(cfg.kb) if cfg.kb else settings().replies
    try:
        entries = load_kb(path)
        return entries, hashlib.sha256(path.read_bytes()).hexdigest()
    except (OSError, ValueError) as e:
        raise SystemExit(f"--kb {path}: {e}") from None


def _flat(result: dict[str, Any], role: str) -> dict[str, float]:
    return {f"{subset}_{metric}": s["methods"][role][metric] for subset, s in result.items() for metric in METRICS}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Choose on validation, measure on test, build over the knowledge base, save. Returns the metrics."""
    cfg = parse_config(RepliesConfig, argv)
    if cfg.arch not in ("lexical", ENCODER_KIND):
        raise SystemExit(f"--arch must be lexical or {ENCODER_KIND}, got {cfg.arch!r}")
    setup_run(cfg)
    entries, kb_sha256 = read_kb(cfg)
    start = time.time()
    pairs = [loader(cfg.max_queries, cfg.max_val_queries, cfg.seed) for loader in (stc3_sets, bitext_sets)]
    vals, tests = [p[0] for p in pairs], [p[1] for p in pairs]
    encoder = _load_encoder(cfg) if cfg.arch == ENCODER_KIND else None
    model, baseline, val_mrr = choose(cfg, vals, encoder, start)
    _log(f"chosen on validation: {model}; baseline {baseline}", start)
    result = measure(cfg, tests, model, baseline, encoder)
    _log("test measured", start)
    lexical_kind = baseline["kind"] if model["kind"] == ENCODER_KIND else model["kind"]
    if encoder is not None:
        encoder.query_prefix, encoder.doc_prefix = model["query_prefix"], model["doc_prefix"]
    from training.build_replies import shop_entries

    written_rows = shop_entries()
    shop = ReplyRanker.build(written_rows, "", model["kind"], encoder, lexical_kind)
    written_val, written_test = written_sets("validation", written_rows), written_sets("test", written_rows)
    weight, weight_scores = choose_request_weight(written_val, _written_parts(shop, written_val))
    _log(f"request weight chosen on the written replies' validation messages: {weight} ({weight_scores})", start)
    bm25 = ReplyRanker.build(written_rows, "", "bm25")
    written = measure_written(
        written_test, _written_parts(shop, written_test), weight, _written_parts(bm25, written_test), cfg.seed
    )
    # The served ranking over the knowledge base: lexical rankers of the reply texts and the requests,
    # for e5 also every reply's and request's vector.
    ranker = ReplyRanker.build(entries, kb_sha256, model["kind"], encoder, lexical_kind, weight)
    _log(f"knowledge base indexed: {ranker.index.ids and {k: len(v) for k, v in ranker.index.ids.items()}}", start)
    written_flat = {f"written_{key}_{m}": r["methods"]["model"][m] for key, r in written.items() for m in TABLE_METRICS}
    metrics = {"val_mrr": model["val_mrr"], **_flat(result, "model"), **written_flat}
    baseline_metrics = {"val_mrr": baseline["val_mrr"], **_flat(result, "baseline")}
    comparisons = {s: r["comparisons"]["model vs baseline"] for s, r in result.items()}
    # The model table's rows (docs/results.md): each set's R@1 and MRR with its interval and the paired difference.
    ci95 = {f"{s}_{m}": r["methods"]["model"][f"{m}_ci95"] for s, r in result.items() for m in TABLE_METRICS}
    vs_baseline = {
        f"{s}_{m}": {"baseline": baseline["kind"], **comparisons[s][m]} for s in result for m in TABLE_METRICS
    }
    val_rows = [f"{ev.name}\t{q}\t{r}" for ev in vals for q, r in zip(ev.queries, ev.replies, strict=True)]
    data_meta = {
        "name": "reply knowledge base; STC-3 zh test dialogues and Bitext requests held out by template",
        "sha256": ranker.kb_sha256,
        "val_sha256": fingerprint(val_rows),
        "n_train": len(ranker.index.entries),
        "n_val": len(val_rows),
        "n_test": sum(len(ev.queries) for ev in tests),
    }
    summary = "\n".join(
        f"[replies] {subset} MRR {s['methods']['model']['mrr']:.3f} ({model['kind']}) vs "
        f"{s['methods']['baseline']['mrr']:.3f} ({baseline['kind']}): "
        f"{comparisons[subset]['mrr']['diff']:+.3f} {comparisons[subset]['mrr']['verdict']}"
        for subset, s in result.items()
    )
    summary += "\n" + "\n".join(
        f"[replies] written {key} MRR {r['methods']['model']['mrr']:.3f} (request weight {weight}) vs "
        f"{r['methods']['texts alone']['mrr']:.3f} (texts alone): "
        f"{r['comparisons']['model vs texts alone']['mrr']['diff']:+.3f} "
        f"{r['comparisons']['model vs texts alone']['mrr']['verdict']}; "
        f"BM25 over the requests {r['methods']['bm25 requests']['mrr']:.3f}"
        for key, r in written.items()
    )
    payload = {
        "model": model,
        "baseline": baseline,
        "validation_mrr": val_mrr,
        "test": result,
        "request_weight": {"chosen": weight, "validation": weight_scores},
        "written_test": written,
    }
    params = {
        **vars(cfg),
        "query_prefix": model.get("query_prefix"),
        "doc_prefix": model.get("doc_prefix"),
        "request_weight": weight,
    }
    return finish_run(
        cfg,
        "replies",
        {"metrics": metrics, "baseline_metrics": baseline_metrics, "comparisons": comparisons},
        metrics=metrics,
        baseline_metrics=baseline_metrics,
        summary=summary,
        report=Report(payload, score_name="mrr"),
        saved=lambda: Saved(
            "replies",
            None,
            model["kind"],
            ranker.save,
            data_meta,
            metadata={
                "ci95": ci95,
                "vs_baseline": vs_baseline,
                "quantization": {"mode": "none"},
                "written": {"request_weight": weight, "test": written},
            },
            params={k: v for k, v in params.items() if v is not None},
        ),
    )


if __name__ == "__main__":
    main()
