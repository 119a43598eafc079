"""``/mine``: every text model on each text and, with a user, the texts stored as the user's events
and the user's profile, recommendations and next items, each fact computed once."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any

from gateway.recommend import Recommender, finish, next_needs
from gateway.schemas import EventStatus, MineResponse, MineResult, NextNeeds, Profile, Recommendation, UserInsight
from gateway.text import stored_hash_text, stored_text
from gateway.users import UserEndpoints
from mining.events import body_hash


def _mine_key(user_id: str, batch: str, index: int) -> str:
    """Idempotency key of the ``index``-th text of a ``/mine`` call: a digest of the three parts,
    so no user id or request id (which may hold any character, ``:`` included) can produce another
    user's key."""
    digest = hashlib.sha256(json.dumps([user_id, batch, index]).encode()).hexdigest()
    return f"mine:{digest[:40]}"


class MineEndpoint(UserEndpoints, Recommender):
    """Texts analysed, and with a user recorded and answered with what the user is now."""

    async def mine(
        self, texts: list[str], user_id: str | None, event_type: str, request_id: str | None, top_k: int, n: int
    ) -> MineResponse:
        results = await self.analyse(texts, top_k, [event_type == "search"] * len(texts))
        if user_id is None:
            return MineResponse(results=results)
        statuses = await self._record(texts, results, user_id, event_type, request_id)
        profile: Profile | None = await self._store(self.events.profile, user_id)
        recommendation, upcoming = await self._user_items(user_id, n)
        return MineResponse(
            results=results,
            user=UserInsight(
                profile=profile if profile is not None else Profile.model_validate({}),
                recommendations=recommendation,
                next=upcoming,
                events=[
                    EventStatus(key=s["key"], id=s["id"], status="stored" if s["stored"] else "duplicate")
                    for s in statuses
                ],
            ),
        )

    async def _record(
        self, texts: list[str], results: list[MineResult], user_id: str, event_type: str, request_id: str | None
    ) -> list[dict[str, Any]]:
        """Store the texts as the user's events, personal data masked (:func:`gateway.text.stored_text`;
        ``results`` are their analyses, entity offsets into the texts as sent); the store's status per text."""
        now = time.time()
        batch = request_id or uuid.uuid4().hex
        masked = [stored_text(t, r.entities) for t, r in zip(texts, results)]
        events = [
            {
                "key": _mine_key(user_id, batch, i),
                "user_id": user_id,
                "type": event_type,
                "ts": now,
                "text": m,
                "analysis": self.stored_analysis(r, m),
                # A /mine event's time is when the call arrived, so a retry differs in it: its body
                # is its type and text.
                "body_hash": body_hash({"type": event_type, "text": stored_hash_text(t)}),
            }
            for i, (t, m, r) in enumerate(zip(texts, masked, results))
        ]
        return await self._store(self.events.add, events)

    async def _user_items(self, user_id: str, n: int) -> tuple[Recommendation, NextNeeds]:
        """The user's ``n`` recommendations (default strategy) and ``n`` next items, as
        ``/recommend`` and ``/users/{id}/next`` give them, from one read of the user's events, at
        most one call of each model and one look-up in the items table.

        Both runners rank with a stable sort, so the first ``n`` of a longer ranking are the
        ranking of ``n``: the sequence model's answer for the recommendation's candidates serves
        the next items, and the recommendation, ranked by ALS, is the next items' answer where the
        sequence model has none."""
        sequence = await self.user_sequence(user_id)
        (ranked,) = await self.rank([{"user_id": user_id, "n": n}], {0: sequence})
        if ranked.predicted is not None:  # asked for the recommendation's candidates
            items = ranked.predicted.items
            predicted = ranked.predicted.model_copy(update={"items": items[:n] if items is not None else None})
        else:
            predicted = await self.predict_next(sequence, n)
        lifted = [i for i, _ in ranked.items] if ranked.lifting else []
        # Without an answer the next items are the recommendation's, which come from its candidates.
        upcoming = (
            [x.item_id for x in predicted.items] if predicted.items is not None else [i for i, _ in ranked.items[:n]]
        )
        info = await self.describe(list(dict.fromkeys([*lifted, *upcoming])))
        recommendation = finish(ranked, info)
        fallback = recommendation if predicted.items is None else None
        return recommendation, next_needs(user_id, sequence, predicted, fallback, info)
