"""/classify on a real server, trained on the real catalogue."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.conftest import answered_by, assert_label_or_unsure, names_only_unseen_goods, threshold_of

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
    assert [x["model"] for x in results] == [answered_by(trained_models["classification-en"])] * 3 + [
        answered_by(trained_models["classification-zh"])
    ]
    for x in results[:3]:
        assert len(x["probabilities"]) >= 15  # classes whose every title is ambiguous are dropped
        assert sum(x["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    # The small test model may be unsure even here; then it says so, and never names another category.
    assert max(results[0]["probabilities"], key=results[0]["probabilities"].get) == "TVs"
    en = trained_models["classification-en"]
    for text, x in zip(TITLES[:3], results[:3], strict=True):
        assert_label_or_unsure(x, threshold_of(en), names_only_unseen_goods(text, en))
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
    # The top category exactly where its calibrated probability reaches the threshold stored with the
    # model (chosen on validation); null under it, with a reason naming the probability and the category.
    zh = trained_models["classification-zh"]
    assert_label_or_unsure(results[3], threshold_of(zh), names_only_unseen_goods(TITLES[3], zh))


# Chinese reviews that name what they are about, each of one of the Chinese model's categories.
CLEAR_ZH = [
    ("这本书写得很好，内容丰富，值得一读", "书籍"),
    ("牛奶很好喝，孩子很喜欢", "乳制品"),
    ("热水器加热很快，安装师傅很专业", "热水器"),
]


def test_clear_chinese_reviews_get_their_category(server: str, trained_models: dict[str, str]) -> None:
    r = httpx.post(f"{server}/classify", json={"texts": [text for text, _ in CLEAR_ZH]}, timeout=60)
    assert r.status_code == 200, r.text
    threshold = threshold_of(trained_models["classification-zh"])
    for (text, category), x in zip(CLEAR_ZH, r.json()["results"], strict=True):
        assert x["model"] == answered_by(trained_models["classification-zh"])
        # Ranked first, whether or not it is sure enough to answer: another category first fails
        # the test even where the model abstains.
        assert max(x["probabilities"], key=x["probabilities"].get) == category, (text, x["probabilities"])
        assert_label_or_unsure(x, threshold, names_only_unseen_goods(text, trained_models["classification-zh"]))


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
