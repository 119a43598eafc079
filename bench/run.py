"""Serving benchmarks, all on the same models in one run so ratios hold on a noisy machine.

    python -m bench            # ~13 min on 2 cores, 8 s windows
    python -m bench --quick    # < 5 min; 1.2 s windows

1. The limit: each runner in process (no HTTP) at batch sizes 1, 8, 32, 64 with 1 and 2 torch threads.
2. Served: throughput and p50/p95/p99 at concurrency 1, 16, 64, one item per request, for every
   runner's endpoint and /mine, with adaptive batching on and off (two servers, both up, each cell
   measured on both back to back in alternating order); then the no-model floor, a request that
   runs no model, which bounds what batching can give.
3. The naive peer: the English sentiment model behind a minimal FastAPI/uvicorn server.
4. Cold start: process start to /readyz 200 for the whole service, then the first /mine latency.
5. After a burst: p50 at concurrency 1 on a fresh server, and again right after concurrency 64.
6. /mine cost: Chinese, English and mixed pairs of texts, with and without a user id, at
   concurrency 16 and 64, beside a third server running the same code with the shared encoder,
   int8 quantisation and lone-request threads switched off; resident and private memory of both
   (weights are memory-mapped, so workers share them); the accuracy each served
   model gives up for it (store metadata).

Prints a table per part and, as the last line, one JSON object with the headline keys. Writes the
whole result to ``reports/bench/bench.json``. Models come from the store (``latest`` tags).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import json
import os
import random
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.servers import Server, ServerGroup
from bench.stats import batching_ceiling, ratios, summarize, verdict, worse_cells
from gateway.schemas import MAX_TEXT_CHARS

ROOT = Path(__file__).resolve().parents[1]


@functools.cache
def payloads() -> dict[str, list[Any]]:
    """Real texts, users and series from the data sets (``python -m bench.payloads`` builds them)."""
    return json.loads((ROOT / "loadtests" / "payloads.json").read_text(encoding="utf-8"))


CONCURRENCY = (1, 16, 64)
BATCH_SIZES = (1, 8, 32, 64)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- payloads: one item per request ----------------------------------------------------------------
@functools.cache
def _pool(*keys: str) -> list[Any]:
    # Built once: the load generator draws from it for every request.
    return [x for k in keys for x in payloads()[k]]


def _one(*keys: str) -> Callable[[], Any]:
    """A random item from the payload lists ``keys`` on each call."""
    return lambda: random.choice(_pool(*keys))


# Texts end in a number no request used before: the pools (200 texts a language) fit the encoders'
# per-text cache of bottom states (512 texts), so repeated texts would measure the cache, not the
# model (docs/benchmarks.md#benchmarks). Within one request the heads still share a text's pass.
_FRESH = itertools.count(1)


def fresh(text: str) -> str:
    """``text`` ending in a number no earlier call returned, cut to stay within the API's limit."""
    tail = f" {next(_FRESH)}"
    return text[: MAX_TEXT_CHARS - len(tail)] + tail


def _text(*keys: str) -> Callable[[], str]:
    """A random text of the payload lists ``keys``, made new by :func:`fresh`, on each call."""
    return lambda: fresh(random.choice(_pool(*keys)))


def _texts(*keys: str) -> Callable[[], dict[str, Any]]:
    one = _text(*keys)
    return lambda: {"texts": [one()]}


ENDPOINTS: dict[str, tuple[str, Callable[[], dict[str, Any]]]] = {
    "sentiment_zh": ("/sentiment", _texts("reviews_zh")),
    "sentiment_en": ("/sentiment", _texts("reviews_en")),
    "classify": ("/classify", _texts("titles")),
    "ner": ("/ner", _texts("reviews_zh", "reviews_en")),
    "keywords": ("/keywords", _texts("reviews_zh", "reviews_en")),
    "recall": ("/recommend", lambda: {"requests": {"user_id": random.choice(_pool("users")), "n": 10}}),
    "demand": ("/forecast", lambda: {"series": [random.choice(_pool("series"))]}),
    "mine": ("/mine", _texts("reviews_zh", "reviews_en")),
}


