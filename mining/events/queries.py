"""An event store's queries, written once in the SQL both databases speak: a user's profile,
trends across users, and the interactions and stated demand recommendations fold in. Profiles and
trends are the API's own models (:mod:`mining.events.models`).

Trend windows are resolved to whole minutes: a window reads its whole hours from the hour buckets
and the minutes at either end from the minute buckets (:mod:`mining.events.writes` fills them).
"""

from __future__ import annotations

import math
import time

from mining.contracts import ACTION_INTENTS
from mining.events.backend import HOUR, MINUTE, Backend
from mining.events.models import (
    AspectOpinion,
    AspectTrend,
    AspectTrends,
    IntentTrend,
    IntentTrendList,
    Interest,
    LastOrder,
    Profile,
    ProfileAspects,
    ProfileSentiment,
    RecentItem,
    SentimentDay,
    ServiceIssue,
    TermCount,
    TrendCounts,
    TrendList,
    Trends,
    TrendSentiment,
    TrendTerm,
    TrendWindow,
)
from mining.events.terms import ITEM_WEIGHTS


class StoreQueries(Backend):
    """What is read back from the events, their terms and their buckets."""

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

    def service_issues(self, user_id: str, since: float) -> list[ServiceIssue]:
        """The service requests (:data:`ACTION_INTENTS`) in the user's messages since ``since``
        (Unix s): per intent its count and latest time, latest first."""
        marks = ",".join("?" * len(ACTION_INTENTS))
        rows = self._rows(
            f"SELECT term, COUNT(*), MAX(ts) FROM terms WHERE user_id = ? AND kind = 'intent' AND ts >= ?"
            f" AND term IN ({marks}) GROUP BY term ORDER BY 3 DESC, term",
            [user_id, since, *ACTION_INTENTS],
        )
        return [ServiceIssue(intent=str(t), count=int(n), last_seen=float(ts)) for t, n, ts in rows]

    def last_order(self, user_id: str) -> LastOrder | None:
        """The user's latest purchase event (by event time, then arrival) with its order number and
        that order's latest state (the user's latest ``order`` event for the number), or None
        without a purchase."""
        rows = self._rows(
            "SELECT item_id, ts, order_id FROM events WHERE user_id = ? AND type = 'purchase' AND item_id IS NOT NULL"
            " ORDER BY ts DESC, id DESC LIMIT 1",
            [user_id],
        )
        if not rows:
            return None
        item_id, ts, order_id = rows[0]
        order = LastOrder(item_id=str(item_id), ts=float(ts), order_id=order_id)
        if order_id is not None:
            state = self._rows(
                "SELECT status, ts FROM events WHERE user_id = ? AND type = 'order' AND order_id = ?"
                " AND status IS NOT NULL ORDER BY ts DESC, id DESC LIMIT 1",
                [user_id, order_id],
            )
            if state:
                order.status, order.status_ts = str(state[0][0]), float(state[0][1])
        return order

    def profile(self, user_id: str, top: int = 10, days: int = 14, now: float | None = None) -> Profile | None:
        """What a user's events say about them, or None when the user has no events.

        Returns:
            a :class:`~mining.events.models.Profile`: ``n_events``, ``first_seen``/``last_seen`` (Unix s), ``interests`` (category -> share of
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
            AspectOpinion(term=t, positive=float(p), negative=float(n), neutral=float(u), count=int(c))
            for t, p, n, u, c in opinions
        ]
        liked = sorted((a for a in aspects if a.positive > a.negative), key=lambda a: (-a.positive, a.term))
        disliked = sorted((a for a in aspects if a.negative > a.positive), key=lambda a: (-a.negative, a.term))
        # Per item its latest event (the type and time of that one), latest items first.
        items = self._rows(
            "SELECT item_id, type, ts FROM (SELECT item_id, type, ts, ROW_NUMBER() OVER"
            " (PARTITION BY item_id ORDER BY ts DESC, id DESC) AS r FROM events WHERE user_id = ? AND item_id IS NOT NULL)"
            " AS latest WHERE r = 1 ORDER BY ts DESC, item_id LIMIT ?",
            [user_id, top],
        )
        return Profile(
            service_issues=self.service_issues(user_id, now - days * 86400),
            user_id=user_id,
            n_events=int(head[0]),
            first_seen=head[1],
            last_seen=head[2],
            interests=[Interest(category=c, share=w / total) for c, w in cats],
            sentiment=ProfileSentiment(
                n=int(overall[0]),
                positive_share=overall[1],
                trend=[
                    SentimentDay(day=time.strftime("%Y-%m-%d", time.gmtime(int(d) * 86400)), n=int(n), positive_share=p)
                    for d, n, p in sent
                ],
            ),
            keywords=[TermCount(term=t, weight=w, count=int(n)) for t, _, w, n in terms["keyword"]],
            entities=[TermCount(term=t, type=label, weight=w, count=int(n)) for t, label, w, n in terms["entity"]],
            recent_items=[RecentItem(item_id=i, type=kind, ts=ts) for i, kind, ts in items],
            aspects=ProfileAspects(liked=liked[:top], disliked=disliked[:top]),
        )

    def trends(self, window_s: float, end: float | None = None, top: int = 10, min_count: int = 1) -> Trends:
        """Rising and falling demand: counts in ``[end - window_s, end)`` against the window before.

        Both are resolved to whole minutes: ``end`` is rounded up to the next minute (so an event
        stored a moment ago counts) and ``window_s`` down to whole minutes (at least one); the
        answer's ``window`` gives the bounds used.

        Returns:
            a :class:`~mining.events.models.Trends`: ``window`` ({``start``, ``end``, ``previous_start``, ``seconds``}, Unix s), ``events``
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
        lists: dict[str, TrendList] = {}
        zero = (0, 0, 0, 0)
        for kind in ("category", "entity", "keyword", "intent"):
            terms: list[TrendTerm] = []
            for k in {k for k in (*cur_terms, *prev_terms) if k[0] == kind}:
                c, p = cur_terms.get(k, zero), prev_terms.get(k, zero)
                if max(c[0], p[0]) < min_count:
                    continue
                terms.append(
                    TrendTerm(
                        term=k[1],
                        type=k[2] or None,
                        current=c[0],
                        previous=p[0],
                        change=c[0] - p[0],
                        positive_share=_share(c[1], c[2]),
                    )
                )
            rising = sorted((t for t in terms if t.change > 0), key=lambda t: (-t.change, -t.current, t.term))
            falling = sorted((t for t in terms if t.change < 0), key=lambda t: (t.change, -t.previous, t.term))
            lists[kind] = TrendList(rising=rising[:top], falling=falling[:top])
        return Trends(
            window=TrendWindow(
                start=float(start_min * MINUTE),
                end=float(end_min * MINUTE),
                previous_start=float(prev_min * MINUTE),
                seconds=float(minutes * MINUTE),
            ),
            events=TrendCounts(current=int(cur_events[0]), previous=int(prev_events[0])),
            sentiment=TrendSentiment(
                current_positive_share=cur_pos,
                previous_positive_share=prev_pos,
                shift=None if cur_pos is None or prev_pos is None else cur_pos - prev_pos,
            ),
            category=lists["category"],
            entity=lists["entity"],
            keyword=lists["keyword"],
            aspect=_aspect_trends(cur_terms, prev_terms, top, min_count),
            intent=IntentTrendList(
                **{
                    side: [
                        IntentTrend(
                            **t.model_dump(), change_percent=100.0 * t.change / t.previous if t.previous else None
                        )
                        for t in getattr(lists["intent"], side)
                    ]
                    for side in ("rising", "falling")
                }
            ),
        )

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


