"""/classify on a real server, trained on the real catalogue."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.integration

TITLES = [
    'Samsung 65" Class QLED 4K Smart TV',
    'HP 15.6" Laptop, Intel Core i5, 16GB RAM, 512GB SSD',
    "Duracell Coppertop AA Batteries, 40-count",
    "联想笔记本电脑",
]


def test_categories_per_text(server: str, trained_models: dict[str, str]) -> None:
    r = httpx.post(f"{server}/classify", json={"texts": TITLES}, timeout=60)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == 4
    assert [x["lang"] for x in results] == ["en", "en", "en", "zh"]
    # Each language's own model; never the English model guessing at Chinese.
    assert [x["model"] for x in results] == [trained_models["classification-en"]] * 3 + [
        trained_models["classification-zh"]
    ]
    for x in results[:3]:
        assert len(x["probabilities"]) >= 15  # classes whose every title is ambiguous are dropped
        assert sum(x["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    # The small test model may be unsure even here; then it says so, and never names another category.
    assert max(results[0]["probabilities"], key=results[0]["probabilities"].get) == "TVs"
    assert results[0]["label"] == "TVs" or results[0]["reason"].startswith("not sure")
    assert set(results[3]["probabilities"]) == {
        "书籍",
        "平板",
        "手机",
        "水果",
        "洗发水",
        "热水器",
        "乳制品",
        "衣服",
        "计算机",
        "酒店",
    }
    # A label, or null with the reason: the calibrated probability under the threshold chosen on validation.
    assert results[3]["label"] in results[3]["probabilities"] or results[3]["reason"].startswith("not sure")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"texts": []}, "texts: Value should have at least 1 item"),
        ({"texts": ["  "]}, "texts[0]: Value error, text is blank; expected at least 1 non-space character"),
        ({"text": "tv"}, "texts: Field required"),
    ],
)
def test_bad_input(server: str, body: object, message: str) -> None:
    r = httpx.post(f"{server}/classify", json=body, timeout=60)
    assert r.status_code == 400 and message in r.json()["error"]
