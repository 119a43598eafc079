"""An event store's writes: events stored at most once per (user, idempotency key), their terms
derived, and both counted into time buckets in the same transaction; deletion of a user and the
retention purge take them out of the buckets again.

Buckets. Each event and each of its terms is counted, in the transaction that stores it, into
its UTC minute and its UTC hour (``event_buckets``, ``term_buckets``; ``span`` 60 or 3600 s), so
a trend window reads rows that grow with the number of distinct terms per bucket, not with the
number of events (:mod:`mining.events.queries`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from mining.events.backend import EVENT_COUNTS, SPANS, TERM_COUNTS, Backend, KeyConflict, Tx, guarded
from mining.events.models import StoredAnalysis
from mining.events.terms import Term, body_hash, guard_analysis, scrub, terms_of


def _positive(p: float | None) -> tuple[int, int]:
    """(counts as positive, has a known sentiment) of one probability of positive sentiment."""
    return int(p is not None and p >= 0.5), int(p is not None)


class StoreWrites(Backend):
    """Event intake, deletion and retention over a :class:`~mining.events.backend.Backend`."""

    @guarded
    def existing(self, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, str | None]]:
        """(user_id, key) pairs already stored -> (event id, body hash): to skip analysing retries
        and to tell a retry from a reused key."""
        if not pairs:
            return {}
        wanted = set(pairs)
        users, keys = sorted({u for u, _ in wanted}), sorted({k for _, k in wanted})
        # One query on the (user_id, key) index; pairs the request did not ask for are dropped below.
        rows = self._read(
            f"SELECT user_id, key, id, body_hash FROM events WHERE user_id IN ({','.join('?' * len(users))})"
            f" AND key IN ({','.join('?' * len(keys))})",
            [*users, *keys],
        )
        return {(u, k): (int(i), h) for u, k, i, h in rows if (u, k) in wanted}

    @guarded
    def add(self, events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Store events in one transaction, each at most once per (user, idempotency key).

        Args:
            events: dicts with ``key``, ``user_id``, ``type`` (:data:`EVENT_TYPES`), ``ts`` (Unix s),
                and optional ``item_id``, ``order_id``, ``status`` (an order's state), ``text``
                (already PII-masked), ``analysis`` (a
                :class:`~mining.events.models.StoredAnalysis`, or the same as a dict: stored as given),
                ``body_hash`` (default :func:`body_hash` of the event).
        Returns:
            Per event, in order: ``{"key", "id", "stored"}``; ``stored`` is False when the user's key
            was already there with the same body (a retry: nothing is changed).
        Raises:
            KeyConflict: a key already stored for the user with a different body; the whole call
                is rolled back, so nothing of it is stored.
        """
        now = time.time()

        def work(tx: Tx) -> list[dict[str, Any]]:
            out = []
            buckets = _Buckets()
            for e in events:
                digest = e.get("body_hash") or body_hash(e)  # of the event as sent: retries compare with it
                # Last guard: whatever the caller masked, no personal number reaches a column.
                raw = e.get("analysis")
                a = guard_analysis(
                    raw.model_dump(exclude_defaults=True) if isinstance(raw, StoredAnalysis) else raw or {}
                )
                text = None if e.get("text") is None else scrub(e["text"])
                status = None if e.get("status") is None else scrub(e["status"])
                ts = float(e["ts"])
                # DO NOTHING on a stored key: a concurrent writer of the same key waits for the
                # other's commit, then finds the row (read below) instead of failing.
                row = tx.execute(
                    "INSERT INTO events (key, user_id, type, item_id, text, ts, received, lang, category,"
                    " positive, analysis, body_hash, order_id, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (user_id, key) DO NOTHING RETURNING id",
                    (
                        e["key"],
                        e["user_id"],
                        e["type"],
                        e.get("item_id"),
                        text,
                        ts,
                        now,
                        a.get("lang"),
                        a.get("category"),
                        a.get("positive"),
                        json.dumps(a, ensure_ascii=False) if a else None,
                        digest,
                        e.get("order_id"),
                        status,
                    ),
                ).fetchone()
                if row is not None:
                    event_id = int(row[0])
                    derived = terms_of(a, e["type"])
                    tx.executemany(
                        "INSERT INTO terms (event_id, user_id, ts, kind, term, label, weight, positive)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [(event_id, e["user_id"], ts, *t) for t in derived],
                    )
                    buckets.add(ts, a.get("positive"), derived)
                    out.append({"key": e["key"], "id": event_id, "stored": True})
                else:
                    event_id, stored_hash = tx.execute(
                        "SELECT id, body_hash FROM events WHERE user_id = ? AND key = ?", (e["user_id"], e["key"])
                    ).fetchone()
                    # Events stored before bodies were hashed (schema 0) count as the same body.
                    if stored_hash is not None and stored_hash != digest:
                        raise KeyConflict(e["key"])
                    out.append({"key": e["key"], "id": int(event_id), "stored": False})
            buckets.apply(tx)
            return out

        return self._write(work)

    @guarded
    def delete_user(self, user_id: str) -> dict[str, int]:
        """Remove every event of ``user_id`` and every term derived from them, in one transaction.
        Idempotent: a second call deletes nothing. Returns the counts (``events``, ``terms``)."""
        return self._delete("user_id = ?", "user_id = ?", (user_id,))

    @guarded
    def purge(self, before: float) -> dict[str, int]:
        """Remove events with ``ts`` before ``before`` (Unix s) and their terms: the retention
        setting's job. Returns the counts (``events``, ``terms``)."""
        return self._delete("ts < ?", "ts < ?", (before,))

    def _delete(self, terms_where: str, events_where: str, args: tuple[Any, ...]) -> dict[str, int]:
        """Delete the matching terms and events and take them out of their buckets, atomically."""

        def work(tx: Tx) -> dict[str, int]:
            buckets = _Buckets(sign=-1)
            for span in SPANS:
                b = self._bucket_of(span)
                for *counts, bucket, kind, term, label in tx.execute(
                    f"SELECT {TERM_COUNTS}, {b}, kind, term, label FROM terms WHERE {terms_where} GROUP BY 5, 6, 7, 8",
                    args,
                ).fetchall():
                    buckets.terms[(span, int(bucket), kind, term, label)] = [int(c or 0) for c in counts]
                for *counts, bucket in tx.execute(
                    f"SELECT {EVENT_COUNTS}, {b} FROM events WHERE {events_where} GROUP BY 4", args
                ).fetchall():
                    buckets.events[(span, int(bucket))] = [int(c or 0) for c in counts]
            buckets.apply(tx)
            terms = tx.execute(f"DELETE FROM terms WHERE {terms_where}", args).rowcount
            events = tx.execute(f"DELETE FROM events WHERE {events_where}", args).rowcount
            return {"events": int(events), "terms": int(terms)}

        return self._write(work)


