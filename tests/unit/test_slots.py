"""Slot rules (mining/slots.py): known answers in Chinese and English, offsets, card numbers never
taken for ids, personal data masked, entities turned into slots; and the evaluation's counting."""

from __future__ import annotations

import numpy as np
import pytest

from mining.contracts import EntitySpan
from mining.slots import (
    SLOT_TYPES,
    SlotSpan,
    extract_slots,
    mask_entities,
    mask_personal,
    mask_terms,
    person_names,
    personal_spans,
)
from mining.text import _luhn_ok
from training.eval_slots import baseline_spans, row_counts

CARD = "4111111111111111"  # Luhn-valid test card


def _found(text: str, lang: str) -> list[tuple[str, str]]:
    return [(s.type, s.text) for s in extract_slots(text, lang)]


def _span(slots: list[SlotSpan], kind: str) -> SlotSpan:
    hits = [s for s in slots if s.type == kind]
    assert len(hits) == 1, slots
    return hits[0]


def test_english_order_number_with_offsets() -> None:
    text = "I want to cancel order 370795561790, please"
    s = _span(extract_slots(text, "en"), "order_id")
    assert (s.start, s.end, s.text) == (23, 35, "370795561790")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("cancel ordedr 00123842", "00123842"),  # a typo in the cue
        ("status of order113542617735999", "113542617735999"),  # glued to its cue
        ("my order number is ORD-88213", "ORD-88213"),
        ("请帮我查一下订单号：20231234的物流", "20231234"),
        ("单号 7735462 还没发货", "7735462"),
    ],
)
def test_order_numbers_after_their_cues(text: str, value: str) -> None:
    assert ("order_id", value) in _found(text, "zh" if "单" in text else "en")


@pytest.mark.parametrize(
    ("text", "lang", "found"),
    [
        ("快递单号 SF1234567890123 查不到", "zh", [("tracking_id", "SF1234567890123")]),
        ("我的运单号是YT2345678901234，三天没更新", "zh", [("tracking_id", "YT2345678901234")]),
        ("订单号20231234的快递单号是JT0001234567890", "zh", [("order_id", "20231234"), ("tracking_id", "JT0001234567890")]),
        ("tracking number 1Z999AA10123456784 shows nothing", "en", [("tracking_id", "1Z999AA10123456784")]),
        ("order 55821 has trackng # 9400111899223334445566", "en", [("order_id", "55821"), ("tracking_id", "9400111899223334445566")]),
        ("单号 7735462 还没发货", "zh", [("order_id", "7735462")]),  # 单号 alone is the shop's order
        (f"物流单号：{CARD}", "zh", []),  # a card number is no tracking number either
    ],
)  # fmt: skip
def test_tracking_numbers_after_their_cues_are_no_order_numbers(
    text: str, lang: str, found: list[tuple[str, str]]
) -> None:
    assert _found(text, lang) == found


def test_an_order_number_grouped_like_a_phone_number_comes_back_as_written() -> None:
    # mask_pii reads it with its cue, as the stored text is; alone it would look like a phone number
    assert _found("订单 2023-1205-8871 还没发货", "zh") == [("order_id", "2023-1205-8871")]
    assert _found("order #4412-883-2210", "en") == [("order_id", "#4412-883-2210")]
    assert _found("订单号13812345678", "zh") == [("order_id", "<PHONE>")]  # a mobile number stays masked


def test_invoice_number_keeps_its_hash_and_chinese_invoice() -> None:
    assert _found("I need my invoice #85632", "en") == [("invoice_id", "#85632")]
    assert _found("发票号 88001234 开错了", "zh") == [("invoice_id", "88001234")]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_luhn_valid_card_number_is_never_an_order_or_invoice_id(lang: str) -> None:
    assert _luhn_ok(CARD) and not _luhn_ok(CARD[:-1] + "2")
    for text in (f"cancel order {CARD}", f"invoice {CARD}", f"订单号{CARD}", "order 4111 1111 1111 1111"):
        kinds = {s.type for s in extract_slots(text, lang)}
        assert not kinds & {"order_id", "invoice_id"}, text
    # the same digits with a wrong check digit are an ordinary order number
    assert ("order_id", CARD[:-1] + "2") in _found(f"cancel order {CARD[:-1]}2", lang)


