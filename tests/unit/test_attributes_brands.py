"""Attribute patterns and the brands table: what they find, with offsets into the text as sent."""

from __future__ import annotations

import pytest

from mining.attributes import find_attributes, parse_number
from mining.brands import BrandTable
from mining.settings import BUILTIN_BRANDS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("有没有20000毫安的充电宝", [("CAPACITY", "20000毫安", 20000, "mAh")]),
        ("５０００ｍＡｈ大电池", [("CAPACITY", "５０００ｍＡｈ", 5000, "mAh")]),  # full-width: offsets as sent
        ("6.5英寸屏幕，256GB存储", [("SCREEN", "6.5英寸", 6.5, "inch"), ("STORAGE", "256GB", 256, "GB")]),
        ("内存加到4G，硬盘500G", [("STORAGE", "4G", 4, "GB"), ("STORAGE", "500G", 500, "GB")]),
        ("这款手机支持4G网络，5G也行", []),  # network generations are not storage
        ("5斤装，每个200克", [("WEIGHT", "5斤", 5, "jin"), ("WEIGHT", "200克", 200, "g")]),
        ("400毫升两瓶", [("VOLUME", "400毫升", 400, "ml"), ("COUNT", "两瓶", 2, "瓶")]),
        ("买了两箱，一个月吃完", [("COUNT", "两箱", 2, "箱")]),  # 一个月 is a duration
        ("十二个装", [("COUNT", "十二个", 12, "个")]),
        ("2000W速热", [("POWER", "2000W", 2000, "W")]),
        ("分辨率1920x1080，支持4K", [("RESOLUTION", "1920x1080", None, None), ("RESOLUTION", "4K", None, None)]),
        ("买的XL码，尺码：M也试了", [("SIZE", "XL码", None, None), ("SIZE", "M", None, None)]),
        (
            'Samsung 65" QN90C 4K TV, 2-pack',
            [
                ("SCREEN", '65"', 65, "inch"),
                ("MODEL", "QN90C", None, None),
                ("RESOLUTION", "4K", None, None),
                ("COUNT", "2-pack", 2, "pack"),
            ],
        ),
        (
            "pack of 12, 500g each, 2L bottle",
            [("COUNT", "pack of 12", 12, "pack"), ("WEIGHT", "500g", 500, "g"), ("VOLUME", "2L", 2, "l")],
        ),
        ("Samsung 55 in smart TV, size L shirt", [("SCREEN", "55 in", 55, "inch"), ("SIZE", "L", None, None)]),
        ("I came in at 5 in the morning", []),  # "in" is an inch only before a screen word
        ("win7 and USB3 are not model numbers; U100X is", [("MODEL", "U100X", None, None)]),
        # Prices and budgets: the bound words stay in the text, the currency is the unit.
        ("笔记本电脑，预算五千左右，续航要好", [("PRICE", "预算五千左右", 5000, "CNY")]),
        ("价格3000元以内的手机", [("PRICE", "价格3000元以内", 3000, "CNY")]),
        ("花了1.5万元，预算3千", [("PRICE", "1.5万元", 15000, "CNY"), ("PRICE", "预算3千", 3000, "CNY")]),
        ("五千块左右的冰箱，￥２９９包邮", [("PRICE", "五千块左右", 5000, "CNY"), ("PRICE", "￥２９９", 299, "CNY")]),
        ("买了三块巧克力，两块蛋糕", [("COUNT", "三块", 3, "块"), ("COUNT", "两块", 2, "块")]),  # 块 alone: a count
        ("10元一斤", [("PRICE", "10元", 10, "CNY"), ("WEIGHT", "一斤", 1, "jin")]),
        ("headphones under $200, Sony or Bose", [("PRICE", "under $200", 200, "USD")]),
        ("at most €1,200; a $1.5k laptop", [("PRICE", "at most €1,200", 1200, "EUR"), ("PRICE", "$1.5k", 1500, "USD")]),
        ("I paid 50 bucks, not 2000 rmb", [("PRICE", "50 bucks", 50, "USD"), ("PRICE", "2000 rmb", 2000, "CNY")]),
        ("两天就坏了，第3块", []),
        ("这双鞋42号偏小", [("SIZE", "42号", None, None)]),
        # house and room numbers are no sizes: not "501号" of "1501号", not "88号" after a road
        ("地址是深圳市南山区1栋2单元1501号", []),
        ("北京市朝阳区建国路88号", []),
    ],
)
def test_attributes(text: str, expected: list[tuple[str, str, float | None, str | None]]) -> None:
    found = find_attributes(text)
    assert [(a.type, a.text, a.value, a.unit) for a in found] == expected
    assert all(text[a.start : a.end] == a.text for a in found)