class _Buckets:
    """Bucket count changes gathered over one transaction and written at its end, each bucket
    once, in a fixed order (so two writers touching the same buckets cannot deadlock)."""

    def __init__(self, sign: int = 1) -> None:
        self.sign = sign
        self.events: dict[tuple[int, int], list[int]] = {}
        self.terms: dict[tuple[int, int, str, str, str], list[int]] = {}

    def add(self, ts: float, positive: float | None, derived: Sequence[Term]) -> None:
        """Count one event with its terms."""
        for span in SPANS:
            bucket = int(ts // span)
            ev = self.events.setdefault((span, bucket), [0, 0, 0])
            for i, v in enumerate((1, *_positive(positive))):
                ev[i] += v
            for kind, term, label, _, pos in derived:
                acc = self.terms.setdefault((span, bucket, kind, term, label), [0, 0, 0, 0])
                for i, v in enumerate((1, *_positive(pos), int(kind == "aspect" and label == "negative"))):
                    acc[i] += v

    def apply(self, tx: Tx) -> None:
        s = self.sign
        tx.executemany(
            "INSERT INTO event_buckets (span, bucket, n, pos_n, pos_known) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (span, bucket) DO UPDATE SET n = event_buckets.n + excluded.n,"
            " pos_n = event_buckets.pos_n + excluded.pos_n, pos_known = event_buckets.pos_known + excluded.pos_known",
            [(*k, *(s * v for v in c)) for k, c in sorted(self.events.items())],
        )
        tx.executemany(
            "INSERT INTO term_buckets (span, bucket, kind, term, label, n, pos_n, pos_known, neg_n)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (span, bucket, kind, term, label) DO UPDATE"
            " SET n = term_buckets.n + excluded.n, pos_n = term_buckets.pos_n + excluded.pos_n,"
            " pos_known = term_buckets.pos_known + excluded.pos_known, neg_n = term_buckets.neg_n + excluded.neg_n",
            [(*k, *(s * v for v in c)) for k, c in sorted(self.terms.items())],
        )
        if s < 0:  # emptied buckets go, so a deleted user leaves nothing behind
            for span, bucket in sorted(self.events):
                tx.execute("DELETE FROM event_buckets WHERE span = ? AND bucket = ? AND n <= 0", (span, bucket))
            for span, bucket in sorted({k[:2] for k in self.terms}):
                tx.execute("DELETE FROM term_buckets WHERE span = ? AND bucket = ? AND n <= 0", (span, bucket))