def _mine(langs: tuple[str, ...], user: bool = False) -> Callable[[], dict[str, Any]]:
    """/mine with one text per language in ``langs`` (two texts a request), with a user id from the
    MovieLens pool when ``user`` (the texts become events)."""

    def body() -> dict[str, Any]:
        out: dict[str, Any] = {"texts": [fresh(random.choice(_pool(f"reviews_{lang}"))) for lang in langs]}
        if user:
            out["user_id"] = random.choice(_pool("users"))
        return out

    return body


MINE: dict[str, Callable[[], dict[str, Any]]] = {
    "zh": _mine(("zh", "zh")),
    "en": _mine(("en", "en")),
    "mixed": _mine(("zh", "en")),
    "zh_user": _mine(("zh", "zh"), user=True),
    "en_user": _mine(("en", "en"), user=True),
    "mixed_user": _mine(("zh", "en"), user=True),
}
# The plain server: shared encoder bottoms, int8 quantisation and lone-request threads switched off.
PLAIN = {"DEMAND_MINING_QUANTIZE": "off", "DEMAND_MINING_SHARED_ENCODER": "off", "DEMAND_MINING_LONE_THREADS": "0"}


# --- 1. in process ----------------------------------------------------------------------------------
def in_process(seconds: float) -> dict[str, dict[str, float]]:
    """items/s per runner, batch size and torch threads: ``{"<runner>": {"t1_bs8": 123.4, ...}}``."""
    import torch

    from mining.contracts import text_items
    from runners import service_of

    sentiment, classification, ner, keywords, recall, demand = (
        service_of(k).inner() for k in ("sentiment", "classification", "ner", "keywords", "recall", "demand")
    )

    def on_texts(runner: Any) -> Callable[[list[str]], Any]:
        return lambda texts: runner.predict(text_items(texts))  # detection included, as served

    calls: dict[str, tuple[Callable[[list[Any]], Any], Callable[[], Any]]] = {
        "sentiment_zh": (on_texts(sentiment), _text("reviews_zh")),
        "sentiment_en": (on_texts(sentiment), _text("reviews_en")),
        "classify": (on_texts(classification), _text("titles")),
        "ner": (on_texts(ner), _text("reviews_zh", "reviews_en")),
        "keywords": (on_texts(keywords), _text("reviews_en")),
        "recall": (recall.predict, lambda: {"user_id": random.choice(_pool("users")), "n": 10}),
        "demand": (demand.predict, _one("series")),
    }
    out: dict[str, dict[str, float]] = {}
    print(f"\n1. in process, items/s ({seconds:.1f} s per cell)")
    print(f"{'runner':<14}" + "".join(f"{f't{t} bs{b}':>11}" for t in (1, 2) for b in BATCH_SIZES))
    for name, (fn, item) in calls.items():
        row = {}
        for threads in (1, 2):
            torch.set_num_threads(threads)
            fn([item() for _ in range(8)])  # warm-up: first calls pay lazy init and kernel selection
            for bs in BATCH_SIZES:
                n, t0 = 0, time.perf_counter()
                while time.perf_counter() - t0 < seconds:
                    fn([item() for _ in range(bs)])
                    n += bs
                row[f"t{threads}_bs{bs}"] = round(n / (time.perf_counter() - t0), 1)
        out[name] = row
        print(f"{name:<14}" + "".join(f"{row[f't{t}_bs{b}']:>11.1f}" for t in (1, 2) for b in BATCH_SIZES), flush=True)
    torch.set_num_threads(2)
    return out


# --- 2. load generation -----------------------------------------------------------------------------
# The load generator shares the cores with the server, so it must be cheap: aiohttp, whose CPU per request is a
# fraction of httpx's (docs/benchmarks.md#benchmarks).
RAMP_MIN_S = 0.2
# Clients connect 5 ms apart, as users arrive (Locust's spawn rate does the same): connected at once, they would
# all land on one gateway worker, whose accept loop drains the listening socket's whole queue
# (docs/benchmarks.md#benchmarks).
CONNECT_SPACING_S = 0.005
MIN_CYCLES = 2
MIN_SAMPLES = 20  # answers per window at least, so a p95 rests on more than a handful


