"""Durable behaviour events and what is built from them: user profiles, trends, and the fresh
interactions that recommendations fold in.

Two backends behind one interface (:class:`EventStore`): an embedded SQLite file for one machine
(the default) and PostgreSQL shared by every instance (:func:`open_store` picks by URL).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mining.events.base import (
    EVENT_TYPES,
    INTEREST_WEIGHTS,
    ITEM_WEIGHTS,
    SCHEMA_VERSION,
    EventStore,
    KeyConflict,
    StoreUnavailable,
    body_hash,
    terms_of,
)
from mining.events.models import Profile, StoredAnalysis, Trends
from mining.events.sqlite import SQLiteEventStore
from mining.events.terms import Term

__all__ = [
    "EVENTS_OFF",
    "EVENT_TYPES",
    "INTEREST_WEIGHTS",
    "ITEM_WEIGHTS",
    "SCHEMA_VERSION",
    "EventStore",
    "EventsDisabled",
    "EventsOff",
    "KeyConflict",
    "Profile",
    "SQLiteEventStore",
    "StoreUnavailable",
    "StoredAnalysis",
    "Term",
    "Trends",
    "body_hash",
    "is_postgres",
    "open_store",
    "terms_of",
]


EVENTS_OFF = (
    "events: this deployment keeps no events (DEMAND_MINING_EVENTS=off); "
    "profiles, trends and event intake need an event store"
)


class EventsDisabled(RuntimeError):
    """This deployment keeps no events (``DEMAND_MINING_EVENTS=off``)."""


class EventsOff:
    """The store of a deployment without one (e.g. serverless inference, which cannot reach a
    database in a private network): every call raises :class:`EventsDisabled`, so nothing is
    acknowledged that would be lost."""

    def __getattr__(self, name: str) -> Any:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise EventsDisabled(EVENTS_OFF)

        return refuse

    def close(self) -> None:
        pass


def is_postgres(url: str | Path) -> bool:
    return isinstance(url, str) and url.startswith(("postgresql://", "postgres://"))


def open_store(url: str | Path, secret_arn: str | None = None, pool_size: int = 8) -> EventStore:
    """The event store at ``url``: ``postgresql://…`` (or ``postgres://…``) opens the shared
    PostgreSQL store; ``sqlite:///path`` or a plain path opens (creating) a SQLite file.
    ``secret_arn`` and ``pool_size`` apply to PostgreSQL only."""
    if is_postgres(url):
        from mining.events.postgres import PostgresEventStore  # psycopg is loaded only when used

        return PostgresEventStore(str(url), pool_size=pool_size, secret_arn=secret_arn)
    path = str(url)
    if path.startswith("sqlite://"):
        path = path.removeprefix("sqlite://")
    elif "://" in path:
        scheme = path.split("://", 1)[0]
        raise ValueError(f"event store URL must start with postgresql://, postgres:// or sqlite://; got {scheme}://")
    return SQLiteEventStore(path)
