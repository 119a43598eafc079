"""Event store: idempotency, profiles and trend windows on hand-made events with known answers,
the same tests on both backends (SQLite and a real PostgreSQL server)."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest

from mining.events import (
    ITEM_WEIGHTS,
    SCHEMA_VERSION,
    EventStore,
    Profile,
    SQLiteEventStore,
    Term,
    Trends,
    body_hash,
    open_store,
    terms_of,
)
from mining.events.models import LastOrder

DAY = 86400.0
T0 = 1_699_999_980.0  # 2023-11-14 22:13:00 UTC, on a minute: trend windows are whole minutes


def profile_of(store: EventStore, user_id: str, **kwargs: float) -> dict | None:
    """The store's profile as the API serialises it; the store answers the API's own model."""
    p = store.profile(user_id, **kwargs)
    if p is None:
        return None
    assert type(p) is Profile
    return p.model_dump()


def trends_of(store: EventStore, **kwargs: float) -> dict:
    """The store's trends as the API serialises them; the store answers the API's own model."""
    t = store.trends(**kwargs)
    assert type(t) is Trends
    return t.model_dump()


def analysis(
    category: str,
    positive: float,
    entities: list[tuple[str, str]] = (),
    keywords: list[str] = (),
    aspects: list[tuple[str, str]] = (),
) -> dict:
    return {
        "lang": "en",
        "category": category,
        "positive": positive,
        "entities": [{"type": t, "text": x} for t, x in entities],
        "keywords": [{"keyword": k} for k in keywords],
        "aspects": [{"aspect": a, "polarity": p} for a, p in aspects],
    }


def ev(key: str, user: str, kind: str, ts: float, item: str | None = None, a: dict | None = None) -> dict:
    return {
        "key": key,
        "user_id": user,
        "type": kind,
        "ts": ts,
        "item_id": item,
        "text": "t" if a else None,
        "analysis": a,
    }


def test_terms_of_weights_and_dedups() -> None:
    rows = terms_of(
        analysis(
            "Laptops",
            0.9,
            [("BRAND", "Dell"), ("BRAND", "dell "), ("SIZE", "15 in")],
            ["battery", "screen"],
            [("Battery", "negative"), ("battery ", "negative"), ("screen", "positive"), ("fan", "neutral")],
        ),
        "purchase",
    )
    assert rows == [
        ("category", "Laptops", "", 5.0, 0.9),
        ("entity", "dell", "BRAND", 5.0, 0.9),
        ("entity", "15 in", "SIZE", 5.0, 0.9),
        ("keyword", "battery", "", 5.0, 0.9),
        ("keyword", "screen", "", 5.0, 0.9),
        # An aspect carries its own polarity, not the text's: a positive review can hate the battery.
        ("aspect", "battery", "negative", 5.0, 0.0),
        ("aspect", "screen", "positive", 5.0, 1.0),
        ("aspect", "fan", "neutral", 5.0, None),
    ]
    assert all(type(r) is Term for r in rows) and rows[1].term == "dell" and rows[-1].positive is None
    assert terms_of(None, "view") == []
    # One term form (mining.text.normalize_term): full-width and padded spellings of an entity are one.
    wide = terms_of(analysis("", 0.5, [("BRAND", "ＤＥＬＬ"), ("BRAND", " dell")]), "view")
    assert wide == [("entity", "dell", "BRAND", 1.0, 0.5)]


def test_a_typed_analysis_is_stored_as_its_dict_would_be(tmp_path: Path) -> None:
    import json
    import sqlite3

    from mining.events import StoredAnalysis

    a = analysis("TVs", 0.8, [("BRAND", "Sony")], ["hdr"], [("screen", "positive")])
    store = open_store(tmp_path / "e.db")
    store.add([ev("d", "u", "review", T0, a=a), ev("m", "v", "review", T0, a=StoredAnalysis.model_validate(a))])
    store.close()
    with sqlite3.connect(tmp_path / "e.db") as db:
        stored = [r[0] for r in db.execute("SELECT analysis FROM events ORDER BY user_id")]
        terms = [db.execute("SELECT kind, term, label FROM terms WHERE user_id = ?", (u,)).fetchall() for u in "uv"]
    assert stored == [json.dumps(a, ensure_ascii=False)] * 2
    assert terms[0] == terms[1] and len(terms[0]) == 4


def test_profile_liked_and_disliked_aspects(store_url: str) -> None:
    store = open_store(store_url)
    store.add(
        [
            ev(
                "a",
                "u",
                "review",
                T0,
                "i1",
                analysis("Phones", 0.2, aspects=[("电池", "negative"), ("屏幕", "positive")]),
            ),
            ev("b", "u", "message", T0 + 1, a=analysis("Phones", 0.1, aspects=[("电池", "negative")])),
            ev(
                "c",
                "u",
                "search",
                T0 + 2,
                a=analysis("Phones", 0.9, aspects=[("屏幕", "negative"), ("相机", "neutral")]),
            ),
        ]
    )
    p = profile_of(store, "u", now=T0 + DAY)
    assert p is not None
    # review weighs 2, message and search 1
    assert p["aspects"]["disliked"] == [{"term": "电池", "positive": 0.0, "negative": 3.0, "neutral": 0.0, "count": 2}]
    assert p["aspects"]["liked"] == [{"term": "屏幕", "positive": 2.0, "negative": 1.0, "neutral": 0.0, "count": 2}]


def test_trends_show_aspect_complaints_rising(store_url: str) -> None:
    store = open_store(store_url)
    previous = [("battery", "negative"), ("battery", "positive"), ("screen", "positive"), ("screen", "positive")]
    current = [("battery", "negative")] * 4 + [("battery", "positive"), ("screen", "positive")]
    events = [
        ev(f"p{k}", "u", "review", T0 + k, a=analysis("Phones", 0.5, aspects=[a])) for k, a in enumerate(previous)
    ]
    events += [
        ev(f"c{k}", "u", "review", T0 + DAY + k, a=analysis("Phones", 0.5, aspects=[a])) for k, a in enumerate(current)
    ]
    store.add(events)
    t = trends_of(store, window_s=DAY, end=T0 + 2 * DAY)["aspect"]
    assert t["rising"] == [
        {
            "term": "battery",
            "current": 5,
            "previous": 2,
            "change": 3,
            "positive_share": 0.2,
            "previous_positive_share": 0.5,
            "negative_current": 4,
            "negative_previous": 1,
            "negative_change": 3,
        }
    ]
    assert [x["term"] for x in t["complaints_rising"]] == ["battery"]
    assert t["falling"][0]["term"] == "screen" and t["falling"][0]["change"] == -1
    assert t["falling"][0]["positive_share"] == 1.0


def test_idempotent_add_and_reopen(store_url: str) -> None:
    store = open_store(store_url)
    first = store.add([ev("k1", "u", "view", T0, "i1"), ev("k2", "u", "purchase", T0 + 1, "i2")])
    assert [r["stored"] for r in first] == [True, True]
    again = store.add([ev("k1", "u", "view", T0, "i1"), ev("k3", "u", "cart", T0 + 2, "i1")])
    assert [r["stored"] for r in again] == [False, True] and again[0]["id"] == first[0]["id"]
    assert store.existing([("u", "k1"), ("u", "nope"), ("v", "k1")]).keys() == {("u", "k1")}
    assert store.existing([("u", "k1")])[("u", "k1")][0] == first[0]["id"]
    store.close()
    reopened = open_store(store_url)  # state survives a restart
    assert reopened.count() == 3
    # newest first; the retried k1 did not add a second view
    assert reopened.interactions("u") == [
        ("i1", ITEM_WEIGHTS["cart"]),
        ("i2", ITEM_WEIGHTS["purchase"]),
        ("i1", ITEM_WEIGHTS["view"]),
    ]
    assert reopened.interactions("nobody") == []


def test_keys_are_per_user_and_a_reused_key_is_a_conflict(store_url: str) -> None:
    from mining.events import KeyConflict

    store = open_store(store_url)
    a = store.add([ev("k1", "u", "view", T0, "i1")])[0]
    b = store.add([ev("k1", "v", "view", T0, "i1")])[0]  # another user's key k1 is another event
    assert a["stored"] and b["stored"] and a["id"] != b["id"]
    with pytest.raises(KeyConflict, match="key 'k1' was already stored for this user with a different body"):
        store.add([ev("k9", "u", "view", T0, "i9"), ev("k1", "u", "click", T0, "i1")])
    assert store.count() == 2 and not store.existing([("u", "k9")])  # the whole call rolled back


def test_a_version_0_store_is_migrated_in_place(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE events (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL,
            type TEXT NOT NULL, item_id TEXT, text TEXT, ts REAL NOT NULL, received REAL NOT NULL,
            lang TEXT, category TEXT, positive REAL, analysis TEXT);
        CREATE TABLE terms (event_id INTEGER NOT NULL, user_id TEXT NOT NULL, ts REAL NOT NULL, kind TEXT NOT NULL,
            term TEXT NOT NULL, label TEXT NOT NULL DEFAULT '', weight REAL NOT NULL, positive REAL);
        INSERT INTO events VALUES (7, 'k1', 'u', 'search', NULL, 'tv', 1700000000, 1700000000, 'en', 'TVs', 0.9, NULL);
        INSERT INTO terms VALUES (7, 'u', 1700000000, 'category', 'TVs', '', 1.0, 0.9);
        """
    )
    old.close()
    store = SQLiteEventStore(path)
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert store.existing([("u", "k1")]) == {("u", "k1"): (7, None)}  # id kept, terms still attached
    assert profile_of(store, "u")["interests"] == [{"category": "TVs", "share": 1.0}]
    # The buckets are filled from the old rows: a window of whole hours reads them.
    hour = 1700000000 // 3600 * 3600
    t = trends_of(store, window_s=3 * 3600, end=hour + 2 * 3600)
    assert t["events"]["current"] == 1 and t["category"]["rising"][0]["term"] == "TVs"
    # Stored before bodies were hashed: a resend is a retry, whatever it says.
    assert store.add([ev("k1", "u", "search", T0, a=analysis("TVs", 0.9))])[0]["stored"] is False
    assert store.add([ev("k1", "v", "view", T0, "i1")])[0]["stored"]  # per-user keys from now on


