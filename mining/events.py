"""Durable behaviour events and what is built from them: user profiles, trends, and the fresh
interactions that recommendations fold in.

Events live in an embedded SQLite database in WAL mode with ``synchronous=FULL``: a commit is on
disk before :meth:`EventStore.add` returns, so an event the API acknowledged survives a crash of
the process or the machine. Several server workers (processes) open the same file; SQLite's
locking serialises their writes (``busy_timeout`` waits instead of failing).

The text of an event is analysed before it is stored (category, sentiment, entities, keywords,
aspects with their polarity);
each derived term is a row of ``terms`` with the event's user and timestamp, so a profile or a
trend window is one indexed aggregate query and always agrees with the events.

Times are Unix seconds (float, UTC).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

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

# Version 1: idempotency keys are unique per user (they were global: user B's retry could be
# answered with user A's event), and each event keeps a hash of its body, so a retry that reuses a
# key for a different event is told so. ``PRAGMA user_version`` holds the version; older files are
# migrated in place when opened (:func:`migrate`).
SCHEMA_VERSION = 2
SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    user_id TEXT NOT NULL,
    type TEXT NOT NULL,
    item_id TEXT,
    text TEXT,
    ts REAL NOT NULL,
    received REAL NOT NULL,
    lang TEXT,
    category TEXT,
    positive REAL,
    analysis TEXT,
    body_hash TEXT,
    UNIQUE (user_id, key)
);
CREATE INDEX IF NOT EXISTS events_user_ts ON events (user_id, ts);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
CREATE TABLE IF NOT EXISTS terms (
    event_id INTEGER NOT NULL REFERENCES events (id),
    user_id TEXT NOT NULL,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    term TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    weight REAL NOT NULL,
    positive REAL
);
CREATE INDEX IF NOT EXISTS terms_ts_kind ON terms (ts, kind);
CREATE INDEX IF NOT EXISTS terms_user_kind ON terms (user_id, kind);
CREATE TABLE IF NOT EXISTS term_hours (
    hour INTEGER NOT NULL,
    kind TEXT NOT NULL,
    term TEXT NOT NULL,
    label TEXT NOT NULL,
    n INTEGER NOT NULL,
    pos_n INTEGER NOT NULL,
    pos_known INTEGER NOT NULL,
    neg_n INTEGER NOT NULL,
    PRIMARY KEY (hour, kind, term, label)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS event_hours (
    hour INTEGER PRIMARY KEY,
    n INTEGER NOT NULL,
    pos_n INTEGER NOT NULL,
    pos_known INTEGER NOT NULL
);
"""
# Version 2 adds ``term_hours`` and ``event_hours``: per UTC hour, the counts trends need (mentions,
# positive mentions, mentions with a known sentiment, negative aspect mentions), kept in the same
# transaction as every insert and delete, so a trend window reads buckets instead of every term.
_HOUR = "CAST(ts / 3600 AS INTEGER)"
_TERM_COUNTS = (
    "COUNT(*), TOTAL(positive >= 0.5), TOTAL(positive IS NOT NULL), TOTAL(kind = 'aspect' AND label = 'negative')"
)
_EVENT_COUNTS = "COUNT(*), TOTAL(positive >= 0.5), TOTAL(positive IS NOT NULL)"
_V1_TO_V2 = f"""
INSERT INTO term_hours SELECT {_HOUR}, kind, term, label, {_TERM_COUNTS} FROM terms GROUP BY 1, 2, 3, 4;
INSERT INTO event_hours SELECT {_HOUR}, {_EVENT_COUNTS} FROM events GROUP BY 1;
"""
# Version 0 -> 1: rebuild the events table with the per-user key and the body hash (SQLite
# cannot change a UNIQUE constraint in place); event ids are kept, so terms stay attached.
_V0_TO_V1 = """
CREATE TABLE events_v1 (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL, user_id TEXT NOT NULL, type TEXT NOT NULL, item_id TEXT,
    text TEXT, ts REAL NOT NULL, received REAL NOT NULL, lang TEXT, category TEXT, positive REAL,
    analysis TEXT, body_hash TEXT, UNIQUE (user_id, key)
);
INSERT INTO events_v1 (id, key, user_id, type, item_id, text, ts, received, lang, category, positive, analysis)
    SELECT id, key, user_id, type, item_id, text, ts, received, lang, category, positive, analysis FROM events;
DROP TABLE events;
ALTER TABLE events_v1 RENAME TO events;
"""


