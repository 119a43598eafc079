"""Slots of a customer-service message: the order, invoice, amount, size, place and person it names,
found by rules and word lists in Chinese and English, with character offsets into the text.

Slot types (a span covers the value as written; cue words and units are not part of it):

``order_id``      an order number after an order cue: ``order 370795561790``, ``purchase #A1234``,
                  ``order370795561790``, ``订单号：20231234``, ``单号 123456``; at least 4 digits.
                  A card number (13-19 digits passing the Luhn check, as :func:`mining.text.mask_pii`
                  finds them) is never one, nor a tracking number (快递单号, 运单号).
``invoice_id``    an invoice number after an invoice cue: ``invoice #85632``, ``bill #00108``,
                  ``发票号 12345678``; the same card rule.
``tracking_id``   a parcel's tracking number after a tracking cue: ``tracking number 1Z999AA10123456784``,
                  ``waybill SF1234567890123``, ``快递单号：YT2345678901234``, ``运单号 773123456789``;
                  the same card rule (what an agent looks the parcel up by, not the shop's order).
``amount``        a sum of money with its currency or unit: ``$12.50``, ``120元``, ``¥99``,
                  ``30 dollars``, ``退我50块``; the span is the number (``12.50``), as Bitext marks it.
``size``          a clothes or shoe size: ``XL``, ``42码``, ``XL码``, ``size 10``, ``尺码M``; the span
                  is the size itself (``42``, ``XL``, ``10``).
``city``          a city from ``data/words/cities_en.txt`` or ``cities_zh.txt`` (Chinese provinces
                  too), in its capitalised form, or in any case right after to / from / in; not where
                  it begins a company's name (``China Unicom``, ``北京联通``, ``上海客服``); a Chinese
                  district or county right after its city is one more (``上海市`` + ``浦东新区``).
``country``       a country from ``data/words/countries_en.txt`` or ``countries_zh.txt``, the same way.
``address``       a street address: ``12 Baker Street``, ``北京市朝阳区建国路88号``; masked.
``account_type``  a plan word before an account word: ``premium account``, ``Gold profile``,
                  ``黄金会员``, ``VIP用户`` (words in ``account_types_en.txt`` / ``account_types_zh.txt``).
``person_name``   a name after a cue (``my name is``, ``under the name``, ``from`` and two capitalised
                  words, ``我叫``, ``收件人：``) or with a title (``Mr. Jones``, ``王先生``); masked.
``product``, ``brand``, ``attribute``
                  from the NER entities passed in: PRODUCT and CATEGORY -> product, BRAND and COMPANY
                  -> brand, the attribute patterns (CAPACITY, STORAGE, ...) -> attribute, SIZE -> size,
                  PER -> person_name (masked). Spans the rules find win over entities.

Slots never overlap: where two rules claim characters, the stronger rule (amounts, ids, addresses,
names, places, plans, sizes, entities, in this order) and then the longer span wins.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence

from pydantic import BaseModel, Field

from mining.contracts import EntitySpan
from mining.text import ADDRESS_PLACEHOLDER, NAME_PLACEHOLDER, _card_spans, as_simplified, mask_pii
from mining.wordlists import word_list

SLOT_TYPES = (
    "order_id",
    "invoice_id",
    "tracking_id",
    "amount",
    "size",
    "city",
    "country",
    "address",
    "account_type",
    "person_name",
    "product",
    "brand",
    "attribute",
)
# Personal data: the slot keeps its offsets but its text is the placeholder.
PLACEHOLDERS = {"person_name": NAME_PLACEHOLDER, "address": ADDRESS_PLACEHOLDER}


class SlotSpan(BaseModel):
    type: str = Field(description="slot type, one of SLOT_TYPES")
    text: str = Field(
        description="the value as written, `input[start:end]`; personal data (names, addresses, anything "
        "mask_pii masks) is its placeholder instead (<NAME>, <ADDRESS>, <PHONE>, ...)"
    )
    start: int = Field(description="offset of the first character in the text as given")
    end: int = Field(description="offset after the last character, exclusive")


_Cand = tuple[int, int, int, str]  # priority (lower wins), start, end, type

_CJK = re.compile(r"[\u4e00-\u9fff]")
# An amount's digits: 1,299.00 and 1.299,00 (thousands grouped either way, cents after the other
# mark), 29.99 and 29,99 (a decimal comma is followed by at most two digits, a thousands comma by three).
# An ungrouped run longer than 12 digits is no sum a customer writes (a phone, an id, noise): no amount.
_NUM = (
    r"(?<![\d.,])(?:\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d{1,3}(?:\.\d{3})+(?:,\d{1,2})?|\d{1,12}(?:[.,]\d{1,2})?)"
    r"(?![\d])"
)


def _osa(a: str, b: str) -> int:
    """Optimal string alignment distance: edits, with a swap of neighbours counting one (typos)."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[-1][-1]


def _near(word: str, cue: str) -> bool:
    """``word`` is ``cue``, or ``cue`` with one typo that keeps its first letter among the first two."""
    return word == cue or (
        len(word) >= 3 and abs(len(word) - len(cue)) <= 1 and word[0] in cue[:2] and _osa(word, cue) <= 1
    )