def test_profile_known_answer(store_url: str) -> None:
    store = open_store(store_url)
    store.add(
        [
            ev("a", "u", "search", T0, a=analysis("Laptops", 0.5, keywords=["gaming laptop"])),
            ev("b", "u", "review", T0 + DAY, "i1", analysis("Laptops", 0.9, [("BRAND", "Dell")], ["battery"])),
            ev("c", "u", "message", T0 + 2 * DAY, a=analysis("Monitors", 0.1, [("BRAND", "Dell")], ["battery"])),
            ev("d", "other", "purchase", T0, "i2", analysis("Monitors", 0.9)),
        ]
    )
    p = profile_of(store, "u", now=T0 + 3 * DAY)
    assert p is not None and p["n_events"] == 3 and p["first_seen"] == T0
    # search 1 + review 2 on Laptops, message 1 on Monitors
    assert p["interests"] == [{"category": "Laptops", "share": 0.75}, {"category": "Monitors", "share": 0.25}]
    assert p["sentiment"]["n"] == 3 and p["sentiment"]["positive_share"] == pytest.approx(2 / 3)
    assert [d["positive_share"] for d in p["sentiment"]["trend"]] == [1.0, 1.0, 0.0]
    assert p["keywords"][0] == {"term": "battery", "type": None, "weight": 3.0, "count": 2}
    assert p["entities"] == [{"term": "dell", "type": "BRAND", "weight": 3.0, "count": 2}]
    assert p["recent_items"] == [{"item_id": "i1", "type": "review", "ts": T0 + DAY}]
    assert profile_of(store, "ghost") is None