def _share(positive: float, known: float) -> float | None:
    """Positive share among mentions with a known sentiment, or None without any."""
    return positive / known if known else None


def _aspect_trends(
    cur_terms: dict[tuple[str, str, str], tuple[int, ...]],
    prev_terms: dict[tuple[str, str, str], tuple[int, ...]],
    top: int,
    min_count: int,
) -> AspectTrends:
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
    terms: list[AspectTrend] = []
    for t in set(cur) | set(prv):
        c, p = cur.get(t, zero), prv.get(t, zero)
        if max(c[0], p[0]) < min_count:
            continue
        terms.append(
            AspectTrend(
                term=t,
                current=c[0],
                previous=p[0],
                change=c[0] - p[0],
                positive_share=_share(c[1], c[2]),
                previous_positive_share=_share(p[1], p[2]),
                negative_current=c[3],
                negative_previous=p[3],
                negative_change=c[3] - p[3],
            )
        )
    rising = sorted((a for a in terms if a.change > 0), key=lambda a: (-a.change, -a.current, a.term))
    falling = sorted((a for a in terms if a.change < 0), key=lambda a: (a.change, -a.previous, a.term))
    complaints = sorted(
        (a for a in terms if a.negative_change > 0),
        key=lambda a: (-a.negative_change, -a.negative_current, a.term),
    )
    return AspectTrends(rising=rising[:top], falling=falling[:top], complaints_rising=complaints[:top])
