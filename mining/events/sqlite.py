"""The embedded event store: one SQLite file, for a single machine.

WAL mode with ``synchronous=FULL``: a commit is on disk before a write returns, so an event the
API acknowledged survives a crash of the process or the machine. Several server workers
(processes) open the same file; SQLite's locking serialises their writes (``busy_timeout`` waits
instead of failing). The file must be on a disk the machine keeps: for several machines, or
instances that come and go, use :mod:`mining.events.postgres`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mining.events.base import EVENT_COUNTS, SCHEMA_VERSION, SPANS, TERM_COUNTS, EventStore, T, Tx

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
    order_id TEXT,
    status TEXT,
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
CREATE TABLE IF NOT EXISTS term_buckets (
    span INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    kind TEXT NOT NULL,
    term TEXT NOT NULL,
    label TEXT NOT NULL,
    n INTEGER NOT NULL,
    pos_n INTEGER NOT NULL,
    pos_known INTEGER NOT NULL,
    neg_n INTEGER NOT NULL,
    PRIMARY KEY (span, bucket, kind, term, label)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS event_buckets (
    span INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    n INTEGER NOT NULL,
    pos_n INTEGER NOT NULL,
    pos_known INTEGER NOT NULL,
    PRIMARY KEY (span, bucket)
) WITHOUT ROWID;
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
# Versions 1 and 2 -> 3: the buckets are rebuilt from the term rows (version 2's hourly tables
# are replaced by the minute and hour buckets).
_TO_V3 = "DROP TABLE IF EXISTS term_hours; DROP TABLE IF EXISTS event_hours;" + "".join(
    f"INSERT INTO term_buckets SELECT {span}, CAST(ts / {span} AS INTEGER), kind, term, label, {TERM_COUNTS}"
    f" FROM terms GROUP BY 2, 3, 4, 5; INSERT INTO event_buckets SELECT {span}, CAST(ts / {span} AS INTEGER),"
    f" {EVENT_COUNTS} FROM events GROUP BY 2;"
    for span in SPANS
)


# Version 3 -> 4: an event's order number and state.
_TO_V4 = "ALTER TABLE events ADD COLUMN order_id TEXT; ALTER TABLE events ADD COLUMN status TEXT;"


def _script(db: sqlite3.Connection, script: str) -> None:
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def migrate(db: sqlite3.Connection) -> int:
    """Bring the file's schema to :data:`SCHEMA_VERSION` in one transaction (safe when several
    processes open the file at once: the first migrates, the others find it done). ``PRAGMA
    user_version`` holds the version. Returns the version found before."""
    db.execute("BEGIN IMMEDIATE")
    try:
        found = int(db.execute("PRAGMA user_version").fetchone()[0])
        has_events = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'").fetchone()
        if has_events and found < 1:
            _script(db, _V0_TO_V1)
        if has_events and found < 4:
            _script(db, _TO_V4)
        _script(db, SCHEMA)
        if has_events and found < 3:
            _script(db, _TO_V3)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return found


# Words in SQLite's messages for a store that is busy or out of space, not broken.
_TRANSIENT = ("locked", "busy", "full", "disk i/o", "unable to open")


class SQLiteEventStore(EventStore):
    """Events in one SQLite file (created on first open). One connection behind a lock per
    process; callers in async code run the methods in a thread."""

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

    def __repr__(self) -> str:
        return f"SQLiteEventStore({str(self.path)!r})"

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, list(args)).fetchall()

    def _write(self, work: Callable[[Tx], T]) -> T:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = work(self._db)  # type: ignore[arg-type]
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return result

    def _unavailable(self, error: Exception) -> str | None:
        if isinstance(error, sqlite3.OperationalError | sqlite3.DatabaseError) and any(
            word in str(error).lower() for word in _TRANSIENT
        ):
            return str(error)
        return None

    def _bucket_of(self, span: int) -> str:
        # Times are after 2000 (the API refuses older ones), so truncation is the floor.
        return f"CAST(ts / {int(span)} AS INTEGER)"