def test_digits_without_an_order_cue_are_no_order_id() -> None:
    assert _found("check invoice from 7 purchases ago", "en") == []
    assert _found("my phone has 12345 photos", "en") == []


@pytest.mark.parametrize(
    ("text", "lang", "value"),
    [
        ("退我50元", "zh", "50"),
        ("多扣了¥99.5，请退回", "zh", "99.5"),
        ("I expect a refund of $1,200.50", "en", "1,200.50"),
        ("waiting for a reimbursement of350 dollars", "en", "350"),
        ("I was charged 1.299,00 € twice", "en", "1.299,00"),  # European grouping, symbol after
        ("refund of €29,99 please", "en", "29,99"),
        ("EUR 1.299 for a phone", "en", "1.299"),
        ("paid 15$ for shipping", "en", "15"),
        ("退款RMB 88还没到", "zh", "88"),  # a currency code right after a Chinese character
        ("多收了USD12", "zh", "12"),
    ],
)
def test_amounts_in_yuan_and_dollars(text: str, lang: str, value: str) -> None:
    s = _span(extract_slots(text, lang), "amount")
    assert s.text == value == text[s.start : s.end]


def test_counts_in_kuai_are_no_amount() -> None:
    assert _found("买了3块电池", "zh") == []


def test_sizes() -> None:
    assert ("size", "42") in _found("这双鞋42码偏小，想换XL码的外套", "zh")
    assert ("size", "XL") in _found("这双鞋42码偏小，想换XL码的外套", "zh")
    assert _found("can I swap it for size 10?", "en") == [("size", "10")]
    assert _found("an XL would fit", "en") == [("size", "XL")]
    assert _found("an xl would fit", "en") == []


def test_chinese_city_and_country() -> None:
    assert _found("能发到杭州吗", "zh") == [("city", "杭州")]
    assert _found("我在广东省", "zh") == [("city", "广东省")]
    assert _found("能寄到日本吗", "zh") == [("country", "日本")]
    # a name that is also a word needs its 市; a place before 联通 names a company
    assert _found("包装开封了", "zh") == []
    assert _found("我用的是中国联通", "zh") == []


def test_chinese_address_comes_back_masked_with_its_offsets() -> None:
    text = "请寄到北京市朝阳区建国路88号3号楼2单元501室，谢谢"
    s = _span(extract_slots(text, "zh"), "address")
    assert (s.text, text[s.start : s.end]) == ("<ADDRESS>", "北京市朝阳区建国路88号3号楼2单元501室")
    # a place name alone is a city, not an address
    assert [x.type for x in extract_slots("我住在北京市", "zh")] == ["city"]


@pytest.mark.parametrize(
    ("text", "places"),
    [
        ("能帮我把收货地址改成上海市浦东新区吗", ["上海市", "浦东新区"]),
        ("寄到贵州省六盘水市钟山区", ["贵州省", "六盘水市", "钟山区"]),
        ("送到北京朝阳区", ["北京", "朝阳区"]),
        ("大连市中山区", ["大连市", "中山区"]),
        ("我住在深圳市的小区里", ["深圳市"]),  # 的 is never inside a district's name
        ("杭州市一个小区", ["杭州市"]),  # an area word is no district
        ("北京市区堵车", ["北京市"]),
        ("上海市场很大", ["上海"]),  # a market, not 上海市
    ],
)
def test_a_chinese_district_after_its_city_is_a_place_of_its_own(text: str, places: list[str]) -> None:
    assert [x.text for x in extract_slots(text, "zh") if x.type == "city"] == places


def test_english_places() -> None:
    assert _found("do you ship to Seattle?", "en") == [("city", "Seattle")]
    assert _found("can i order from japan", "en") == [("country", "japan")]
    assert _found("please send it to us", "en") == []  # "US" only in capitals
    assert _found("I switched to China Unicom", "en") == []


