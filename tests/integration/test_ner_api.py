"""/ner on a real server: entities with offsets into the text as sent, routing, bad input."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.integration

TEXTS = [
    "  新华社北京电，国务院总理在上海会见了联想集团代表。",  # leading spaces: offsets must count them
    'Samsung 65" Class QN90C 4K UHD TV, 2-pack of Duracell AA batteries',
    "ＡＰＰＬＥ 😀 在深圳开了新店",  # full-width letters and an emoji before entities
]


def test_entities_index_the_text_as_sent(server: str, trained_models: dict[str, str]) -> None:
    r = httpx.post(f"{server}/ner", json={"texts": TEXTS}, timeout=120)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["lang"] for x in results] == ["zh", "en", "zh"]
    assert results[0]["models"] == [trained_models["ner-zh"]]
    assert results[1]["models"] == [trained_models["ner-en"], trained_models["ner-products-en"]]
    for text, result in zip(TEXTS, results):
        ends = [-1]
        for e in result["entities"]:
            if e["type"] == "PER":  # a name comes back masked, at its offsets
                assert e["text"] == "<NAME>" and text[e["start"] : e["end"]].strip()
            else:
                assert text[e["start"] : e["end"]] == e["text"] and e["text"].strip() == e["text"]
            assert e["start"] >= ends[-1]  # in order, not overlapping
            ends.append(e["end"])
            assert 0 <= e["score"] <= 1
    # Tiny models, but the product one has seen such titles: its entity types come back.
    product_types = {"BRAND", "CATEGORY", "SIZE", "CAPACITY", "COUNT", "RESOLUTION", "MODEL"}
    assert product_types & {e["type"] for e in results[1]["entities"]}


def test_single_text_and_batch_agree(server: str) -> None:
    one = httpx.post(f"{server}/ner", json={"texts": TEXTS[0]}, timeout=60).json()["results"][0]
    many = httpx.post(f"{server}/ner", json={"texts": TEXTS}, timeout=60).json()["results"][0]
    assert [(e["type"], e["start"], e["end"]) for e in one["entities"]] == [
        (e["type"], e["start"], e["end"]) for e in many["entities"]
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"texts": []}, "texts: Value should have at least 1 item"),
        ({"texts": [""]}, "texts[0]: String should have at least 1 character"),
        ({"texts": [" \n "]}, "texts[0]: Value error, text is blank"),
        ({"texts": ["x" * 2001]}, "texts[0]: String should have at most 2000 characters"),
        ({"texts": ["ok"] * 65}, "texts: Value should have at most 64 items"),
        ({"texts": [3]}, "texts[0]: Input should be a valid string"),
    ],
)
def test_bad_input(server: str, body: object, message: str) -> None:
    r = httpx.post(f"{server}/ner", json=body, timeout=60)
    assert r.status_code == 400 and message in r.json()["error"], r.text
