"""Personal numbers are masked wherever they stand: glued to letters, CJK characters or
punctuation, with or without separators. Known answers per form, then brute force over seeded
random card numbers in random surroundings."""

from __future__ import annotations

import random
import re

import pytest

from mining.events.base import guard_analysis, guard_term, terms_of
from mining.text import _luhn_ok, clean, clean_with_offsets, mask_pii

CARD = "4111111111111111"  # Luhn-valid test card
NOT_CARD = "4111111111111112"  # the same with a wrong check digit


def _with_check_digit(body: str) -> str:
    """``body`` and the one digit that makes it Luhn-valid."""
    return next(body + d for d in "0123456789" if _luhn_ok(body + d))


def test_known_card_numbers_pass_luhn_and_their_neighbours_do_not() -> None:
    assert _luhn_ok(CARD) and _luhn_ok("6222020200112233446") and _luhn_ok("378282246310005")
    assert not _luhn_ok(NOT_CARD) and not _luhn_ok("123456789012345")


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("refund ref-4111111111111111- phone later", "refund ref-<CARD>- phone later"),
        ("card4111111111111111x", "card<CARD>x"),
        ("pay by VISA4111111111111111exp", "pay by VISA<CARD>exp"),
        ("amex:378282246310005.", "amex:<CARD>."),  # 15 digits
        ("cup6222020200112233446end", "cup<CARD>end"),  # 19 digits
    ],
)
def test_card_glued_to_letters_or_hyphens(raw: str, masked: str) -> None:
    assert mask_pii(raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("卡号4111111111111111谢谢", "卡号<CARD>谢谢"),
        ("卡号:4111-1111-1111-1111,谢谢", "卡号:<CARD>,谢谢"),
        ("我的卡是6222020200112233446请退款", "我的卡是<CARD>请退款"),
    ],
)
def test_card_glued_to_cjk(raw: str, masked: str) -> None:
    assert mask_pii(raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("#4111111111111111!", "#<CARD>!"),
        ("no.4111111111111111;", "no.<CARD>;"),
        ("*4111111111111111*", "*<CARD>*"),
        ("x_4111111111111111_y", "x_<CARD>_y"),
        ("+4111111111111111", "+<CARD>"),
        ("'4111111111111111'", "'<CARD>'"),
    ],
)
def test_card_glued_to_punctuation(raw: str, masked: str) -> None:
    assert mask_pii(raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("4111-1111-1111-1111", "<CARD>"),
        ("4111 1111 1111 1111", "<CARD>"),
        ("4111.1111.1111.1111", "<CARD>"),
        ("ref4111-1111 1111.1111end", "ref<CARD>end"),  # mixed separators
        ("amex 3782-822463-10005 ok", "amex <CARD> ok"),  # 4-6-5 grouping
        ("卡号6222 0202 0011 2233 446号", "卡号<CARD>号"),
    ],
)
def test_card_with_separators(raw: str, masked: str) -> None:
    assert mask_pii(raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("(4111 1111 1111 1111)", "(<CARD>)"),
        ("[4111111111111111]", "[<CARD>]"),
        ("{4111-1111-1111-1111}", "{<CARD>}"),
        ("【4111111111111111】", "【<CARD>】"),
        ("<4111111111111111>", "<<CARD>>"),
        ('"4111111111111111"', '"<CARD>"'),
    ],
)
def test_card_inside_brackets(raw: str, masked: str) -> None:
    assert mask_pii(raw) == masked


@pytest.mark.parametrize(
    "raw",
    [
        "order123456789012345shipped",  # 15 digits, Luhn-invalid
        f"ref-{NOT_CARD}-",
        f"运单号{NOT_CARD}已发货",
        "SF1234567890127 arrived",  # 13 digits, Luhn-invalid
        "tracking 1234-5678-9012-3456",  # grouped, Luhn-invalid, not a phone number either
        "waybill 9876.5432.1098.7654.3210",
        "I paid 1299 yuan for 2 pcs",
    ],
)
def test_luhn_invalid_long_numbers_are_kept(raw: str) -> None:
    assert not _luhn_ok(re.sub(r"\D", "", raw)) or len(re.sub(r"\D", "", raw)) < 13
    assert mask_pii(raw) == raw


@pytest.mark.parametrize(
    "raw",
    [
        f"waybill {CARD}0000 ok",  # a Luhn-valid 16-digit window at the start of 20 digits
        f"waybill 0000{CARD} ok",  # ... at the end
        f"no{CARD}123456789x",  # 25 digits
    ],
)
def test_a_group_of_20_or_more_digits_is_never_a_card(raw: str) -> None:
    assert mask_pii(raw) == raw