def test_attributes_survive_zero_width_and_markup() -> None:
    text = "电池2\u200b0000毫安<br/>很耐用"
    (a,) = find_attributes(text)
    assert a.type == "CAPACITY" and a.value == 20000 and text[a.start : a.end] == "2\u200b0000毫安"


@pytest.mark.parametrize(
    ("text", "value"),
    [("两", 2), ("十二", 12), ("三千五百", 3500), ("一万", 10000), ("半", 0.5), ("12.5", 12.5), ("abc", None)],
)
def test_parse_number(text: str, value: float | None) -> None:
    assert parse_number(text) == value


@pytest.fixture(scope="module")
def brands() -> BrandTable:
    return BrandTable.load(BUILTIN_BRANDS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("有没有华为的充电宝？小米的也行", [("Huawei", "华为"), ("Xiaomi", "小米")]),
        ("苹果手机真好用", [("Apple", "苹果")]),
        ("苹果很甜，下次还买", []),  # the fruit: an everyday alias needs a product word beside it
        ("买了美的热水器", [("Midea", "美的")]),
        ("很美的衣服", []),
        ("ThinkPad的质量保持一致", [("Lenovo", "ThinkPad")]),
        ("Sony 65 inch TV, better than LG & Samsung", [("Sony", "Sony"), ("LG", "LG"), ("Samsung", "Samsung")]),
        ("apple pie and a thinkpadx", []),  # Latin aliases match whole words as written
        ("ＨＵＡＷＥＩ平板", [("Huawei", "ＨＵＡＷＥＩ")]),  # full-width Latin, offsets as sent
        ("想买一台追觅的扫地机器人，戴森的也行", [("Dreame", "追觅"), ("Dyson", "戴森")]),
        ("石头扫地机器人吸力很强", [("Roborock", "石头")]),
        ("石头很硬，统一思想", []),  # words first: 石头 and 统一 need their goods beside them
        ("统一老坛酸菜面", [("Uni-President", "统一")]),
        ("My Ninja air fryer stopped heating", [("Ninja", "Ninja")]),
        ("I am a ninja at this game", []),
        # a query typed in lower case: the alias's lower-case form, not where it is an everyday word
        ("nike air force 1 白色 42码", [("Nike", "nike")]),
        ("iphone 15 pro max 256g", [("Apple", "iphone")]),
        ("apple watch strap", [("Apple", "apple")]),  # a marked alias still needs its goods
        ("the colours are sharp and this is a lifesaver", []),
        ("Sharp TV", [("Sharp", "Sharp")]),
    ],
)
def test_brands(brands: BrandTable, text: str, expected: list[tuple[str, str]]) -> None:
    found = brands.find(text)
    assert [(b.brand, b.text) for b in found] == expected
    assert all(text[b.start : b.end] == b.text for b in found)