@pytest.mark.parametrize(
    ("text", "lang", "name"),
    [
        ("i need the bills from Anna Freeman", "en", "Anna Freeman"),
        ("download my invoice from Mr. Smith could you help", "en", "Mr. Smith"),
        ("my name is Maria Lopez", "en", "Maria Lopez"),
        ("my name's Tom Hanks", "en", "Tom Hanks"),
        ("My name’s Anna Lee, order 12345", "en", "Anna Lee"),
        ("我叫张伟，想查订单", "zh", "张伟"),
        ("收件人：王小明", "zh", "王小明"),
        ("李女士您好", "zh", "李女士"),
        ("张伟先生您好", "zh", "张伟先生"),  # a whole name before a title
        ("前台胡小姐态度很好", "zh", "胡小姐"),
        ("送给老婆的，欧阳女士很喜欢", "zh", "欧阳女士"),
        ("谢谢张先生", "zh", "张先生"),
        ("看傅佩荣先生的书", "zh", "傅佩荣先生"),
    ],
)
def test_person_names_come_back_masked(text: str, lang: str, name: str) -> None:
    s = _span(extract_slots(text, lang), "person_name")
    assert s.text == "<NAME>" and text[s.start : s.end] == name


@pytest.mark.parametrize(
    "text",
    [
        "时尚女士包很好看",
        "高端女士手表",
        "韩版女士外套",
        "成熟女士香水",
        "这位先生",
        "谢谢先生",
        "柜台小姐先生服务很好",
    ],
)
def test_goods_for_women_and_a_bare_title_name_nobody(text: str) -> None:
    """尚 and 高 are surnames, but 时尚 and 高端 are words: no name before the title."""
    assert _found(text, "zh") == [] and mask_personal(text) == text


def test_no_name_where_the_cue_is_followed_by_common_words() -> None:
    assert _found("姓名什么的都没填", "zh") == []
    assert _found("contact us from Customer Service", "en") == []
    # a weak cue (我是, 请联系) needs the name to end where the word does
    assert _found("我是白金会员", "zh") == [("account_type", "白金")]
    assert _found("请联系客服", "zh") == []
    assert _found("寄给王府井店", "zh") == [] and _found("发给我吧", "zh") == []
    # without a cue, two capitalised words are a name only when the first is a given name
    assert _found("I want the Samsung Galaxy Tab", "en") == []
    assert _found("Maria was helpful", "en") == []
    assert _found("shipping from Paris to Maria London", "en") == [("city", "Paris"), ("city", "London")]


@pytest.mark.parametrize(
    ("text", "lang", "name"),
    [
        ("我是刘德华，帮我查一下", "zh", "刘德华"),
        ("请联系欧阳娜娜，谢谢", "zh", "欧阳娜娜"),  # a compound surname: four characters
        ("寄给张三丰，电话在下面", "zh", "张三丰"),  # the one a parcel goes to
        ("请帮我转交给李娜", "zh", "李娜"),
        ("I'm Sarah O'Connor and I need help", "en", "Sarah O'Connor"),
        # no cue: a common given name and a capitalised word
        ("please ask Maria Garcia about my refund", "en", "Maria Garcia"),
        ("Tell Anna Freeman the parcel came", "en", "Anna Freeman"),
        ("您好Mr. Jones，订单到了吗", "zh", "Mr. Jones"),  # glued to Chinese: no word boundary there
        # accented letters are a name's own (A-Z alone had masked "Jos" and left "é García")
        ("my name is José García, order 12345678", "en", "José García"),
        ("This is Łukasz Żółć, where is my parcel?", "en", "Łukasz Żółć"),
        ("Mr. Søren Ødegård called", "en", "Mr. Søren Ødegård"),
        ("my name is Ana María López", "en", "Ana María López"),  # three words after a strong cue
        ("Chloé Dubois called me about it", "en", "Chloé Dubois"),  # a given name read without its accent
    ],
)
def test_names_after_weaker_cues_and_longer_surnames(text: str, lang: str, name: str) -> None:
    s = _span(extract_slots(text, lang), "person_name")
    assert text[s.start : s.end] == name


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("收货人住在上海市浦东新区张江路1000弄5号楼302室", "上海市浦东新区张江路1000弄5号楼302室"),
        ("帮我把地址改成杭州市西湖区文三路478号", "杭州市西湖区文三路478号"),  # chained cues
        ("寄到香港九龙旺角弥敦道123号", "香港九龙旺角弥敦道123号"),  # a 道 before a door number
        ("寄到中山大道西123号", "中山大道西123号"),  # the road's side before it
        ("信号太差了！ 建设路", "建设路"),  # a post's location tag
        ("欠费停机了 我在:北赤路", "北赤路"),
        # a room in bare digits, a building word, a second area word, a section, a road with 村 inside
        ("住址：北京市朝阳区建国路88号SOHO现代城5号楼1203，谢谢", "北京市朝阳区建国路88号SOHO现代城5号楼1203"),
        ("寄到广州天河区体育西路191号中石化大厦B座2201", "广州天河区体育西路191号中石化大厦B座2201"),
        ("收货地址：深圳市南山区科技园中心区1栋2单元1501号", "深圳市南山区科技园中心区1栋2单元1501号"),
        ("我的地址是成都市武侯区人民南路四段27号", "成都市武侯区人民南路四段27号"),
        ("地址是北京市海淀区中关村大街1号，订单123456还没到", "北京市海淀区中关村大街1号"),
        ("送到杭州市西湖区文三路478号3楼，谢谢", "杭州市西湖区文三路478号3楼"),
    ],
)
def test_chinese_addresses_whole(text: str, address: str) -> None:
    s = _span(extract_slots(text, "zh"), "address")
    assert text[s.start : s.end] == address