def test_a_card_next_to_a_long_number_or_a_quantity_is_still_found() -> None:
    assert mask_pii(f"order 12345678901234567890 card {CARD} ok") == "order 12345678901234567890 card <CARD> ok"
    # The whole run is not a card (17 digits), the card's own groups are.
    masked = mask_pii("card 4111 1111 1111 1111 2 pcs")
    assert masked.startswith("card <CARD>") and masked.endswith("pcs") and "1111" not in masked
    assert mask_pii(f"{CARD} 12/25") == "<CARD> 12/25"
    assert mask_pii(f"{CARD} {CARD}") == "<CARD> <CARD>"


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("id110101199003077777x", "id<ID>x"),  # 18 digits, then a letter
        ("id11010519491231002Xabc", "id<ID>abc"),  # check character X, then letters
        ("身份证11010519491231002x号", "身份证<ID>号"),
        ("ID:11010519491231002X.", "ID:<ID>."),
        ("(11010519491231002X)", "(<ID>)"),
    ],
)
def test_resident_id_with_x_and_glued(raw: str, masked: str) -> None:
    assert mask_pii(raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("tel13812345678", "tel<PHONE>"),
        ("手机13812345678谢谢", "手机<PHONE>谢谢"),
        ("tel+8613812345678ok", "tel<PHONE>ok"),
        ("手机+86-138-1234-5678谢谢", "手机<PHONE>谢谢"),
        ("call0086 13812345678.", "call<PHONE>."),
        ("[138.1234.5678]", "[<PHONE>]"),
    ],
)
def test_mobile_with_or_without_plus_86(raw: str, masked: str) -> None:
    assert mask_pii(raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        (f"card {CARD} exp 12/27 cvv 123", "card <CARD> exp 12/27 cvv <CARD>"),
        ("CVV: 123", "CVV: <CARD>"),
        ("the cvc is 4567", "the cvc is <CARD>"),
        ("安全码123，有效期12/27", "安全码<CARD>，有效期12/27"),
        ("验证码是 482913", "验证码是 <ID>"),
        ("my OTP is 123456, PIN 1234", "my OTP is <ID>, PIN <ID>"),
        ("verification code: 9981", "verification code: <ID>"),
        # what is not a code: a count after the cue, a code not given, a product's expiry date
        ("I entered the security code 3 times", "I entered the security code 3 times"),
        ("pin 3 of the charger is bent", "pin 3 of the charger is bent"),
        ("这个验证码收不到", "这个验证码收不到"),
        ("The product expiry date 05/2026 is too close", "The product expiry date 05/2026 is too close"),
    ],
)
def test_a_cards_security_code_and_a_one_time_code_are_masked(raw: str, masked: str) -> None:
    assert mask_pii(raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("tel+14155552671ok", "tel<PHONE>ok"),  # E.164 without separators
        ("电话415-555-2671谢谢", "电话<PHONE>谢谢"),
        ("call(415)555-2671now", "call<PHONE>now"),
        ("座机010-62345678转", "座机<PHONE>转"),
        ("uk+44 20 7946 0958!", "uk<PHONE>!"),
        ("call 415-555-2671 2 times", "call <PHONE> 2 times"),
    ],
)
def test_international_and_landline_phones_glued(raw: str, masked: str) -> None:
    assert mask_pii(raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        # grouped like a phone number, but named the shop's own number by the word before it
        ("order 2023-1205-8871 not shipped", "order 2023-1205-8871 not shipped"),
        ("订单号：123-4567-8901", "订单号：123-4567-8901"),
        ("訂單 2023-1205-8871", "訂單 2023-1205-8871"),
        ("invoice # 415-555-2671", "invoice # 415-555-2671"),
        ("tracking no. 4412 883 2210", "tracking no. 4412 883 2210"),
        # a mobile number, a card number or a number cued as a phone is masked after any word
        ("订单号13812345678", "订单号<PHONE>"),
        ("order 4111111111111111", "order <CARD>"),
        ("order, phone 415-555-2671", "order, phone <PHONE>"),
        ("ordered twice, call 415-555-2671", "ordered twice, call <PHONE>"),
        ("order 5521, 415-555-2671", "order 5521, <PHONE>"),
    ],
)
def test_a_grouped_number_the_text_names_an_order_invoice_or_tracking_number_stays(raw: str, masked: str) -> None:
    assert mask_pii(raw) == masked


