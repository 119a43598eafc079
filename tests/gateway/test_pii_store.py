"""No personal number reaches the event store or an answer read from it, whatever it is glued to.

A hostile batch goes in through ``/events`` and ``/mine`` (with a user) over fake runners whose
NER tags every digit run as a MODEL entity and whose keywords are the text's words; then the
profile and trends (HTTP, ``/invocations`` and the gRPC dispatcher) and every text column of
every table of the SQLite file are searched for card numbers, mobile numbers, resident IDs and
e-mail addresses."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

import service
from mining.contracts import EntitiesResult, EntitySpan, TextItem
from mining.events import open_store
from mining.settings import Settings
from mining.text import _luhn_ok
from tests.support.fakes import (
    FakeRunner,
    RunnerSlot,
    entities_with_names,
    fake_entities,
    fake_runners,
    store_settings,
)

TS = "2026-11-28T09:30:00Z"
LIMIT = 64 << 10
RUNNERS = RunnerSlot()
USER = "hostile-user"
HOSTILE = [
    "refund ref-4111111111111111- phone me about the Sony TV",
    "card4111111111111111x was charged twice",
    "卡号4111111111111111谢谢 华为手机",
    "4111-1111-1111-1111 please refund",
    "(4111 1111 1111 1111) Sony",
    "卡号6222 0202 0011 2233 446号 退款",
    "amex:378282246310005. battery broke",
    "ref-４１１１１１１１１１１１１１１１- full width",
    "卡号4111\u200b1111\u200b1111\u200b1111谢谢",
    "tel13812345678 Sony TV",
    "手机13812345678谢谢",
    "手机+86-138-1234-5678谢谢",
    "call +8613812345678 now",
    "tel+14155552671 ok",
    "id110101199003077777x 华为手机",
    "身份证11010519491231002X号 电池太差",
    "mail:jo@example.com,thanks",
    "邮箱li.wei@example.com谢谢",
    "card 4111 1111 1111 1111 2 pcs",
    "refund to IBAN DE89 3704 0044 0532 0130 00 please",
    "退款请打到GB82WEST12345698765432谢谢",
]
ORDER = "order 123456789012345 shipped"  # Luhn-invalid: an order number, kept

_RUN = re.compile(r"\d+(?:[ .\-\u200b]+\d+)*")
_MOBILE = re.compile(r"(?<!\d)(?:86)?1[3-9]\d{9}(?!\d)")
_ID = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")
_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+\.\w")
_IBAN_SHAPE = re.compile(r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}")


def personal_numbers(text: str) -> list[str]:
    """What in ``text`` looks personal: Luhn-valid runs of 13-19 digits (separators removed, any
    Unicode digits; a run of whole digit groups, so "4111 1111 1111 1111 2" holds one),
    11-digit mobile numbers (with or without 86), 18-character resident IDs, e-mail addresses, and
    any 8 characters of an IBAN in the batch (a part of an account number is still a leak)."""
    found = []
    for m in _RUN.finditer(text):
        groups = ["".join(str(int(ch)) for ch in g) for g in re.findall(r"\d+", m.group())]
        for i in range(len(groups)):
            for j in range(i + 1, len(groups) + 1):
                digits = "".join(groups[i:j])
                if len(digits) > 19:
                    break
                if len(digits) >= 13 and _luhn_ok(digits):
                    found.append(digits)
    joined = _RUN.sub(lambda m: "".join(str(int(ch)) for ch in m.group() if ch.isdigit()), text)
    found += _MOBILE.findall(joined) + _ID.findall(joined) + _ADDRESS.findall(text)
    compact = re.sub(r"\s", "", text)
    found += [
        part
        for m in _IBAN_SHAPE.finditer(" ".join(HOSTILE))
        for iban in [m.group().replace(" ", "")]
        for part in (iban[k : k + 8] for k in range(0, len(iban) - 7, 4))
        if part in compact
    ]
    return found


# Fields the gateway fills with hex digests (idempotency keys, body hashes): no text of a customer.
DIGESTS = {"key", "body_hash"}


def strings_in(value: Any) -> list[str]:
    """Every string in a JSON value (and in JSON held in a string) but the digests: numbers such
    as timestamps are not text anyone wrote."""
    if isinstance(value, str):
        if value[:1] in "{[":
            try:
                return strings_in(json.loads(value))
            except ValueError:
                return [value]
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() if k not in DIGESTS for s in (*strings_in(k), *strings_in(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []


def leaks_in(value: Any) -> list[str]:
    return [found for s in strings_in(value) for found in personal_numbers(s)]


def test_the_search_finds_every_hostile_form_and_not_the_order_number() -> None:
    for text in HOSTILE:
        assert personal_numbers(text), text
    assert personal_numbers(ORDER) == []


_DIGITS = re.compile(r"\S*\d[\d .\-]*\d\S*|\S*\d\S*")


def _entities_over_digits(items: list[TextItem]) -> list[EntitiesResult]:
    """The usual fake entities, plus a MODEL entity over every word holding a digit and every
    digit run: what a tagger trained on model numbers does to a card number."""
    out = []
    for it, base in zip(items, fake_entities(items)):
        spans = [
            EntitySpan(type="MODEL", text=m.group(), start=m.start(), end=m.end(), score=0.9)
            for pattern in (_DIGITS, _RUN)
            for m in pattern.finditer(it.text)
        ]
        out.append(base.model_copy(update={"entities": [*base.entities, *spans]}))
    return out


@pytest.fixture()
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "events.sqlite3"


@pytest.fixture()
def ner_inputs() -> list[str]:
    """Texts the fake NER runner was sent, in order."""
    return []


@pytest.fixture()
def runners(ner_inputs: list[str]) -> dict[str, FakeRunner]:
    """The in-process suite's fakes, but a NER that tags digits and records what it was sent."""

    def ner(items: list[TextItem]) -> list[EntitiesResult]:
        ner_inputs.extend(it.text for it in items)
        return _entities_over_digits(items)

    runners = fake_runners()
    runners["ner"] = FakeRunner(predict=ner)
    return runners