def test_english_address_keeps_its_compass_point() -> None:
    text = "send it to 1600 Pennsylvania Avenue NW, Washington"
    assert text[slice(*_bounds(extract_slots(text, "en"), "address"))] == "1600 Pennsylvania Avenue NW"


def _bounds(slots: list[SlotSpan], kind: str) -> tuple[int, int]:
    s = _span(slots, kind)
    return s.start, s.end


@pytest.mark.parametrize(
    ("text", "names", "kept"),
    [
        (
            "我叫张伟，地址是北京市朝阳区建国路88号，订单号123456没收到",
            (),
            "我叫<NAME>，地址是<ADDRESS>，订单号123456没收到",
        ),
        # names a model found are masked wherever they occur, with no cue around them
        ("李娜的订单还没发货，李娜很着急", ("李娜",), "<NAME>的订单还没发货，<NAME>很着急"),
        (
            "Please send it to Maria Garcia at 42 Baker Street",
            ("Maria Garcia",),
            "Please send it to <NAME> at <ADDRESS>",
        ),
        # a one-character "name" would blank every occurrence of the character: skipped
        ("王先生说王府井店没货", ("王",), "<NAME>说王府井店没货"),
        # a name inside an address: one placeholder, the address
        ("寄到北京市朝阳区建国路88号", ("建国",), "寄到<ADDRESS>"),
        ("nothing personal here, order 12345", ("Zed",), "nothing personal here, order 12345"),
    ],
)
def test_mask_personal(text: str, names: tuple[str, ...], kept: str) -> None:
    assert mask_personal(text, names) == kept


def test_mask_entities_keeps_offsets_and_masks_what_lies_in_an_address() -> None:
    text = "李娜买的华为，寄到北京市朝阳区建国路88号"
    ents = [
        EntitySpan(type="PER", text="李娜", start=0, end=2, score=0.9),
        EntitySpan(type="BRAND", text="华为", start=4, end=6, score=1.0),
        EntitySpan(type="LOC", text="建国路", start=15, end=18, score=0.8),
    ]
    masked = mask_entities(ents, personal_spans(text, person_names(text, ents)))
    assert [(e.type, e.text, e.start, e.end) for e in masked] == [
        ("PER", "<NAME>", 0, 2),
        ("BRAND", "华为", 4, 6),
        ("LOC", "<ADDRESS>", 15, 18),
    ]


def test_mask_terms() -> None:
    text = "我叫张伟，住在北京市朝阳区建国路88号，华为手机坏了"
    got = mask_terms(
        ["张伟", "朝阳区建国路", "伟哥", "华为手机", "叫张伟的人", "Zhang", "住在北京市朝阳区"],
        text,
        personal_spans(text, ["Zhang Wei"]),
    )
    # the name and a piece of the address go, and the part of a term that runs into the address;
    # a term merely sharing a character stays
    assert got == [None, None, "伟哥", "华为手机", "叫<NAME>的人", "Zhang", "住在<ADDRESS>"]
    text = "ask Maria Garcia about Sony"
    assert mask_terms(["garcia", "maria garcia", "sony"], text, personal_spans(text, ["Maria Garcia"])) == [
        None,
        None,
        "sony",
    ]