# --- Order and invoice numbers ---------------------------------------------------------------------

# Letters glued in front ("order370795561790") leave the digits; 1-4 letters may lead ("A1234").
_ID = re.compile(r"(?<![A-Za-z0-9#])#?(?:[A-Za-z]{1,4}-?)?\d[A-Za-z0-9-]*(?<!-)|(?<=[A-Za-z])\d{4,}[A-Za-z0-9-]*(?<!-)")
_WORDS = re.compile(r"[A-Za-z]+|[\u4e00-\u9fff]+|[#:]")
# Longer digit runs are no shop's order or invoice number (those run to about 20 digits); pasted noise.
_MAX_ID_DIGITS = 32
# Words that may stand between a cue and its number: "order number 123", "order no. 123", "my order is 123".
_ID_FILLERS = frozenset({"number", "no", "num", "nr", "id", "is", "ref", "reference", "code", "with", "#", ":"})
_NOT_AN_ID = re.compile(r"^(?:(?:19|20)\d\d|\d{4}-\d{1,2}-\d{1,2})$")
_QUANTITY_AFTER = re.compile(r"\s*(?:pcs|pieces|units|items|件|个)", re.IGNORECASE)
_ZH_ID_CUES = (("发票号码", "发票代码", "发票编号", "发票号", "发票"), ("订单编号", "订单号", "订单", "单号"))
_ZH_TRACKING_CUES = ("快递单号", "物流单号", "运单号", "运单编号", "快递号", "物流号", "运单")
_EN_TRACKING_CUES = frozenset({"tracking", "waybill", "awb", "consignment"})


def _cue_kind(word: str) -> str | None:
    """The id a cue word announces (typos tolerated, "ordered", "theorder"), or None."""
    w = word.lower()
    for cue in ("order", "purchase"):
        if _near(w, cue) or w.startswith(cue) or w.endswith(cue):
            return "order_id"
    if _near(w, "invoice") or w.startswith("invoice") or _near(w, "bill") or w in ("bills", "receipt", "receipts"):
        return "invoice_id"
    if w in _EN_TRACKING_CUES or _near(w, "tracking"):
        return "tracking_id"
    return None


def _zh_cue_kind(run: str) -> str | None:
    run = run.rstrip("是为的")
    if run.endswith(_ZH_ID_CUES[0]):
        return "invoice_id"
    # a tracking number is not an order number
    if run.endswith(_ZH_TRACKING_CUES):
        return "tracking_id"
    if run.endswith(_ZH_ID_CUES[1]):
        return "order_id"
    return None


def _id_kind(before: str) -> str | None:
    """The id type the words just before a number announce: a cue, then at most three fillers."""
    for k, word in enumerate(reversed(_WORDS.findall(before[-48:]))):
        if k > 3:
            return None
        if _CJK.match(word):
            return _zh_cue_kind(word)
        kind = _cue_kind(word)
        if kind or word.lower() not in _ID_FILLERS:
            return kind
    return None


def _ids(text: str) -> list[_Cand]:
    cards = _card_spans(text)
    out: list[_Cand] = []
    for m in _ID.finditer(text):
        value = m.group()
        if not 4 <= sum(ch.isdigit() for ch in value) <= _MAX_ID_DIGITS or _NOT_AN_ID.match(value.lstrip("#")):
            continue
        if any(s < m.end() and m.start() < e for s, e, _ in cards):  # a card number is never an id
            continue
        if _QUANTITY_AFTER.match(text, m.end()):
            continue
        kind = _id_kind(text[: m.start()])
        if kind:
            out.append((1, m.start(), m.end(), kind))
    return out


# --- Amounts and sizes -----------------------------------------------------------------------------

# A Chinese money unit after a number: 块 only where no word goes on (一块儿, 这块屏幕 are not money),
# but 块多 / 块的 are ("欠费7块多", "十几块的").
_ZH_MONEY_UNIT = r"元(?![旦素宵气老月件首帅])|块钱|块多|块的|块(?![\u4e00-\u9fff])|大洋|人民币"
# Chinese numerals, 几 included ("几十元", "十几块"): a sum as written. 元 starts words too (元旦, 元素).
_ZH_NUMERAL = r"[零一二两三四五六七八九十百千万几]+"
_AMOUNT = re.compile(
    # A currency code after a Chinese character too (退款RMB 88): no word boundary between them.
    rf"(?:[$€£¥￥]|(?<![A-Za-z0-9_])(?:US\$|USD|EUR|GBP|RMB|CNY|JPY|CAD|AUD)|人民币)\s?(?P<a>{_NUM})"
    rf"|(?P<b>{_NUM})\s?(?:[$€£¥￥]|(?:dollars?|bucks|usd|euros?|eur|gbp|yuan|rmb|cny|yen)(?![A-Za-z])"
    rf"|多?(?:{_ZH_MONEY_UNIT}))"
    rf"|(?P<c>{_ZH_NUMERAL})(?:{_ZH_MONEY_UNIT}|毛钱?)",
    re.IGNORECASE,
)
_LETTER_SIZE = r"[2-6]?X{0,3}[SML]|X{1,3}L|XXS"
_SIZE = re.compile(
    rf"\bsize\s*[:=]?\s*(?P<a>\d{{1,2}}(?:\.5)?|{_LETTER_SIZE}|small|medium|large|x-large|extra large)(?![A-Za-z0-9])"
    rf"|(?:尺码|码数|码子)\s*[是为:：]?\s*(?P<b>\d{{2,3}}|{_LETTER_SIZE})(?![A-Za-z0-9])"
    rf"|(?<![A-Za-z0-9])(?P<c>\d{{2,3}}|{_LETTER_SIZE})\s*码"
    rf"|(?<![A-Za-z0-9])(?P<d>{_LETTER_SIZE})号"
    # a lone letter size only in capitals ("XL", not "xl")
    r"|(?<![A-Za-z0-9])(?-i:(?P<e>XXS|XS|X{1,3}L|[2-6]XL))(?![A-Za-z0-9])",
    re.IGNORECASE,
)