@pytest.fixture(scope="module")
def app() -> Iterator[Any]:
    """One ASGI app for the module, over each test's runners and settings (as in test_inprocess).

    BentoML registers an app's HTTP metrics in the process's metrics registry, once: this app
    gets a registry of its own, so it can live beside the in-process suite's app in one run."""
    from bentoml._internal.configuration.containers import BentoMLContainer
    from prometheus_client import CollectorRegistry

    patch = pytest.MonkeyPatch()
    metrics = BentoMLContainer.metrics_client.get()
    assert metrics.registry is not None  # set up first: the client notes its process then
    patch.setattr(metrics, "_registry", CollectorRegistry())
    patch.setattr(service, "SETTINGS", Settings(grpc_port=0, max_body_bytes=LIMIT))
    patch.setattr(service, "connect_runners", RUNNERS)
    yield service.DemandMining.to_asgi()
    patch.undo()


@pytest.fixture()
def client(
    app: Any, runners: dict[str, FakeRunner], db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    """The service over the fake runners and an empty SQLite event store."""
    monkeypatch.setattr(service, "SETTINGS", store_settings(str(db_path), grpc_port=0, max_body_bytes=LIMIT))
    monkeypatch.setattr(RUNNERS, "runners", runners)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _text_columns(db_path: Path) -> list[tuple[str, str, str]]:
    """(table, column, value) of every string value in the SQLite file, digests aside."""
    out = []
    with sqlite3.connect(db_path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = [r[1] for r in db.execute(f'PRAGMA table_info("{table}")')]
            for row in db.execute(f'SELECT * FROM "{table}"'):
                out += [(table, c, v) for c, v in zip(columns, row) if isinstance(v, str) and c not in DIGESTS]
    return out


def test_hostile_messages_leave_no_personal_number_in_answers_or_the_database(
    client: TestClient, db_path: Path, ner_inputs: list[str]
) -> None:
    events = [
        {"key": f"e{i}", "user_id": USER, "type": "message", "text": t, "ts": TS}
        for i, t in enumerate([*HOSTILE, ORDER])
    ]
    r = client.post("/events", json={"events": events})
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == len(events)
    # Extraction saw masked texts only, and all of them.
    assert len(ner_inputs) == len(events) and ORDER in ner_inputs
    assert [t for t in ner_inputs if leaks_in(t)] == []
    mined = client.post("/mine", json={"texts": HOSTILE, "user_id": USER, "request_id": "r1", "n": 3})
    assert mined.status_code == 200, mined.text
    assert leaks_in(mined.json()) == []  # the per-text results too, not only the stored user part
    for route in ("/ner", "/keywords", "/aspects", "/sentiment", "/classify"):
        answered = client.post(route, json={"texts": HOSTILE})
        assert answered.status_code == 200, (route, answered.text)
        assert leaks_in(answered.json()) == [], route

    profile = client.get(f"/users/{USER}/profile", params={"top": 50})
    assert profile.status_code == 200, profile.text
    assert profile.json()["n_events"] == len(events) + len(HOSTILE)
    trends = client.get("/trends", params={"window": "7d", "end": "2026-11-29T00:00:00Z", "top": 50})
    assert trends.status_code == 200, trends.text
    invoked = client.post("/invocations", json={"route": "/profile", "body": {"user_id": USER, "top": 50}})
    assert invoked.status_code == 200, invoked.text
    instance = service.DemandMining.inner()
    grpc_profile = asyncio.run(instance.dispatch("GetProfile", {"user_id": USER, "top": 50}))
    grpc_trends = asyncio.run(instance.dispatch("GetTrends", {"window": "7d", "end": "2026-11-29T00:00:00Z"}))
    assert leaks_in([profile.json(), trends.json(), invoked.json(), grpc_profile, grpc_trends]) == []
    entities = {e["term"] for e in profile.json()["entities"]}
    # The fake NER's digit entities are stored: only the masking keeps the personal ones out.
    assert {"sony", "123456789012345"} <= entities, entities

    stored = _text_columns(db_path)
    assert {table for table, _, _ in stored} >= {"events", "terms", "term_buckets"}
    leaks = [(table, column, value) for table, column, value in stored if leaks_in(value)]
    assert leaks == []
    # The search did read the stored texts: the order number is there, as sent.
    assert any(ORDER in value for table, column, value in stored if (table, column) == ("events", "text"))


def test_the_store_masks_what_a_caller_failed_to(db_path: Path) -> None:
    """The store's last guard: an event whose text and analysis were never masked."""
    raw = "refund ref-4111111111111111- tel13812345678 id11010519491231002X jo@example.com"
    analysis = {
        "lang": "en",
        "category": "Televisions",
        "positive": 0.2,
        "entities": [
            {"type": "MODEL", "text": "ref-4111111111111111"},
            {"type": "MODEL", "text": "4111 1111 1111 1111"},
            {"type": "BRAND", "text": "Sony"},
        ],
        "keywords": [{"keyword": "13812345678"}, {"keyword": "refund"}],
        "aspects": [{"aspect": "11010519491231002X", "polarity": "negative"}],
    }
    store = open_store(str(db_path))
    try:
        store.add([{"key": "k", "user_id": USER, "type": "message", "ts": 1.8e9, "text": raw, "analysis": analysis}])
        again = store.add(
            [{"key": "k", "user_id": USER, "type": "message", "ts": 1.8e9, "text": raw, "analysis": analysis}]
        )
        assert again[0]["stored"] is False  # a retry of the same body is still a retry
        profile = store.profile(USER)
    finally:
        store.close()
    assert profile is not None
    assert {e.term for e in profile.entities} == {"ref-<card>", "sony"}
    assert [k.term for k in profile.keywords] == ["refund"]
    stored = _text_columns(db_path)
    assert personal_numbers(raw) and [v for _, _, v in stored if leaks_in(v)] == []
    texts = [v for table, column, v in stored if (table, column) == ("events", "text")]
    assert texts == ["refund ref-<CARD>- tel<PHONE> id<ID> <EMAIL>"]


# Names and street addresses: found by the rules (cues, address shapes) or only by the NER
# (NER_NAMES, no cue around them), in both languages.
NER_NAMES = ("李娜", "Maria Garcia")
PERSONAL = [
    ("我叫张伟，订单还没到", "张伟"),
    ("李娜的订单还没发货，华为手机", "李娜"),
    ("收货人王小明，住在上海市浦东新区张江路1000弄5号楼302室", "张江路1000弄"),
    ("please send the Sony TV to Maria Garcia, she paid", "Maria Garcia"),
    ("My name is John Smith, I live at 42 Baker Street", "Baker Street"),
    ("tel 13812345678 李娜 battery broke", "李娜"),
    # a name the NER takes for a brand, which the given-name rule knows: no target of the summary
    ("Michelle Obama wants a Sony TV", "Michelle"),
]


def test_names_and_addresses_are_masked_in_answers_and_the_database(
    client: TestClient, runners: dict[str, FakeRunner], db_path: Path
) -> None:
    runners["ner"].to_async = FakeRunner(predict=entities_with_names(NER_NAMES, ["Michelle"])).to_async
    secrets = [s for _, s in PERSONAL] + ["王小明", "John Smith", "13812345678", "Obama"]
    events = [
        {"key": f"p{i}", "user_id": USER, "type": "message", "text": t, "ts": TS} for i, (t, _) in enumerate(PERSONAL)
    ]
    r = client.post("/events", json={"events": events})
    assert r.status_code == 200 and r.json()["stored"] == len(events), r.text
    # A retry is a retry: the body hash does not depend on what the NER found.
    again = client.post("/events", json={"events": events})
    assert again.status_code == 200 and again.json()["duplicates"] == len(events), again.text
    texts = [t for t, _ in PERSONAL]
    mined = client.post("/mine", json={"texts": texts, "user_id": USER, "request_id": "names"})
    assert mined.status_code == 200, mined.text
    ner = client.post("/ner", json={"texts": texts})
    assert ner.status_code == 200, ner.text
    others = [client.post(route, json={"texts": texts}).json() for route in ("/keywords", "/aspects")]
    profile = client.get(f"/users/{USER}/profile", params={"top": 50})
    for answer in (mined.json(), ner.json(), *others, profile.json()):
        dumped = json.dumps(answer, ensure_ascii=False)
        assert [s for s in secrets if s in dumped] == [], dumped
    # Names come back as <NAME> at their offsets into the text as sent (the phone before one is
    # masked before the NER reads the text).
    tel = next(i for i, t in enumerate(texts) if t.startswith("tel"))
    (person,) = [e for e in ner.json()["results"][tel]["entities"] if e["type"] == "PER"]
    assert person["text"] == "<NAME>" and texts[tel][person["start"] : person["end"]] == "李娜"
    (brand,) = [e for e in ner.json()["results"][-1]["entities"] if e["start"] == 0]
    assert (brand["type"], brand["text"]) == ("BRAND", "<NAME>")  # inside a name: masked as one

    stored = _text_columns(db_path)
    assert [(t, c, v) for t, c, v in stored if any(s in v for s in secrets)] == []
    kept = [v for t, c, v in stored if (t, c) == ("events", "text")]
    assert sum("<NAME>" in v for v in kept) >= 2 * 5 and any("<ADDRESS>" in v for v in kept)
    assert any("华为手机" in v for v in kept)  # the rest of a message is kept as sent