def test_account_types() -> None:
    assert _found("help me change to the Gold account", "en") == [("account_type", "Gold")]
    assert _found("i cannot create a platinum acount", "en") == [("account_type", "platinum")]
    assert _found("deleting myFreemium profile", "en") == [("account_type", "Freemium")]
    assert _found("do you have a free number to call?", "en") == []
    assert _found("我是黄金会员", "zh") == [("account_type", "黄金")]


@pytest.mark.parametrize(
    "text",
    [
        "I want to cancel order 370795561790 and get $12.50 back, ship to Toronto",
        "退我50元，订单号：20231234，寄到上海，尺码XL",
        "premium account of Mr. Jones, invoice #00108",
    ],
)
def test_offsets_hold_for_every_slot_that_is_not_masked(text: str) -> None:
    slots = extract_slots(text, "zh" if "订" in text else "en")
    assert len(slots) >= 3
    for s in slots:
        if s.text.startswith("<"):
            continue
        assert text[s.start : s.end] == s.text
    assert all(a.end <= b.start for a, b in zip(slots, slots[1:]))  # text order, no overlaps
    assert {s.type for s in slots} <= set(SLOT_TYPES)


def test_entities_become_product_brand_and_attribute_slots() -> None:
    text = "my Huawei Mate 60 with 512GB storage, order 370795561790"
    ents = [
        EntitySpan(type="BRAND", text="Huawei", start=3, end=9, score=1.0, source="brands", canonical="Huawei"),
        EntitySpan(type="PRODUCT", text="Mate 60", start=10, end=17, score=0.9),
        EntitySpan(type="STORAGE", text="512GB", start=23, end=28, score=1.0, source="pattern"),
        EntitySpan(type="PER", text="Mate", start=10, end=14, score=0.5),  # overlaps the product
        EntitySpan(type="MODEL", text="370795561790", start=44, end=56, score=1.0, source="pattern"),
    ]
    got = [(s.type, s.text, s.start, s.end) for s in extract_slots(text, "en", ents)]
    assert got == [
        ("brand", "Huawei", 3, 9),
        ("product", "Mate 60", 10, 17),
        ("attribute", "512GB", 23, 28),
        ("order_id", "370795561790", 44, 56),  # the rule wins over the entity
    ]
    assert extract_slots(text, "en") == [s for s in extract_slots(text, "en", ents) if s.type == "order_id"]


def test_a_person_entity_is_masked() -> None:
    ent = EntitySpan(type="PER", text="Zhang", start=6, end=11, score=0.9)
    assert extract_slots("thanks Zhang", "en", [ent]) == [SlotSpan(type="person_name", text="<NAME>", start=6, end=11)]


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="lang"):
        extract_slots("order 12345", "fr")


def test_evaluation_counts_exact_spans_and_the_baseline() -> None:
    gold = [{("order_id", 6, 14)}, set(), {("amount", 1, 4)}]
    pred = [{("order_id", 6, 14)}, {("city", 0, 3)}, {("amount", 0, 4)}]
    assert row_counts(gold, pred).tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    assert row_counts(gold, pred, "amount").sum(axis=0).tolist() == [0, 1, 1]
    assert baseline_spans("order 12345678 for $160") == {("order_id", 6, 14), ("amount", 20, 23)}
    assert isinstance(row_counts([], []), np.ndarray) and row_counts([], []).shape == (0, 3)


def test_the_chinese_baseline_takes_digit_runs_and_yuan_amounts() -> None:
    from training.eval_slots import zh_baseline_spans

    text = "订单123456退款50元，另付¥9.9，十块不算，电话<PHONE>"
    found = zh_baseline_spans(text)
    assert found == {
        ("order_id", text.index("123456"), text.index("123456") + 6),
        ("amount", text.index("50"), text.index("50") + 2),
        ("amount", text.index("9.9"), text.index("9.9") + 3),
    }


