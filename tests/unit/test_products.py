"""The Chinese product-type list: what it finds and refuses, with offsets into the text as sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from mining.brands import BrandTable
from mining.entities import table_and_pattern_entities
from mining.products import ProductTypes, read_types
from mining.settings import BUILTIN_BRANDS, Settings


@pytest.fixture(scope="module")
def types() -> ProductTypes:
    return ProductTypes.load("zh")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我想买一台华为笔记本电脑", [("笔记本电脑", 7)]),  # the longest entry, not 笔记本 or 电脑
        ("蓝牙耳机和耳机", [("蓝牙耳机", 0), ("耳机", 5)]),
        ("这本书很好看", [("书", 2)]),  # a one-character type after a measure word
        ("买的书质量差", [("书", 2)]),
        ("书很好", [("书", 0)]),  # ... or before a degree word
        ("证书丢了，书记也不在", []),  # ... and nowhere else
        ("一双鞋", [("鞋", 2)]),
        ("手机号码是多少", []),  # a number, not a phone
        ("电视剧好看，电视台也好", []),
        ("去电脑城买电脑", [("电脑", 5)]),
        ("牛奶味的饼干", [("饼干", 4)]),  # a flavour is no milk
        ("牛奶味道不错", [("牛奶", 0)]),  # ... but its taste is the milk's
        ("ＳＤ卡坏了", [("ＳＤ卡", 0)]),  # full-width: matched normalised, offsets as sent
        ("質量很好的熱水器", [("熱水器", 5)]),  # traditional characters
        ("", []),
        ("屏幕和电池都不错", []),  # parts of a product are no product type
        # a rejected longest match is not replaced by a shorter entry
        ("手机壳店", []),
        ("笔记本电脑城", []),
        # a one-character type inside another word, before a degree word or 的
        ("火锅很好吃，秘书很忙，证书的问题", []),
        ("鞋子号码偏小", [("鞋子", 0)]),  # a size, not a number
        ("咖啡色的衣服", [("衣服", 4)]),  # a colour is no coffee
        ("面包车和芒果TV", []),
        ("u盘和sim卡", [("u盘", 0), ("sim卡", 3)]),  # Latin letters in any case
        ("AMP3", []),  # ... as whole words only
        ("手机：<PHONE>，手机坏了", [("手机", 11)]),  # the word before a masked number says what it is
    ],
)
def test_product_types(types: ProductTypes, text: str, expected: list[tuple[str, int]]) -> None:
    found = types.find(text)
    assert [(m.text, m.start) for m in found] == expected
    assert all(text[m.start : m.end] == m.text for m in found)


def test_an_english_type_before_a_masked_phone_number_is_no_product() -> None:
    types = ProductTypes.load("en")
    text = "My phone: <PHONE> and phone <PHONE>; the phone broke"
    assert [(m.text, m.start) for m in types.find(text)] == [("phone", 41)]


def test_a_brand_keeps_its_span_from_the_type_list() -> None:
    brands = BrandTable.load(BUILTIN_BRANDS)
    found = table_and_pattern_entities("苹果手机不错，水果里苹果最甜", brands, ProductTypes.load("zh"))
    # 苹果 beside 手机 is Apple; among fruit it is the fruit, a product type.
    assert sorted((e.start, e.type, e.text) for e in found) == [
        (0, "BRAND", "苹果"),
        (2, "CATEGORY", "手机"),
        (7, "CATEGORY", "水果"),
        (10, "CATEGORY", "苹果"),
    ]
    assert table_and_pattern_entities("苹果很甜", brands) == []  # no list given: no types (English texts)


def test_the_longer_of_a_brand_and_a_type_names_the_thing() -> None:
    brands = BrandTable.load(BUILTIN_BRANDS)
    types = ProductTypes.load("zh")
    # 移动 beside 卡 is China Mobile, but inside 移动硬盘 it is part of the type.
    found = table_and_pattern_entities("移动硬盘卡顿，中国移动的卡", brands, types)
    assert sorted((e.start, e.type, e.text) for e in found) == [(0, "CATEGORY", "移动硬盘"), (7, "BRAND", "中国移动")]


def test_a_users_list_is_normalised_like_the_text() -> None:
    types = ProductTypes(["手機", "ＳＩＭ卡"])  # Traditional, full-width
    assert [m.text for m in types.find("我的手机和SIM卡")] == ["手机", "SIM卡"]


def test_a_users_list_adds_types(tmp_path: Path) -> None:
    mine = tmp_path / "types.txt"
    mine.write_bytes("# 我们店的商品\n猫砂\n猫抓板\n".encode("gb18030"))  # a Chinese spreadsheet's encoding
    settings = Settings.from_env({"DEMAND_MINING_PRODUCT_TYPES": str(mine)})
    types = ProductTypes.load("zh", *settings.product_types)
    assert [m.text for m in types.find("猫砂和手机壳")] == ["猫砂", "手机壳"]


def test_an_empty_list_is_refused_by_name(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing yet\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"empty\.txt: product types list has no entry"):
        read_types(empty)
    assert ProductTypes([]).find("手机") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I want to buy a laptop with a big screen", [("laptop", 16)]),
        ("Do you sell water heaters?", [("water heaters", 12)]),  # the plural of an entry
        ("these cookies and two batteries", [("cookies", 6)]),  # a part is no product type
        ("My dog loves these dog treats", [("dog treats", 19)]),  # the longest entry
        ("what is your phone number", []),  # a number, not a phone
        ("we met at a coffee shop", []),
        ("The TShirt fits well", [("TShirt", 4)]),  # any case
        ("teapot", []),  # whole words only
        ("这台笔记本电脑", []),  # Chinese is the Chinese list's
    ],
)
def test_english_product_types(text: str, expected: list[tuple[str, int]]) -> None:
    found = ProductTypes.load("en").find(text)
    assert [(m.text, m.start) for m in found] == expected


def test_a_users_list_feeds_each_language_its_entries(tmp_path: Path) -> None:
    mine = tmp_path / "types.txt"
    mine.write_text("猫砂\ncat litter\nMP3\n", encoding="utf-8")
    zh, en = ProductTypes.load("zh", mine), ProductTypes.load("en", mine)
    assert [m.text for m in zh.find("买了猫砂和MP3")] == ["猫砂", "MP3"]
    assert [m.text for m in en.find("two bags of cat litter and an mp3")] == ["cat litter", "mp3"]
    assert en.find("猫砂") == []
    with pytest.raises(ValueError, match="no product-type list for language 'fr'"):
        ProductTypes.load("fr")
