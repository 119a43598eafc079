"""``/reply`` in process: the real service over fake runners (the fake intent model answers by cue
words, tests/support/fakes.py), a temporary event store and a small knowledge base of the test's own,
so each answer is known. What the models and the built-in knowledge base do is measured elsewhere."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import logging
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

import service
from mining.contracts import (
    DissatisfactionScore,
    EntitiesResult,
    EntitySpan,
    LabelResult,
    RankedReplies,
    RankedReply,
    ReplyQuery,
    TextItem,
)
from mining.settings import Settings
from mining.slots import extract_slots
from tests.support.fakes import (
    FakeRunner,
    RunnerSlot,
    entities_with_names,
    fake_entities,
    fake_handoff,
    fake_intent,
    fake_runners,
    no_reply_ranker,
    store_settings,
)

RUNNERS = RunnerSlot()
KB_ROWS = [
    (
        "order_status",
        "en",
        "Your order {{Order Number}} with {{Product}} is on its way to {{Delivery City}}.",
        "where is my order",
    ),
    (
        "refund_status",
        "en",
        "I have checked the refund for order {{Order Number}}; it reaches you within 5 days.",
        "where is my refund",
    ),
    ("", "en", "Thank you for writing to us.", "hello"),
    ("order_status", "zh", "您好，订单{{Order Number}}已经发出，请耐心等待。", "我的快递到哪了"),
    ("", "zh", "您好，请问有什么可以帮您？", "你好"),
    # The thank-you reply once more, for another phrasing it answers (row 5).
    ("", "en", "Thank you for writing to us.", "good morning"),
]


@pytest.fixture(scope="module")
def app() -> Iterator[Any]:
    """One ASGI app for the module, with a metrics registry of its own (as in test_same_answers), so
    it can live beside the other modules' apps in one run."""
    from bentoml._internal.configuration.containers import BentoMLContainer
    from prometheus_client import CollectorRegistry

    patch = pytest.MonkeyPatch()
    metrics = BentoMLContainer.metrics_client.get()
    assert metrics.registry is not None
    patch.setattr(metrics, "_registry", CollectorRegistry())
    patch.setattr(service, "SETTINGS", Settings(grpc_port=0))
    patch.setattr(service, "connect_runners", RUNNERS)
    yield service.DemandMining.to_asgi()
    patch.undo()


@pytest.fixture()
def kb(tmp_path: Path) -> Path:
    path = tmp_path / "kb.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["intent", "lang", "text", "request"])
        w.writerows(KB_ROWS)
    return path


@pytest.fixture()
def runners() -> dict[str, FakeRunner]:
    return fake_runners()


