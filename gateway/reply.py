"""``/reply``: a customer's message to the shop -> its service intent, slots, whether a person should
take over, and the knowledge base's best replies with their placeholders filled; with a user, the
user's events fill what the text leaves out and the message is recorded with its intent."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections import Counter
from pathlib import Path

from gateway.base import typed
from gateway.mine import MineEndpoint
from gateway.schemas import EventStatus, ReplyResponse, ServiceContext, SuggestedReply
from mining.contracts import DissatisfactionScore, RankedReplies, ReplyQuery, TextItem, text_items
from mining.handoff import (
    HandoffSignals,
    asks_for_human,
    conversation_text,
    decide_handoff,
    negative_cut,
    reply_intent,
    top_intent,
)
from mining.limits import MAX_REPLIES
from mining.replies import (
    NO_SHOP_VALUES,
    PLACEHOLDER_SLOTS,
    ReplyEntry,
    ReplyIndex,
    ShopValues,
    facts_first,
    fill,
    load_kb,
    load_shop_values,
    placeholders,
    slot_key,
)
from mining.slots import SlotSpan, extract_slots
from mining.text import clean, unsupported_language

log = logging.getLogger("demand_mining")

REPEAT_WINDOW_S = 7 * 86400  # a contact about the same request within a week counts as a repeat
ISSUE_WINDOW_S = 14 * 86400  # the profile's window for open service issues


# What ranks replies where the store's reply ranker was built on another knowledge base (or none is served).
FALLBACK_RANKER = "bm25 (requests)"
# No ranking: a message in a language no model reads.
NOT_RANKED = "none"


class _Replies:
    """The knowledge base's fallback index and sha256, and the shop's placeholder values, each read
    on first use (not at import) and once per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._index: dict[Path, tuple[ReplyIndex, str]] = {}
        self._shop: dict[Path, ShopValues] = {}
        self._warned: set[tuple[str, str, Path]] = set()

    def shop(self, path: Path | None) -> ShopValues:
        """The shop's values of the file at ``path``; none without one."""
        if path is None:
            return NO_SHOP_VALUES
        with self._lock:
            if path not in self._shop:
                self._shop[path] = load_shop_values(path)
            return self._shop[path]

    def get(self, path: Path) -> tuple[ReplyIndex, str]:
        """(index fitted on each entry's request, sha256 of the file)."""
        with self._lock:
            if path not in self._index:
                self._index[path] = (ReplyIndex.build(load_kb(path)), hashlib.sha256(path.read_bytes()).hexdigest())
            return self._index[path]

    def warn_once(self, served: str, ranker: str, path: Path) -> None:
        """Log, once per ranker and file, that the served ranker indexes another knowledge base."""
        with self._lock:
            if (served, ranker, path) in self._warned:
                return
            self._warned.add((served, ranker, path))
        log.warning(
            "reply ranker %s was built on another knowledge base (sha256 %s...) than %s; ranking with %s until "
            "`python -m training.train_replies --kb %s` builds one for it",
            ranker,
            served[:12],
            path,
            FALLBACK_RANKER,
            path,
        )


REPLIES = _Replies()


def slot_values(slots: list[SlotSpan], context: ServiceContext | None) -> dict[str, str]:
    """The customer's placeholder values, keyed as :func:`mining.replies.slot_key` makes them: the
    first slot of each type (masked personal slots are not values: the agent fills them; places
    written one after another, 上海市 and 浦东新区, are one value, 上海市浦东新区); then,
    where the text names none, the user's last purchase (``context``): its item, its order number
    and the order's latest state."""
    values: dict[str, str] = {}
    last: SlotSpan | None = None
    for s in slots:
        if not (s.text.startswith("<") and s.text.endswith(">")):
            key = slot_key(s.type)
            if s.type == "city" and last is not None and last.type == "city" and last.end == s.start:
                # A province, city and district written together (上海市浦东新区) are one place.
                if values.get(key, "").endswith(last.text):
                    values[key] += s.text
            else:
                values.setdefault(key, s.text)
        last = s
    item = context.last_item if context else None
    # A product the text names is the one asked about ({{Item}} takes it through PLACEHOLDER_SLOTS),
    # not the last one bought.
    if item is not None and "product" not in values:
        values["product"] = values["item"] = item.title or item.item_id
    order = context.last_order if context else None
    if order is not None:
        # A number in the text is the order asked about; without one, the latest is the likeliest.
        if order.order_id is not None:
            values.setdefault("order_id", order.order_id)
        if order.status is not None and values.get("order_id") == order.order_id:
            values.setdefault("delivery_state", order.status)
    return values