def test_trends_rising_falling_and_sentiment_shift(store_url: str) -> None:
    store = open_store(store_url)
    events = [ev(f"p{k}", f"u{k}", "search", T0 + k, a=analysis("Cameras", 0.9)) for k in range(3)]  # previous window
    events += [
        ev(f"c{k}", f"u{k}", "search", T0 + DAY + k, a=analysis("Laptops", 0.2, [("BRAND", "Acer")])) for k in range(4)
    ]
    events += [ev("c9", "u9", "search", T0 + DAY + 9, a=analysis("Cameras", 0.8))]
    store.add(events)
    t = trends_of(store, window_s=DAY, end=T0 + 2 * DAY)
    assert t["events"] == {"current": 5, "previous": 3}
    assert t["category"]["rising"] == [
        {"term": "Laptops", "type": None, "current": 4, "previous": 0, "change": 4, "positive_share": 0.0}
    ]
    assert t["category"]["falling"][0] | {"positive_share": None} == {
        "term": "Cameras",
        "type": None,
        "current": 1,
        "previous": 3,
        "change": -2,
        "positive_share": None,
    }
    assert t["entity"]["rising"][0]["term"] == "acer" and t["entity"]["rising"][0]["type"] == "BRAND"
    assert t["sentiment"]["previous_positive_share"] == 1.0
    assert t["sentiment"]["current_positive_share"] == pytest.approx(0.2)
    assert t["sentiment"]["shift"] == pytest.approx(-0.8)
    empty = trends_of(store, window_s=60, end=T0 - DAY)
    assert empty["events"] == {"current": 0, "previous": 0} and empty["sentiment"]["shift"] is None