def test_user_rows_extend_and_override(tmp_path: pytest.TempPathFactory, brands: BrandTable) -> None:
    own = tmp_path / "own.csv"  # type: ignore[operator]
    own.write_text(
        "brand,aliases,category,context\n"
        "Huawei,华为|HW,手机,\n"  # overrides the built-in row: now also "HW"
        "Acme Tea,阿克米|Acme*,茶,tea|茶叶\n",
        encoding="utf-8",
    )
    table = BrandTable.load(BUILTIN_BRANDS, own)
    assert [b.brand for b in table.find("HW手机和阿克米茶叶")] == ["Huawei", "Acme Tea"]
    assert table.find("Acme corp") == [] and [b.brand for b in table.find("Acme tea is fine")] == ["Acme Tea"]
    assert "Acme Tea" not in brands.brands


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("brand,aliases\n,x\n", "row 1: ['brand'] empty"),
        ("brand,aliases,category,context\nA,a*,c,\n", "alias 'a' is marked * but context is empty"),
        ("brand,aliases,category,context\nA,a*,c,(\n", "context is not a regular expression"),
        ("name,aliases\nA,a\n", "needs columns"),
    ],
)
def test_bad_brand_tables_name_the_problem(tmp_path: pytest.TempPathFactory, rows: str, message: str) -> None:
    path = tmp_path / "bad.csv"  # type: ignore[operator]
    path.write_text(rows, encoding="utf-8")
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(").replace("*", r"\*")):
        BrandTable.load(path)


def test_a_tagger_entity_that_is_an_english_function_word_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    from mining import entities
    from mining.models import ner

    text = "My new iphone 14 from the US, my refund"

    def extract_entities(_model: object, texts: list[str]) -> list[list[dict[str, object]]]:
        # a title-trained tagger: the first word and a few others read as brands
        return [
            [
                {"type": "BRAND", "text": w, "start": t.index(w), "end": t.index(w) + len(w), "score": 0.7}
                for w in ("My", "iphone", "US", "my", "我")
                if w in t
            ]
            for t in texts
        ]

    monkeypatch.setattr(ner, "extract_entities", extract_entities)
    found = entities.entities_of([text, "我的订单"], [object()], BrandTable([]))
    assert [(e.text, e.source) for e in found[0] if e.type == "BRAND"] == [("iphone", "model"), ("US", "model")]
    assert [e.text for e in found[1]] == ["我"]  # Chinese stop characters name things inside entities (中美)


@pytest.mark.parametrize(
    ("entity_type", "text", "dropped"),
    [
        ("BRAND", "😀", True),  # a short text's first token, read as a brand
        ("BRAND", "2023", True),
        ("PRODUCT", "!!", True),
        ("BRAND", "3M", False),  # a letter makes a name possible
        ("ORG", "中美", False),
        ("SIZE", '27 "', False),  # measures are digits by nature
        ("SIZE", "27 inch", False),
        ("SIZE", "90", True),  # Air Max 90: a size without its unit is a model's number
        ("SIZE", " 6.5 ", True),
        ("COUNT", "2", False),
        ("MODEL", "1000", False),
        ("BRAND", "my", True),  # a function word (above)
    ],
)
def test_a_tagger_name_without_a_letter_names_nothing(entity_type: str, text: str, dropped: bool) -> None:
    from mining.entities import names_nothing

    assert names_nothing(entity_type, text) is dropped


@pytest.mark.parametrize(
    ("text", "model", "an_id"),
    [
        ("I was charged twice for order #A77123", "A77123", True),  # the pattern's MODEL
        ("my order A1B2C3 is late", "A1B2C3", True),  # the tagger's
        ("Order number: X99 please", "X99", True),
        ("order no. AB1234", "AB1234", True),
        ("订单号TB20261203889还没发货", "TB20261203889", True),
        ("订单号是：A123", "A123", True),
        ("I ordered RTX4090", "RTX4090", False),  # the verb: a product follows
        ("reorder X100 please", "X100", False),
        ("border X100", "X100", False),
        ("order iphone 15", "iphone 15", False),  # two words: a product
        ("order Sony WH-1000XM5", "WH-1000XM5", False),
        ("new X100 order", "X100", False),  # the cue after it
    ],
)
def test_a_model_right_after_an_order_cue_is_an_id(text: str, model: str, an_id: bool) -> None:
    from mining.contracts import EntitySpan
    from mining.entities import is_an_id

    start = text.index(model)
    span = EntitySpan(type="MODEL", text=model, start=start, end=start + len(model), score=1.0)
    assert is_an_id(text, span) is an_id
    assert not is_an_id(text, span.model_copy(update={"type": "PRICE"}))


def test_an_order_number_is_no_product_model_of_a_text() -> None:
    from mining import entities

    text = "I was charged twice for order #A77123, the X100 camera"
    (found,) = entities.entities_of([text], [], BrandTable([]))
    assert [e.text for e in found if e.type == "MODEL"] == ["X100"]