@pytest.mark.parametrize(
    ("raw", "gone"),
    [
        ("mail:jo@example.com,thanks", "jo@example.com"),
        ("邮箱li.wei@example.com谢谢", "li.wei@example"),
        ("(jo+shop@example.co.uk)", "example"),
    ],
)
def test_email_glued(raw: str, gone: str) -> None:
    masked = mask_pii(raw)
    assert "<EMAIL>" in masked and gone not in masked and "@" not in masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        # e-mail addresses spelled out
        ("john dot doe at gmail dot com", "<EMAIL>"),
        ("write john(at)example.com", "write <EMAIL>"),
        ("john [at] example [dot] com!", "<EMAIL>!"),
        ("邮箱 zhangsan at 163 dot com 谢谢", "邮箱 <EMAIL> 谢谢"),
        ("wang.fang (at) sina (dot) com (dot) cn ok", "<EMAIL> ok"),  # every label of the domain
        ("john at mail dot example dot co dot uk", "<EMAIL>"),
        # numbers read out digit by digit
        ("我的手机是一三八一二三四五六七八", "我的手机是<PHONE>"),
        ("电话：幺三八 一二三四 五六七八", "电话：<PHONE>"),
        ("call me at five five five, one two three, four five six seven", "call me at <PHONE>"),
        ("QQ: nine eight seven-six five four three two", "QQ: <PHONE>"),
    ],
)
def test_what_is_spelled_out_against_filters_is_masked(raw: str, masked: str) -> None:
    assert mask_pii(raw) == masked


@pytest.mark.parametrize(
    "raw",
    [
        "look at it dot by dot",  # no top-level domain
        "meet me at the mall dot com",  # words, not labels joined by dots
        "I'm at amazon dot com checking prices",  # "m" of I'm is no local part
        "I arrived at home at 5",
        "I'm at walmart.com",  # a spelled "at" needs a spelled or bracketed "dot"
        "一千二百块",  # 千 and 百 are no digits: an amount
        "三五成群，一二三四五",  # fewer than seven digits
        "one two three four five",
        "Someone two-three times",
    ],
)
def test_at_dot_and_numbers_in_words_that_are_nothing_personal_stay(raw: str) -> None:
    assert mask_pii(raw) == raw


def test_clean_masks_full_width_and_zero_width_numbers_glued_to_text() -> None:
    assert clean("ref-４１１１１１１１１１１１１１１１-") == "ref-<CARD>-"
    assert clean("卡号4111\u200b1111\u200b1111\u200b1111谢谢") == "卡号<CARD>谢谢"


def test_clean_with_offsets_maps_placeholders_onto_the_masked_input() -> None:
    raw = "ｒｅｆ-4111111111111111-ok"
    text, src = clean_with_offsets(raw)
    assert text == clean(raw) == "ref-<CARD>-ok" and len(src) == len(text)
    start = text.index("<CARD>")
    assert raw[src[start][0] : src[start + 5][1]] == CARD
    assert raw[src[0][0] : src[2][1]] == "ｒｅｆ" and raw[src[-2][0] : src[-1][1]] == "ok"


def test_masking_is_idempotent() -> None:
    raw = f"ref-{CARD}- tel+8613812345678 id11010519491231002X jo@example.com 4111 1111 1111 1111 2 pcs"
    once = mask_pii(raw)
    assert mask_pii(once) == once and not re.search(r"\d{4}", once.replace("2 pcs", ""))


# --- brute force -------------------------------------------------------------------------------
_NEIGHBOURS = "abcxyzXYZ卡号谢谢手机订单-._,;:!?#*/()[]{}<>【】（），。'\"+=&%$ "
_SEPARATORS = ("", " ", "-", ".")


def _surroundings(rng: random.Random) -> tuple[str, str]:
    return (
        "".join(rng.choice(_NEIGHBOURS) for _ in range(rng.randint(0, 4))),
        "".join(rng.choice(_NEIGHBOURS) for _ in range(rng.randint(0, 4))),
    )


def _grouped(number: str, sep: str) -> str:
    return sep.join(number[i : i + 4] for i in range(0, len(number), 4))


def test_every_luhn_valid_card_in_random_surroundings_is_masked() -> None:
    rng = random.Random(20261128)
    for _ in range(3000):
        number = _with_check_digit(str(rng.randint(1, 9)) + "".join(rng.choice("0123456789") for _ in range(14)))
        assert len(number) == 16 and _luhn_ok(number)
        before, after = _surroundings(rng)
        raw = before + _grouped(number, rng.choice(_SEPARATORS)) + after
        masked = mask_pii(raw)
        assert not any(ch.isdigit() for ch in masked), (raw, masked)
        assert not any(ch.isdigit() for ch in clean(raw)), (raw, clean(raw))


