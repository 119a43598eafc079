"""Event store at scale: insert rate, trend and profile latency and store size as events grow.

    python -m bench.events_scale                                   # SQLite: 10k, 100k, 1M, 2M events
    python -m bench.events_scale --sizes 10000,100000
    python -m bench.events_scale --url postgresql://user@host/empty_db   # PostgreSQL

Synthetic events spread evenly over 48 hours, each with a category, two entities, four keywords
and two aspects (9 terms, as an analysed review has), inserted 256 per call (the API's batch
limit) into a fresh store (a SQLite file on local disk, or the tables of the given PostgreSQL
database, emptied first). Then, per size: ``trends`` over the last 24 hours (half the events are
in that window, half in the one before; an end that is not on the hour, so both edges read minute
buckets) and a profile of one user, each timed 20 times (median and p95, milliseconds), and beside
the trends call the same aggregation read from the term rows instead of the buckets (the work the
buckets save), on the same store in the same run. Prints a table and one JSON line; writes
``reports/bench/events_scale[-postgres].json``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from mining.events import EventStore, is_postgres, open_store

HOURS = 48
BATCH = 256


def synthetic(n: int, start: float, rng: random.Random) -> list[dict[str, Any]]:
    """``n`` analysed events over :data:`HOURS` hours from ``start``: 5,000 users, a vocabulary
    of 2,000 keywords, 300 brands, 40 categories and 200 aspects with Zipf-like popularity."""

    def pick(prefix: str, size: int) -> str:
        return f"{prefix}{min(int(rng.paretovariate(1.2)), size)}"

    out = []
    for k in range(n):
        analysis = {
            "lang": "en",
            "category": pick("category-", 40),
            "positive": rng.random(),
            "entities": [{"type": "BRAND", "text": pick("brand-", 300)} for _ in range(2)],
            "keywords": [{"keyword": pick("keyword-", 2000)} for _ in range(4)],
            "aspects": [
                {"aspect": pick("aspect-", 200), "polarity": rng.choice(["positive", "negative", "neutral"])}
                for _ in range(2)
            ],
        }
        out.append(
            {
                "key": f"e{k}",
                "user_id": f"user-{rng.randrange(5000)}",
                "type": "review",
                "ts": start + HOURS * 3600 * k / n,
                "text": "synthetic",
                "analysis": analysis,
            }
        )
    return out


def timed(call: Any, repeat: int = 20) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {"median_ms": round(statistics.median(times), 2), "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2)}


def trends_from_rows(store: EventStore, window_s: float, end: float) -> int:
    """The trend windows aggregated from every term row in them (no buckets): the reference."""
    start, prev = end - window_s, end - 2 * window_s
    n = 0
    for kind in ("category", "entity", "keyword", "aspect"):
        n += len(
            store._rows(
                "SELECT term, label, SUM(CASE WHEN ts >= ? THEN 1 ELSE 0 END), SUM(CASE WHEN ts < ? THEN 1 ELSE 0 END),"
                " AVG(CASE WHEN ts >= ? THEN CASE WHEN positive >= 0.5 THEN 1.0 ELSE 0.0 END END)"
                " FROM terms WHERE kind = ? AND ts >= ? AND ts < ? GROUP BY term, label",
                [start, start, start, kind, prev, end],
            )
        )
    return n


def fresh_store(url: str | None, folder: Path, n: int) -> EventStore:
    """An empty store: a new SQLite file, or the PostgreSQL database's tables emptied."""
    if url is None:
        return open_store(folder / f"events-{n}.sqlite3")
    store = open_store(url)
    store._write(lambda tx: tx.execute("TRUNCATE terms, events, term_buckets, event_buckets"))
    return store


def store_mb(store: EventStore, url: str | None, folder: Path, n: int) -> float:
    if url is None:
        return round(sum(p.stat().st_size for p in folder.glob(f"events-{n}.sqlite3*")) / 2**20, 1)
    store._write(lambda tx: tx.execute("CHECKPOINT"))
    return round(store._rows("SELECT pg_database_size(current_database())")[0][0] / 2**20, 1)


def run(n: int, folder: Path, url: str | None = None, seed: int = 0) -> dict[str, Any]:
    rng = random.Random(seed)
    start = 1_790_000_000.0
    events = synthetic(n, start, rng)
    store = fresh_store(url, folder, n)
    t0 = time.perf_counter()
    for k in range(0, n, BATCH):
        store.add(events[k : k + BATCH])
    insert_s = time.perf_counter() - t0
    end = start + HOURS * 3600 - 1234.5  # not on the hour: both window edges read minute buckets
    result = {
        "backend": "postgres" if url else "sqlite",
        "events": n,
        "events_in_window": sum(1 for e in events if e["ts"] >= end - 24 * 3600.0),
        "insert_events_per_s": round(n / insert_s),
        "trends_24h": timed(lambda: store.trends(24 * 3600.0, end, 10, 1)),
        "trends_24h_from_rows": timed(lambda: trends_from_rows(store, 24 * 3600.0, end), repeat=5),
        "profile": timed(lambda: store.profile("user-7", 10, now=end)),
        "store_mb": store_mb(store, url, folder, n),
    }
    store.close()
    return result


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000,2000000", help="comma-separated event counts")
    parser.add_argument("--url", default=None, help="an empty PostgreSQL database (default: SQLite files)")
    parser.add_argument("--out", default=None, help="default reports/bench/events_scale[-postgres].json")
    args = parser.parse_args(argv)
    if args.url is not None and not is_postgres(args.url):
        parser.error("--url must be a postgresql:// URL")
    out = args.out or f"reports/bench/events_scale{'-postgres' if args.url else ''}.json"
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.sizes.split(",")):
            r = run(n, Path(tmp), args.url)
            results.append(r)
            print(
                f"{r['backend']} {r['events']:>9,} events ({r['events_in_window']:>9,} in the window): insert {r['insert_events_per_s']:>6,}/s | trends 24h median "
                f"{r['trends_24h']['median_ms']:>7.1f} ms p95 {r['trends_24h']['p95_ms']:>7.1f} "
                f"(from rows {r['trends_24h_from_rows']['median_ms']:>8.1f} ms) | profile median "
                f"{r['profile']['median_ms']:>6.1f} ms | store {r['store_mb']:>7.1f} MB",
                flush=True,
            )
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(results, indent=2))
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