async def _load(
    url: str, path: str, body: Callable[[], dict[str, Any]], concurrency: int, seconds: float
) -> dict[str, Any]:
    """Closed loop: ``concurrency`` clients, each sending its next request when the last returns.

    The measured window opens once every client has had an answer (the ramp) and closes after
    ``seconds`` and at least ``MIN_CYCLES`` answers per client (and ``MIN_SAMPLES``), so a slow
    model's batches (which finish many requests at once) are counted whole rather than sampled.
    Requests still in flight when it closes finish but do not count (see
    :func:`bench.stats.summarize`)."""
    import aiohttp

    completions: list[tuple[float, float, int]] = []
    window: list[float] = []  # [opened at, closed at], in perf_counter seconds
    opened_at = [0]  # completions before the window opened
    t_start = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(url, connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:

        async def client(k: int) -> None:
            await asyncio.sleep(k * CONNECT_SPACING_S)
            while len(window) < 2:
                t0 = time.perf_counter()
                try:
                    async with session.post(path, json=body()) as r:
                        await r.read()
                        code = r.status
                except (TimeoutError, aiohttp.ClientError):
                    code = -1
                now = time.perf_counter()
                completions.append((now, now - t0, code))
                if not window:
                    if len(completions) >= concurrency and now - t_start >= RAMP_MIN_S:
                        window.append(now)
                        opened_at[0] = len(completions)
                elif (
                    len(window) == 1
                    and now - window[0] >= seconds
                    and len(completions) - opened_at[0] >= max(MIN_CYCLES * concurrency, MIN_SAMPLES)
                ):
                    window.append(now + 1e-9)

        await asyncio.gather(*(client(k) for k in range(concurrency)))
    return summarize(completions, (window[0], window[1]))


def load(url: str, path: str, body: Callable[[], dict[str, Any]], concurrency: int, seconds: float) -> dict[str, Any]:
    return asyncio.run(_load(url, path, body, concurrency, seconds))


def serve(
    servers: ServerGroup,
    batching: bool,
    log_dir: Path,
    events_db: Path,
    extra: dict[str, str] | None = None,
    label: str = "",
) -> tuple[Server, str]:
    """Start ``bentoml serve`` in ``servers`` (which stops it) on a free loopback port and wait until
    it is ready; returns the server and its base URL. ``label`` names its log (``serve-<label>.log``;
    two servers in one folder need two labels)."""
    port = free_port()
    env = {
        "BENTOML_DO_NOT_TRACK": "true",
        "DEMAND_MINING_BATCHING": "on" if batching else "off",
        "DEMAND_MINING_EVENTS_DB": str(events_db),
        "GRPC_PORT": "0",
        **(extra or {}),
    }
    url = f"http://127.0.0.1:{port}"
    name = (
        f"serve-{label}.log"
        if label
        else f"serve-batching-{'on' if batching else 'off'}{'-plain' if extra else ''}.log"
    )
    proc = servers.start(
        [sys.executable, "-m", "bentoml", "serve", "service:DemandMining", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=ROOT,
        log=log_dir / name,
        ready_url=f"{url}/readyz",
    )
    return proc, url


def memory_mb(proc: Server) -> dict[str, float]:
    """Memory of a server's processes after load (MB): ``rss``, resident pages summed
    over its processes (a page several of them map is counted in each), and ``private``, the
    pages no other process maps (what stopping the server would free; weights memory-mapped by
    several workers are not in it)."""
    import psutil

    rss = private = 0
    try:  # the process and all its descendants: BentoML starts its workers in sessions of their own
        root = psutil.Process(proc.proc.pid)
        group = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        group = []
    for p in group:
        try:
            info = p.memory_full_info()
            rss, private = rss + info.rss, private + info.uss
        except psutil.Error:
            continue
    return {"rss": round(rss / 2**20, 1), "private": round(private / 2**20, 1)}


def mine_cost(urls: dict[str, str], seconds: float) -> dict[str, dict[str, dict[str, Any]]]:
    """/mine per payload of :data:`MINE` at concurrency 16 and 64 on each server of ``urls``
    (label -> URL), cells alternating between them (:func:`alternating`)."""
    print(f"\n6. /mine cost ({seconds:.1f} s per cell), {' / '.join(urls)}: req/s, p50 / p95 ms, non-200")
    cells = {name: ("/mine", body) for name, body in MINE.items()}

    def row(name: str, c: int, results: list[dict[str, Any]]) -> str:
        cols = (f"{r['rps']:>7.1f} {r['p50_ms']:>7.1f} {r['p95_ms']:>7.1f} {r['errors'] or ''}" for r in results)
        return f"{name:<12} c{c:<3}" + " | ".join(cols)

    return alternating(urls, cells, (16, 64), seconds, row)


def _store_metadata(tag: str) -> dict[str, Any] | None:
    """The store metadata of ``tag``, None when the store lacks it."""
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        return dict(bentoml.models.get(tag).info.metadata)
    except NotFound:
        return None


def accuracy_drops(metadata_of: Callable[[str], dict[str, Any] | None] = _store_metadata) -> dict[str, float]:
    """Per served model in the store (the version its ``<NAME>_MODEL`` setting names, ``latest``
    by default), the test-metric points it gives up to run cheaper: the served quantised variant
    against float32 on test (the variant was chosen on validation, so this can exceed the
    choice's guard) plus, where measured, the shared encoder's drop against its separately
    fine-tuned twin (store metadata ``quantization`` and ``shared_encoder``, read by
    ``metadata_of(tag)``)."""
    from mining.registry import MODELS
    from mining.settings import settings

    out = {}
    for spec in MODELS:
        meta = metadata_of(settings().model_tags[spec.name])
        if meta is None:
            continue
        q, shared = meta.get("quantization") or {}, meta.get("shared_encoder") or {}
        served_drop = q.get("test_drop_points", q.get("drop_points", 0.0))
        drop = (served_drop if q.get("mode", "none") != "none" else 0.0) + shared.get("drop_points", 0.0)
        out[spec.name] = round(float(drop), 3)
    return out


Cell = tuple[str, Callable[[], dict[str, Any]]]  # (path, body of the next request)


def alternating(
    urls: dict[str, str],
    cells: dict[str, Cell],
    concurrency: tuple[int, ...],
    seconds: float,
    row: Callable[[str, int, list[dict[str, Any]]], str],
) -> dict[str, dict[str, dict[str, Any]]]:
    """Each cell at each concurrency on every server of ``urls`` (label -> base URL), all up at
    once; a cell is measured on one server right after the other, the order reversed from one
    concurrency to the next, so a drift of the machine's speed favours none. Prints
    ``row(cell, concurrency, results in the order of urls)`` per line. Returns label -> cell ->
    ``c<concurrency>`` -> :func:`load`'s result."""
    labels = list(urls)
    out: dict[str, dict[str, dict[str, Any]]] = {label: {} for label in labels}
    for name, (path, body) in cells.items():
        for label in labels:
            load(urls[label], path, body, 4, min(0.3, seconds))  # warm-up
            out[label][name] = {}
        for c in concurrency:
            for label in labels:
                out[label][name][f"c{c}"] = load(urls[label], path, body, c, seconds)
            labels.reverse()
            print(row(name, c, [out[label][name][f"c{c}"] for label in urls]), flush=True)
    return out


def served(urls: dict[str, str], seconds: float) -> dict[str, dict[str, dict[str, Any]]]:
    """Every endpoint at every concurrency on each server of ``urls`` (label -> base URL), cells
    alternating (:func:`alternating`). Returns label -> endpoint -> cell."""
    print(f"\n2. served ({seconds:.1f} s per cell), batching {' / '.join(urls)}: req/s, p50 / p95 / p99 ms, non-200")

    def row(name: str, c: int, results: list[dict[str, Any]]) -> str:
        cols = (
            f"{r['rps']:>7.1f} {r['p50_ms']:>7.1f} {r['p95_ms']:>7.1f} {r['p99_ms']:>7.1f} {r['errors'] or ''}"
            for r in results
        )
        return f"{name:<14} c{c:<3}" + " | ".join(cols)

    return alternating(urls, ENDPOINTS, CONCURRENCY, seconds, row)


def naive_peer(seconds: float, log_dir: Path) -> dict[str, Any]:
    port = free_port()
    with ServerGroup() as servers:
        servers.start(
            [sys.executable, "-m", "bench.naive_server", "--port", str(port)],
            cwd=ROOT,
            log=log_dir / "naive.log",
            ready_url=f"http://127.0.0.1:{port}/readyz",
        )
        path, body = ENDPOINTS["sentiment_en"]
        load(f"http://127.0.0.1:{port}", path, body, 4, 1.0)
        out: dict[str, Any] = {f"c{c}": load(f"http://127.0.0.1:{port}", path, body, c, seconds) for c in (1, 16, 64)}
        out["model"] = "sentiment-en:latest, float32, 2 torch threads (bench/naive_server.py)"
    print(
        "\n3. naive FastAPI peer, English sentiment: "
        + ", ".join(f"{k} {v['rps']} req/s" for k, v in out.items() if isinstance(v, dict))
    )
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short windows: the whole run in under 5 minutes")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench" / "bench.json")
    args = parser.parse_args(argv)
    random.seed(0)
    # --quick must finish within 5 minutes on 2 cores (docs/benchmarks.md#benchmarks): the slow endpoints' cells
    # (English sentiment, NER, /mine at 10-30 req/s) take most of it.
    cell = 1.2 if args.quick else 8.0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    log_dir = args.out.parent
    result: dict[str, Any] = {"quick": args.quick, "seconds_per_cell": cell, "cpus": len(os.sched_getaffinity(0))}

    result["in_process"] = in_process(0.2 if args.quick else 2.0)

    db = log_dir / "bench-events.sqlite3"
    with ServerGroup() as servers:  # all three stopped before the naive peer starts, so it has the cores
        on_proc, on_url = serve(servers, True, log_dir, db)
        t0 = time.perf_counter()
        httpx.post(f"{on_url}/mine", json=ENDPOINTS["mine"][1](), timeout=120).raise_for_status()
        result["cold_start"] = {
            "ready_s": round(on_proc.ready_s, 2),
            "first_mine_ms": round((time.perf_counter() - t0) * 1000, 1),
        }
        print(
            f"\n4. cold start: ready in {on_proc.ready_s:.1f} s, first /mine {result['cold_start']['first_mine_ms']:.0f} ms"
        )
        path, body = ENDPOINTS["sentiment_en"]
        load(on_url, path, body, 1, min(0.5, cell))  # warm-up
        before = load(on_url, path, body, 1, cell)  # on the fresh server, before any burst
        _, off_url = serve(servers, False, log_dir, db)
        plain_proc, plain_url = serve(servers, True, log_dir, db, PLAIN)
        both = served({"on": on_url, "off": off_url}, cell)
        c1_plain = load(plain_url, path, body, 1, cell)  # lone requests without the lone threads
        result["mine_cost"] = mine_cost({"shared+int8": on_url, "plain": plain_url}, cell)
        result["memory_mb"] = {"shared+int8": memory_mb(on_proc), "plain": memory_mb(plain_proc)}
        result["c1_sentiment_en_plain"] = c1_plain
        print(
            f"memory after load (MB): {result['memory_mb']['shared+int8']} with sharing and int8, "
            f"{result['memory_mb']['plain']} without; English sentiment at c1 without lone threads: "
            f"{c1_plain['rps']} req/s"
        )
        result["served_on"], result["served_off"] = both["on"], both["off"]
        # The floor: a request that runs no model (the demand runner's spec: HTTP, validation, a
        # thread hop, JSON). No batching can make an endpoint faster than this.
        result["floor_c64"] = load(on_url, "/forecast/spec", dict, 64, cell)
        print(f"\nno-model floor (POST /forecast/spec, c64): {result['floor_c64']['rps']} req/s")
        load(on_url, path, body, 64, cell)  # the burst, then at once:
        after = load(on_url, path, body, 1, cell)
        result["after_burst"] = {
            "before_p50_ms": before["p50_ms"],
            "after_p50_ms": after["p50_ms"],
            "before": before,
            "after": after,
        }
        print(
            f"\n5. after a burst: English sentiment p50 at c1 {before['p50_ms']} ms fresh, {after['p50_ms']} ms after c64"
        )
    result["naive"] = naive_peer(cell, log_dir)

    on, off = result["served_on"], result["served_off"]
    gains = ratios(on, off)
    result["batching_lost"] = worse_cells(on, off)
    best_limit = max(result["in_process"]["sentiment_en"].values())
    result["batching_ceiling"] = {
        name: batching_ceiling(
            result["cpus"],
            result["floor_c64"]["rps"],
            off[name]["c64"]["rps"],
            max(result["in_process"][name].values()),
        )
        for name in ("recall", "sentiment_zh")
    }
    headline = {
        "batching_speedup_recall": gains["recall"]["c64"],
        "batching_speedup_sentiment_zh": gains["sentiment_zh"]["c64"],
        "batching_never_worse": not result["batching_lost"],
        "vs_naive_speedup": round(
            min(on["sentiment_en"][c]["rps"] / result["naive"][c]["rps"] for c in ("c16", "c64")), 3
        ),
        "served_over_limit": round(on["sentiment_en"]["c64"]["rps"] / best_limit, 3),
        "cold_start_s": result["cold_start"]["ready_s"],
        "after_burst_c1_ratio": round(
            result["after_burst"]["after_p50_ms"] / result["after_burst"]["before_p50_ms"], 3
        ),
        "sentiment_p95_ms": on["sentiment_en"]["c16"]["p95_ms"],
        # the measured bound on the two speedups (bench.stats.batching_ceiling)
        "batching_ceiling_recall": result["batching_ceiling"]["recall"],
        "batching_ceiling_sentiment_zh": result["batching_ceiling"]["sentiment_zh"],
    }
    mine_on, mine_plain = result["mine_cost"]["shared+int8"], result["mine_cost"]["plain"]
    result["accuracy_drop_points"] = accuracy_drops()
    headline.update(
        {
            # /mine with one Chinese and one English text: what sharing, int8 and lone threads buy
            "mine_speedup": round(mine_on["mixed"]["c16"]["rps"] / mine_plain["mixed"]["c16"]["rps"], 3),
            "mine_p95_ratio": round(mine_on["mixed"]["c16"]["p95_ms"] / mine_plain["mixed"]["c16"]["p95_ms"], 3),
            "max_accuracy_drop": max(result["accuracy_drop_points"].values(), default=0.0),
            "c1_vs_naive": round(on["sentiment_en"]["c1"]["rps"] / result["naive"]["c1"]["rps"], 3),
        }
    )
    result["batching_on_over_off"] = gains
    result["headline"] = headline
    result["targets_met"] = verdict(headline)
    args.out.write_text(json.dumps(result, indent=1))
    print(
        "\nbatching on / off throughput at c1/c16/c64: "
        + "; ".join(f"{n} " + "/".join(str(v) for v in r.values()) for n, r in gains.items())
    )
    print(
        "most batching could give at c64 (bench.stats.batching_ceiling: no-model floor + best model time): "
        + ", ".join(f"{k} {v}x" for k, v in result["batching_ceiling"].items())
    )
    print("batching lost in: " + ("; ".join(result["batching_lost"]) or "no cell"))
    print("targets met: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in result["targets_met"].items()))
    print(json.dumps(headline))
    return result


if __name__ == "__main__":
    main()