class ReplyEndpoint(MineEndpoint):
    """Suggested replies for customer-service messages."""

    def load_replies(self) -> None:
        """Read and index the knowledge base and the shop's values now: a bad file fails the
        service's start with the row and column at fault, not a request. Logs the knowledge base's
        placeholders that neither a customer's message nor the shop's values can fill."""
        index, _ = REPLIES.get(self.replies_path)
        shop = REPLIES.shop(self.shop_values_path)
        for lang in sorted({e.lang for e in index.entries}):
            known = shop.for_lang(lang)
            unfilled = Counter(
                name
                for e in index.entries
                if e.lang == lang
                for name in placeholders(e.text)
                if slot_key(name) not in known and slot_key(name) not in PLACEHOLDER_SLOTS
            )
            if unfilled:
                log.info(
                    "%d placeholders of the %s replies are the shop's own and have no value "
                    "(DEMAND_MINING_SHOP_VALUES), so each is left for the agent: %s",
                    len(unfilled),
                    lang,
                    ", ".join(f"{n} ({c})" for n, c in unfilled.most_common(10)),
                )

    async def reply(
        self, text: str, user_id: str | None, history: list[str], request_id: str | None, k: int
    ) -> ReplyResponse:
        (result,) = await self.analyse([text], 5)
        lang, intent = result.lang, result.intent
        assert intent is not None  # analyse() always asks the intent runner
        context: ServiceContext | None = None
        if user_id is not None:
            context = await self._context(user_id, intent.label)
        slots = extract_slots(text, lang, result.entities)
        shop = await asyncio.to_thread(REPLIES.shop, self.shop_values_path)
        facts = slot_values(slots, context)
        values = {**shop.for_lang(lang), **facts}  # the shop's own placeholders are never a slot's
        # The model's best guess even where it abstained: the abstention threshold is about the
        # precision of a label shown. Replies of the guessed intent come first: on the English
        # validation turns the first reply answered the right intent 0.895 of the time against 0.865
        # with every reply ranked alike where the model abstained (docs/training.md#reply-retrieval).
        guess = top_intent(intent)
        # "where is it?" from a user with a purchase asks about that order; a negative message the
        # model guessed as feedback is answered as a complaint (mining.handoff.reply_intent).
        has_order = context is not None and context.last_order is not None
        asked = reply_intent(intent, text, lang, has_order, negative=result.sentiment.label == "negative")
        # The ranker's best ten, then those its own facts fill more of first (mining.replies.facts_first).
        # A message in a language no model reads gets none: every reply of the knowledge base is
        # Chinese or English and was matched on words the message does not hold ("Ich möchte meine
        # Bestellung stornieren" was offered the English order-status reply); the hand-over says why.
        ranking = (
            self._ranked(clean(text), lang, asked, MAX_REPLIES)
            if unsupported_language(text) is None
            else _nothing_ranked()
        )
        (pool, ranker), mood = await asyncio.gather(ranking, self._dissatisfaction([*history, text], lang))
        signals = HandoffSignals(
            # Hand-over asks whether the message is understood at all, so the guess counts there too.
            intent=guess,
            intent_score=intent.score if guess else 0.0,
            intent_reason=None if guess else intent.reason,
            asks_human=any(asks_for_human(t, lang) for t in (text, *history)),
            negative=result.sentiment.probabilities.get("negative", 0.0),
            repeat_contacts=context.repeat_contacts if context else 0,
            turns=1 + len(history),
            dissatisfied=mood.probability,
            dissatisfied_threshold=mood.threshold,
        )
        replies: list[SuggestedReply] = []
        for entry, score in facts_first(pool, asked, facts):
            if len(replies) == k:
                break
            filled, missing = fill(entry.text, values)
            # One suggestion per text: a knowledge base may hold a reply once per phrasing it answers.
            if all(r.text != filled for r in replies):
                replies.append(SuggestedReply(text=filled, score=score, intent=entry.intent or None, missing=missing))
        event = None
        if user_id is not None:
            (status,) = await self._record([text], [result], user_id, "message", request_id)
            event = EventStatus(
                key=status["key"], id=status["id"], status="stored" if status["stored"] else "duplicate"
            )
        return ReplyResponse(
            lang=lang,
            intent=intent,
            slots=slots,
            handoff=decide_handoff(signals, negative_threshold=negative_cut(mood)),
            replies=replies,
            ranker=ranker,
            context=context,
            event=event,
        )

    async def _ranked(
        self, text: str, lang: str, intent: str | None, k: int
    ) -> tuple[list[tuple[ReplyEntry, float]], str]:
        """(the ``k`` best entries with their scores, what ranked them): the store's reply ranker
        where it indexes this knowledge base, else BM25 over the entries' requests."""
        index, sha = await asyncio.to_thread(REPLIES.get, self.replies_path)
        query = ReplyQuery(text=text, lang=lang, intent=intent, k=k)  # type: ignore[arg-type]
        (answer,) = typed(RankedReplies, await self.runners["intent"].to_async.rank_replies([query]))
        if answer.kb_sha256 == sha and answer.ranker:
            return [(index.entries[r.index], r.score) for r in answer.replies], answer.ranker
        if answer.kb_sha256 is not None:
            REPLIES.warn_once(answer.kb_sha256, answer.ranker or "", self.replies_path)
        return index.top_k(text, lang, intent, k), FALLBACK_RANKER

    async def _dissatisfaction(self, turns: list[str], lang: str) -> DissatisfactionScore:
        """P(low satisfaction) of the conversation so far (the customer's turns, oldest first) by the
        hand-over model of the message's language, with its threshold; PII masked before it leaves."""
        (item,) = text_items([conversation_text(turns)])
        asked = TextItem(text=item.text, lang=lang)  # type: ignore[arg-type]
        (answer,) = typed(DissatisfactionScore, await self.runners["intent"].to_async.handoff([asked]))
        return answer

    async def _context(self, user_id: str, intent: str | None) -> ServiceContext:
        """The user's last purchase (item, order number, the order's state), open service issues and
        earlier contacts with ``intent``, read before this message is recorded."""
        now = time.time()
        issues = await self._store(self.events.service_issues, user_id, now - ISSUE_WINDOW_S)
        recent = await self._store(self.events.service_issues, user_id, now - REPEAT_WINDOW_S)
        order = await self._store(self.events.last_order, user_id)
        item = None
        if order is not None:
            item = (await self.describe([order.item_id])).get(order.item_id)
        repeats = sum(i.count for i in recent if i.intent == intent) if intent else 0
        return ServiceContext(last_item=item, last_order=order, open_issues=issues, repeat_contacts=repeats)


async def _nothing_ranked() -> tuple[list[tuple[ReplyEntry, float]], str]:
    return [], NOT_RANKED
