"""Product attributes with units, found by written patterns in Chinese and English text: battery
capacity (20000毫安, 5000mAh), screen size (6.5英寸, 65"), storage (256GB, 内存8G), weight (5斤,
500g), volume (400毫升, 2L), power (2000W), resolution (4K, 1920x1080), clothing size (XL码,
尺码M, size L), counts with a measure word (两箱, 12个, pack of 6), model numbers (QN90C) and
prices or budgets with their currency (预算五千左右, 3000元以内, ¥299, under $200, 50 bucks).

Why patterns and not a model: these are closed forms (a number and a unit), the same in every
domain, and a pattern finds an unseen value ("37000毫安") as surely as a seen one; no labelled
Chinese attribute data exists to train on. Offsets index the text exactly as sent: the patterns
run on the normalised text (full-width digits and letters folded, zero-width characters removed)
and every match maps back through :func:`mining.text.normalize_with_offsets`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mining.text import normalize_with_offsets

_ZH_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}
NUM = r"(?:\d+(?:\.\d+)?|[零一二两三四五六七八九十百千万半]+)"
# A number starts where no digit or numeral stands before it: without this a long digit run is
# tried from every position (quadratic; a 2,000-digit text took a second).
_START = r"(?<![\d.零一二两三四五六七八九十百千万半])"


def parse_number(text: str) -> float | None:
    """``"20000"`` -> 20000.0, ``"两"`` -> 2.0, ``"十二"`` -> 12.0, ``"三千五百"`` -> 3500.0,
    ``"半"`` -> 0.5; None when the text is no number."""
    try:
        return float(text)
    except ValueError:
        pass
    if text == "半":
        return 0.5
    total, current = 0, 0
    for ch in text:
        if ch in _ZH_DIGITS:
            current = _ZH_DIGITS[ch]
        elif ch in _ZH_UNITS:
            unit = _ZH_UNITS[ch]
            if unit == 10000:
                total = (total + current) * unit
            else:
                total += (current or 1) * unit
            current = 0
        else:
            return None
    return float(total + current)


@dataclass(frozen=True)
class Attribute:
    """One attribute: ``type`` (CAPACITY, SCREEN, STORAGE, WEIGHT, VOLUME, POWER, RESOLUTION,
    SIZE, COUNT, MODEL, PRICE), the span in the text as sent (``text == input[start:end]``), and
    where it has one, the number and a normalised unit (``mAh``, ``inch``, ``GB``, ``g``, ``ml``...;
    a PRICE's currency: ``CNY``, ``USD``, ``EUR``, ``GBP``). A PRICE's span keeps its bound words
    (预算…左右, 以内, under, at most), which say whether the number is a ceiling or a guide."""

    type: str
    text: str
    start: int
    end: int
    value: float | None = None
    unit: str | None = None


# (type, pattern with groups `num` and `unit` where it has them, unit name per written unit)
_UNITS: dict[str, dict[str, str]] = {
    "CAPACITY": {"毫安时": "mAh", "毫安": "mAh", "mah": "mAh", "安时": "Ah", "ah": "Ah"},
    "SCREEN": {"英寸": "inch", "寸": "inch", "inches": "inch", "inch": "inch", '"': "inch", "in": "inch"},
    "STORAGE": {"tb": "TB", "gb": "GB", "mb": "MB", "t": "TB", "g": "GB"},
    "WEIGHT": {
        "千克": "kg",
        "公斤": "kg",
        "kg": "kg",
        "克": "g",
        "g": "g",
        "斤": "jin",
        "lbs": "lb",
        "lb": "lb",
        "pounds": "lb",
        "pound": "lb",
        "oz": "oz",
        "ounces": "oz",
        "ounce": "oz",
    },
    "VOLUME": {"毫升": "ml", "ml": "ml", "升": "l", "l": "l", "fl oz": "fl oz"},
    "POWER": {"瓦": "W", "w": "W"},
}
_MEASURE_WORDS = "个件瓶箱包盒袋双台只支本套条罐桶片颗粒枚张块提"

# Prices: an amount (digits with thousands commas, 千/万 or k after them, or Chinese numerals) and
# a currency. 块 alone is also a measure word (两块蛋糕), so it is a price only with 钱, after a
# price word (预算, 价格) or before a bound (五千块左右).
_CURRENCY = {
    "元": "CNY",
    "块钱": "CNY",
    "块": "CNY",
    "人民币": "CNY",
    "rmb": "CNY",
    "yuan": "CNY",
    "cny": "CNY",
    "¥": "CNY",
    "$": "USD",
    "dollars": "USD",
    "dollar": "USD",
    "bucks": "USD",
    "usd": "USD",
    "€": "EUR",
    "euros": "EUR",
    "euro": "EUR",
    "eur": "EUR",
    "£": "GBP",
    "gbp": "GBP",
}
_AMOUNT = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?(?:\s*[千万kK](?![A-Za-z]))?"
_ZH_AMOUNT = rf"(?:{_AMOUNT}|[一二两三四五六七八九十百千万]+)"
_ZH_BOUND = r"(?:\s*(?:左右|以内|以下|以上|上下|之内|内))?"
_EN_BOUND = (
    r"(?:(?:under|below|less than|no more than|at most|up to|max(?:imum)?|around|about|roughly|approximately"
    r"|over|above|more than|at least|from)\s+)?"
)
_PRICE_WORDS = r"(?:预算|价位|价格|价钱|售价|单价|标价)"

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("CAPACITY", re.compile(rf"{_START}(?P<num>{NUM})\s*(?P<unit>毫安时|毫安|mAh|安时|Ah)(?![A-Za-z])", re.IGNORECASE)),
    (
        "SCREEN",
        re.compile(
            r"(?<![\d.])(?P<num>\d+(?:\.\d+)?)\s*-?\s*(?P<unit>英寸|寸|inches|inch|\"|in(?=\s*(?:tv|screen|display|monitor|"
            r"laptop|tablet|led|lcd|smart|4k)))(?![A-Za-z])",
            re.IGNORECASE,
        ),
    ),
    # A bare G or T is storage only before a storage word or as a common capacity (4G network, 5G
    # phone are not storage); GB / TB / MB always are.
    ("STORAGE", re.compile(r"(?<![\d.])(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>TB|GB|MB)(?![A-Za-z])", re.IGNORECASE)),
    (
        "STORAGE",
        re.compile(
            r"(?:内存|运存|存储|硬盘|闪存|(?i:ram|rom|ssd))[^\d，。,.!！?？;；]{0,3}?(?P<num>\d+)\s*(?P<unit>[GT])(?![A-Za-z网])"
            r"|(?<![\d.])(?P<num2>8|16|32|64|128|256|512|1024|[1-9]\d{2,3})(?P<unit2>[GT])"
            r"(?=\s*(?:内存|运存|存储|硬盘|固态|机械|(?i:ram|rom|ssd|hdd)|的硬盘|[，。,.!！?？;；\s]|$))"
        ),
    ),
    (
        "WEIGHT",
        re.compile(
            rf"{_START}(?P<num>{NUM})\s*(?P<unit>千克|公斤|克|斤|kg|lbs|lb|pounds|pound|ounces|ounce|oz)(?![A-Za-z])"
            rf"|(?<![\d.])(?P<num2>\d+(?:\.\d+)?)\s*(?P<unit2>g)(?![A-Za-z])"
        ),
    ),
    (
        "VOLUME",
        re.compile(
            rf"{_START}(?P<num>{NUM})\s*(?P<unit>毫升|升|ml|fl oz)(?![A-Za-z])|(?<![\d.])(?P<num2>\d+(?:\.\d+)?)\s*(?P<unit2>L)(?![A-Za-z])",
            re.IGNORECASE,
        ),
    ),
    ("POWER", re.compile(rf"{_START}(?P<num>{NUM})\s*(?P<unit>瓦|W)(?![A-Za-z])")),
    (
        "RESOLUTION",
        re.compile(r"(?<![A-Za-z\d])(?:[48]K|(?:720|1080|1440|2160)[pP]|\d{3,4}\s*[x×*]\s*\d{3,4})(?![A-Za-z\d])"),
    ),
    (
        "SIZE",
        re.compile(
            r"(?:(?<=尺码)|(?<=尺寸)|(?<=size)|(?<=Size)|(?<=SIZE)|(?<=穿)|(?<=买了)|(?<=买的)|(?<=选的)|(?<=拍的))\s*[:：]?\s*"
            r"(?P<size>[2-6]?X{0,3}[SML]|X{1,3}L|\d{2,3})(?![A-Za-z])(?:\s*(?:码|号))?"
            # not the tail of a longer number ("1501号") or a house number ("建国路88号", "5栋302号")
            r"|(?<![\dA-Za-z.])(?<![路街道巷弄村栋楼座元室])(?P<size2>[2-6]?X{0,3}[SML]|X{1,3}L|\d{2,3})\s*(?:码|号)(?!码)"
        ),
    ),
    (
        "PRICE",
        re.compile(
            # 预算五千左右, 价格3000元以内, 3千块钱, 1.5万元, 299元, 五千块左右
            rf"(?:{_PRICE_WORDS}\s*(?:在|是|为|大概|大约|约|控制在)?\s*)(?P<num>{_ZH_AMOUNT})\s*(?P<unit>万元|千元|元|块钱|块|人民币)?{_ZH_BOUND}"
            rf"|{_START}(?P<num2>{_ZH_AMOUNT})\s*(?P<unit2>万元|千元|元|块钱|人民币)(?![A-Za-z]){_ZH_BOUND}"
            rf"|{_START}(?P<num3>{_ZH_AMOUNT})\s*(?P<unit3>块)(?=\s*(?:左右|以内|以下|以上|上下|之内))(?:\s*(?:左右|以内|以下|以上|上下|之内))"
            # ¥299, under $200, at most €1,200, $1.5k
            rf"|(?i:{_EN_BOUND})(?P<unit4>[¥$€£])\s*(?P<num4>{_AMOUNT}){_ZH_BOUND}"
            # 50 bucks, 300 dollars, 2000 rmb
            rf"|(?i:{_EN_BOUND})(?<![\d.,])(?P<num5>{_AMOUNT})\s*(?P<unit5>(?i:dollars|dollar|bucks|usd|euros|euro|eur|gbp|rmb|yuan|cny))(?![A-Za-z])"
        ),
    ),
    (
        "COUNT",
        re.compile(
            rf"(?<!第){_START}(?P<num>{NUM})\s*(?P<unit>[{_MEASURE_WORDS}])(?!月|小时|星期|礼拜|人|字|多月|钟|方面|问题)"
            r"|(?<![\d.])(?P<num2>\d+)\s*-?\s*(?:pack|count|ct|pcs|pieces|pk)\b|\bpack of (?P<num3>\d+)\b|\bset of (?P<num4>\d+)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "MODEL",
        re.compile(
            r"(?<![A-Za-z\d])(?=[A-Za-z\d-]*\d{2})(?=[A-Za-z\d-]*[A-Za-z])[A-Za-z]{1,5}-?\d{2,5}[A-Za-z]{0,3}(?![A-Za-z\d])"
        ),
    ),
]
# The earlier type wins an overlap (a capacity is not also a count).
_PRIORITY = {t: k for k, t in enumerate(dict.fromkeys(t for t, _ in _PATTERNS))}
_NOT_A_MODEL = re.compile(r"^(?:win|windows|mp|usb|hdmi|ddr|iso|rmb|cny|no|top|qq)\d+$", re.IGNORECASE)


def _unit(kind: str, written: str | None) -> str | None:
    if written is None or kind not in _UNITS:
        return None
    return _UNITS[kind].get(written.lower(), written)


_PRICE_GROUPS = (("num", "unit"), ("num2", "unit2"), ("num3", "unit3"), ("num4", "unit4"), ("num5", "unit5"))
_MULTIPLIERS = {"千": 1000.0, "万": 10000.0, "k": 1000.0}


def _price(groups: dict[str, str]) -> tuple[float | None, str]:
    """(amount, currency) of a PRICE match's groups: ``3千`` -> 3000, ``1,299`` -> 1299,
    ``$1.5k`` -> 1500, ``2万元`` -> 20000; a price word without a unit (预算五千) is in yuan."""
    num, written = next((groups[n], groups.get(u)) for n, u in _PRICE_GROUPS if n in groups)
    amount = num.replace(",", "").replace(" ", "")
    factor = 1.0
    if amount[-1:].lower() in _MULTIPLIERS and amount[:-1].replace(".", "", 1).isdigit():
        factor, amount = _MULTIPLIERS[amount[-1].lower()], amount[:-1]
    if written in ("万元", "千元"):
        factor, written = factor * _MULTIPLIERS[written[0]], "元"
    value = parse_number(amount)
    return (None if value is None else value * factor), _CURRENCY.get((written or "元").lower(), "CNY")


def find_attributes(text: str) -> list[Attribute]:
    """Every attribute in ``text``, non-overlapping, in text order.

    Args:
        text: a customer text as sent (any script; full-width forms are fine).
    Returns:
        attributes with offsets into ``text`` itself.
    """
    norm, src = normalize_with_offsets(text)
    found: list[tuple[int, int, Attribute]] = []
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(norm):
            if m.end() == m.start():
                continue
            groups = {k: v for k, v in m.groupdict().items() if v is not None}
            num = next((groups[k] for k in ("num", "num2", "num3", "num4") if k in groups), None)
            unit = next((groups[k] for k in ("unit", "unit2") if k in groups), None)
            s, e = m.start(), m.end()
            # A context word before the value (内存, 尺码) is not part of the attribute.
            first = next((k for k in ("num", "num2", "size", "size2") if k in groups), None)
            if first is not None and kind in ("STORAGE", "SIZE"):
                s = m.start(first)
            span = norm[s:e].strip()
            if kind == "MODEL" and _NOT_A_MODEL.match(span):
                continue
            start, end = src[s][0], src[e - 1][1]
            value = parse_number(num) if num is not None else None
            if kind == "PRICE":
                value, unit = _price(groups)
            if kind == "COUNT" and num == "一":  # 一个 is mostly an article ("出一个大容量的版本"), not a count
                continue
            if kind == "COUNT":
                unit = unit if unit and unit in _MEASURE_WORDS else "pack"
            found.append(
                (
                    _PRIORITY[kind],
                    -(e - s),
                    Attribute(
                        kind,
                        text[start:end],
                        start,
                        end,
                        value,
                        unit if kind in ("COUNT", "PRICE") else _unit(kind, unit),
                    ),
                )
            )
    found.sort(key=lambda f: (f[0], f[1], f[2].start))
    kept: list[Attribute] = []
    for _, _, a in found:
        if all(a.end <= k.start or a.start >= k.end for k in kept):
            kept.append(a)
    return sorted(kept, key=lambda a: a.start)
