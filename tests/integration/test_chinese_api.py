"""Chinese customer text on a real server: categories from the Chinese model (or null, never the
English model's guess), brands and attributes with offsets, intents and a Chinese summary; and a
deployment without a Chinese category model, where every Chinese text gets a null category."""

from __future__ import annotations

import codecs
import gzip
import json
from collections.abc import Iterator

import bentoml
import httpx
import pytest

from mining.models.textclf import Abstention
from tests.integration.conftest import Server, answered_by, names_only_unseen_goods

pytestmark = pytest.mark.integration

JSON = {"content-type": "application/json"}
CATEGORIES = {"书籍", "平板", "手机", "水果", "洗发水", "热水器", "乳制品", "衣服", "计算机", "酒店"}


def test_ner_finds_chinese_brands_and_attributes_with_offsets(server: str) -> None:
    texts = ["有没有20000毫安的华为充电宝？", "买了两箱红富士，５斤装", 'Samsung 65" QN90C 4K TV, 2-pack']
    results = httpx.post(f"{server}/ner", json={"texts": texts}, timeout=60).json()["results"]
    for text, r in zip(texts, results, strict=True):
        assert all(text[e["start"] : e["end"]] == e["text"] for e in r["entities"] if e["type"] != "PER")
    zh = {(e["type"], e["text"], e["source"]) for e in results[0]["entities"]}
    assert {("BRAND", "华为", "brands"), ("CAPACITY", "20000毫安", "pattern")} <= zh
    brand = next(e for e in results[0]["entities"] if e["type"] == "BRAND")
    assert brand["canonical"] == "Huawei" and brand["score"] == 1.0
    capacity = next(e for e in results[0]["entities"] if e["type"] == "CAPACITY")
    assert (capacity["value"], capacity["unit"]) == (20000, "mAh")
    fruit = {(e["type"], e["text"]) for e in results[1]["entities"]}
    assert {("BRAND", "红富士"), ("COUNT", "两箱"), ("WEIGHT", "５斤")} <= fruit  # full-width digits, offsets as sent
    en = {(e["type"], e["text"]) for e in results[2]["entities"]}
    assert {("BRAND", "Samsung"), ("SCREEN", '65"'), ("MODEL", "QN90C"), ("RESOLUTION", "4K")} <= en


def test_a_chinese_body_is_read_however_it_was_sent(server: str) -> None:
    """GB18030 named in the charset, UTF-16 with its byte-order mark, UTF-8 with one, gzip: the
    same answer as plain UTF-8. GB18030 not named is refused naming the byte."""
    plain = json.dumps({"texts": ["华为手机屏幕很清晰，电池不耐用"]}, ensure_ascii=False)
    want = httpx.post(f"{server}/ner", content=plain.encode(), headers=JSON, timeout=60)
    assert want.status_code == 200 and want.json()["results"][0]["entities"]
    for raw, headers in [
        (plain.encode("gb18030"), {"content-type": "application/json; charset=GBK"}),
        (plain.encode("utf-16"), JSON),
        (codecs.BOM_UTF8 + plain.encode(), JSON),
        (gzip.compress(plain.encode()), {**JSON, "content-encoding": "gzip"}),
    ]:
        r = httpx.post(f"{server}/ner", content=raw, headers=headers, timeout=60)
        assert (r.status_code, r.json()) == (200, want.json()), headers
    r = httpx.post(f"{server}/ner", content=plain.encode("gb18030"), headers=JSON, timeout=60)
    assert r.status_code == 400 and r.json()["error"].startswith("body: not valid UTF-8 text: byte 0xBB at position 12")


def test_mine_answers_chinese_in_chinese(server: str, trained_models: dict[str, str]) -> None:
    texts = ["请问这个洗发水适合油性头发吗？", "有没有20000毫安的华为充电宝？", "快递三天了还没到，怎么回事"]
    body = httpx.post(f"{server}/mine", json={"texts": texts}, timeout=60).json()
    question, want, delivery = body["results"]
    assert [r["demand"]["intent"] for r in body["results"]] == ["question", "request", "order_status"]
    assert want["demand"]["targets"] == ["华为", "充电宝"] and want["demand"]["attributes"] == ["20000毫安"]
    threshold = Abstention.from_metadata(
        bentoml.models.get(trained_models["classification-zh"]).info.metadata
    ).threshold
    for text, r in zip(texts, body["results"], strict=True):
        assert r["lang"] == "zh" and r["demand"]["summary"].startswith("顾客")
        category = r["category"]
        assert category["model"] == answered_by(
            trained_models["classification-zh"]
        )  # the Chinese model, not the English
        assert set(category["probabilities"]) == CATEGORIES
        assert r["demand"]["category"] == category["label"]
        # Its top category where the calibrated probability reaches the model's threshold (unless the
        # text names only goods the model never read of), else null and why.
        top = max(category["probabilities"], key=category["probabilities"].get)
        if category["score"] >= threshold and names_only_unseen_goods(text, trained_models["classification-zh"]):
            assert category["label"] is None and category["reason"].startswith("names ")
        elif category["score"] >= threshold:
            assert (category["label"], category["reason"]) == (top, None)
        else:
            assert category["label"] is None and category["reason"].startswith(
                f"not sure: top probability {category['score']:.2f} ({top})"
            )
    # A question that names its product ranks that category first, answered or not.
    assert max(question["category"]["probabilities"], key=question["category"]["probabilities"].get) == "洗发水"


@pytest.fixture(scope="module")
def without_chinese_categories(
    trained_models: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A deployment whose store has no Chinese category model (the tag points at nothing)."""
    tmp = tmp_path_factory.mktemp("no-zh-category")
    srv = Server(
        tmp / "serve.log",
        {
            "DEMAND_MINING_EVENTS_DB": str(tmp / "events.sqlite3"),
            "GRPC_PORT": "0",
            "CLASSIFICATION_ZH_MODEL": "classification-zh:absent",
        },
    )
    try:
        yield srv.start()
    finally:
        srv.stop()


def test_a_language_without_a_model_gets_null_categories(
    without_chinese_categories: Server, trained_models: dict[str, str]
) -> None:
    url = without_chinese_categories.url
    zh, en = httpx.post(f"{url}/classify", json={"texts": ["联想笔记本电脑", 'HP 15.6" Laptop']}, timeout=60).json()[
        "results"
    ]
    assert zh["label"] is None and zh["model"] is None
    assert zh["reason"] == "no classification model for 'zh' text (models exist for ['en'])"
    assert en["model"] == answered_by(trained_models["classification-en"])
    mined = httpx.post(f"{url}/mine", json={"texts": ["联想笔记本电脑很好用"]}, timeout=60).json()["results"][0]
    assert mined["demand"]["category"] is None and mined["category"]["reason"].startswith("no classification model")