@pytest.mark.parametrize("length", [13, 15, 16, 19])
def test_luhn_invalid_numbers_in_random_surroundings_are_kept(length: int) -> None:
    rng = random.Random(length)
    neighbours = _NEIGHBOURS.replace("+", "")  # "+" and digits make an E.164 phone number
    for _ in range(500):
        number = "".join(rng.choice("0123456789") for _ in range(length))
        if _luhn_ok(number) or re.fullmatch(r"(?:86)?1[3-9]\d{9}", number):  # a card, or a mobile number
            continue
        before = "".join(rng.choice(neighbours) for _ in range(rng.randint(0, 4)))
        after = "".join(rng.choice(neighbours) for _ in range(rng.randint(0, 4)))
        raw = f"{before}{number}{after}"
        assert mask_pii(raw) == raw


def test_luhn_valid_windows_inside_20_or_more_digits_are_kept() -> None:
    rng = random.Random(7)
    for _ in range(500):
        card = _with_check_digit("4" + "".join(rng.choice("0123456789") for _ in range(14)))
        pad = "".join(rng.choice("0123456789") for _ in range(rng.randint(4, 9)))
        number = pad + card if rng.random() < 0.5 else card + pad
        raw = f"waybill{number}ok"
        assert mask_pii(raw) == raw


# --- the store's last guard --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("term", "guarded"),
    [
        ("sony", "sony"),
        ("ｓｏｎｙ tv", "ｓｏｎｙ tv"),  # nothing personal: kept exactly as given
        ("ref-4111111111111111", "ref-<CARD>"),
        ("4111 1111 1111 1111", None),
        ("(４１１１１１１１１１１１１１１１)", None),
        ("tel13812345678", "tel<PHONE>"),
        ("+86 138 1234 5678", None),
        ("11010519491231002x", None),
        ("jo@example.com", None),
        ("<card>", None),  # masked before, lower-cased since
        ("!", "!"),  # punctuation without a placeholder is the extractor's business
        (NOT_CARD, NOT_CARD),
    ],
)
def test_guard_term_masks_and_drops_placeholder_only_terms(term: str, guarded: str | None) -> None:
    assert guard_term(term) == guarded


def test_terms_of_never_derives_a_personal_number() -> None:
    analysis = {
        "category": "Televisions",
        "positive": 0.9,
        "entities": [
            {"type": "MODEL", "text": f"ref-{CARD}"},
            {"type": "MODEL", "text": "4111-1111-1111-1111"},
            {"type": "MODEL", "text": "<CARD>"},
            {"type": "BRAND", "text": "Sony"},
        ],
        "keywords": [{"keyword": "13812345678"}, {"keyword": "tv"}],
        "aspects": [{"aspect": "id11010519491231002X", "polarity": "negative"}],
    }
    rows = terms_of(analysis, "message")
    assert [(kind, term, label) for kind, term, label, _, _ in rows] == [
        ("category", "Televisions", ""),
        ("entity", "ref-<card>", "MODEL"),
        ("entity", "sony", "BRAND"),
        ("keyword", "tv", ""),
        ("aspect", "id<id>", "negative"),
    ]


def test_guard_analysis_masks_every_string_and_keeps_the_rest() -> None:
    analysis = {
        "lang": "en",
        "positive": 0.25,
        "entities": [
            {"type": "MODEL", "text": f"ref-{CARD}", "start": 3},
            {"type": "MODEL", "text": "4111\u200b1111\u200b1111\u200b1111"},  # hidden by zero-width spaces
            {"type": "MODEL", "text": "ref-<CARD>"},  # masked before: kept as it is
        ],
    }
    assert guard_analysis(analysis) == {
        "lang": "en",
        "positive": 0.25,
        "entities": [
            {"type": "MODEL", "text": "ref-<CARD>", "start": 3},
            {"type": "MODEL", "text": "<CARD>"},
            {"type": "MODEL", "text": "ref-<CARD>"},
        ],
    }


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        (f"我的卡号{NOT_CARD}被扣了两次钱", "我的卡号<CARD>被扣了两次钱"),  # no checksum, but called a card
        ("卡号：6222 0212 3456 7890 123", "卡号：<CARD>"),  # not cut into a phone and a rest
        ("银行卡是6217 0000 1000 1234 567", "银行卡是<CARD>"),
        (f"card number {NOT_CARD} please", "card number <CARD> please"),
        ("Card no. 1234-5678-9012-3456", "Card no. <CARD>"),
        ("credit card: 123456789012", "credit card: <CARD>"),  # 12 digits
        ("账号 6222021234567890", "账号 <CARD>"),  # a bank account
        ("my ssn is 123-45-6789", "my ssn is <ID>"),
        ("护照号E12345678", "护照号<ID>"),
        ("passport number: G12345678 thanks", "passport number: <ID> thanks"),
        ("phone 5551234567", "phone <PHONE>"),  # no grouping, no +: only the word says it
        ("my phone number is 5551234567", "my phone number is <PHONE>"),
        ("call me at 5551234567", "call me at <PHONE>"),
        ("我的QQ是123456789", "我的QQ是<PHONE>"),
        ("我的卡號6222021234567890123", "我的卡號<CARD>"),  # Traditional cue words
        ("帳號 6222021234567890", "帳號 <CARD>"),
        ("電話 5551234567", "電話 <PHONE>"),
        ("我的QQ号码是：12345678", "我的QQ号码是：<PHONE>"),  # three words between cue and number
        ("my phone number is: 5551234567", "my phone number is: <PHONE>"),
        ("加我微信号：wxid_k2j3h4，谢谢", "加我微信号：<PHONE>，谢谢"),  # a WeChat ID
        ("微信zhangsan1990联系", "微信<PHONE>联系"),
        ("wechat id: zhang_san88 please", "wechat id: <PHONE> please"),
    ],
)
def test_a_number_the_text_names_is_masked_whatever_its_form(raw: str, masked: str) -> None:
    assert mask_pii(raw) == masked


