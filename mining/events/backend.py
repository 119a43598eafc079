"""What every event store is built on, whichever database holds it: the schema version and bucket
spans, the errors a call can raise, the transaction protocol, and :class:`Backend`, what a
database backend provides (a read, a transaction, its bucket SQL) to the writes
(:mod:`mining.events.writes`) and queries (:mod:`mining.events.queries`) written once above it."""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, Self, TypeVar

# Schema versions (each backend migrates older stores in place when opened):
#   1: idempotency keys unique per user, each event keeps a hash of its body;
#   2: hourly buckets;
#   3: minute and hour buckets in one pair of tables (``span`` column), trend windows in minutes;
#   4: an event's order number and order state (``order_id``, ``status``).
SCHEMA_VERSION = 4
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
    """Errors the backend names transient (:meth:`Backend._unavailable`) become
    :class:`StoreUnavailable`; anything else (a bug) propagates as it is."""

    @functools.wraps(method)
    def wrapper(self: Backend, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as e:
            reason = self._unavailable(e)
            if reason is None:
                raise
            raise StoreUnavailable(f"event store unavailable: {reason}") from e

    return wrapper  # type: ignore[return-value]


class Backend(ABC):
    """A database holding the events: the primitives every store's writes and queries use."""

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

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- reads -----------------------------------------------------------------------------------
    @guarded
    def _rows(self, sql: str, args: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        return self._read(sql, list(args))