def migrate(db: sqlite3.Connection) -> int:
    """Bring the store's schema to :data:`SCHEMA_VERSION` in one transaction (safe when several
    processes open the file at once: the first migrates, the others find it done). Returns the
    version found before."""
    db.execute("BEGIN IMMEDIATE")
    try:
        found = int(db.execute("PRAGMA user_version").fetchone()[0])
        has_events = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'").fetchone()
        if has_events and found < 1:
            for statement in _V0_TO_V1.split(";"):
                if statement.strip():
                    db.execute(statement)
        for statement in SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        if has_events and found < 2:
            for statement in _V1_TO_V2.split(";"):
                if statement.strip():
                    db.execute(statement)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return found


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


# An aspect term's ``positive`` column: its own polarity, not the whole text's. Neutral mentions
# count as mentions but not in the positive share.
_ASPECT_POSITIVE = {"positive": 1.0, "negative": 0.0, "neutral": None}


def terms_of(
    analysis: dict[str, Any] | None, event_type: str, max_keywords: int = 5
) -> list[tuple[str, str, str, float, float | None]]:
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
        (label: the polarity), where it is 1 (positive), 0 (negative) or None (neutral).
    """
    if not analysis:
        return []
    w = INTEREST_WEIGHTS[event_type]
    pos = analysis.get("positive")
    rows: list[tuple[str, str, str, float, float | None]] = []
    if analysis.get("category"):
        rows.append(("category", analysis["category"], "", w, pos))
    seen: set[tuple[str, str]] = set()
    for e in analysis.get("entities", []):
        key = (e["text"].strip().lower(), e["type"])
        if key[0] and key not in seen:
            seen.add(key)
            rows.append(("entity", key[0], key[1], w, pos))
    for k in analysis.get("keywords", [])[:max_keywords]:
        rows.append(("keyword", k["keyword"], "", w, pos))
    seen = set()
    for a in analysis.get("aspects", []):
        key = (a["aspect"].strip().lower(), a["polarity"])
        if key[0] and key not in seen and key[1] in _ASPECT_POSITIVE:
            seen.add(key)
            rows.append(("aspect", key[0], key[1], w, _ASPECT_POSITIVE[key[1]]))
    return rows


class StoreUnavailable(RuntimeError):
    """The store cannot take or answer a call now (locked past the busy timeout, disk full, I/O
    error); the call may be retried. Its message says which, without customer data."""


_TRANSIENT = ("locked", "busy", "full", "disk i/o", "unable to open")
F = TypeVar("F", bound=Callable[..., Any])


def _translating(method: F) -> F:
    """SQLite errors that say the store is busy or out of space become :class:`StoreUnavailable`;
    anything else (a bug) propagates as it is."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except (sqlite3.OperationalError, sqlite3.DatabaseError) as e:
            if any(word in str(e).lower() for word in _TRANSIENT):
                raise StoreUnavailable(f"event store unavailable: {e}") from e
            raise

    return wrapper  # type: ignore[return-value]