def test_the_chinese_slot_set_is_read_with_every_span_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    import training.eval_slots as ev

    rows = ev.zh_slot_turns()
    assert len(rows) == 395 and sum(len(r.slots) for r in rows) == 78
    assert all(r.text[s.start : s.end] == s.text and s.type in ev.ZH_TYPES for r in rows for s in r.slots)
    bad = [{"id": rows[0].id, "slots": '[{"type": "amount", "start": 0, "end": 2, "text": "不是"}]'}]
    monkeypatch.setattr(ev, "_csv_rows", lambda name: bad)
    with pytest.raises(ValueError, match=rows[0].id):
        ev.zh_slot_turns()


@pytest.mark.parametrize(
    ("text", "amounts"),
    [
        ("欠费两毛就停机", ["两"]),
        ("花了一万元买的", ["一万"]),
        ("口袋里几十元钱", ["几十"]),
        ("欠费7块多,交了10块", ["7", "10"]),
        ("跟十几块的没区别", ["十几"]),
        ("卡价值100多元", ["100"]),
        ("装机花了50大洋", ["50"]),
        ("单一元素很重要，元旦快乐", []),
        ("这块屏幕不错，我们一块去吧", []),
    ],
)
def test_chinese_amounts_in_numerals_and_units(text: str, amounts: list[str]) -> None:
    assert [t for k, t in _found(text, "zh") if k == "amount"] == amounts


@pytest.mark.parametrize(
    ("text", "places"),
    [
        ("@中国联通辽宁客服 我在沈阳", ["沈阳"]),  # not 通辽 / 辽宁 of the handle
        ("#北京联通# 寄到上海", ["上海"]),
        ("你们武汉的客服能否管管", []),
        ("陕西省人民医院的信号差", []),
        ("我在武汉的家里没信号", ["武汉"]),
    ],
)
def test_chinese_places_inside_handles_and_organisations_are_not_places(text: str, places: list[str]) -> None:
    assert [t for k, t in _found(text, "zh") if k in ("city", "country")] == places


def test_a_message_in_traditional_characters_gets_the_same_slots_at_its_own_offsets() -> None:
    simplified, traditional = (
        "发票抬头开错了，发票号 12345678，寄到台北市",
        "發票抬頭開錯了，發票號 12345678，寄到臺北市",
    )
    got = [(s.type, s.start, s.end) for s in extract_slots(traditional, "zh")]
    assert got == [(s.type, s.start, s.end) for s in extract_slots(simplified, "zh")]
    assert [s.text for s in extract_slots(traditional, "zh")] == ["12345678", "臺北市"]  # as sent
    assert mask_personal("我叫張偉，地址是北京市朝陽區建國路88號") == "我叫<NAME>，地址是<ADDRESS>"


def test_runs_of_digits_too_long_for_a_sum_or_an_id_are_neither() -> None:
    # Hundreds of pasted digits: no 400-digit amount, no 300-digit order number, in either language.
    assert _found("refund $" + "9" * 400, "en") == []
    assert _found("order #" + "1" * 300, "en") == []
    assert _found("订单号" + "1" * 60 + "，退我" + "5" * 20 + "元", "zh") == []
    # The longest that still are: a 12-digit sum, a 32-digit order number.
    assert _found("refund $" + "9" * 12, "en") == [("amount", "9" * 12)]
    assert _found("order #" + "1" * 32, "en") == [("order_id", "#" + "1" * 32)]


@pytest.mark.parametrize(
    ("text", "address"),
    [
        (
            "Ship to 1600 Amphitheatre Parkway, Mountain View, CA 94043 asap",
            "1600 Amphitheatre Parkway, Mountain View, CA 94043",
        ),
        ("my address is 221B Baker Street, London NW1 6XE", "221B Baker Street, London NW1 6XE"),
        ("deliver to 350 Fifth Avenue, New York, NY 10118-0110.", "350 Fifth Avenue, New York, NY 10118-0110"),
        ("send it to 12 Baker Street, please", "12 Baker Street"),  # no postcode: the street alone
    ],
)
def test_english_address_takes_its_town_with_a_state_and_zip_or_a_postcode(text: str, address: str) -> None:
    assert text[slice(*_bounds(extract_slots(text, "en"), "address"))] == address
