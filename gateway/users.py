"""Users' events: intake (analysed, masked, stored once), profiles, deletion, retention and trends."""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import datetime

from gateway.errors import RequestError
from gateway.schemas import DeletedUser, EventIn, EventsResponse, EventStatus, Profile, Trends
from gateway.text import TextEndpoints, stored_hash_text, stored_text
from mining.events import KeyConflict, body_hash

log = logging.getLogger("demand_mining")


class UserEndpoints(TextEndpoints):
    """Event intake and what is read back from the event store per user and across users."""

    async def post_events(self, events: list[EventIn]) -> EventsResponse:
        ids = [(e.user_id, e.key) for e in events]  # keys are unique per user
        if len(set(ids)) != len(ids):
            dup = next(k for k in ids if ids.count(k) > 1)
            raise RequestError(
                400,
                f"events: key {dup[1]!r} of user {dup[0]!r} appears more than once in this request; keys must be unique",
            )
        known = await self._store(self.events.existing, ids)

        def hashed(e: EventIn) -> str:  # of the event as sent, personal data masked by rules alone
            text = None if e.text is None else stored_hash_text(e.text)
            return body_hash(
                {
                    "type": e.type,
                    "item_id": e.item_id,
                    "text": text,
                    "ts": e.ts.timestamp(),
                    "order_id": e.order_id,
                    "status": e.status,
                }
            )

        hashes = {(e.user_id, e.key): hashed(e) for e in events}
        for e in events:
            seen = known.get((e.user_id, e.key))
            if seen is not None and seen[1] is not None and seen[1] != hashes[(e.user_id, e.key)]:
                raise RequestError(409, str(KeyConflict(e.key)))
        fresh = [e for e in events if (e.user_id, e.key) not in known]
        # Analysed as /mine analyses (the runners never see a personal number); only the masked text is kept.
        with_text = {(e.user_id, e.key): e for e in fresh if e.text is not None}
        sent = {k: str(e.text) for k, e in with_text.items()}
        queries = [e.type == "search" for e in with_text.values()]
        analyses = dict(zip(sent, await self.analyse(list(sent.values()), 5, queries))) if sent else {}
        texts = {k: stored_text(t, analyses[k].entities) for k, t in sent.items()}
        rows = [
            {
                "key": e.key,
                "user_id": e.user_id,
                "type": e.type,
                "item_id": e.item_id,
                "order_id": e.order_id,
                "status": e.status,
                "ts": e.ts.timestamp(),
                "text": texts.get((e.user_id, e.key)),
                "analysis": (
                    self.stored_analysis(analyses[(e.user_id, e.key)], texts[(e.user_id, e.key)])
                    if (e.user_id, e.key) in texts
                    else None
                ),
                "body_hash": hashes[(e.user_id, e.key)],
            }
            for e in fresh
        ]
        added = await self._store(self.events.add, rows) if rows else []
        stored = {(r["user_id"], r["key"]): s for r, s in zip(rows, added)}
        results = []
        for e in events:
            k = (e.user_id, e.key)
            if k in stored and stored[k]["stored"]:
                results.append(EventStatus(key=e.key, id=stored[k]["id"], status="stored"))
            else:  # stored before this request, or by another worker while it was analysed
                event_id = known[k][0] if k in known else stored[k]["id"]
                results.append(EventStatus(key=e.key, id=event_id, status="duplicate"))
        n_stored = sum(r.status == "stored" for r in results)
        return EventsResponse(results=results, stored=n_stored, duplicates=len(results) - n_stored)

    async def profile(self, user_id: str, top: int = 10) -> Profile:
        p: Profile | None = await self._store(self.events.profile, user_id, top)
        if p is None:
            raise RequestError(404, f"user_id: no events for user {user_id!r}; post events to /events first")
        return p

    async def delete_user(self, user_id: str) -> DeletedUser:
        """Remove a user's events and everything derived from them (profile terms, folded-in
        interactions); the audit log line names the counts and a digest of the id, not the id."""
        counts = await self._store(self.events.delete_user, user_id)
        digest = hashlib.sha256(user_id.encode()).hexdigest()[:16]
        log.info("deleted user sha256:%s: %d events, %d terms", digest, counts["events"], counts["terms"])
        return DeletedUser(user_id=user_id, **counts)

    async def purge(self, retention_days: int) -> dict[str, int]:
        """Delete events older than ``retention_days`` days (and their terms); returns the counts."""
        return await self._store(self.events.purge, time.time() - retention_days * 86400.0)

    async def trends(
        self, window: int = 86400, end: datetime | None = None, top: int = 10, min_count: int = 1
    ) -> Trends:
        trends: Trends = await self._store(
            self.events.trends, float(window), end.timestamp() if end else None, top, min_count
        )
        return trends