def _group_spans(pattern: re.Pattern[str], text: str, kind: str, priority: int) -> list[_Cand]:
    """The span of the one named group that matched, per match of ``pattern``."""
    out: list[_Cand] = []
    for m in pattern.finditer(text):
        name = next(g for g, v in m.groupdict().items() if v is not None)
        out.append((priority, m.start(name), m.end(name), kind))
    return out


# --- Places ----------------------------------------------------------------------------------------


def _alternation(words: Sequence[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


@functools.cache
def _places_en() -> tuple[re.Pattern[str], re.Pattern[str], dict[str, str]]:
    """(names as written, names in any case after to/from/in, lower-cased name -> type)."""
    kinds = {w.lower(): "city" for w in word_list("cities_en")}
    kinds.update({w.lower(): "country" for w in word_list("countries_en")})
    names = word_list("cities_en") | word_list("countries_en")
    # Abbreviations (US, UK) and short names are words in lower case ("to us"): capitals only.
    loose = [w for w in names if len(w) >= 4 and not w.isupper()]
    written = re.compile(rf"(?<![A-Za-z])(?:{_alternation(list(names))})(?![A-Za-z])")
    cued = re.compile(rf"\b(?:to|from|in)\s+(?P<a>{_alternation(loose)})(?![A-Za-z])", re.IGNORECASE)
    return written, cued, kinds


@functools.cache
def _places_zh() -> tuple[re.Pattern[str], dict[str, str]]:
    """Chinese place names with an optional 省 / 市 suffix (the 市-only names need theirs)."""
    kinds = {w: "city" for w in word_list("cities_zh")}
    kinds.update({w: "country" for w in word_list("countries_zh")})
    plain = [w for w in kinds if not w.endswith("市")]
    needs_suffix = [w for w in kinds if w.endswith("市")]
    # 市场 is a market (上海市场很大): its 市 is no suffix.
    pattern = re.compile(rf"(?:{_alternation(needs_suffix)})|(?:{_alternation(plain)})(?:省|市(?!场))?")
    return pattern, kinds


# A place right before one of these names a company or a branch ("中国联通", "北京客服", "武汉的客服",
# "陕西省人民医院"), not a destination.
_ZH_ORG_AFTER = re.compile(
    r"联通|电信|移动|银行|的?客服|公司|分公司|大学|日报|晚报|电视台|卫视|网|营业厅|人寿|航空|宽带|人民医院|医院"
)
# Capital and small letters of names and streets in Latin letters, accented ones too (José García,
# Zoë, Łukasz Żółć, Calle Álamo): with A-Z alone "my name is José" masked "Jos" and left "é García".
_UP = "A-ZÀ-ÖØ-ÞĀĂĄĆĈĊČĎĐĒĔĖĘĚĜĞĠĢĤĦĨĪĬĮİĲĴĶĹĻĽĿŁŃŅŇŊŌŎŐŒŔŖŘŚŜŞŠŢŤŦŨŪŬŮŰŲŴŶŸŹŻŽ"
_LO = "a-zß-öø-ÿāăąćĉċčďđēĕėęěĝğġģĥħĩīĭįıĳĵķĸĺļľŀłńņňŉŋōŏőœŕŗřśŝşšţťŧũūŭůűųŵŷźżžſ"
# An @handle or #topic#: the names in it are the account's or topic's, not places ("@中国联通辽宁客服").
_HANDLE = re.compile(r"@[^\s@,，.。:：;；!！?？、)）]+|#[^#\n]{1,30}#")
_EN_NAME_AFTER = re.compile(rf"[ \t]*([{_UP}][{_LO}]+)")


# A district or county right after a province or city (上海市浦东新区, 六盘水市钟山区, 北京朝阳区): a place
# of its own, as the hand-marked turns mark it; 的 never inside one (深圳市的小区).
_ZH_DISTRICT = re.compile(r"(?:(?!的)[\u4e00-\u9fff]){1,4}?(?:新区|区|县|旗)")
# Words ending in 区 that are an area of some kind, not a district's name (杭州市一个小区, 北京市区).
_ZH_NOT_DISTRICTS = (
    "小区",
    "社区",
    "园区",
    "景区",
    "校区",
    "城区",
    "郊区",
    "灾区",
    "地区",
    "片区",
    "辖区",
    "专区",
    "街区",
    "厂区",
    "矿区",
    "营区",
    "住宅区",
    "生活区",
    "服务区",
    "商业区",
    "开发区",
    "工业区",
    "保税区",
    "高新区",
)


def _places(text: str, zh: bool) -> list[_Cand]:
    written, cued, kinds = _places_en()
    out: list[_Cand] = []
    spans = [(m.start(), m.end()) for m in written.finditer(text)]
    for start, end in spans + [(m.start("a"), m.end("a")) for m in cued.finditer(text)]:
        follower = _EN_NAME_AFTER.match(text, end)
        # a capitalised word after the place makes a name of it ("China Unicom", "Shanghai Telecom")
        if not follower or follower.group(1).lower() in kinds:
            out.append((4, start, end, kinds[text[start:end].lower()]))
    if zh:
        pattern, zh_kinds = _places_zh()
        handles = [(h.start(), h.end()) for h in _HANDLE.finditer(text)]
        for m in pattern.finditer(text):
            if any(a <= m.start() < b for a, b in handles):
                continue
            if not _ZH_ORG_AFTER.match(text, m.end()):
                name = m.group()
                kind = zh_kinds.get(name) or zh_kinds.get(name.rstrip("省市"), "city")
                out.append((4, m.start(), m.end(), kind))
                district = _ZH_DISTRICT.match(text, m.end())
                if kind == "city" and district and not district.group().endswith(_ZH_NOT_DISTRICTS):
                    out.append((4, district.start(), district.end(), "city"))
    return out


# --- Addresses -------------------------------------------------------------------------------------

_EN_ADDRESS = re.compile(
    rf"(?<![\w-])\d{{1,5}}[A-Za-z]?\s+(?:[{_UP}][{_LO}]+\.?\s+){{1,3}}"
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Way|Court|Ct|Place|Pl|Terrace|Parkway|"
    r"Square|Sq|Highway|Hwy)\b\.?(?:\s+(?:NW|NE|SW|SE|N|S|E|W)\b\.?)?(?:,?\s*(?:Apt|Apartment|Suite|Unit|Flat)\.?\s*#?[A-Za-z0-9-]+)?"
    # a town with a US state and ZIP code or a UK postcode after it is the address's too
    rf"(?:,?\s+(?:[{_UP}][{_LO}]+(?:\s+[{_UP}][{_LO}]+){{0,2}},?\s+)?"
    r"(?:[A-Z]{2}\s+\d{5}(?:-\d{4})?|[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2})(?![A-Za-z0-9]))?"
)
_H = r"[\u4e00-\u9fff]"
_HX = r"[\u4e00-\u9fff\dA-Za-z]"
# Parts of a Chinese address in their order, each optional: province, city, district, town, road
# (a 道 of Hong Kong and Taiwan, 弥敦道, and a road's side, 中山大道西, only before a door number),
# number, building, building number, unit, room. A room is often written as bare digits after the
# building number or unit ("5号楼1203", "B座2201"): those digits are the room too.
_ZH_ADDRESS_BODY = re.compile(
    rf"(?P<province>{_H}{{1,7}}?(?:省|自治区))?(?P<city>{_H}{{1,7}}?(?:市|自治州|州|盟|地区))?"
    rf"(?P<district>{_H}{{1,7}}?(?:区|县|旗))?(?P<town>{_H}{{1,7}}?(?:镇|乡|街道))?"
    rf"(?P<road>{_HX}{{1,10}}(?:(?:大道|路|街|巷|弄|胡同|村)(?:[东西南北中](?=[\dA-Za-z-]{{1,6}}号))?|道(?=[\dA-Za-z-]{{1,6}}号)))?(?P<lane>\d{{1,5}}弄)?(?P<number>[\dA-Za-z-]{{1,6}}号(?!楼)院?)?"
    rf"(?P<building>{_HX}{{1,10}}?(?:小区|大厦|花园|公寓|广场|苑|城|中心|家园|新村))?"
    r"(?P<block>[\dA-Za-z-]{1,4}(?:号楼|栋|幢|座))?(?P<unit>\d{1,3}单元)?"
    r"(?P<room>[\dA-Za-z-]{1,5}(?:室|房|号)|(?<=[楼栋幢座元])\d{2,5}(?![\d号]))?"
)
_ZH_STREET_PARTS = ("road", "lane", "number", "building", "block", "unit", "room")
# What may follow a matched address and is still its section, building, floor and room: numbered
# parts ("四段27号", "3楼"), an area word before them ("科技园中心区1栋2单元1501号").
_ZH_ADDRESS_TAIL = re.compile(
    rf"(?:{_H}{{0,6}}?(?:区|园|中心|城))?"
    r"(?:(?:[\dA-Za-z-]{1,6}|[一二三四五六七八九十]{1,3})(?:号楼|栋|幢|座|单元|室|层|楼|号|房|段|期)"
    r"|(?<=[楼栋幢座元层])\d{2,5}(?![\d号]))+"
)
# Where a Chinese address starts: after one of these cues, or at a place name.
# Cues chain ("地址改成", "地址是寄到"): the address starts after the last of them. "我在:" is a
# Weibo post's location tag.
_ZH_ADDRESS_CUE = re.compile(
    r"(?:(?:地址|住址|住在|寄到|送到|发到|寄至|送至|发往|改到|改成|改为|换成|搬到|我在(?=[:：]))\s*[是为:：]?\s*)+在?"
)


# A Weibo post's location tag at its end: a street name after a space ("... 信号太差了！ 建设路").
_ZH_LOCATION_TAG = re.compile(rf"(?<=\s){_H}{{1,8}}(?:大道|路|街|巷|胡同)$")


def _addresses(text: str, zh: bool) -> list[_Cand]:
    out = [(2, m.start(), m.end(), "address") for m in _EN_ADDRESS.finditer(text)]
    if zh:
        out += [(2, m.start(), m.end(), "address") for m in _ZH_LOCATION_TAG.finditer(text.rstrip())]
        after_cue = {m.end() for m in _ZH_ADDRESS_CUE.finditer(text)}
        starts = after_cue | {m.start() for m in _places_zh()[0].finditer(text)}
        for s in sorted(starts):
            m = _ZH_ADDRESS_BODY.match(text, s)
            parts = {k for k, v in (m.groupdict() if m else {}).items() if v}
            # A street part is needed; from a bare place name, also a second part ("北京市" + "人民路"),
            # as a place name inside a word ("景山西街") is no start.
            if m and parts & set(_ZH_STREET_PARTS) and (s in after_cue or len(parts) >= 2):
                tail = _ZH_ADDRESS_TAIL.match(text, m.end())
                out.append((2, s, tail.end() if tail else m.end(), "address"))
    return out


# --- Plans and names -------------------------------------------------------------------------------

_ACCOUNT_WORDS = ("account", "accounts", "profile", "profiles", "membership", "subscription", "package")
_ACCOUNT_SHORT = ("plan", "tier", "member", "user")
_GLUE_OK = frozenset({"a", "an", "the", "my", "your", "our", "another", "new", "this", "that"})


def _is_account_word(word: str) -> bool:
    w = word.lower()
    return any(w.startswith(c) or _osa(w, c) <= 1 for c in _ACCOUNT_WORDS) or w.startswith(_ACCOUNT_SHORT)


@functools.cache
def _plans() -> tuple[re.Pattern[str], re.Pattern[str]]:
    plans = _alternation(list(word_list("account_types_en")))
    en = re.compile(rf"(?<![A-Za-z])(?P<pre>[A-Za-z]*?)(?P<plan>{plans})(?=\s*(?P<cue>[A-Za-z]+))", re.IGNORECASE)
    zh_words = _alternation(list(word_list("account_types_zh")))
    zh = re.compile(rf"(?:{zh_words})(?=会员|账户|账号|帐号|帐户|套餐|用户)", re.IGNORECASE)
    return en, zh


def _account_types(text: str, zh: bool) -> list[_Cand]:
    en, zh_pattern = _plans()
    out: list[_Cand] = []
    for m in en.finditer(text):
        pre, plan = m.group("pre").lower(), m.group("plan")
        # A word glued in front ("anotherstandard", "aPro") is a typo only after a short word or a verb.
        glued_ok = not pre or pre in _GLUE_OK or pre.endswith("ing") or plan[0].isupper()
        if glued_ok and _is_account_word(m.group("cue")):
            out.append((5, m.start("plan"), m.end("plan"), "account_type"))
    if zh:
        out += [(5, m.start(), m.end(), "account_type") for m in zh_pattern.finditer(text)]
    return out


_TITLE = r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof)\.?"
_CAP = rf"(?:[{_UP}]'[{_UP}][{_LO}]+|[{_UP}][{_LO}]+(?:-[{_UP}]?[{_LO}]+|'[{_UP}][{_LO}]+)?)(?![{_UP}{_LO}])"  # Anna, Li-Na, O'Connor, José
_NAME_TITLED = re.compile(rf"(?<![{_UP}{_LO}]){_TITLE}\s+{_CAP}(?:\s+{_CAP})?")
# A strong cue takes one to three capitalised words (Ana María López); the weak "from" two, as "from
# Anna Freeman" (typos tolerated).
_NAME_STRONG = re.compile(
    rf"(?i:\bmy name is|\bname is|\bname's|\bname’s|\bunder the name(?: of)?|\bname\s*:|\bcall me|\bthis is|\bi am|\bi'm)\s+(?P<n>{_CAP}(?:\s+{_CAP}){{0,2}})"
)
_NAME_WEAK = re.compile(rf"(?<![{_UP}{_LO}])(?P<cue>[A-Za-z]+?)\s*(?P<n>{_CAP}\s+{_CAP})")
_WEAK_CUES = ("from",)
# No cue at all: a common given name (data/words/given_names_en.txt) and a capitalised word, "ask Maria Garcia".
# (A lookahead, so that "Tell Michael Jordan" is tried at Michael too.)
_NAME_GIVEN = re.compile(rf"(?<![{_UP}{_LO}'])(?=(?P<n>{_CAP}\s+{_CAP}))")
_ZH_NAME_CUE = re.compile(r"(?:我叫|我的名字是|名字叫|名字是|姓名|收件人|收货人|联系人|(?<!用)户名)\s*[是为:：]?\s*")
_ZH_NAME_STOP = set("的了是在要想和与及我你他她们吗呢吧啊请帮谢从电手订，。！？、,.!? ")
_ZH_COMPOUND_SURNAMES = (
    "欧阳",
    "司马",
    "上官",
    "诸葛",
    "东方",
    "皇甫",
    "尉迟",
    "公孙",
    "慕容",
    "令狐",
    "司徒",
    "夏侯",
    "宇文",
)
# Weaker cues ("我是刘德华，", "请联系李娜。", "寄给张三丰，"): the name must end at a stop character or
# the text's end, so that "我是白金会员" and "寄给王府井店" name nobody.
_ZH_NAME_WEAK_CUE = re.compile(r"(?:我是|本人是?|请联系|寄给|发给|转交给|交给)\s*")


def _unaccented(word: str) -> str:
    """``word`` without its accents (josé -> jose, zoë -> zoe): the given-name list is written without."""
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


def _name_ok(name: str) -> bool:
    words = [w.lower() for w in name.split() if not re.fullmatch(_TITLE, w)]
    stop = word_list("en_stop_words")
    places = _places_en()[2]
    return (
        bool(words)
        and name.lower() not in places
        and not any(w in stop or w in word_list("not_names_en") or w in places for w in words)
    )


def _trim_name(text: str, start: int, end: int) -> int:
    """End of a name span without a trailing capitalised word that is no name ("Smith Could")."""
    words = text[start:end].split()
    if len(words) > 1 and not _name_ok(words[-1]):
        return start + len(text[start:end].rsplit(maxsplit=1)[0])
    return end


def _names(text: str, zh: bool) -> list[_Cand]:
    out: list[_Cand] = []
    for m in _NAME_TITLED.finditer(text):
        out.append((3, m.start(), _trim_name(text, m.start(), m.end()), "person_name"))
    for pattern in (_NAME_STRONG, _NAME_WEAK):
        for m in pattern.finditer(text):
            end = _trim_name(text, m.start("n"), m.end("n"))
            name = text[m.start("n") : end]
            weak_cue = pattern is _NAME_WEAK and any(_near(m.group("cue").lower(), c) for c in _WEAK_CUES)
            if _name_ok(name) and (pattern is _NAME_STRONG or (weak_cue and " " in name)):
                out.append((3, m.start("n"), end, "person_name"))
    for m in _NAME_GIVEN.finditer(text):
        name = m.group("n")
        if _unaccented(name.split()[0].lower()) in word_list("given_names_en") and _name_ok(name):
            out.append((3, m.start("n"), m.end("n"), "person_name"))
    if zh:
        for pattern in (_ZH_NAME_CUE, _ZH_NAME_WEAK_CUE):
            for m in pattern.finditer(text):
                end = m.end()
                longest = 4 if text.startswith(_ZH_COMPOUND_SURNAMES, end) else 3
                while (
                    end < len(text)
                    and end - m.end() < longest
                    and _CJK.match(text[end])
                    and text[end] not in _ZH_NAME_STOP
                ):
                    end += 1
                # a name starts with a surname: "姓名什么的" holds none
                if end - m.end() < 2 or (longest == 3 and text[m.end()] not in word_list("surnames_zh")):
                    continue
                if (
                    pattern is _ZH_NAME_CUE
                    or end == len(text)
                    or not _CJK.match(text[end])
                    or text[end] in _ZH_NAME_STOP
                ):
                    out.append((3, m.end(), end, "person_name"))
        out += [(3, start, end, "person_name") for start, end in _zh_titled_names(text)]
    return out


_ZH_TITLES = re.compile(r"先生|女士|小姐")


def _zh_titled_names(text: str) -> list[tuple[int, int]]:
    """Spans of Chinese names before a title, title included, as jieba reads the text in context:
    a surname on its own (王先生, 张先生 of 谢谢张先生), a compound one (欧阳女士), or a whole name
    jieba takes for one (傅佩荣先生, 李女士; not a greeting, 谢谢先生).

    Why: a surname before a title had been enough, so goods for women were names (时尚女士包 was
    stored as 时<NAME>包: 尚 is a surname, 时尚 a word) and a full name kept all but its last
    character (傅佩荣先生 as 傅佩<NAME>)."""
    titles = [m.start() for m in _ZH_TITLES.finditer(text)]
    if not titles:
        return []
    import jieba.posseg  # lazily: its dictionary takes ~1 s to load, and few texts hold a title

    words: list[tuple[str, str, int]] = []  # (word, part of speech, start)
    at = 0
    for w in jieba.posseg.lcut(text):
        words.append((w.word, w.flag, at))
        at += len(w.word)
    surnames = word_list("surnames_zh")
    out: list[tuple[int, int]] = []
    for ts in titles:
        k = max(i for i, (_, _, a) in enumerate(words) if a <= ts)
        _, flag, a = words[k]
        if a < ts:  # jieba joined name and title (陈女士, 胡小姐); 老先生 names nobody
            name, name_flag = text[a:ts], flag
        elif k > 0:
            name, name_flag, a = words[k - 1]
        else:
            continue
        surname = len(name) == 1 and name in surnames or name in _ZH_COMPOUND_SURNAMES
        whole = (
            name_flag.startswith("nr")
            and 2 <= len(name) <= 4
            and all(_CJK.match(ch) for ch in name)
            and name not in word_list("pleasantries_zh")
            and not _ZH_TITLES.search(name)  # 柜台小姐先生 names nobody
        )
        if surname or whole:
            out.append((a, ts + 2))
    return out


# --- Entities and the whole --------------------------------------------------------------------------

_ENTITY_SLOTS = {
    "PRODUCT": "product",
    "CATEGORY": "product",
    "BRAND": "brand",
    "COMPANY": "brand",
    "SIZE": "size",
    "PER": "person_name",
}
_ATTRIBUTES = frozenset({"CAPACITY", "SCREEN", "STORAGE", "WEIGHT", "VOLUME", "POWER", "RESOLUTION", "COUNT", "MODEL"})


def _entity_slots(text: str, entities: Sequence[EntitySpan]) -> list[_Cand]:
    out: list[_Cand] = []
    for e in entities:
        kind = _ENTITY_SLOTS.get(e.type) or ("attribute" if e.type in _ATTRIBUTES else None)
        if kind and 0 <= e.start < e.end <= len(text):
            out.append((7, e.start, e.end, kind))
    return out


def _slot(text: str, start: int, end: int, kind: str) -> SlotSpan:
    value = text[start:end]
    # Personal data never leaves in the clear: names and addresses, and whatever mask_pii masks,
    # read with the text before the value as the stored text is (``order 2023-1205-8871`` is an
    # order number there, not a phone number).
    masked, masked_head = mask_pii(text[:end]), mask_pii(text[:start])
    shown = PLACEHOLDERS.get(kind) or (
        masked[len(masked_head) :] if masked.startswith(masked_head) else mask_pii(value)
    )
    return SlotSpan(type=kind, text=shown, start=start, end=end)


def extract_slots(text: str, lang: str, entities: Sequence[EntitySpan] = ()) -> list[SlotSpan]:
    """The slots of one customer message (types in the module docstring), in text order.

    Args:
        text: the message as given; offsets refer to it (Python string indices).
        lang: ``"zh"`` or ``"en"``: ``"zh"`` adds the Chinese rules (place names, 地址, 我叫, 码, ...) to
            the English and language-neutral ones, which run on every text (Chinese messages carry
            Latin order numbers, amounts and sizes).
        entities: the text's NER entities (:class:`mining.contracts.EntitySpan`, offsets into ``text``),
            read for product, brand, attribute, size and person slots.
    Returns:
        non-overlapping slots, ``text[start:end]`` for each except personal data, whose ``text`` is
        its placeholder (``<NAME>``, ``<ADDRESS>``, ``<PHONE>``, ...).
    Raises:
        ValueError: ``lang`` is neither ``"zh"`` nor ``"en"``.
    """
    if lang not in ("zh", "en"):
        raise ValueError(f"lang must be 'zh' or 'en', got {lang!r}")
    zh = lang == "zh"
    read = as_simplified(text)  # the rules' cue words and place names are Simplified
    candidates = _ids(read) + _group_spans(_AMOUNT, read, "amount", 0)
    candidates += _addresses(read, zh) + _names(read, zh) + _places(read, zh)
    candidates += _account_types(read, zh) + _group_spans(_SIZE, read, "size", 6) + _entity_slots(read, entities)
    taken: list[_Cand] = []
    for cand in sorted(candidates, key=lambda c: (c[0], c[1] - c[2], c[1])):
        _, start, end, _ = cand
        if end > start and all(end <= s or start >= e for _, s, e, _ in taken):
            taken.append(cand)
    return [_slot(text, s, e, kind) for _, s, e, kind in sorted(taken, key=lambda c: c[1])]


# --- Personal data in what is kept ------------------------------------------------------------------

PERSON_ENTITY = "PER"  # the entity type of a person's name in every NER model's tag set


def person_names(text: str, entities: Sequence[EntitySpan]) -> list[str]:
    """The names the ``PER`` entities of ``text`` (offsets into it) cover: the ``names`` of
    :func:`personal_spans`."""
    return [text[e.start : e.end] for e in entities if e.type == PERSON_ENTITY]


Personal = Sequence[tuple[int, int, str]]  # :func:`personal_spans` of a text


def mask_entities(entities: Sequence[EntitySpan], spans: Personal) -> list[EntitySpan]:
    """``entities`` of a text as an answer may show them, offsets kept: a person's name (type
    ``PER``) as ``<NAME>``, and any other entity inside one of the text's ``spans`` (its
    :func:`personal_spans`, with the ``PER`` entities' names: a road a model tagged LOC, a house
    number tagged SIZE) as that span's placeholder. An answer says where personal data is, never
    what it is."""
    out = []
    for e in entities:
        kind = "person_name" if e.type == PERSON_ENTITY else None
        kind = kind or next((k for s, end, k in spans if s < e.end and e.start < end), None)
        out.append(e.model_copy(update={"text": PLACEHOLDERS[kind]}) if kind else e)
    return out


def personal_spans(text: str, names: Sequence[str] = ()) -> list[tuple[int, int, str]]:
    """Where ``text`` holds a person's name or a street address: what the name and address rules
    find (the Chinese rules wherever the text holds a Chinese character), and every occurrence of
    each of ``names`` (the ``PER`` entities a model found in this text, in any case; one-character
    ones are skipped, as every occurrence of one character would blank ordinary words).

    Returns:
        ``(start, end, slot type)`` in text order, ``person_name`` or ``address``; overlapping spans
        merged into one, an address where any of them is one.
    """
    zh = bool(_CJK.search(text))
    read = as_simplified(text)
    spans = [(s, e, "address") for _, s, e, _ in _addresses(read, zh)]
    spans += [(s, e, "person_name") for _, s, e, _ in _names(read, zh)]
    for name in {n.strip() for n in names if len(n.strip()) >= 2}:
        spans += [(m.start(), m.end(), "person_name") for m in re.finditer(re.escape(name), text, re.IGNORECASE)]
    merged: list[tuple[int, int, str]] = []
    for start, end, kind in sorted(spans):
        if merged and start < merged[-1][1]:
            s0, e0, k0 = merged[-1]
            merged[-1] = (s0, max(e0, end), "address" if "address" in (k0, kind) else kind)
        else:
            merged.append((start, end, kind))
    return merged


def mask_personal(text: str, names: Sequence[str] = ()) -> str:
    """``text`` with each of its :func:`personal_spans` replaced by ``<NAME>`` or ``<ADDRESS>``: what
    may be stored or logged of it. Numbers :func:`mining.text.mask_pii` masks are not touched: mask
    those first or after, as for any text."""
    for start, end, kind in reversed(personal_spans(text, names)):
        text = text[:start] + PLACEHOLDERS[kind] + text[end:]
    return text


_WORD_CHAR = re.compile(r"[^\W_]")


def _masked_where_it_stands(term: str, text: str, spans: Personal) -> str:
    """``term`` with the characters that, wherever it occurs in ``text`` (in any case), lie inside
    one of ``spans`` replaced by that span's placeholder: "改成上海市浦东新区张江路", cut across the
    start of an address, becomes "改成<ADDRESS>"."""
    low_text, low = text.lower(), term.lower()
    kinds: list[str | None] = [None] * len(term)
    at = low_text.find(low) if low else -1
    while at >= 0:
        for s, e, kind in spans:
            for k in range(max(s, at), min(e, at + len(term))):
                kinds[k - at] = kind
        at = low_text.find(low, at + 1)
    out, k = [], 0
    while k < len(term):
        here = kinds[k]
        if here is None:
            out.append(term[k])
            k += 1
            continue
        while k < len(term) and kinds[k] == here:
            k += 1
        out.append(PLACEHOLDERS[here])
    return "".join(out)


def mask_terms(terms: Sequence[str], text: str, spans: Personal) -> list[str | None]:
    """Terms cut from ``text`` (keywords, aspects) as an answer may show them: where a term stands
    in ``text``, its characters inside one of ``spans`` (the text's :func:`personal_spans`) replaced
    by the placeholder; a term written otherwise (a keyword phrase, another case) that holds a name
    or an address, or is a piece of one, masked the same way; None for a term left with nothing but
    placeholders and punctuation."""
    found: dict[str, str] = {}
    for s, e, kind in spans:
        value = text[s:e]
        found[value] = PLACEHOLDERS[kind]
        if kind == "person_name":  # a term may hold part of a name: "Smith" of John Smith, 小明 of 王小明
            parts = value.split() if " " in value else [value[1:]] if _CJK.match(value) and len(value) >= 3 else []
            found.update((p, PLACEHOLDERS[kind]) for p in parts if len(p) >= 2)
    out: list[str | None] = []
    for term in terms:
        term = _masked_where_it_stands(term, text, spans)
        for value, placeholder in sorted(found.items(), key=lambda kv: -len(kv[0])):
            if term.strip() and term.strip().lower() in value.lower():  # a piece of an address or a name
                term = placeholder
            term = re.sub(re.escape(value), placeholder, term, flags=re.IGNORECASE)
        rest = term
        for placeholder in PLACEHOLDERS.values():
            rest = rest.replace(placeholder, "")
        out.append(term if rest == term or _WORD_CHAR.search(rest) else None)
    return out