class EventStore:
    """Events and their derived terms in one SQLite file (created on first open).

    Thread-safe within a process (one connection behind a lock; callers in async code run the
    methods in a thread); several processes may open the same path.
    """

    def __init__(self, path: str | Path, busy_timeout_s: float = 30.0) -> None:
        """Open (creating) the store at ``path``; a write waits up to ``busy_timeout_s`` for
        another process's lock before the call fails with :class:`StoreUnavailable`."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=busy_timeout_s, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: the WAL is fsynced at every commit, so "stored" means on disk, not in a page cache.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        with self._lock:
            migrate(self._db)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- writes ----------------------------------------------------------------------------------
    @_translating
    def existing(self, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, str | None]]:
        """(user_id, key) pairs already stored -> (event id, body hash): to skip analysing retries
        and to tell a retry from a reused key."""
        if not pairs:
            return {}
        wanted = set(pairs)
        users, keys = sorted({u for u, _ in wanted}), sorted({k for _, k in wanted})
        # One query on the (user_id, key) index; pairs the request did not ask for are dropped below.
        with self._lock:
            rows = self._db.execute(
                f"SELECT user_id, key, id, body_hash FROM events WHERE user_id IN ({','.join('?' * len(users))})"
                f" AND key IN ({','.join('?' * len(keys))})",
                [*users, *keys],
            ).fetchall()
        return {(u, k): (int(i), h) for u, k, i, h in rows if (u, k) in wanted}

    @_translating
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
        out = []
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for e in events:
                    a = e.get("analysis") or {}
                    digest = e.get("body_hash") or body_hash(e)
                    cur = self._db.execute(
                        "INSERT OR IGNORE INTO events (key, user_id, type, item_id, text, ts, received, lang, category,"
                        " positive, analysis, body_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            e["key"],
                            e["user_id"],
                            e["type"],
                            e.get("item_id"),
                            e.get("text"),
                            float(e["ts"]),
                            now,
                            a.get("lang"),
                            a.get("category"),
                            a.get("positive"),
                            json.dumps(a, ensure_ascii=False) if a else None,
                            digest,
                        ),
                    )
                    if cur.rowcount == 1:
                        event_id = int(cur.lastrowid or 0)
                        derived = terms_of(a, e["type"])
                        self._db.executemany(
                            "INSERT INTO terms (event_id, user_id, ts, kind, term, label, weight, positive)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            [
                                (event_id, e["user_id"], float(e["ts"]), kind, term, label, w, positive)
                                for kind, term, label, w, positive in derived
                            ],
                        )
                        self._bucket(float(e["ts"]), a.get("positive"), derived)
                        out.append({"key": e["key"], "id": event_id, "stored": True})
                    else:
                        event_id, stored_hash = self._db.execute(
                            "SELECT id, body_hash FROM events WHERE user_id = ? AND key = ?", (e["user_id"], e["key"])
                        ).fetchone()
                        # Events stored before bodies were hashed (schema 0) count as the same body.
                        if stored_hash is not None and stored_hash != digest:
                            raise KeyConflict(e["key"])
                        out.append({"key": e["key"], "id": int(event_id), "stored": False})
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return out

    def _bucket(
        self, ts: float, positive: float | None, derived: list[tuple[str, str, str, float, float | None]]
    ) -> None:
        """Count one new event and its terms into their hour (inside the caller's transaction)."""
        hour = int(ts // 3600)
        self._db.execute(
            "INSERT INTO event_hours VALUES (?, 1, ?, ?) ON CONFLICT (hour) DO UPDATE SET n = n + 1,"
            " pos_n = pos_n + excluded.pos_n, pos_known = pos_known + excluded.pos_known",
            (hour, int(positive is not None and positive >= 0.5), int(positive is not None)),
        )
        self._db.executemany(
            "INSERT INTO term_hours VALUES (?, ?, ?, ?, 1, ?, ?, ?) ON CONFLICT (hour, kind, term, label) DO UPDATE"
            " SET n = n + 1, pos_n = pos_n + excluded.pos_n, pos_known = pos_known + excluded.pos_known,"
            " neg_n = neg_n + excluded.neg_n",
            [
                (
                    hour,
                    kind,
                    term,
                    label,
                    int(pos is not None and pos >= 0.5),
                    int(pos is not None),
                    int(kind == "aspect" and label == "negative"),
                )
                for kind, term, label, _, pos in derived
            ],
        )

    def _unbucket(self, terms_where: str, events_where: str, args: tuple[Any, ...]) -> None:
        """Take the terms and events about to be deleted out of their hours (inside the caller's
        transaction, before the DELETE)."""
        deltas = self._db.execute(
            f"SELECT {_TERM_COUNTS}, {_HOUR}, kind, term, label FROM terms WHERE {terms_where} GROUP BY 5, 6, 7, 8",
            args,
        ).fetchall()
        self._db.executemany(
            "UPDATE term_hours SET n = n - ?, pos_n = pos_n - ?, pos_known = pos_known - ?, neg_n = neg_n - ?"
            " WHERE hour = ? AND kind = ? AND term = ? AND label = ?",
            deltas,
        )
        hours = self._db.execute(
            f"SELECT {_EVENT_COUNTS}, {_HOUR} FROM events WHERE {events_where} GROUP BY 4", args
        ).fetchall()
        self._db.executemany(
            "UPDATE event_hours SET n = n - ?, pos_n = pos_n - ?, pos_known = pos_known - ? WHERE hour = ?", hours
        )
        touched = sorted({int(d[4]) for d in deltas} | {int(h[3]) for h in hours})
        for k in range(0, len(touched), 500):
            marks = ",".join("?" * len(touched[k : k + 500]))
            self._db.execute(f"DELETE FROM term_hours WHERE n <= 0 AND hour IN ({marks})", touched[k : k + 500])
            self._db.execute(f"DELETE FROM event_hours WHERE n <= 0 AND hour IN ({marks})", touched[k : k + 500])

    @_translating
    def delete_user(self, user_id: str) -> dict[str, int]:
        """Remove every event of ``user_id`` and every term derived from them, in one transaction.
        Idempotent: a second call deletes nothing. Returns the counts (``events``, ``terms``)."""
        return self._delete("user_id = ?", "user_id = ?", (user_id,))

    @_translating
    def purge(self, before: float) -> dict[str, int]:
        """Remove events with ``ts`` before ``before`` (Unix s) and their terms: the retention
        setting's job. Returns the counts (``events``, ``terms``)."""
        return self._delete("event_id IN (SELECT id FROM events WHERE ts < ?)", "ts < ?", (before,))

    def _delete(self, terms_where: str, events_where: str, args: tuple[Any, ...]) -> dict[str, int]:
        """Delete the matching terms and events, and take them out of their hours, atomically."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._unbucket(terms_where, events_where, args)
                terms = self._db.execute(f"DELETE FROM terms WHERE {terms_where}", args).rowcount
                events = self._db.execute(f"DELETE FROM events WHERE {events_where}", args).rowcount
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return {"events": int(events), "terms": int(terms)}

    # --- reads -----------------------------------------------------------------------------------
    @_translating
    def _rows(self, sql: str, args: Iterable[Any]) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, list(args)).fetchall()

    def count(self) -> int:
        return int(self._rows("SELECT COUNT(*) FROM events", ())[0][0])

    def keys(self) -> set[str]:
        return {k for (k,) in self._rows("SELECT key FROM events", ())}

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
        sent = self._rows(
            "SELECT CAST((ts / 86400) AS INTEGER) AS day, COUNT(*), AVG(positive >= 0.5) FROM events "
            "WHERE user_id = ? AND positive IS NOT NULL AND ts >= ? GROUP BY day ORDER BY day",
            [user_id, now - days * 86400],
        )
        overall = self._rows(
            "SELECT COUNT(*), AVG(positive >= 0.5) FROM events WHERE user_id = ? AND positive IS NOT NULL", [user_id]
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
            "SELECT term, SUM(weight * (label = 'positive')), SUM(weight * (label = 'negative')),"
            " SUM(weight * (label = 'neutral')), COUNT(*) FROM terms WHERE user_id = ? AND kind = 'aspect'"
            " GROUP BY term",
            [user_id],
        )
        aspects = [{"term": t, "positive": p, "negative": n, "neutral": u, "count": c} for t, p, n, u, c in opinions]
        liked = sorted((a for a in aspects if a["positive"] > a["negative"]), key=lambda a: (-a["positive"], a["term"]))
        disliked = sorted(
            (a for a in aspects if a["negative"] > a["positive"]), key=lambda a: (-a["negative"], a["term"])
        )
        items = self._rows(
            "SELECT item_id, type, MAX(ts) FROM events WHERE user_id = ? AND item_id IS NOT NULL GROUP BY item_id "
            "ORDER BY 3 DESC LIMIT ?",
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
                    {"day": time.strftime("%Y-%m-%d", time.gmtime(d * 86400)), "n": n, "positive_share": p}
                    for d, n, p in sent
                ],
            },
            "keywords": [{"term": t, "weight": w, "count": n} for t, _, w, n in terms["keyword"]],
            "entities": [{"term": t, "type": label, "weight": w, "count": n} for t, label, w, n in terms["entity"]],
            "recent_items": [{"item_id": i, "type": kind, "ts": ts} for i, kind, ts in items],
            "aspects": {"liked": liked[:top], "disliked": disliked[:top]},
        }

    def trends(self, window_s: float, end: float | None = None, top: int = 10, min_count: int = 1) -> dict[str, Any]:
        """Rising and falling demand: counts in ``[end - window_s, end)`` against the window before.

        Returns:
            ``window`` ({``start``, ``end``, ``previous_start``}, Unix s), ``events`` (current and
            previous counts), ``sentiment`` (positive share current / previous and ``shift``), and per
            kind (``category``, ``entity``, ``keyword``) ``rising`` and ``falling``: up to ``top``
            terms ``{"term", "type", "current", "previous", "change", "positive_share"}`` ranked by
            ``change`` (event counts; a term needs ``min_count`` events in one of the windows);
            ``aspect``: ``rising``, ``falling`` and ``complaints_rising`` (ranked by the change in
            negative mentions), each up to ``top`` terms ``{"term", "current", "previous",
            "change", "positive_share", "previous_positive_share", "negative_current",
            "negative_previous", "negative_change"}``; the shares are of positive among positive
            and negative mentions.
        """
        end = time.time() if end is None else end
        start, prev = end - window_s, end - 2 * window_s
        cur_terms, cur_events = self._window(start, end)
        prev_terms, prev_events = self._window(prev, start)
        cur_pos, prev_pos = _share(cur_events[1], cur_events[2]), _share(prev_events[1], prev_events[2])
        out: dict[str, Any] = {
            "window": {"start": start, "end": end, "previous_start": prev, "seconds": window_s},
            "events": {"current": int(cur_events[0]), "previous": int(prev_events[0])},
            "sentiment": {
                "current_positive_share": cur_pos,
                "previous_positive_share": prev_pos,
                "shift": None if cur_pos is None or prev_pos is None else cur_pos - prev_pos,
            },
        }
        zero = (0.0, 0.0, 0.0, 0.0)
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
                        "current": int(c[0]),
                        "previous": int(p[0]),
                        "change": int(c[0]) - int(p[0]),
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

    def _window(self, lo: float, hi: float) -> tuple[dict[tuple[str, str, str], tuple[float, ...]], tuple[float, ...]]:
        """Counts in ``[lo, hi)``: per (kind, term, label) ``(mentions, positive, with sentiment,
        negative aspect)`` and for events ``(events, positive, with sentiment)``. Whole hours come
        from the hourly buckets; the partial hours at either edge from the rows themselves, so the
        answer is exact and the rows read are at most two hours' worth."""
        first, last = math.ceil(lo / 3600), math.floor(hi / 3600)
        edges = [(lo, first * 3600.0), (last * 3600.0, hi)] if first < last else [(lo, hi)]
        terms: dict[tuple[str, str, str], list[float]] = {}
        events = [0.0, 0.0, 0.0]

        def add_terms(rows: list[tuple[Any, ...]]) -> None:
            for kind, term, label, *counts in rows:
                acc = terms.setdefault((kind, term, label), [0.0, 0.0, 0.0, 0.0])
                for i, v in enumerate(counts):
                    acc[i] += v or 0.0

        def add_events(row: tuple[Any, ...]) -> None:
            for i, v in enumerate(row):
                events[i] += v or 0.0

        if first < last:
            add_terms(
                self._rows(
                    "SELECT kind, term, label, SUM(n), SUM(pos_n), SUM(pos_known), SUM(neg_n) FROM term_hours"
                    " WHERE hour >= ? AND hour < ? GROUP BY kind, term, label",
                    [first, last],
                )
            )
            add_events(
                self._rows(
                    "SELECT TOTAL(n), TOTAL(pos_n), TOTAL(pos_known) FROM event_hours WHERE hour >= ? AND hour < ?",
                    [first, last],
                )[0]
            )
        for a, b in edges:
            if a >= b:
                continue
            add_terms(
                self._rows(
                    f"SELECT kind, term, label, {_TERM_COUNTS} FROM terms WHERE ts >= ? AND ts < ? GROUP BY 1, 2, 3",
                    [a, b],
                )
            )
            add_events(self._rows(f"SELECT {_EVENT_COUNTS} FROM events WHERE ts >= ? AND ts < ?", [a, b])[0])
        return {k: tuple(v) for k, v in terms.items()}, tuple(events)


def _share(positive: float, known: float) -> float | None:
    """Positive share among mentions with a known sentiment, or None without any."""
    return positive / known if known else None


def _aspect_trends(
    cur_terms: dict[tuple[str, str, str], tuple[float, ...]],
    prev_terms: dict[tuple[str, str, str], tuple[float, ...]],
    top: int,
    min_count: int,
) -> dict[str, Any]:
    """Aspects summed over their polarity labels: mentions, positive share and negative mentions."""

    def by_term(counts: dict[tuple[str, str, str], tuple[float, ...]]) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for (kind, term, _), c in counts.items():
            if kind == "aspect":
                acc = out.setdefault(term, [0.0, 0.0, 0.0, 0.0])
                for i, v in enumerate(c):
                    acc[i] += v
        return out

    cur, prv = by_term(cur_terms), by_term(prev_terms)
    zero = [0.0, 0.0, 0.0, 0.0]
    terms: list[dict[str, Any]] = []
    for t in set(cur) | set(prv):
        c, p = cur.get(t, zero), prv.get(t, zero)
        if max(c[0], p[0]) < min_count:
            continue
        terms.append(
            {
                "term": t,
                "current": int(c[0]),
                "previous": int(p[0]),
                "change": int(c[0]) - int(p[0]),
                "positive_share": _share(c[1], c[2]),
                "previous_positive_share": _share(p[1], p[2]),
                "negative_current": int(c[3]),
                "negative_previous": int(p[3]),
                "negative_change": int(c[3]) - int(p[3]),
            }
        )
    rising = sorted((t for t in terms if t["change"] > 0), key=lambda t: (-t["change"], -t["current"], t["term"]))
    falling = sorted((t for t in terms if t["change"] < 0), key=lambda t: (t["change"], -t["previous"], t["term"]))
    complaints = sorted(
        (t for t in terms if t["negative_change"] > 0),
        key=lambda t: (-t["negative_change"], -t["negative_current"], t["term"]),
    )
    return {"rising": rising[:top], "falling": falling[:top], "complaints_rising": complaints[:top]}