def _writer(url: str, worker: int, n: int) -> None:
    store = open_store(url)
    for k in range(n):
        store.add(
            [ev(f"w{worker}-{k}", f"u{worker}", "click", T0 + k, f"i{k}"), ev(f"shared-{k}", "s", "view", T0, "x")]
        )


def test_processes_share_the_store(store_url: str) -> None:
    open_store(store_url).close()
    procs = [mp.get_context("spawn").Process(target=_writer, args=(store_url, w, 40)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    store = open_store(store_url)
    assert store.count() == 3 * 40 + 40  # every worker's events, each shared key once


def test_a_locked_store_is_unavailable_not_an_error(tmp_path: Path) -> None:
    import sqlite3

    from mining.events import StoreUnavailable

    store = SQLiteEventStore(tmp_path / "ev.db", busy_timeout_s=0.1)
    other = sqlite3.connect(tmp_path / "ev.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another process holds the write lock past the busy timeout
    with pytest.raises(StoreUnavailable, match="event store unavailable: database is locked"):
        store.add([ev("k1", "u", "view", T0, "i1")])
    other.execute("ROLLBACK")
    assert [r["stored"] for r in store.add([ev("k1", "u", "view", T0, "i1")])] == [True]  # and it recovers


def test_delete_user_removes_everything_of_that_user_only(store_url: str) -> None:
    store = open_store(store_url)
    store.add(
        [
            ev(
                "a",
                "u",
                "review",
                T0,
                "i1",
                analysis("Phones", 0.9, [("BRAND", "Sony")], ["tv"], [("screen", "positive")]),
            ),
            ev("b", "u", "purchase", T0 + 1, "i2"),
            ev("c", "v", "review", T0 + 2, "i1", analysis("Phones", 0.1, keywords=["tv"])),
        ]
    )
    assert store.delete_user("u") == {"events": 2, "terms": 4}  # category, entity, keyword, aspect
    assert profile_of(store, "u") is None and store.interactions("u") == []
    assert profile_of(store, "v") is not None and store.count() == 1
    assert trends_of(store, window_s=DAY, end=T0 + DAY)["keyword"]["rising"][0]["current"] == 1  # v's only
    assert store.delete_user("u") == {"events": 0, "terms": 0}  # idempotent
    assert store.add([ev("a", "u", "view", T0, "i1")])[0]["stored"]  # the key is free again


def test_purge_keeps_what_is_inside_the_retention(store_url: str) -> None:
    store = open_store(store_url)
    store.add([ev(f"k{d}", "u", "search", T0 + d * DAY, a=analysis("Phones", 0.5)) for d in range(5)])
    assert store.purge(before=T0 + 3 * DAY) == {"events": 3, "terms": 3}
    p = profile_of(store, "u", now=T0 + 5 * DAY)
    assert p is not None and p["n_events"] == 2 and p["first_seen"] == T0 + 3 * DAY


def test_buckets_agree_with_the_rows_for_any_window(store_url: str) -> None:
    """Brute force: every window's counts from the minute and hour buckets equal the counts read
    from the term rows, after inserts, a user's deletion and a purge."""
    import random

    rng = random.Random(3)
    store = open_store(store_url)
    words, kinds = ["tv", "phone", "battery", "screen"], ["review", "search", "message", "purchase"]
    events = []
    for k in range(400):
        aspects = [(rng.choice(words), rng.choice(["positive", "negative", "neutral"]))] if rng.random() < 0.5 else []
        a = analysis(
            rng.choice(["TVs", "Phones"]),
            rng.random(),
            [("BRAND", rng.choice(["Sony", "LG"]))],
            [rng.choice(words)],
            aspects,
        )
        if rng.random() < 0.2:
            a["positive"] = None
        events.append(ev(f"k{k}", f"u{k % 7}", rng.choice(kinds), T0 + rng.uniform(0, 3 * DAY), f"i{k}", a))
    store.add(events)
    store.delete_user("u3")
    store.purge(before=T0 + 0.4 * DAY)

    def brute(lo: float, hi: float) -> dict:
        rows = store._rows(
            "SELECT kind, term, label, COUNT(*), SUM(CASE WHEN positive >= 0.5 THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN positive IS NOT NULL THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN kind = 'aspect' AND label = 'negative' THEN 1 ELSE 0 END)"
            " FROM terms WHERE ts >= ? AND ts < ? GROUP BY 1, 2, 3",
            [lo, hi],
        )
        return {(k, t, lab): tuple(int(x) for x in c) for k, t, lab, *c in rows}

    for _ in range(30):
        lo = int(T0 / 60 + rng.uniform(-0.2 * DAY, 3 * DAY) / 60)  # minutes
        hi = lo + rng.choice([1, 10, 60, 83, 1440, 3600])
        terms, counts = store._window(lo, hi)
        assert terms == brute(lo * 60.0, hi * 60.0)
        n = store._rows("SELECT COUNT(*) FROM events WHERE ts >= ? AND ts < ?", [lo * 60.0, hi * 60.0])[0][0]
        assert counts[0] == n
    assert not store._rows("SELECT * FROM term_buckets WHERE n <= 0")  # emptied buckets are removed
    assert not store._rows("SELECT * FROM event_buckets WHERE n <= 0")


def test_trend_windows_are_whole_minutes_ending_after_the_newest_event(store_url: str) -> None:
    store = open_store(store_url)
    store.add([ev("a", "u", "search", T0 + 30.5, a=analysis("TVs", 0.9))])
    t = trends_of(store, window_s=150, end=T0 + 30.5)
    # end rounds up to the next minute (the event counts), the window down to whole minutes
    assert t["window"] == {"start": T0 - 60, "end": T0 + 60, "previous_start": T0 - 180, "seconds": 120.0}
    assert t["events"] == {"current": 1, "previous": 0}
    assert trends_of(store, window_s=60, end=T0 - 20)["events"]["current"] == 0


def test_postgres_schema_is_versioned_and_a_newer_one_is_refused(pg_cluster) -> None:
    from mining.events.postgres import PostgresEventStore

    url = pg_cluster.database()
    store = open_store(url)
    assert isinstance(store, PostgresEventStore) and store.schema_version() == SCHEMA_VERSION
    open_store(url).close()  # a second instance finds the schema current and changes nothing
    store._write(lambda tx: tx.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,)))
    with pytest.raises(RuntimeError, match=f"schema version {SCHEMA_VERSION + 1}, newer than this code's"):
        open_store(url)


def test_a_version_3_postgres_database_gains_the_order_columns(pg_cluster) -> None:
    import psycopg

    from mining.events import postgres

    url = pg_cluster.database()
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in postgres.SCHEMA.replace("    order_id TEXT,\n    status TEXT,\n", "").split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("INSERT INTO schema_version (version) VALUES (3)")
        conn.execute(
            "INSERT INTO events (key, user_id, type, item_id, ts, received) VALUES ('p', 'u', 'purchase', 'i1', %s, %s)",
            (T0, T0),
        )
    store = open_store(url)
    assert store.schema_version() == SCHEMA_VERSION  # type: ignore[attr-defined]
    store.add([order("s", T0 + 1, "Z", "shipped"), {**ev("p2", "u", "purchase", T0 + 2, "i2"), "order_id": "Z"}])
    assert store.last_order("u") == LastOrder(item_id="i2", ts=T0 + 2, order_id="Z", status="shipped", status_ts=T0 + 1)


def test_postgres_down_is_unavailable_and_the_pool_recovers() -> None:
    from mining.events import StoreUnavailable
    from tests.support.postgres import start_cluster

    cluster = start_cluster()  # its own server, to stop and start
    try:
        store = open_store(cluster.url())
        store.add([ev("k1", "u", "view", T0, "i1")])
        cluster.stop()
        store._pool.timeout = 2.0  # what a call waits for a connection before giving up
        with pytest.raises(StoreUnavailable) as caught:
            store.add([ev("k2", "u", "view", T0, "i2")])
        assert str(caught.value) == "event store unavailable: PoolTimeout"  # what, not whose
        cluster.start()
        store._pool.timeout = 30.0
        assert [r["stored"] for r in store.add([ev("k2", "u", "view", T0, "i2")])] == [True]
        assert store.count() == 2
        store.close()
    finally:
        cluster.destroy()


def test_a_url_names_its_backend(tmp_path: Path) -> None:
    assert isinstance(open_store(f"sqlite://{tmp_path / 'a.db'}"), SQLiteEventStore)
    assert isinstance(open_store(tmp_path / "b.db"), SQLiteEventStore)
    with pytest.raises(ValueError, match=r"got mysql://$"):
        open_store("mysql://user:secret@host/db")


def intent_analysis(intent: str | None, positive: float = 0.3) -> dict:
    return {**analysis("Phones", positive), "intent": intent}


def test_message_intents_count_as_service_issues_reviews_do_not(store_url: str) -> None:
    store = open_store(store_url)
    store.add(
        [
            ev("m1", "u", "message", T0, a=intent_analysis("refund_status")),
            ev("m2", "u", "message", T0 + 60, a=intent_analysis("refund_status")),
            ev("m3", "u", "message", T0 + 120, a=intent_analysis("order_status")),
            ev("m4", "u", "message", T0 + 180, a=intent_analysis("feedback")),  # asks for nothing
            ev("m5", "u", "message", T0 - 30 * DAY, a=intent_analysis("invoice")),  # too old
            ev("r1", "u", "review", T0 + 240, a=intent_analysis("complaint")),  # an opinion, not a request
        ]
    )
    issues = [(i.intent, i.count, i.last_seen) for i in store.service_issues("u", T0 - DAY)]
    assert issues == [("order_status", 1, T0 + 120), ("refund_status", 2, T0 + 60)]
    assert profile_of(store, "u", now=T0 + DAY)["service_issues"] == [
        {"intent": "order_status", "count": 1, "last_seen": T0 + 120},
        {"intent": "refund_status", "count": 2, "last_seen": T0 + 60},
    ]
    assert store.service_issues("nobody", 0) == []


def test_last_order_is_the_latest_purchase_event(store_url: str) -> None:
    store = open_store(store_url)
    assert store.last_order("u") is None
    store.add(
        [
            ev("p1", "u", "purchase", T0, "i1"),
            ev("p2", "u", "purchase", T0 + 5, "i2"),
            ev("v", "u", "view", T0 + 9, "i3"),
        ]
    )
    assert store.last_order("u") == LastOrder(item_id="i2", ts=T0 + 5)


def order(key: str, ts: float, order_id: str, status: str) -> dict:
    return {"key": key, "user_id": "u", "type": "order", "ts": ts, "order_id": order_id, "status": status}


def test_the_last_order_carries_its_number_and_its_latest_state(store_url: str) -> None:
    store = open_store(store_url)
    store.add(
        [
            {**ev("p1", "u", "purchase", T0, "i1"), "order_id": "A-1"},
            {**ev("p2", "u", "purchase", T0 + 10, "i2"), "order_id": "B-2"},
            order("s1", T0 + 20, "B-2", "paid"),
            order("s3", T0 + 40, "A-1", "delivered"),  # another order's state
            order("s2", T0 + 30, "B-2", "shipped 13812345678"),  # a phone in a state is masked
            {**order("x", T0 + 50, "B-2", "lost"), "user_id": "v"},  # another user's order B-2
        ]
    )
    assert store.last_order("u") == LastOrder(
        item_id="i2", ts=T0 + 10, order_id="B-2", status="shipped <PHONE>", status_ts=T0 + 30
    )
    # Order events are no interactions: the recommenders see the two purchases only.
    assert store.interactions("u") == [("i2", ITEM_WEIGHTS["purchase"]), ("i1", ITEM_WEIGHTS["purchase"])]
    # A later purchase without a number: its order and state are unknown.
    store.add([ev("p3", "u", "purchase", T0 + 60, "i3")])
    assert store.last_order("u") == LastOrder(item_id="i3", ts=T0 + 60)


def test_the_body_hash_of_an_event_without_order_fields_is_the_one_stored_before_they_existed() -> None:
    plain = {"type": "view", "item_id": "i1", "text": None, "ts": T0}
    # sha256 of ["view", "i1", null, T0] as version 3 stores computed it.
    import hashlib
    import json

    assert body_hash(plain) == hashlib.sha256(json.dumps(["view", "i1", None, T0]).encode()).hexdigest()
    assert body_hash({**plain, "order_id": None, "status": None}) == body_hash(plain)
    assert body_hash({**plain, "type": "purchase", "order_id": "A"}) != body_hash({**plain, "type": "purchase"})


def test_a_version_3_store_gains_the_order_columns_and_keeps_its_events(tmp_path: Path) -> None:
    import sqlite3

    from mining.events import sqlite as sqlite_store

    path = tmp_path / "v3.db"
    db = sqlite3.connect(path)
    db.executescript(sqlite_store.SCHEMA.replace("    order_id TEXT,\n    status TEXT,\n", ""))
    db.execute(
        "INSERT INTO events (key, user_id, type, item_id, ts, received, body_hash) VALUES ('p', 'u', 'purchase', 'i1', ?, ?, ?)",
        (T0, T0, body_hash({"type": "purchase", "item_id": "i1", "text": None, "ts": T0})),
    )
    db.execute("PRAGMA user_version = 3")
    db.commit()
    db.close()
    store = SQLiteEventStore(path)
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
    assert store.last_order("u") == LastOrder(item_id="i1", ts=T0)
    assert store.add([ev("p", "u", "purchase", T0, "i1")])[0]["stored"] is False  # a retry stays a retry
    store.add([{**ev("p2", "u", "purchase", T0 + 1, "i2"), "order_id": "C"}, order("s", T0 + 2, "C", "shipped")])
    assert store.last_order("u") == LastOrder(item_id="i2", ts=T0 + 1, order_id="C", status="shipped", status_ts=T0 + 2)


def test_intent_trends_give_the_change_in_percent(store_url: str) -> None:
    store = open_store(store_url)
    events = [ev(f"p{k}", f"u{k}", "message", T0 + k, a=intent_analysis("refund_status")) for k in range(5)]
    events += [ev(f"c{k}", f"u{k}", "message", T0 + DAY + k, a=intent_analysis("refund_status")) for k in range(9)]
    events += [ev("n1", "u1", "message", T0 + DAY + 20, a=intent_analysis("invoice"))]
    store.add(events)
    rising = trends_of(store, window_s=DAY, end=T0 + 2 * DAY)["intent"]["rising"]
    assert [(t["term"], t["current"], t["previous"], t["change"]) for t in rising] == [
        ("refund_status", 9, 5, 4),
        ("invoice", 1, 0, 1),
    ]
    assert rising[0]["change_percent"] == pytest.approx(80.0) and rising[1]["change_percent"] is None
