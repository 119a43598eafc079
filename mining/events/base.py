"""What every event store does, whichever database holds it: store analysed events at most once
per (user, idempotency key), count them into time buckets, and answer profiles, trends and the
interactions recommendations fold in.

A backend (:mod:`mining.events.sqlite`, :mod:`mining.events.postgres`) supplies a connection, a
transaction and its schema; the queries here are written once, in the SQL both databases speak
(``?`` placeholders, ``CASE`` instead of boolean arithmetic, ``ON CONFLICT`` upserts).

Buckets. Each event and each of its terms is counted, in the transaction that stores it, into
its UTC minute and its UTC hour (``event_buckets``, ``term_buckets``; ``span`` 60 or 3600 s). A
trend window, resolved to whole minutes, reads its whole hours from the hour buckets and the
minutes at either end from the minute buckets: the rows read grow with the number of distinct
terms per bucket, not with the number of events.

Times are Unix seconds (float, UTC).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

from mining.text import PLACEHOLDERS, mask_pii, normalize

EVENT_TYPES = ("search", "view", "click", "cart", "purchase", "review", "message")

# Interaction strength of an event with an item, in the units of the recall model's weights
# (MovieLens ratings 1-5): a purchase says more than a click. Searches and messages name no item.
ITEM_WEIGHTS = {"view": 1.0, "click": 2.0, "cart": 3.0, "review": 4.0, "purchase": 5.0}

# How much an event counts towards a user's interest in the category its text is about.
INTEREST_WEIGHTS = {
    "search": 1.0,
    "view": 1.0,
    "click": 1.0,
    "message": 1.0,
    "review": 2.0,
    "cart": 3.0,
    "purchase": 5.0,
}

# Schema versions (each backend migrates older stores in place when opened):
#   1: idempotency keys unique per user, each event keeps a hash of its body;
#   2: hourly buckets;
#   3: minute and hour buckets in one pair of tables (``span`` column), trend windows in minutes.
SCHEMA_VERSION = 3
SPANS = (60, 3600)  # bucket lengths, seconds
MINUTE, HOUR = SPANS

# The counts a bucket keeps for a term: mentions, positive mentions, mentions with a known
# sentiment, negative aspect mentions. ``TERM_COUNTS`` computes them from term rows (a backfill,
# a delete); ``EVENT_COUNTS`` the same for events.
TERM_COUNTS = (
    "COUNT(*), SUM(CASE WHEN positive >= 0.5 THEN 1 ELSE 0 END), SUM(CASE WHEN positive IS NOT NULL THEN 1 ELSE 0 END),"
    " SUM(CASE WHEN kind = 'aspect' AND label = 'negative' THEN 1 ELSE 0 END)"
)
EVENT_COUNTS = (
    "COUNT(*), SUM(CASE WHEN positive >= 0.5 THEN 1 ELSE 0 END), SUM(CASE WHEN positive IS NOT NULL THEN 1 ELSE 0 END)"
)


def body_hash(event: dict[str, Any]) -> str:
    """sha256 of what an event says (type, item, text, and time when it has one): two sends of one
    key with the same hash are a retry; with different hashes, a key reused for another event."""
    ts = event.get("ts")
    body = [event["type"], event.get("item_id"), event.get("text"), None if ts is None else round(float(ts), 6)]
    return hashlib.sha256(json.dumps(body, ensure_ascii=False).encode()).hexdigest()


class KeyConflict(ValueError):
    """An idempotency key already stored for the user with a different body; nothing was stored."""

    def __init__(self, key: str) -> None:
        super().__init__(
            f"events: key {key!r} was already stored for this user with a different body; "
            "a retry must resend the same event, a new event needs a new key"
        )
        self.key = key


class StoreUnavailable(RuntimeError):
    """The store cannot take or answer a call now (locked or busy past its timeout, disk full,
    server unreachable); the call may be retried. Its message says which, without customer data."""


# An aspect term's ``positive`` column: its own polarity, not the whole text's. Neutral mentions
# count as mentions but not in the positive share.
_ASPECT_POSITIVE = {"positive": 1.0, "negative": 0.0, "neutral": None}
Term = tuple[str, str, str, float, float | None]
# Placeholders in any case (terms are lower-cased), and what must be left once they are gone.
_PLACEHOLDER = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS), re.IGNORECASE)
_WORD_LEFT = re.compile(r"[^\W_]")


def _scrub(text: str) -> str:
    """``text`` with :func:`mining.text.mask_pii` applied, or its normalised form masked where
    normalising reveals more to mask (zero-width or full-width characters inside a number).
    Not the normalised form always: normalising drops placeholders such as ``<card>`` as markup."""
    norm = normalize(text)
    masked_norm = mask_pii(norm)
    return masked_norm if masked_norm != norm else mask_pii(text)


def guard_term(term: str) -> str | None:
    """A term as it may be stored: a personal number or address still in it masked
    (:func:`_scrub`), or None when nothing but placeholders and punctuation would remain. The last
    guard before the store: callers mask texts before extraction, but a term must not depend on it."""
    masked = _scrub(term)
    if _PLACEHOLDER.search(masked) and not _WORD_LEFT.search(_PLACEHOLDER.sub(" ", masked)):
        return None
    return masked


def guard_analysis(value: Any) -> Any:
    """``value`` (an analysis: dicts, lists, strings, numbers) with every string in it scrubbed
    (:func:`_scrub`), so its stored JSON holds no personal number either."""
    if isinstance(value, str):
        return _scrub(value)
    if isinstance(value, dict):
        return {k: guard_analysis(v) for k, v in value.items()}
    if isinstance(value, list):
        return [guard_analysis(v) for v in value]
    return value


def terms_of(analysis: dict[str, Any] | None, event_type: str, max_keywords: int = 5) -> list[Term]:
    """(kind, term, label, weight, positive) rows derived from one event's text analysis.

    Args:
        analysis: ``{"category": str, "positive": float, "entities": [{"type", "text"}],
            "keywords": [{"keyword"}], "aspects": [{"aspect", "polarity"}]}`` (any part may be
            missing), or None for an event without text.
        event_type: one of :data:`EVENT_TYPES`; sets the weight (:data:`INTEREST_WEIGHTS`).
        max_keywords: keywords kept per event (best first), so a long review does not outweigh
            many short queries.
    Returns:
        rows; ``positive`` is the text's probability of positive sentiment, except for aspects
        (label: the polarity), where it is 1 (positive), 0 (negative) or None (neutral). Every
        term passes :func:`guard_term`: personal numbers in it are masked, and a term that was
        nothing else is dropped.
    """
    if not analysis:
        return []
    w = INTEREST_WEIGHTS[event_type]
    pos = analysis.get("positive")
    rows: list[Term] = []
    if analysis.get("category") and (cat := guard_term(analysis["category"])):
        rows.append(("category", cat, "", w, pos))
    seen: set[tuple[str, str]] = set()
    for e in analysis.get("entities", []):
        key = ((guard_term(e["text"].strip()) or "").lower(), e["type"])
        if key[0] and key not in seen:
            seen.add(key)
            rows.append(("entity", key[0], key[1], w, pos))
    for k in analysis.get("keywords", [])[:max_keywords]:
        if kw := guard_term(k["keyword"]):
            rows.append(("keyword", kw, "", w, pos))
    seen = set()
    for a in analysis.get("aspects", []):
        key = ((guard_term(a["aspect"].strip()) or "").lower(), a["polarity"])
        if key[0] and key not in seen and key[1] in _ASPECT_POSITIVE:
            seen.add(key)
            rows.append(("aspect", key[0], key[1], w, _ASPECT_POSITIVE[key[1]]))
    return rows


def _positive(p: float | None) -> tuple[int, int]:
    """(counts as positive, has a known sentiment) of one probability of positive sentiment."""
    return int(p is not None and p >= 0.5), int(p is not None)


class Cursor(Protocol):
    rowcount: int

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Tx(Protocol):
    """One open transaction: statements with ``?`` placeholders."""

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Cursor: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...


T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def guarded(method: F) -> F:
    """Errors the backend names transient (:meth:`EventStore._unavailable`) become
    :class:`StoreUnavailable`; anything else (a bug) propagates as it is."""

    @functools.wraps(method)
    def wrapper(self: EventStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as e:
            reason = self._unavailable(e)
            if reason is None:
                raise
            raise StoreUnavailable(f"event store unavailable: {reason}") from e

    return wrapper  # type: ignore[return-value]


class EventStore(ABC):
    """Events, their derived terms and their time buckets. Thread-safe; several processes (and,
    with PostgreSQL, several machines) may share one store."""

    # --- what a backend provides ------------------------------------------------------------------
    @abstractmethod
    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one query (``?`` placeholders), outside any write transaction."""

    @abstractmethod
    def _write(self, work: Callable[[Tx], T]) -> T:
        """Run ``work`` in one transaction, committed (durably) before this returns; rolled back
        when ``work`` raises."""

    @abstractmethod
    def _unavailable(self, error: Exception) -> str | None:
        """Why ``error`` means the store is unavailable for now (no customer data in it), or None
        when it is not that kind of error."""

    @abstractmethod
    def _bucket_of(self, span: int) -> str:
        """SQL for the bucket of a row's ``ts`` (floor(ts / span)) as an integer."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writes ----------------------------------------------------------------------------------
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
                and optional ``item_id``, ``text`` (already PII-masked), ``analysis`` (see
                :func:`terms_of`; plus ``lang`` and ``positive``, the probability of positive sentiment),
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
                a = guard_analysis(e.get("analysis") or {})
                text = None if e.get("text") is None else _scrub(e["text"])
                ts = float(e["ts"])
                # DO NOTHING on a stored key: a concurrent writer of the same key waits for the
                # other's commit, then finds the row (read below) instead of failing.
                row = tx.execute(
                    "INSERT INTO events (key, user_id, type, item_id, text, ts, received, lang, category,"
                    " positive, analysis, body_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
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
                    ),
                ).fetchone()
                if row is not None:
                    event_id = int(row[0])
                    derived = terms_of(a, e["type"])
                    tx.executemany(
                        "INSERT INTO terms (event_id, user_id, ts, kind, term, label, weight, positive)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [
                            (event_id, e["user_id"], ts, kind, term, label, w, positive)
                            for kind, term, label, w, positive in derived
                        ],
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

    # --- reads -----------------------------------------------------------------------------------
    @guarded
    def _rows(self, sql: str, args: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        return self._read(sql, list(args))

    def count(self) -> int:
        return int(self._rows("SELECT COUNT(*) FROM events")[0][0])

    def keys(self) -> set[str]:
        return {k for (k,) in self._rows("SELECT key FROM events")}

    def interactions(self, user_id: str, limit: int = 500) -> list[tuple[str, float]]:
        """The user's latest ``limit`` item events as (item_id, weight), newest first, for the
        recall model's fold-in (:data:`ITEM_WEIGHTS`)."""
        types = list(ITEM_WEIGHTS)
        rows = self._rows(
            f"SELECT item_id, type FROM events WHERE user_id = ? AND item_id IS NOT NULL AND type IN "
            f"({','.join('?' * len(types))}) ORDER BY ts DESC, id DESC LIMIT ?",
            [user_id, *types, limit],
        )
        return [(item, ITEM_WEIGHTS[kind]) for item, kind in rows]

    def sequence(self, user_id: str, limit: int = 200) -> list[tuple[str, str, float]]:
        """The user's latest ``limit`` item events as (item_id, event type, ts), oldest first:
        what the sequence model reads (ties in time keep the order they were stored in)."""
        types = list(ITEM_WEIGHTS)
        rows = self._rows(
            f"SELECT item_id, type, ts FROM events WHERE user_id = ? AND item_id IS NOT NULL AND type IN "
            f"({','.join('?' * len(types))}) ORDER BY ts DESC, id DESC LIMIT ?",
            [user_id, *types, limit],
        )
        return [(str(i), str(k), float(t)) for i, k, t in reversed(rows)]

    def stated_demand(self, user_id: str, since: float, limit: int = 20) -> list[tuple[str, str, str, float]]:
        """What the user's own texts since ``since`` (Unix s) asked for: (kind, term, label,
        weight) of categories, entities and keywords from searches and messages, heaviest first."""
        return [
            (str(k), str(t), str(lb), float(w))
            for k, t, lb, w in self._rows(
                "SELECT t.kind, t.term, t.label, SUM(t.weight) FROM terms t JOIN events e ON e.id = t.event_id"
                " WHERE t.user_id = ? AND t.ts >= ? AND e.type IN ('search', 'message')"
                " AND t.kind IN ('category', 'entity', 'keyword') GROUP BY 1, 2, 3 ORDER BY 4 DESC, 2 LIMIT ?",
                [user_id, since, limit],
            )
        ]

    def profile(self, user_id: str, top: int = 10, days: int = 14, now: float | None = None) -> dict[str, Any] | None:
        """What a user's events say about them, or None when the user has no events.

        Returns:
            ``n_events``, ``first_seen``/``last_seen`` (Unix s), ``interests`` (category -> share of
            the user's weighted category mentions, summing to 1), ``sentiment`` (``n``, ``positive_share``,
            ``trend``: per UTC day of the last ``days`` days with reviews/messages, ``{"day", "n",
            "positive_share"}``), ``keywords`` and ``entities`` (top ``top`` by weighted count),
            ``recent_items`` (latest distinct items with the latest event type and time),
            ``aspects``: ``liked`` and ``disliked``, up to ``top`` aspect terms each
            ``{"term", "positive", "negative", "neutral", "count"}`` (weighted mentions per
            polarity): liked where positive outweighs negative, disliked where negative does.
        """
        now = time.time() if now is None else now
        head = self._rows("SELECT COUNT(*), MIN(ts), MAX(ts) FROM events WHERE user_id = ?", [user_id])[0]
        if not head[0]:
            return None
        cats = self._rows(
            "SELECT term, SUM(weight) FROM terms WHERE user_id = ? AND kind = 'category' GROUP BY term "
            "ORDER BY 2 DESC, term",
            [user_id],
        )
        total = sum(w for _, w in cats) or 1.0
        is_positive = "CASE WHEN positive >= 0.5 THEN 1.0 ELSE 0.0 END"
        sent = self._rows(
            f"SELECT {self._bucket_of(86400)} AS day, COUNT(*), AVG({is_positive}) FROM events "
            "WHERE user_id = ? AND positive IS NOT NULL AND ts >= ? GROUP BY 1 ORDER BY 1",
            [user_id, now - days * 86400],
        )
        overall = self._rows(
            f"SELECT COUNT(*), AVG({is_positive}) FROM events WHERE user_id = ? AND positive IS NOT NULL", [user_id]
        )[0]
        terms = {
            kind: self._rows(
                "SELECT term, label, SUM(weight), COUNT(*) FROM terms WHERE user_id = ? AND kind = ? GROUP BY term, label "
                "ORDER BY 3 DESC, term LIMIT ?",
                [user_id, kind, top],
            )
            for kind in ("keyword", "entity")
        }
        opinions = self._rows(
            "SELECT term, SUM(CASE WHEN label = 'positive' THEN weight ELSE 0 END),"
            " SUM(CASE WHEN label = 'negative' THEN weight ELSE 0 END),"
            " SUM(CASE WHEN label = 'neutral' THEN weight ELSE 0 END), COUNT(*)"
            " FROM terms WHERE user_id = ? AND kind = 'aspect' GROUP BY term",
            [user_id],
        )
        aspects = [
            {"term": t, "positive": float(p), "negative": float(n), "neutral": float(u), "count": int(c)}
            for t, p, n, u, c in opinions
        ]
        liked = sorted((a for a in aspects if a["positive"] > a["negative"]), key=lambda a: (-a["positive"], a["term"]))
        disliked = sorted(
            (a for a in aspects if a["negative"] > a["positive"]), key=lambda a: (-a["negative"], a["term"])
        )
        # Per item its latest event (the type and time of that one), latest items first.
        items = self._rows(
            "SELECT item_id, type, ts FROM (SELECT item_id, type, ts, ROW_NUMBER() OVER"
            " (PARTITION BY item_id ORDER BY ts DESC, id DESC) AS r FROM events WHERE user_id = ? AND item_id IS NOT NULL)"
            " AS latest WHERE r = 1 ORDER BY ts DESC, item_id LIMIT ?",
            [user_id, top],
        )
        return {
            "user_id": user_id,
            "n_events": int(head[0]),
            "first_seen": head[1],
            "last_seen": head[2],
            "interests": [{"category": c, "share": w / total} for c, w in cats],
            "sentiment": {
                "n": int(overall[0]),
                "positive_share": overall[1],
                "trend": [
                    {"day": time.strftime("%Y-%m-%d", time.gmtime(int(d) * 86400)), "n": int(n), "positive_share": p}
                    for d, n, p in sent
                ],
            },
            "keywords": [{"term": t, "weight": w, "count": int(n)} for t, _, w, n in terms["keyword"]],
            "entities": [
                {"term": t, "type": label, "weight": w, "count": int(n)} for t, label, w, n in terms["entity"]
            ],
            "recent_items": [{"item_id": i, "type": kind, "ts": ts} for i, kind, ts in items],
            "aspects": {"liked": liked[:top], "disliked": disliked[:top]},
        }

    def trends(self, window_s: float, end: float | None = None, top: int = 10, min_count: int = 1) -> dict[str, Any]:
        """Rising and falling demand: counts in ``[end - window_s, end)`` against the window before.

        Both are resolved to whole minutes: ``end`` is rounded up to the next minute (so an event
        stored a moment ago counts) and ``window_s`` down to whole minutes (at least one); the
        answer's ``window`` gives the bounds used.

        Returns:
            ``window`` ({``start``, ``end``, ``previous_start``, ``seconds``}, Unix s), ``events``
            (current and previous counts), ``sentiment`` (positive share current / previous and
            ``shift``), and per kind (``category``, ``entity``, ``keyword``) ``rising`` and
            ``falling``: up to ``top`` terms ``{"term", "type", "current", "previous", "change",
            "positive_share"}`` ranked by ``change`` (event counts; a term needs ``min_count``
            events in one of the windows); ``aspect``: ``rising``, ``falling`` and
            ``complaints_rising`` (ranked by the change in negative mentions), each up to ``top``
            terms ``{"term", "current", "previous", "change", "positive_share",
            "previous_positive_share", "negative_current", "negative_previous",
            "negative_change"}``; the shares are of positive among positive and negative mentions.
        """
        end_min = math.ceil((time.time() if end is None else end) / MINUTE)
        minutes = max(1, int(window_s // MINUTE))
        start_min, prev_min = end_min - minutes, end_min - 2 * minutes
        cur_terms, cur_events = self._window(start_min, end_min)
        prev_terms, prev_events = self._window(prev_min, start_min)
        cur_pos, prev_pos = _share(cur_events[1], cur_events[2]), _share(prev_events[1], prev_events[2])
        out: dict[str, Any] = {
            "window": {
                "start": float(start_min * MINUTE),
                "end": float(end_min * MINUTE),
                "previous_start": float(prev_min * MINUTE),
                "seconds": float(minutes * MINUTE),
            },
            "events": {"current": int(cur_events[0]), "previous": int(prev_events[0])},
            "sentiment": {
                "current_positive_share": cur_pos,
                "previous_positive_share": prev_pos,
                "shift": None if cur_pos is None or prev_pos is None else cur_pos - prev_pos,
            },
        }
        zero = (0, 0, 0, 0)
        for kind in ("category", "entity", "keyword"):
            terms: list[dict[str, Any]] = []
            for k in {k for k in (*cur_terms, *prev_terms) if k[0] == kind}:
                c, p = cur_terms.get(k, zero), prev_terms.get(k, zero)
                if max(c[0], p[0]) < min_count:
                    continue
                terms.append(
                    {
                        "term": k[1],
                        "type": k[2] or None,
                        "current": c[0],
                        "previous": p[0],
                        "change": c[0] - p[0],
                        "positive_share": _share(c[1], c[2]),
                    }
                )
            rising = sorted(
                (t for t in terms if t["change"] > 0), key=lambda t: (-t["change"], -t["current"], t["term"])
            )
            falling = sorted(
                (t for t in terms if t["change"] < 0), key=lambda t: (t["change"], -t["previous"], t["term"])
            )
            out[kind] = {"rising": rising[:top], "falling": falling[:top]}
        out["aspect"] = _aspect_trends(cur_terms, prev_terms, top, min_count)
        return out

    def _window(self, lo: int, hi: int) -> tuple[dict[tuple[str, str, str], tuple[int, ...]], tuple[int, ...]]:
        """Counts in the minutes ``[lo, hi)``: per (kind, term, label) ``(mentions, positive, with
        sentiment, negative aspect)`` and for events ``(events, positive, with sentiment)``.

        Whole hours come from the hour buckets, the minutes at either end from the minute buckets,
        summed in the database: one query per table, whatever the number of events."""
        per_hour = HOUR // MINUTE
        first, last = -(-lo // per_hour), hi // per_hour  # whole hours [first, last)
        if first < last:
            ranges = [(HOUR, first, last), (MINUTE, lo, first * per_hour), (MINUTE, last * per_hour, hi)]
        else:
            ranges = [(MINUTE, lo, hi)]
        ranges = [r for r in ranges if r[1] < r[2]]
        where = " OR ".join("(span = ? AND bucket >= ? AND bucket < ?)" for _ in ranges)
        args = [x for r in ranges for x in r]
        rows = self._rows(
            "SELECT kind, term, label, SUM(n), SUM(pos_n), SUM(pos_known), SUM(neg_n) FROM term_buckets"
            f" WHERE {where} GROUP BY kind, term, label",
            args,
        )
        events = self._rows(f"SELECT SUM(n), SUM(pos_n), SUM(pos_known) FROM event_buckets WHERE {where}", args)[0]
        terms = {(k, t, lb): tuple(int(c or 0) for c in counts) for k, t, lb, *counts in rows}
        return terms, tuple(int(c or 0) for c in events)


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


def _share(positive: float, known: float) -> float | None:
    """Positive share among mentions with a known sentiment, or None without any."""
    return positive / known if known else None


def _aspect_trends(
    cur_terms: dict[tuple[str, str, str], tuple[int, ...]],
    prev_terms: dict[tuple[str, str, str], tuple[int, ...]],
    top: int,
    min_count: int,
) -> dict[str, Any]:
    """Aspects summed over their polarity labels: mentions, positive share and negative mentions."""

    def by_term(counts: dict[tuple[str, str, str], tuple[int, ...]]) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for (kind, term, _), c in counts.items():
            if kind == "aspect":
                acc = out.setdefault(term, [0, 0, 0, 0])
                for i, v in enumerate(c):
                    acc[i] += v
        return out

    cur, prv = by_term(cur_terms), by_term(prev_terms)
    zero = [0, 0, 0, 0]
    terms: list[dict[str, Any]] = []
    for t in set(cur) | set(prv):
        c, p = cur.get(t, zero), prv.get(t, zero)
        if max(c[0], p[0]) < min_count:
            continue
        terms.append(
            {
                "term": t,
                "current": c[0],
                "previous": p[0],
                "change": c[0] - p[0],
                "positive_share": _share(c[1], c[2]),
                "previous_positive_share": _share(p[1], p[2]),
                "negative_current": c[3],
                "negative_previous": p[3],
                "negative_change": c[3] - p[3],
            }
        )
    rising = sorted((t for t in terms if t["change"] > 0), key=lambda t: (-t["change"], -t["current"], t["term"]))
    falling = sorted((t for t in terms if t["change"] < 0), key=lambda t: (t["change"], -t["previous"], t["term"]))
    complaints = sorted(
        (t for t in terms if t["negative_change"] > 0),
        key=lambda t: (-t["negative_change"], -t["negative_current"], t["term"]),
    )
    return {"rising": rising[:top], "falling": falling[:top], "complaints_rising": complaints[:top]}
