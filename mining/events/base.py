"""What every event store does, whichever database holds it: store analysed events at most once
per (user, idempotency key), count them into time buckets (:mod:`mining.events.writes`), and
answer profiles, trends and the interactions recommendations fold in (:mod:`mining.events.queries`).

A backend (:mod:`mining.events.sqlite`, :mod:`mining.events.postgres`) supplies a connection, a
transaction and its schema (:class:`~mining.events.backend.Backend`); the SQL above it is written
once, in the dialect both databases speak (``?`` placeholders, ``CASE`` instead of boolean
arithmetic, ``ON CONFLICT`` upserts). Term derivation and the guards against personal data are in
:mod:`mining.events.terms`.

Times are Unix seconds (float, UTC).
"""

from __future__ import annotations

from mining.events.backend import (
    EVENT_COUNTS,
    HOUR,
    MINUTE,
    SCHEMA_VERSION,
    SPANS,
    TERM_COUNTS,
    Cursor,
    KeyConflict,
    StoreUnavailable,
    T,
    Tx,
    guarded,
)
from mining.events.queries import StoreQueries
from mining.events.terms import (
    EVENT_TYPES,
    INTEREST_WEIGHTS,
    ITEM_WEIGHTS,
    Term,
    body_hash,
    guard_analysis,
    guard_term,
    terms_of,
)
from mining.events.writes import StoreWrites

__all__ = [
    "EVENT_COUNTS",
    "EVENT_TYPES",
    "HOUR",
    "INTEREST_WEIGHTS",
    "ITEM_WEIGHTS",
    "MINUTE",
    "SCHEMA_VERSION",
    "SPANS",
    "TERM_COUNTS",
    "Cursor",
    "EventStore",
    "KeyConflict",
    "StoreUnavailable",
    "T",
    "Term",
    "Tx",
    "body_hash",
    "guard_analysis",
    "guard_term",
    "guarded",
    "terms_of",
]


class EventStore(StoreWrites, StoreQueries):
    """Events, their derived terms and their time buckets. Thread-safe; several processes (and,
    with PostgreSQL, several machines) may share one store."""