@pytest.fixture()
def client(
    app: Any, runners: dict[str, FakeRunner], kb: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    monkeypatch.setattr(service, "SETTINGS", store_settings(store_url, grpc_port=0, replies=kb))
    monkeypatch.setattr(RUNNERS, "runners", runners)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _event(key: str, kind: str, user: str = "u1", **kw: Any) -> dict[str, Any]:
    return {"key": key, "user_id": user, "type": kind, "ts": "2026-11-28T09:30:00Z", **kw}


def test_an_order_question_gets_its_intent_slot_and_a_filled_reply(client: TestClient) -> None:
    text = "Where is my order 4421-889? It should go to Berlin."
    r = client.post("/reply", json={"text": text})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["lang"] == "en"
    assert (body["intent"]["label"], body["intent"]["model"]) == ("order_status", "intent:fake")
    slots = {(s["type"], s["text"]) for s in body["slots"]}
    assert ("order_id", "4421-889") in slots
    for s in body["slots"]:
        assert text[s["start"] : s["end"]] == s["text"]
    best = body["replies"][0]
    assert best["intent"] == "order_status"
    assert "4421-889" in best["text"] and "Berlin" in best["text"]
    # No user, so nothing says which product: left for the agent.
    assert best["missing"] == ["Product"]
    assert body["handoff"]["needed"] is False and body["context"] is None and body["event"] is None


def test_a_message_in_a_language_no_model_reads_gets_no_reply(client: TestClient) -> None:
    """Every reply of the knowledge base is Chinese or English: a German message is offered none,
    and a message of the same words' length in English still is."""
    r = client.post("/reply", json={"text": "Ich möchte meine Bestellung stornieren, bitte"})
    assert r.status_code == 200, r.text
    assert (r.json()["replies"], r.json()["ranker"]) == ([], "none")
    english = client.post("/reply", json={"text": "I would like to cancel my order, please"}).json()
    assert english["replies"] and english["ranker"] != "none"


def test_chinese_text_gets_chinese_replies_only(client: TestClient) -> None:
    r = client.post("/reply", json={"text": "我的快递到哪了？订单号123456789", "k": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["lang"] == "zh" and body["intent"]["label"] == "order_status"
    assert body["replies"] and all(any(ch >= "\u4e00" for ch in x["text"]) for x in body["replies"])
    assert body["replies"][0]["text"] == "您好，订单123456789已经发出，请耐心等待。"


def test_without_a_reply_ranker_bm25_over_the_requests_ranks(client: TestClient) -> None:
    body = client.post("/reply", json={"text": "where is my order 4421-889?"}).json()
    assert body["ranker"] == "bm25 (requests)"


def _ranked_by_runner(kb_sha256: str, sent: list[ReplyQuery]) -> Any:
    """The intent runner's reply ranking as a served model would answer: the any-intent thank-you
    row (2) first at 0.42, then the order row (0) at 0.21, over the knowledge base ``kb_sha256``."""

    def rank(queries: list[ReplyQuery]) -> list[RankedReplies]:
        sent.extend(queries)
        rows = [RankedReply(index=2, score=0.42), RankedReply(index=0, score=0.21)]
        return [RankedReplies(kb_sha256=kb_sha256, ranker="replies:v1 (e5)", replies=rows[: q.k]) for q in queries]

    return rank


def test_the_served_reply_ranker_ranks_when_it_indexes_this_knowledge_base(
    client: TestClient, runners: dict[str, FakeRunner], kb: Path
) -> None:
    sent: list[ReplyQuery] = []
    sha = hashlib.sha256(kb.read_bytes()).hexdigest()
    # the gateway holds this runner object: swap its calls
    runners["intent"].to_async = FakeRunner(
        predict=fake_intent, rank_replies=_ranked_by_runner(sha, sent), handoff=fake_handoff
    ).to_async
    r = client.post("/reply", json={"text": "Where is my order 4421-889? Call 13812345678", "k": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ranker"] == "replies:v1 (e5)"
    # The runner's rows with its scores; the reply of the message's intent, which its order number
    # fills, before the any-intent one the runner scored higher.
    assert [(x["text"], x["score"]) for x in body["replies"]] == [
        ("Your order 4421-889 with {{Product}} is on its way to {{Delivery City}}.", 0.21),
        ("Thank you for writing to us.", 0.42),
    ]
    (query,) = sent
    # The ranker is asked for its best ten, which the gateway orders and cuts to k.
    assert (query.lang, query.intent, query.k) == ("en", "order_status", 10)
    assert "13812345678" not in query.text  # the runner gets the masked text


def test_a_reply_held_once_per_phrasing_is_suggested_once(
    client: TestClient, runners: dict[str, FakeRunner], kb: Path
) -> None:
    sha = hashlib.sha256(kb.read_bytes()).hexdigest()

    def rank(queries: list[ReplyQuery]) -> list[RankedReplies]:
        rows = [RankedReply(index=i, score=s) for i, s in ((2, 0.5), (5, 0.45), (1, 0.3), (0, 0.2))]
        return [RankedReplies(kb_sha256=sha, ranker="replies:v1 (e5)", replies=rows) for _ in queries]

    runners["intent"].to_async = FakeRunner(predict=fake_intent, rank_replies=rank, handoff=fake_handoff).to_async
    body = client.post("/reply", json={"text": "hello there", "k": 3}).json()
    texts = [x["text"] for x in body["replies"]]
    # Rows 2 and 5 are one reply: it comes once, and the third place goes to the next row.
    assert texts[0] == "Thank you for writing to us." and texts.count(texts[0]) == 1 and len(texts) == 3


def test_a_ranker_built_on_another_knowledge_base_is_not_used(
    client: TestClient, runners: dict[str, FakeRunner], caplog: pytest.LogCaptureFixture
) -> None:
    runners["intent"].to_async = FakeRunner(
        predict=fake_intent, rank_replies=_ranked_by_runner("0" * 64, []), handoff=fake_handoff
    ).to_async
    with caplog.at_level(logging.WARNING, logger="demand_mining"):
        bodies = [client.post("/reply", json={"text": "where is my order 4421-889?"}).json() for _ in range(2)]
    assert [b["ranker"] for b in bodies] == ["bm25 (requests)"] * 2
    assert bodies[0]["replies"][0]["intent"] == "order_status"  # rows of the other file never index this one
    warnings = [r.getMessage() for r in caplog.records if "another knowledge base" in r.getMessage()]
    assert len(warnings) == 1 and "training.train_replies --kb" in warnings[0]


def test_asking_for_a_person_hands_over_with_the_reason(client: TestClient) -> None:
    r = client.post("/reply", json={"text": "I want to talk to a real person, this is useless"})
    assert r.status_code == 200, r.text
    handoff = r.json()["handoff"]
    assert handoff["needed"] is True and handoff["reason"].startswith("asks for a human")


def test_an_unsure_intent_says_why_and_hands_over(client: TestClient) -> None:
    r = client.post("/reply", json={"text": "hmm ok so about that thing"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["intent"]["label"] is None and body["intent"]["reason"].startswith("not sure")
    assert body["handoff"] == {
        "needed": True,
        "reason": "low intent confidence: other at 0.40 (< 0.50)",
        "score": body["handoff"]["score"],
    }


def _abstains_at(score: float | None, rank_replies: Any = no_reply_ranker, best: str = "refund_status") -> Any:
    """An intent runner that never shows a label: its best is ``best`` at ``score``, or no model at
    all (None); it ranks replies with ``rank_replies``."""

    def predict(items: list[TextItem]) -> list[LabelResult]:
        if score is None:
            return [
                LabelResult(lang=i.lang, label=None, score=0.0, probabilities={}, model=None, reason="no model")
                for i in items
            ]
        probabilities = {best: score, "other": (1 - score) / 3}
        reason = f"not sure: top probability {score:.2f} ({best}) is under the threshold 0.91"
        return [
            LabelResult(
                lang=i.lang, label=None, score=score, probabilities=probabilities, model="intent:x", reason=reason
            )
            for i in items
        ]

    return FakeRunner(predict=predict, rank_replies=rank_replies, handoff=fake_handoff).to_async


def test_replies_of_the_guessed_intent_come_first_where_the_model_abstains(
    client: TestClient, runners: dict[str, FakeRunner], kb: Path
) -> None:
    sent: list[ReplyQuery] = []
    sha = hashlib.sha256(kb.read_bytes()).hexdigest()
    runners["intent"].to_async = _abstains_at(0.45, _ranked_by_runner(sha, sent))
    body = client.post("/reply", json={"text": "money back for the broken lamp?"}).json()
    assert body["intent"]["label"] is None  # shown as not sure...
    assert [q.intent for q in sent] == ["refund_status"]  # ...and still the intent its replies answer
    runners["intent"].to_async = _abstains_at(None, _ranked_by_runner(sha, sent))
    client.post("/reply", json={"text": "money back for the broken lamp?"})
    assert [q.intent for q in sent] == ["refund_status", None]  # no model: no intent to rank by


def test_a_negative_message_guessed_as_feedback_is_answered_as_a_complaint(
    client: TestClient, runners: dict[str, FakeRunner], kb: Path
) -> None:
    sent: list[ReplyQuery] = []
    sha = hashlib.sha256(kb.read_bytes()).hexdigest()
    runners["intent"].to_async = _abstains_at(0.45, _ranked_by_runner(sha, sent), best="feedback")
    body = client.post("/reply", json={"text": "great sound but the earcup broke"}).json()  # negative
    assert body["intent"]["label"] is None and body["intent"]["probabilities"]["feedback"] == 0.45
    client.post("/reply", json={"text": "great sound, thanks"})  # positive: the guess stands
    assert [q.intent for q in sent] == ["complaint", "feedback"]


def test_a_label_withheld_for_precision_is_still_understood_enough_not_to_hand_over(
    client: TestClient, runners: dict[str, FakeRunner]
) -> None:
    runners["intent"].to_async = _abstains_at(0.7)
    body = client.post("/reply", json={"text": "退款什么时候到账"}).json()
    assert body["intent"]["label"] is None and body["intent"]["reason"].startswith("not sure")
    assert body["handoff"]["needed"] is False
    runners["intent"].to_async = _abstains_at(0.45)
    body = client.post("/reply", json={"text": "退款什么时候到账"}).json()
    assert body["handoff"]["reason"] == "low intent confidence: refund_status at 0.45 (< 0.50)"
    runners["intent"].to_async = _abstains_at(None)
    body = client.post("/reply", json={"text": "退款什么时候到账"}).json()
    assert body["handoff"]["reason"] == "low intent confidence: no intent (no model)"  # why none answered


def test_an_unhappy_conversation_hands_over_on_the_handoff_models_probability(
    client: TestClient, runners: dict[str, FakeRunner]
) -> None:
    # One unhappy word in the earlier turn and one in the message: 0.1 + 2 * 0.3 = 0.7 >= 0.5.
    history = ["where is my refund, call me at 13812345678", "this shop is a scam"]
    r = client.post("/reply", json={"text": "where is my refund, scam", "history": history})
    assert r.status_code == 200, r.text
    handoff = r.json()["handoff"]
    assert handoff["needed"] is True
    assert handoff["reason"] == "likely dissatisfied: P(low satisfaction) 0.70 (>= 0.50)"
    assert handoff["score"] == pytest.approx(0.7)
    (asked,) = [args[0] for name, args in runners["intent"].calls if name == "handoff"]
    # The customer's turns oldest first, as one text in the message's language, the phone masked.
    assert [(a.text, a.lang) for a in asked] == [
        ("where is my refund, call me at <PHONE> this shop is a scam where is my refund, scam", "en")
    ]


def test_a_calm_conversation_is_scored_but_not_handed_over(client: TestClient) -> None:
    body = client.post("/reply", json={"text": "where is my refund", "history": ["thanks"]}).json()
    assert body["handoff"] == {"needed": False, "reason": None, "score": pytest.approx(0.1)}


def _no_handoff_model(items: list[TextItem]) -> list[DissatisfactionScore]:
    """The intent runner's hand-over scores where no hand-over model serves the language."""
    return [
        DissatisfactionScore(lang=i.lang, probability=None, threshold=None, model=None, reason="no handoff model")
        for i in items
    ]


def test_without_a_handoff_model_the_signals_score_the_conversation(
    client: TestClient, runners: dict[str, FakeRunner]
) -> None:
    runners["intent"].to_async = FakeRunner(
        predict=fake_intent, rank_replies=no_reply_ranker, handoff=_no_handoff_model
    ).to_async
    body = client.post("/reply", json={"text": "where is my refund, scam scam"}).json()
    assert body["handoff"]["needed"] is False and body["handoff"]["reason"] is None
    # The logistic score of the signals (P(negative) 0 here): far below the model's 0.7 above.
    assert body["handoff"]["score"] < 0.01


def _very_negative(items: list[TextItem]) -> list[LabelResult]:
    """A review-trained sentiment model's view of a plain request: P(negative) 0.99."""
    return [
        LabelResult(
            lang=i.lang,
            label="negative",
            score=0.99,
            probabilities={"negative": 0.99, "positive": 0.01},
            model=f"sentiment-{i.lang}:fake",
        )
        for i in items
    ]


def _handoff_model(negative_threshold: float | None) -> Any:
    """The fake hand-over model (calm here: 0.1 < 0.5) with the sentiment cut its training chose."""

    def score(items: list[TextItem]) -> list[DissatisfactionScore]:
        return [a.model_copy(update={"negative_threshold": negative_threshold}) for a in fake_handoff(items)]

    return score


@pytest.mark.parametrize(
    ("model_cut", "reason"),
    [
        # The training found no sentiment cut that helps beside the model: the plain request stays.
        (None, None),
        (0.98, "strong negative sentiment: P(negative) 0.99 (>= 0.98)"),
        (0.995, None),
    ],
)
def test_beside_a_handoff_model_sentiment_alone_hands_over_only_from_the_cut_its_training_chose(
    client: TestClient, runners: dict[str, FakeRunner], model_cut: float | None, reason: str | None
) -> None:
    runners["sentiment"].to_async = FakeRunner(predict=_very_negative).to_async
    runners["intent"].to_async = FakeRunner(
        predict=fake_intent, rank_replies=no_reply_ranker, handoff=_handoff_model(model_cut)
    ).to_async
    body = client.post("/reply", json={"text": "我要退款"}).json()
    assert body["intent"]["label"] == "refund_status"
    assert (body["handoff"]["needed"], body["handoff"]["reason"]) == (reason is not None, reason)


def test_without_a_handoff_model_strong_negative_sentiment_hands_over(
    client: TestClient, runners: dict[str, FakeRunner]
) -> None:
    runners["sentiment"].to_async = FakeRunner(predict=_very_negative).to_async
    runners["intent"].to_async = FakeRunner(
        predict=fake_intent, rank_replies=no_reply_ranker, handoff=_no_handoff_model
    ).to_async
    body = client.post("/reply", json={"text": "我要退款"}).json()
    assert body["handoff"]["reason"] == "strong negative sentiment: P(negative) 0.99 (>= 0.96)"


def test_a_purchase_event_fills_the_product_of_where_is_it(client: TestClient) -> None:
    r = client.post("/events", json={"events": [_event("p1", "purchase", item_id="50")]})
    assert r.status_code == 200, r.text
    r = client.post("/reply", json={"text": "where is my order 77812?", "user_id": "u1"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["context"]["last_item"]["item_id"] == "50"
    best = body["replies"][0]
    title = body["context"]["last_item"]["title"] or "50"
    assert title in best["text"] and "Product" not in best["missing"]
    assert body["event"]["status"] == "stored"


ORDER_REPLIES = (
    "intent,lang,text,request\n"
    "order_status,en,Order {{Order Number}} ({{Product}}) is {{Delivery State}}.,where is my order\n"
    "order_status,zh,订单{{Order Number}}（{{Product}}）：{{Delivery State}}。,我的快递到哪了\n"
)


@contextlib.contextmanager
def _serving_replies(
    kb_csv: str,
    app: Any,
    runners: dict[str, FakeRunner],
    tmp_path: Path,
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[TestClient]:
    """A client of the service over the fakes with ``kb_csv`` (a CSV's text) as the knowledge base."""
    kb = tmp_path / "kb.csv"
    kb.write_text(kb_csv, encoding="utf-8")
    monkeypatch.setattr(service, "SETTINGS", store_settings(store_url, grpc_port=0, replies=kb))
    monkeypatch.setattr(RUNNERS, "runners", runners)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _bought(user: str, order_id: str, status: str) -> list[dict[str, Any]]:
    """A purchase of item 50 as order ``order_id`` and that order's state."""
    return [
        {**_event("p1", "purchase", user=user, item_id="50"), "order_id": order_id},
        {**_event("s1", "order", user=user), "order_id": order_id, "status": status},
    ]


def test_the_last_orders_number_and_state_fill_where_is_it_unless_the_text_names_another_order(
    app: Any, runners: dict[str, FakeRunner], tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _serving_replies(ORDER_REPLIES, app, runners, tmp_path, store_url, monkeypatch) as c:
        events = [
            *_bought("u7", "SO-2231", "已发货"),
            {**_event("s0", "order", user="u7", ts="2026-11-28T08:00:00Z"), "order_id": "SO-2231", "status": "已付款"},
        ]
        r = c.post("/events", json={"events": events})
        assert r.status_code == 200 and r.json()["stored"] == 3, r.text
        body = c.post("/reply", json={"text": "我的快递到哪了", "user_id": "u7", "k": 1}).json()
        named = c.post("/reply", json={"text": "where is my order 77812?", "user_id": "u7", "k": 1}).json()
    sent = datetime(2026, 11, 28, 9, 30, tzinfo=UTC).timestamp()
    assert body["context"]["last_order"] == {
        "item_id": "50",
        "ts": sent,
        "order_id": "SO-2231",
        "status": "已发货",  # the latest state, whatever order the events came in
        "status_ts": sent,
    }
    (best,) = body["replies"]
    title = body["context"]["last_item"]["title"] or "50"
    assert best["text"] == f"订单SO-2231（{title}）：已发货。" and best["missing"] == []
    # The text asks about another order: its number, and no state of an order it did not ask about.
    (other,) = named["replies"]
    assert other["text"] == f"Order 77812 ({title}) is {{{{Delivery State}}}}." and other["missing"] == [
        "Delivery State"
    ]


def test_where_is_it_from_a_user_with_a_purchase_gets_that_orders_reply_though_the_model_abstained(
    app: Any, runners: dict[str, FakeRunner], tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    kb = ORDER_REPLIES + (
        "other,en,Could you tell me a little more about what you need?,i need help with something\n"
        "other,zh,请问有什么可以帮您？,我有个问题\n"
    )
    with _serving_replies(kb, app, runners, tmp_path, store_url, monkeypatch) as c:
        assert c.post("/events", json={"events": _bought("u7", "SO-2231", "shipped")}).json()["stored"] == 2
        # The fake intent model knows none of these words: it abstains, its best guess "other".
        asked = {
            (user, text): c.post("/reply", json={"text": text, "user_id": user, "k": 1}).json()
            for user in ("u7", "u8")
            for text in ("still nothing, it hasn't arrived", "什么时候能到啊")
        }
    title = asked[("u7", "什么时候能到啊")]["context"]["last_item"]["title"] or "50"
    assert (
        asked[("u7", "still nothing, it hasn't arrived")]["replies"][0]["text"]
        == f"Order SO-2231 ({title}) is shipped."
    )
    assert asked[("u7", "什么时候能到啊")]["replies"][0]["text"] == f"订单SO-2231（{title}）：shipped。"
    # The intent shown stays the model's: no label, with its reason.
    assert asked[("u7", "什么时候能到啊")]["intent"]["label"] is None
    # A user with no purchase gets the replies of the model's guess.
    assert asked[("u8", "still nothing, it hasn't arrived")]["replies"][0]["intent"] == "other"
    assert asked[("u8", "什么时候能到啊")]["replies"][0]["text"] == "请问有什么可以帮您？"


def test_repeated_refund_requests_raise_hand_over_and_show_in_profile_and_trends(client: TestClient) -> None:
    answers = [
        client.post("/reply", json={"text": f"where is my refund for order 5550{i}?", "user_id": "u2"}).json()
        for i in range(4)
    ]
    assert [a["context"]["repeat_contacts"] for a in answers] == [0, 1, 2, 3]
    assert [a["handoff"]["needed"] for a in answers] == [False, False, False, True]
    assert answers[-1]["handoff"]["reason"].startswith("repeated contact")
    profile = client.get("/users/u2/profile").json()
    assert [(i["intent"], i["count"]) for i in profile["service_issues"]] == [("refund_status", 4)]
    trends = client.get("/trends", params={"window": "1d", "end": "2001-01-01T00:00:00Z"}).json()
    assert trends["intent"] == {"rising": [], "falling": []}  # long ago: nothing in either window
    trends = client.get("/trends", params={"window": "1d"}).json()
    rising = {t["term"]: t for t in trends["intent"]["rising"]}
    assert rising["refund_status"]["current"] == 4 and rising["refund_status"]["change_percent"] is None


def test_reviews_are_not_service_requests(client: TestClient) -> None:
    r = client.post("/events", json={"events": [_event("r1", "review", user="u3", text="where is my refund??")]})
    assert r.status_code == 200, r.text
    assert client.get("/users/u3/profile").json()["service_issues"] == []


def test_personal_data_never_comes_back_nor_is_stored(client: TestClient, store_url: str) -> None:
    text = "My name is John Smith, call me at 13812345678, where is my order 99812?"
    r = client.post("/reply", json={"text": text, "user_id": "u4"})
    assert r.status_code == 200, r.text
    answer = r.text
    assert "13812345678" not in answer and "John Smith" not in answer
    if not store_url.startswith("postgres"):
        with sqlite3.connect(store_url) as db:
            stored = json.dumps(db.execute("SELECT * FROM events").fetchall(), ensure_ascii=False)
        assert "13812345678" not in stored and "John Smith" not in stored


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({"text": ""}, "text", "at least 1 character"),
        ({"text": "hi", "k": 0}, "k", "greater than or equal to 1"),
        ({"text": "hi", "history": ["x"] * 21}, "history", "at most 20 items"),
        ({"history": ["hi"]}, "text", "Field required"),
    ],
)
def test_bad_requests_name_the_field_and_rule(client: TestClient, body: dict[str, Any], field: str, rule: str) -> None:
    r = client.post("/reply", json=body)
    assert r.status_code == 400, r.text
    assert field in r.text and rule in r.text


def test_a_bad_knowledge_base_fails_the_start_naming_row_and_column(
    app: Any, runners: dict[str, FakeRunner], tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("intent,lang,text,request\norder_status,fr,Votre commande,ou est\n", encoding="utf-8")
    monkeypatch.setattr(service, "SETTINGS", store_settings(store_url, grpc_port=0, replies=bad))
    monkeypatch.setattr(RUNNERS, "runners", runners)
    with pytest.raises(ValueError, match=r"bad\.csv: row 1, column 'lang': 'fr' is not zh or en"), TestClient(app):
        pass


def test_the_shops_values_fill_its_placeholders_in_the_replys_language(
    app: Any,
    runners: dict[str, FakeRunner],
    tmp_path: Path,
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    kb = tmp_path / "kb.csv"
    kb.write_text(
        "intent,lang,text,request\n"
        "order_status,en,Order {{Order Number}}: track it on {{Website Name}} or call {{Customer Support Phone Number}}"
        " ({{Customer Support Hours}}).,where is my order\n"
        "order_status,zh,订单{{Order Number}}已发出，详询{{Customer Support Phone Number}}（{{Customer Support Hours}}）。,"
        "我的快递到哪了\n",
        encoding="utf-8",
    )
    shop = tmp_path / "shop.csv"
    shop.write_text(
        "placeholder,value,lang\n"
        "Website Name,shop.example.com,\n"
        "Customer Support Phone Number,400-800-1234,\n"
        "Customer Support Hours,每天 9:00-21:00,zh\n",
        encoding="utf-8",
    )
    settings = store_settings(store_url, grpc_port=0, replies=kb, shop_values=shop)
    monkeypatch.setattr(service, "SETTINGS", settings)
    monkeypatch.setattr(RUNNERS, "runners", runners)
    with caplog.at_level(logging.INFO, logger="demand_mining"), TestClient(app, raise_server_exceptions=False) as c:
        en = c.post("/reply", json={"text": "where is my order 77812?", "k": 1}).json()["replies"][0]
        zh = c.post("/reply", json={"text": "我的快递到哪了，订单号77812", "k": 1}).json()["replies"][0]
    assert en["text"] == "Order 77812: track it on shop.example.com or call 400-800-1234 ({{Customer Support Hours}})."
    # The hours are given for Chinese only: left for the agent in English, filled in Chinese.
    assert en["missing"] == ["Customer Support Hours"]
    assert zh["text"] == "订单77812已发出，详询400-800-1234（每天 9:00-21:00）。" and zh["missing"] == []
    # The start said which of the shop's placeholders have no value, per language.
    unfilled = [r.getMessage() for r in caplog.records if "are the shop's own and have no value" in r.getMessage()]
    assert len(unfilled) == 1 and unfilled[0].startswith("1 placeholders of the en replies")
    assert unfilled[0].endswith(": Customer Support Hours (1)")


def test_bad_shop_values_fail_the_start_naming_row_and_column(
    app: Any, runners: dict[str, FakeRunner], kb: Path, tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = tmp_path / "shop.csv"
    shop.write_text("placeholder,value\nOrder Number,12345\n", encoding="utf-8")
    monkeypatch.setattr(service, "SETTINGS", store_settings(store_url, grpc_port=0, replies=kb, shop_values=shop))
    monkeypatch.setattr(RUNNERS, "runners", runners)
    with (
        pytest.raises(ValueError, match=r"shop\.csv: row 1, column 'placeholder': 'Order Number' is filled from each"),
        TestClient(app),
    ):
        pass


def test_a_name_only_the_ner_finds_is_a_masked_slot_at_its_offsets_and_never_stored(
    client: TestClient, runners: dict[str, FakeRunner], store_url: str
) -> None:
    runners["ner"].to_async = FakeRunner(predict=entities_with_names(["李娜"])).to_async
    # The phone before the name is masked before the NER reads the text: the slot's offsets must
    # still index the text as sent.
    text = "电话13812345678，李娜的订单到哪了？地址是上海市浦东新区张江路1000弄5号楼302室"
    r = client.post("/reply", json={"text": text, "user_id": "u5"})
    assert r.status_code == 200, r.text
    slots = {s["type"]: s for s in r.json()["slots"]}
    name = slots["person_name"]
    assert (name["text"], text[name["start"] : name["end"]]) == ("<NAME>", "李娜")
    address = slots["address"]
    assert text[address["start"] : address["end"]] == "上海市浦东新区张江路1000弄5号楼302室"
    assert "李娜" not in r.text and "张江路" not in r.text and "13812345678" not in r.text
    if not store_url.startswith("postgres"):
        with sqlite3.connect(store_url) as db:
            stored = json.dumps(db.execute("SELECT * FROM events").fetchall(), ensure_ascii=False)
        assert "<NAME>的订单到哪了" in stored  # the message is kept, its personal parts masked
        assert "李娜" not in stored and "张江路" not in stored and "13812345678" not in stored


def test_a_product_the_text_names_fills_the_item_not_the_last_purchase(
    app: Any, runners: dict[str, FakeRunner], tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def products(items: list[TextItem]) -> list[EntitiesResult]:
        """The fake NER with a CATEGORY over 耳机, as the product-type list gives it."""
        out = []
        for it, base in zip(items, fake_entities(items), strict=True):
            at = it.text.find("耳机")
            found = [EntitySpan(type="CATEGORY", text="耳机", start=at, end=at + 2, score=1.0)] if at >= 0 else []
            out.append(base.model_copy(update={"entities": [*base.entities, *found]}))
        return out

    runners["ner"] = FakeRunner(predict=products)
    kb = "intent,lang,text,request\n,zh,{{Item}}现在有货，订单{{Order Number}}。,有货吗\n"
    with _serving_replies(kb, app, runners, tmp_path, store_url, monkeypatch) as c:
        assert c.post("/events", json={"events": _bought("u7", "SO-2231", "shipped")}).json()["stored"] == 2
        named = c.post("/reply", json={"text": "这款耳机有货吗", "user_id": "u7", "k": 1}).json()
        unnamed = c.post("/reply", json={"text": "还有货吗", "user_id": "u7", "k": 1}).json()
    assert [(s["type"], s["text"]) for s in named["slots"]] == [("product", "耳机")]
    assert named["replies"][0]["text"] == "耳机现在有货，订单SO-2231。"
    title = unnamed["context"]["last_item"]["title"] or "50"
    assert unnamed["replies"][0]["text"] == f"{title}现在有货，订单SO-2231。"


def test_the_reply_that_states_the_orders_state_from_the_events_comes_first(
    app: Any, runners: dict[str, FakeRunner], tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    kb = (
        "intent,lang,text,request\n"
        "order_status,zh,如果订单{{Order Number}}显示已签收而您没收到，请先问问家人。,我的快递到哪了 显示签收了没收到\n"
        "order_status,zh,订单{{Order Number}}目前{{Delivery State}}。,订单状态\n"
    )
    with _serving_replies(kb, app, runners, tmp_path, store_url, monkeypatch) as c:
        assert c.post("/events", json={"events": _bought("u7", "SO-2231", "已发货")}).json()["stored"] == 2
        known = c.post("/reply", json={"text": "我的快递到哪了", "user_id": "u7", "k": 2}).json()
        unknown = c.post("/reply", json={"text": "我的快递到哪了", "user_id": "u8", "k": 2}).json()
    assert [r["text"] for r in known["replies"]] == [
        "订单SO-2231目前已发货。",
        "如果订单SO-2231显示已签收而您没收到，请先问问家人。",
    ]
    # Nothing known of u8's order: the ranker's order, the closer request first.
    assert [r["missing"] for r in unknown["replies"]] == [["Order Number"], ["Order Number", "Delivery State"]]
    assert unknown["replies"][0]["score"] > unknown["replies"][1]["score"]


def test_places_written_together_fill_one_placeholder() -> None:
    from gateway.reply import slot_values

    text = "地址填错了，帮我改成北京市朝阳区，不是上海市浦东新区"
    values = slot_values(extract_slots(text, "zh"), None)
    assert values["city"] == "北京市朝阳区"
    assert slot_values(extract_slots("寄到贵州省六盘水市钟山区", "zh"), None)["city"] == "贵州省六盘水市钟山区"