@pytest.mark.parametrize(
    "raw",
    [
        f"order {NOT_CARD} where is it",  # no card word: an order number stays for the slots
        "订单号 2023120512345 的快递",
        "card 2 of 3",  # too short
        "my card ending 1234",
        "card number 12345678901234567890123",  # 23 digits: no card length
        "scorecard 123456789012345",  # card inside another word
        "call about order 12345678",  # the number must follow the word at once
        "my order number is 123456789012",
        "phone 14 pro",
        "iphone 123456789",
        "QQ 12345",  # too short for a number
        "手机6s",
        "wechat support was slow",  # no digit, "_" or "-": a word, not an ID
        "微信支付失败了",
    ],
)
def test_numbers_not_named_or_of_no_such_length_stay(raw: str) -> None:
    assert mask_pii(raw) == raw


# --- bank accounts as IBANs --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("my IBAN is DE89 3704 0044 0532 0130 00 thanks", "my IBAN is <CARD> thanks"),
        ("IBAN: DE89370400440532013000.", "IBAN: <CARD>."),
        ("GB82 WEST 1234 5698 7654 32 REFUND NOW", "<CARD> REFUND NOW"),  # capitals after it stay
        ("pay to GB82WEST12345698765432", "pay to <CARD>"),
        ("退款请打到FR14 2004 1010 0505 0001 3M02 606谢谢", "退款请打到<CARD>谢谢"),
        ("(NL91ABNA0417164300)", "(<CARD>)"),
    ],
)
def test_an_iban_is_masked_whole(raw: str, masked: str) -> None:
    assert mask_pii(raw) == masked


def test_an_iban_shaped_text_failing_the_check_or_from_no_iban_country_stays() -> None:
    # GB82WEST... with its last digit changed; the same account under a country without IBANs (US),
    # and lower-case letters glued to digits: no digit run here that the card or phone step takes.
    for raw in ("ref GB82WEST12345698765433 ok", "ref US82WEST12345698765432 ok", "Yy4493584200935315b"):
        assert mask_pii(raw) == raw


def _iban(rng: random.Random) -> str:
    """A random IBAN with the right check digits: country, check, 11-30 capitals and digits."""
    country = rng.choice(["DE", "GB", "FR", "NL", "ES", "IT", "CH", "PL", "SA", "BR"])
    bban = "".join(rng.choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(rng.randint(11, 30)))
    rest = int("".join(str(int(ch, 36)) for ch in bban + country + "00")) % 97
    return f"{country}{98 - rest:02d}{bban}"


def test_every_valid_iban_in_random_surroundings_is_masked() -> None:
    rng = random.Random(13616)
    neighbours = "卡号谢谢账户-._,;:!?#*/()[]{}<>【】（），。'\"+=&%$ "  # none glues onto the account's capitals
    for _ in range(2000):
        iban = _iban(rng)
        before = "".join(rng.choice(neighbours) for _ in range(rng.randint(0, 4)))
        after = "".join(rng.choice(neighbours) for _ in range(rng.randint(0, 4)))
        masked = mask_pii(before + _grouped(iban, rng.choice(("", " "))) + after)
        assert masked == f"{before}<CARD>{after}", (iban, masked)
