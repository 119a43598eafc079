"""What every part of the gateway stands on: the runners, the event store, and one way to call each."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import TypeAdapter

from gateway.errors import request_error
from mining.events import EventsOff, EventStore
from mining.registry import RUNNERS
from mining.settings import BUILTIN_REPLIES

T = TypeVar("T")

# Runner results arrive as contract models (colocated) or as their JSON (separate layout): one
# adapter per result type reads either.
_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def typed(cls: type[T], results: Any) -> list[T]:
    """``results`` (a runner's answer: models or their JSON) as a list of ``cls``."""
    adapter = _ADAPTERS.setdefault(cls, TypeAdapter(list[cls]))  # type: ignore[valid-type]
    return adapter.validate_python(results, from_attributes=True)  # type: ignore[no-any-return]


class GatewayBase:
    """Runners and event store shared by the gateway's parts.

    Args:
        runners: registry runner key (``sentiment``, ``classification``, ``ner``, ``aspects``,
            ``keywords``, ``recall``, ``sequence``, ``demand``) -> runner proxy.
        events: the event store (:class:`EventsOff` for a deployment without one).
        replies: the reply knowledge base ``/reply`` suggests from (CSV, :func:`mining.replies.load_kb`).
        shop_values: the shop's own placeholder values (CSV, :func:`mining.replies.load_shop_values`),
            None for none.
    """

    def __init__(
        self,
        runners: Mapping[str, Any],
        events: EventStore | EventsOff,
        replies: Path = BUILTIN_REPLIES,
        shop_values: Path | None = None,
    ) -> None:
        missing = [r.key for r in RUNNERS if r.key not in runners]
        if missing:
            raise ValueError(f"runners missing: {missing}")
        self.runners, self.events, self.replies_path = dict(runners), events, replies
        self.shop_values_path = shop_values
        self._strategy: dict[str, Any] | None = None

    async def ready(self) -> bool:
        """Every runner has loaded and warmed its models (the meaning of ``/readyz``)."""
        try:
            return all(await asyncio.gather(*(r.is_ready(5) for r in self.runners.values())))
        except Exception:  # a separate runner's socket is not up yet
            return False

    async def _store(self, method: Callable[..., T], *args: Any) -> T:
        """Run an event-store call in a thread; its refusals (busy, key reused, no store) become
        the :class:`RequestError` every transport answers with (:func:`gateway.errors.request_error`)."""
        try:
            return await asyncio.to_thread(method, *args)
        except Exception as e:
            error = request_error(e)
            if error is None:
                raise
            raise error from None
