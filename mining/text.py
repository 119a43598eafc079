"""Text preprocessing shared by training and serving.

Everything a model sees goes through these functions, at training time and at serving time, so
the two cannot drift. Pure Python + numpy; nothing here loads a model, and the one file read is
the Traditional-to-Simplified character table, once, on the first Traditional character.
"""

from __future__ import annotations

import functools
import re
import unicodedata
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

from mining.wordlists import WORDS_DIR, read_words, stop_words

Lang = Literal["zh", "en"]

_HTML_TAG = re.compile(r"<\s*/?\s*[a-zA-Z][^<>]{0,200}>")
# Control characters other than whitespace (format characters are dropped by category, below).
_CONTROL = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]")
# CJK unified ideographs, extension A and compatibility ideographs.
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")


# The distribution whose character tables map Traditional and Simplified Chinese characters onto
# each other (OpenCC's, Apache-2.0); its files are read, its code is never run.
OPENCC_DISTRIBUTION = "opencc-python-reimplemented"


def character_table(name: str) -> dict[int, str]:
    """One of OpenCC's character tables (``TSCharacters.txt``: Traditional -> Simplified,
    ``STCharacters.txt``: the reverse) as code point -> character, one character for one (where
    OpenCC lists several, the first), so a text mapped through it keeps its offsets."""
    from importlib import metadata
    from pathlib import Path

    dist = metadata.distribution(OPENCC_DISTRIBUTION)
    entry = next((f for f in dist.files or [] if f.name == name), None)
    if entry is None:
        raise FileNotFoundError(f"{OPENCC_DISTRIBUTION} has no {name}; reinstall the pinned version")
    table: dict[int, str] = {}
    for line in Path(str(dist.locate_file(entry))).read_text(encoding="utf-8").splitlines():
        source, _, targets = line.partition("\t")
        first = targets.split(" ")[0]
        if len(source) == 1 and len(first) == 1 and source != first:
            table[ord(source)] = first
    return table


@functools.cache
def traditional_to_simplified() -> dict[int, str]:
    """Code point of a Traditional Chinese character -> its Simplified character (這 -> 这, 螢 -> 萤):
    :func:`character_table` ``TSCharacters.txt``, 4,105 entries.

    Why: every Chinese model learnt from Simplified text; a review in Traditional characters read
    as is lost much of what the models know (validation texts rewritten in Traditional script:
    ``python -m training.eval_traditional``). Char by char, not phrase by phrase: the table changes
    0.08% of the characters of the Simplified training reviews, all in the 235 reviews written in
    Traditional characters.
    """
    return character_table("TSCharacters.txt")


def as_simplified(text: str) -> str:
    """``text`` with its Traditional Chinese characters made Simplified (:func:`traditional_to_simplified`)
    and nothing else, so every offset into it is an offset into ``text``: for rules written with
    Simplified cue words (订单号, 发票) that report offsets into the text as sent."""
    return text if text.isascii() else text.translate(traditional_to_simplified())


def normalize(text: str) -> str:
    """Canonical form of a text: NFKC, Traditional Chinese characters as Simplified, markup and
    control characters removed, whitespace collapsed.

    NFKC folds full-width ASCII (``ＡＢＣ１２３``, ideographic space) into half-width, which is what
    Chinese input methods produce for Latin text; without it the same word gets two vocab entries.
    Traditional characters become Simplified ones (:func:`traditional_to_simplified`), the script
    every Chinese model learnt from. HTML line breaks are common in scraped reviews (``<br />``)
    and carry no meaning.

    Args:
        text: any Unicode string.
    Returns:
        the normalised string (may be empty). Same as ``normalize_with_offsets(text)[0]``.
    """
    return normalize_with_offsets(text)[0]


def normalize_term(term: str) -> str:
    """The form a term (an entity, aspect or demand term, a catalog value) is compared and counted
    in: NFKC, surrounding whitespace stripped, lower-cased, so ``Ｈｕａｗｅｉ `` and ``huawei`` are one.
    Unlike :func:`normalize` it keeps markup-like text such as ``<card>`` (a masked placeholder)."""
    return unicodedata.normalize("NFKC", term).strip().lower()


def normalize_with_offsets(text: str) -> tuple[str, list[tuple[int, int]]]:
    """:func:`normalize`, and where each output character came from in the input.

    Models read the normalised text; callers get offsets into the text they sent. A normalised
    span ``[s, e)`` covers the input span ``[src[s][0], src[e - 1][1])``.

    Args:
        text: any Unicode string.
    Returns:
        (normalised text of length m, m pairs ``(start, end)``: the input characters, end
        exclusive, that produced each output character).
    """
    # NFKC per base character with its combining marks, so every output character keeps a source.
    chars: list[str] = []
    src: list[tuple[int, int]] = []
    i = 0
    while i < len(text):
        j = i + 1
        while j < len(text) and unicodedata.combining(text[j]):
            j += 1
        for ch in unicodedata.normalize("NFKC", text[i:j]):
            chars.append(ch)
            src.append((i, j))
        i = j
    if not text.isascii():
        simplified = traditional_to_simplified()
        chars = [simplified.get(ord(ch), ch) for ch in chars]  # one character each, from the loop above
    folded = "".join(chars)
    drop = [False] * len(chars)
    for m in _HTML_TAG.finditer(folded):
        for k in range(m.start(), m.end()):
            chars[k] = " "
    for k, ch in enumerate(chars):
        # Format characters (zero-width spaces and joiners, bidi overrides, soft hyphens) are
        # invisible: they carry no meaning for a model, and left in they split an e-mail address
        # or a phone number so that masking misses it.
        if _CONTROL.match(ch) or unicodedata.category(ch) == "Cf":
            drop[k] = True
    out: list[str] = []
    out_src: list[tuple[int, int]] = []
    for k, ch in enumerate(chars):
        if drop[k]:
            continue
        if ch.isspace():
            if out and out[-1] == " ":
                out_src[-1] = (out_src[-1][0], src[k][1])  # one space stands for the whole run
                continue
            ch = " "
        out.append(ch)
        out_src.append(src[k])
    while out and out[0] == " ":
        out.pop(0)
        out_src.pop(0)
    while out and out[-1] == " ":
        out.pop()
        out_src.pop()
    return "".join(out), out_src


def length_batches(lengths: Sequence[int], max_items: int, max_cells: int | None = None) -> list[list[int]]:
    """Indices of items grouped into batches of similar length (shortest first).

    A batch holds at most ``max_items`` items and, when ``max_cells`` is given, at most
    ``max_cells`` padded positions (items x longest length); an item longer than ``max_cells``
    gets a batch of its own. Why a cell budget: a transformer on a CPU runs slower per text in big
    padded batches (all-MiniLM-L6-v2 on reviews of ~90 tokens, 1 thread: 26.6 texts/s in
    batches of 4, 15.6 in batches of 32), so what pays is grouping by length, not batch size.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    for i in order:
        if batches:
            last = batches[-1]
            # lengths ascend, so the newcomer is the longest of the batch
            if len(last) < max_items and (max_cells is None or (len(last) + 1) * lengths[i] <= max_cells):
                last.append(i)
                continue
        batches.append([i])
    return batches


# Padded tokens per transformer forward on a CPU: 512 ran all-MiniLM-L6-v2 on real reviews fastest
# of 128-2048 (22 texts/s on 1 thread, 39 on 2, against 15.6 / ~20 for batches of 32).
CPU_CELLS_PER_FORWARD = 512


def cells_per_forward(device: Any) -> int | None:
    """Padded-token budget of one transformer forward on ``device`` (a ``torch.device``): the
    CPU budget above, or none on an accelerator, where big batches pay."""
    return CPU_CELLS_PER_FORWARD if device.type == "cpu" else None


def require_strings(texts: Sequence[object]) -> None:
    """Raise ``TypeError`` naming the first item of ``texts`` that is not a string: runners get
    lists from other services, and a wrong item must fail loudly, not be coerced."""
    bad = [(i, type(t).__name__) for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise TypeError(f"texts must be strings; item {bad[0][0]} is {bad[0][1]} ({len(bad)} non-strings in all)")


def detect_language(text: str) -> Lang:
    """Return ``"zh"`` or ``"en"`` for a text, by counting CJK characters against Latin words.

    One Chinese character carries about as much as one English word, so the ratio compares
    characters with words: mixed text such as ``"这个iPhone壳很好用"`` is routed to the Chinese model.
    Text with neither (digits, emoji) is routed to English.
    """
    n_cjk = len(_CJK.findall(text))
    if n_cjk == 0:
        return "en"
    n_words = len(_LATIN_WORD.findall(text))
    return "zh" if n_cjk / (n_cjk + n_words) >= 0.3 else "en"


# Languages the models do not read, and what gives them away. A script: kana is Japanese whatever
# kanji it holds, Hangul Korean, and so on; so are letters of the Latin alphabet that one language
# alone uses (Vietnamese's stacked accents, Turkish dotless ı and ğ, Polish ł ą ę, Czech ř ě ů),
# which no English word holds. Other Latin text: the words of data/words/other_languages.txt.
_OTHER_SCRIPTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("Japanese", re.compile(r"[\u3040-\u30ff\u31f0-\u31ff]")),
    ("Korean", re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")),
    ("Russian or another Cyrillic language", re.compile(r"[\u0400-\u04ff]")),
    ("Arabic", re.compile(r"[\u0600-\u06ff]")),
    ("Thai", re.compile(r"[\u0e00-\u0e7f]")),
    ("Hindi or another Devanagari language", re.compile(r"[\u0900-\u097f]")),
    ("Vietnamese", re.compile(r"[\u1ea0-\u1ef9\u01a0\u01a1\u01af\u01b0\u0110\u0111]")),
    ("Turkish", re.compile(r"[\u0131\u011e\u011f\u0130]")),
    ("Polish", re.compile(r"[\u0141\u0142\u0104\u0105\u0118\u0119\u015a\u015b\u0179\u017a\u017b\u017c]")),
    ("Czech", re.compile(r"[\u0158\u0159\u011a\u011b\u016e\u016f]")),
)


# Alphabets no model here reads, by the first word of their letters' Unicode names.
_ALPHABETS = frozenset(
    [
        "HEBREW",
        "GREEK",
        "ARMENIAN",
        "GEORGIAN",
        "BENGALI",
        "TAMIL",
        "TELUGU",
        "KANNADA",
        "MALAYALAM",
        "GUJARATI",
        "GURMUKHI",
        "ORIYA",
        "SINHALA",
        "KHMER",
        "LAO",
        "MYANMAR",
        "ETHIOPIC",
        "TIBETAN",
        "MONGOLIAN",
        "SYRIAC",
        "THAANA",
        "CHEROKEE",
    ]
)


@functools.cache
def _telling_words() -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    """Language name -> (its telling words, the letters it writes that English does not), from
    ``data/words/other_languages.txt`` (read once): each line ``Name: word word ... | é ç ...``."""
    out: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
    for line in read_words(WORDS_DIR / "other_languages.txt"):
        name, sep, rest = line.partition(":")
        words, _, letters = rest.partition("|")
        if not sep or not words.split():
            raise ValueError(f"other_languages.txt: expected 'Language: word word ... | letters', got {line[:60]!r}")
        out[name.strip()] = (frozenset(words.lower().split()), frozenset(letters.lower().split()))
    return out


_LETTER_RUN = re.compile(r"[^\W\d_]+")


def has_words(text: str) -> bool:
    """Whether ``text`` holds a letter, a Chinese character or a pictograph (emoji, ✓): something a
    text model can read. ``12345``, ``???`` and ``¥100`` hold none.

    Why: the classifiers answered such texts anyway (``12345`` positive at 0.80, ``???`` a customer
    praising something), and a bare number is what a chat customer sends when asked for an order.
    """
    return any(c.isalpha() or unicodedata.category(c) == "So" for c in text)


def unsupported_language(text: str) -> str | None:
    """The language a text is written in when the models cannot read it (``"Japanese"``,
    ``"Spanish"``...), or None for Chinese, English, and text with no sign of another language
    (product names, numbers, emoji).

    Why: :func:`detect_language` knows two answers, so Japanese went to the Chinese models (its
    kanji) and Spanish to the English ones, which answered with confidence ("Este producto es muy
    malo" negative 0.92 by chance, "この商品はとても良いです" negative 0.72): a classifier that cannot
    read a text must say so.
    """
    letters = sum(1 for c in text if c.isalpha())
    for name, script in _OTHER_SCRIPTS:
        # A share, not a character: Chinese reviews borrow の ("我の手机") and hold mojibake.
        n = len(script.findall(text))
        if n >= 2 and n >= 0.2 * letters:
            return name
    # Other alphabets by their Unicode name (HEBREW LETTER ALEF, GREEK SMALL LETTER ALPHA), on the
    # same share: "5Ω 10μF resistors" stays English.
    alphabets = Counter(
        first
        for c in text
        if c > "\u036f" and c.isalpha() and (first := unicodedata.name(c, "").split(" ")[0]) in _ALPHABETS
    )
    if alphabets:
        alphabet, n = alphabets.most_common(1)[0]
        if n >= 2 and n >= 0.2 * letters:
            return alphabet.title()
    words = [w.lower() for w in _LETTER_RUN.findall(text)]
    if len(words) < 2 or detect_language(text) != "en":
        return None
    english = sum(w in stop_words("en") for w in words)
    # The language's own letters (é, ß, ñ, ø) are one piece of evidence however many a text holds
    # ("Açaí bowl mix", "Crème fraîche"), and none in a text with an English function word ("The
    # crème brûlée was great"); ties go to the language with more words.
    marked = set(text.lower()) if not english else set()
    hits = {
        name: (sum(w in vocab for w in words) + bool(marked & marks), sum(w in vocab for w in words))
        for name, (vocab, marks) in _telling_words().items()
    }
    name, (best, _) = max(hits.items(), key=lambda kv: kv[1])
    return name if best >= 2 and best > english else None


# --- PII masking -------------------------------------------------------------------------------
# Numbers are found by their digits alone: letters, CJK characters or punctuation glued to them
# ("卡号6222...", "ref-4111...-", "tel138...") do not hide them.
# Order matters: an 18-digit resident ID would otherwise be taken for a card number, and a
# "+86 138-..." mobile number (13 digits with its prefix) can pass the card checksum by chance.
# Internationalised addresses too (jö@bücher.de, 用户@例子.公司): \w is Unicode-aware. In unspaced
# Chinese an address glued to the words around it (我的邮箱是abc@qq.com谢谢) is the Latin part: Chinese
# characters belong to a local part or a top-level domain only written all in them (用户@, .公司),
# so 我的邮箱是 and 谢谢 are no longer masked with it.
# The local part starts a run of its characters and is taken whole (possessive): tried from every
# position of a long word or digit run, the plain pattern rescanned the run each time, quadratic
# (a 100,000-digit text took 24 s; 2,000 characters, the API's limit, 10 ms a text).
_HAN = "\u3400-\u4dbf\u4e00-\u9fff"
_EMAIL = re.compile(
    rf"(?:(?:(?<![\w.%+-])|(?<=[{_HAN}]))(?:[^\W{_HAN}]|[.%+-])++"  # a local part without Chinese,
    rf"|(?<![\w.%+-])[{_HAN}]++)"  # or one all in Chinese
    rf"@[\w-]+(?:\.[\w-]+)*\.(?:[^\W\d_{_HAN}]{{2,}}(?![^\W\d_{_HAN}])|[{_HAN}]{{2,}})"
)
# An address spelled out against scrapers: "john dot doe at gmail dot com", "li(at)qq.com". A
# bracketed "(at)" is one whatever follows; a spelled " at " only with a spelled or bracketed "dot"
# before the top-level domain, one of the common ones, so "look at it dot by dot" and "I'm at
# walmart.com" stay.
_AT_MARKED = r"\s*[(\[{<]\s*at\s*[)\]}>]\s*"
_DOT_MARKED = r"(?:\s*[(\[{<]\s*dot\s*[)\]}>]\s*|\s+dot\s+)"
_DOT = rf"(?:{_DOT_MARKED}|\.)"
_TLD = r"(?:com|net|org|edu|gov|io|co|cn|de|uk|fr|jp|ru|info|biz|me)(?![A-Za-z0-9])"
_EMAIL_SPELLED = re.compile(
    rf"(?<![\w.%+'’-])[A-Za-z0-9_%+-]+(?:{_DOT}[A-Za-z0-9_%+-]+)*"
    rf"(?:{_AT_MARKED}[A-Za-z0-9-]+(?:{_DOT}[A-Za-z0-9-]+)*{_DOT}{_TLD}"
    rf"|\s+at\s+[A-Za-z0-9-]+(?:{_DOT}[A-Za-z0-9-]+)*{_DOT_MARKED}{_TLD})",
    re.IGNORECASE,
)
# A number read out digit by digit, against filters: "一三八一二三四五六七八", "幺三八 一二三四",
# "five five five, one two three, four five six seven". Seven digits or more (a landline without
# its area code, a mobile, a QQ number); 十, 百 and 千 are no digits, so amounts written in words stay.
_ZH_DIGIT = "[零〇一二三四五六七八九幺两]"
_EN_DIGIT = r"(?:zero|oh|one|two|three|four|five|six|seven|eight|nine)"
_SPELLED_DIGITS = re.compile(
    rf"{_ZH_DIGIT}(?:[ \t-]?{_ZH_DIGIT}){{6,}}"
    rf"|(?<![A-Za-z]){_EN_DIGIT}(?:(?:[ \t-]|,\s?){_EN_DIGIT}){{6,}}(?![A-Za-z])",
    re.IGNORECASE,
)
# 17 digits (region, birth date, sequence) and a check character: a digit or X.
_CN_ID = re.compile(r"(?<!\d)[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}(?:\d(?!\d)|[Xx])")
_CN_MOBILE = re.compile(r"(?<![\d+])(?:(?:\+|00)?86[ .-]?)?1[3-9]\d(?:[ .-]?\d{4}){2}(?!\d)")
# Grouped numbers ("(415) 555-2671", "+44 20 7946 0958"), or "+" and 8-15 digits (E.164). A
# hyphen or dot and more digits on either side make it part of a longer number (an order number
# "1234-5678-9012-3456"); a space does not ("call 415-555-2671 2 times").
_PHONE = re.compile(
    r"(?<![\d+])(?<!\d[.-])"
    r"(?:(?:(?:\+|00)\d{1,3}[ .-]?|1[ .-])?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]?\d{3,4}"
    r"|\+\d(?:[ .-]?\d){7,14})(?!\d)(?![.-]\d)"
)
# Numbers the text itself names: right after a word that says what the number is, with an
# optional "number", "is", "是", ":" between. Masked whatever their checksum or grouping, since a
# mistyped card number is still a card number and "phone 5551234567" is still a phone number.
# The number must follow the cue at once, so "call about order 12345678" keeps its order number.
_CUE_TAIL = r"(?:\s*(?:number|no\.?|num|#|号码?|is|是|为|[:：])){0,3}\s*"  # "号码是：", "number is:"
_CUED_NUMBERS = (
    # Cards and bank accounts: 12-19 digits in groups.
    (
        re.compile(
            r"(?:卡号|银行卡|信用卡|储蓄卡|借记卡|银行[账帐][号户]|[账帐]号|\b(?:card|account|acct)\b)"
            + _CUE_TAIL
            + r"(?P<number>(?<![\d+])\d(?:[ -]?\d){11,18})(?!\d)",
            re.IGNORECASE,
        ),
        "<CARD>",
    ),
    # A card's security code: what a card-not-present payment needs beside the number, which no
    # one may store ("4111... exp 12/27 cvv 123"). An expiry date alone is left: food is
    # reviewed by its own ("expiry date 05/2026 is too close").
    (
        re.compile(
            r"(?:安全码|卡背后三位|\b(?:cvv2?|cvc2?|csc|security\s+code)\b)"
            + _CUE_TAIL
            + r"(?P<number>(?<!\d)\d{3,4})(?!\d)",
            re.IGNORECASE,
        ),
        "<CARD>",
    ),
    # One-time codes: whoever holds one can log in or pay as the customer.
    (
        re.compile(
            r"(?:验证码|动态码|\b(?:otp|one[-\s]time\s+(?:code|password|pin)|verification\s+code|pin)\b)"
            + _CUE_TAIL
            + r"(?P<number>(?<![\d])\d{4,8})(?!\d)",
            re.IGNORECASE,
        ),
        "<ID>",
    ),
    # Identity documents: letters and digits of an SSN, passport or resident ID.
    (
        re.compile(
            r"(?:身份证|护照|\b(?:ssn|social\s+security|passport|id\s+card)\b)"
            + _CUE_TAIL
            + r"(?P<number>(?<![\dA-Za-z])[A-Za-z]{0,2}\d(?:[ -]?\d){5,17}[Xx]?)(?![\dA-Za-z])",
            re.IGNORECASE,
        ),
        "<ID>",
    ),
    # Phones and messenger numbers: 6-15 digits.
    (
        re.compile(
            r"(?:电话|手机|座机|联系方式|QQ|微信|\b(?:phone|tel|telephone|mobile|cell|whatsapp|call\s+me(?:\s+(?:at|on))?"
            r"|text\s+me\s+(?:at|on)|reach\s+me\s+(?:at|on))\b)"
            + _CUE_TAIL
            + r"(?P<number>(?<![\d+])\+?\d(?:[ .-]?\d){5,14})(?!\d)",
            re.IGNORECASE,
        ),
        "<PHONE>",
    ),
    # A WeChat ID: 6-20 letters, digits, "_" or "-" from a letter on, with a digit, "_" or "-" in it
    # ("wxid_abc123", "zhang_san88"), so "wechat support" stays.
    (
        re.compile(
            r"(?:微信号?|\b(?:wechat|weixin|vx|wx)(?:\s*id)?\b)"
            + _CUE_TAIL
            + r"(?P<number>(?<![-\w])[A-Za-z](?=[A-Za-z]*[\d_-])[-\w]{5,19})(?![-\w])",
            re.IGNORECASE | re.ASCII,
        ),
        "<PHONE>",
    ),
)
# Digit groups with one space, hyphen or dot between them: "4111 1111-1111.1111", "12.5".
_DIGIT_RUN = re.compile(r"\d+(?:[ .-]\d+)*")
_DIGIT_GROUP = re.compile(r"\d+")
CARD_DIGITS = (13, 19)  # card number lengths (ISO/IEC 7812), digits

Span = tuple[int, int, str]  # [start, end) of a text and the placeholder that replaces it
# mask_pii's placeholders, then those of names and street addresses (found by mining.slots).
NAME_PLACEHOLDER, ADDRESS_PLACEHOLDER = "<NAME>", "<ADDRESS>"
PLACEHOLDERS = ("<EMAIL>", "<ID>", "<CARD>", "<PHONE>", NAME_PLACEHOLDER, ADDRESS_PLACEHOLDER)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_spans(text: str) -> list[Span]:
    """Card numbers in ``text``: per digit run (:data:`_DIGIT_RUN`), every window of whole,
    consecutive groups with 13-19 digits in all that passes the Luhn check; overlapping windows
    are masked as one.

    Whole groups only, so a group of 20 or more digits is never a card, nor is any part of it: a
    long order or tracking number stays. Windows, not the whole run, so a card followed by a
    quantity or a date ("4111 1111 1111 1111 2 pcs") is still found. Luhn-invalid numbers of any
    length stay (order numbers are read downstream); about one in ten 13-19 digit numbers passes
    the check by chance and is masked, which is the safe side.
    """
    lo, hi = CARD_DIGITS
    out: list[Span] = []
    for run in _DIGIT_RUN.finditer(text):
        if sum(ch.isdigit() for ch in run.group()) < lo:
            continue
        groups = [
            (run.start() + g.start(), run.start() + g.end(), g.group()) for g in _DIGIT_GROUP.finditer(run.group())
        ]
        first: int | None = None  # group span of the card being merged: [first, last]
        last = -1
        for i in range(len(groups)):
            digits = ""
            for j in range(i, len(groups)):
                digits += groups[j][2]
                if len(digits) > hi:
                    break
                if len(digits) >= lo and _luhn_ok(digits):
                    if first is not None and i > last:  # no overlap with the open card: close it
                        out.append((groups[first][0], groups[last][1], "<CARD>"))
                        first = None
                    if first is None:
                        first = i
                    last = max(last, j)
        if first is not None:
            out.append((groups[first][0], groups[last][1], "<CARD>"))
    return out


def _pattern_spans(pattern: re.Pattern[str], placeholder: str) -> Callable[[str], list[Span]]:
    return lambda text: [(m.start(), m.end(), placeholder) for m in pattern.finditer(text)]


def _cued_spans(text: str) -> list[Span]:
    """Numbers right after a word that names them (:data:`_CUED_NUMBERS`), in text order, the
    first cue's reading where two overlap. Traditional cue words (卡號, 電話) read as Simplified."""
    read = as_simplified(text)
    found = sorted(
        (m.start("number"), m.end("number"), placeholder)
        for pattern, placeholder in _CUED_NUMBERS
        for m in pattern.finditer(read)
    )
    out: list[Span] = []
    for span in found:
        if not out or span[0] >= out[-1][1]:
            out.append(span)
    return out


# A word that names the number after it as the shop's own: an order, invoice or parcel number.
_SHOP_NUMBER_CUE = re.compile(
    r"(?:订单编号|订单号|订单|单号|发票号码?|\b(?:order|purchase|invoice|tracking|waybill)\b)" + _CUE_TAIL + r"#?$",
    re.IGNORECASE,
)


def _phone_spans(text: str) -> list[Span]:
    """Grouped numbers read as phone numbers (:data:`_PHONE`), except right after a word that names
    them the shop's own: ``order 2023-1205-8871`` and ``订单号：123-4567-8901`` are order numbers the
    agent needs. Chinese mobile numbers, card numbers and numbers cued as phones are masked by the
    steps before this one, whatever word comes first."""
    read = as_simplified(text)
    return [
        (m.start(), m.end(), "<PHONE>")
        for m in _PHONE.finditer(text)
        if not _SHOP_NUMBER_CUE.search(read[max(0, m.start() - 32) : m.start()])
    ]


# A bank account as an IBAN: country, two check digits, 11-30 capitals or digits, printed in groups
# of four or run together ("DE89 3704 0044 0532 0130 00"). Without it the phone step took its first
# groups and left the rest of the account number in the text. Capitals and the countries that issue
# IBANs only: a product code glued to a word ("Yy4493584200935315b") passes the check 1 time in 97.
_IBAN_COUNTRIES = (
    "AD|AE|AL|AT|AZ|BA|BE|BG|BH|BI|BR|BY|CH|CR|CY|CZ|DE|DJ|DK|DO|EE|EG|ES|FI|FK|FO|FR|GB|GE|GI|"
    "GL|GR|GT|HN|HR|HU|IE|IL|IQ|IS|IT|JO|KW|KZ|LB|LC|LI|LT|LU|LV|LY|MC|MD|ME|MK|MN|MR|MT|MU|NI|"
    "NL|NO|OM|PK|PL|PS|PT|QA|RO|RS|RU|SA|SC|SD|SE|SI|SK|SM|SO|ST|SV|TL|TN|TR|UA|VA|VG|XK|YE"
)
_IBAN = re.compile(rf"(?<![A-Za-z0-9])(?:{_IBAN_COUNTRIES})\d{{2}}(?: ?[A-Z0-9]){{11,30}}(?![A-Za-z0-9])")
IBAN_CHARS = (15, 34)  # an IBAN's length without spaces (ISO 13616), characters


def _iban_ok(compact: str) -> bool:
    """ISO 13616's check: the first four characters moved to the end, letters read as 10-35, is 1 mod 97."""
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


def _iban_spans(text: str) -> list[Span]:
    """IBANs in ``text``: of each candidate run, the longest prefix ending at a group's end (a space
    or the run's end) that is 15-34 characters long and passes the mod-97 check, so words in capitals
    after an account number ("... 0130 00 ASAP") are not taken with it, and a number that fails the
    check (about 1 in 97 random ones pass) stays."""
    lo, hi = IBAN_CHARS
    out: list[Span] = []
    for m in _IBAN.finditer(text):
        run = m.group()
        ends = [len(run)] + [k for k in range(len(run) - 1, 0, -1) if run[k] == " "]
        for end in ends:
            compact = run[:end].replace(" ", "")
            if lo <= len(compact) <= hi and _iban_ok(compact):
                out.append((m.start(), m.start() + end, "<CARD>"))
                break
    return out


# Each step sees the text with the earlier steps' placeholders in it.
_STEPS = (
    _pattern_spans(_EMAIL, "<EMAIL>"),
    _pattern_spans(_EMAIL_SPELLED, "<EMAIL>"),
    _pattern_spans(_SPELLED_DIGITS, "<PHONE>"),
    _iban_spans,
    _cued_spans,
    _pattern_spans(_CN_ID, "<ID>"),
    _pattern_spans(_CN_MOBILE, "<PHONE>"),
    _card_spans,
    _phone_spans,
)


def _mask(text: str, src: list[tuple[int, int]] | None) -> tuple[str, list[tuple[int, int]] | None]:
    """:func:`mask_pii` of ``text``, carrying per-character source ranges along when given."""
    for step in _STEPS:
        spans = step(text)
        if not spans:
            continue
        parts: list[str] = []
        new_src: list[tuple[int, int]] = []
        pos = 0
        for s, e, placeholder in spans:
            parts += [text[pos:s], placeholder]
            if src is not None:
                # Every placeholder character stands for the whole masked input range.
                new_src += [*src[pos:s], *[(src[s][0], src[e - 1][1])] * len(placeholder)]
            pos = e
        parts.append(text[pos:])
        if src is not None:
            src = new_src + src[pos:]
        text = "".join(parts)
    return text, src


def mask_pii(text: str) -> str:
    """Replace e-mail addresses, phone numbers, card numbers and Chinese resident IDs by placeholders.

    Placeholders are ``<EMAIL>``, ``<ID>``, ``<CARD>`` and ``<PHONE>``. Applied before any customer
    text is logged or stored; the models never need these values to judge a text. Numbers are
    masked whatever they are glued to (letters, CJK, punctuation); card numbers follow
    :func:`_card_spans` (13-19 digits, Luhn-valid, no part of a longer digit group) and so is a
    bank account written as an IBAN (:func:`_iban_spans`, mod-97-valid); a number
    right after a word that names it is masked whatever its form (:data:`_CUED_NUMBERS`: ``卡号``,
    ``card number``, ``账号``; ``身份证``, ``passport``, ``SSN``; ``电话``, ``QQ``, ``phone``), and a
    grouped number right after an order, invoice or tracking word is kept (:func:`_phone_spans`).
    Forms written against filters count too: an e-mail address spelled out (``john dot doe at gmail
    dot com``, :data:`_EMAIL_SPELLED`) and seven or more digits read out one by one
    (``一三八一二三四五六七八``, ``five five five ...``, :data:`_SPELLED_DIGITS`).
    """
    return _mask(text, None)[0]


def mask_pii_with_offsets(text: str, src: list[tuple[int, int]]) -> tuple[str, list[tuple[int, int]]]:
    """:func:`mask_pii` of ``text``, and ``src`` (one ``(start, end)`` range of some original per
    character of ``text``) carried onto the masked text: each placeholder character maps to the
    whole range it masks."""
    masked, masked_src = _mask(text, src)
    assert masked_src is not None
    return masked, masked_src


def clean(text: str) -> str:
    """What every model sees: :func:`normalize`, then :func:`mask_pii`. Applied identically in
    training and serving, so no vocabulary or weight file can hold a customer's e-mail or number."""
    return mask_pii(normalize(text))


def clean_with_offsets(text: str) -> tuple[str, list[tuple[int, int]]]:
    """:func:`clean`, and where each output character came from in the input (as
    :func:`normalize_with_offsets`): for extractors that must not see personal data yet report
    offsets into the text they were sent.

    Each character of a placeholder maps to the whole input range it masks, so a span over a
    placeholder maps back onto the personal data: take an entity's text from the cleaned text,
    never by slicing the input.

    Returns:
        (cleaned text of length m, m pairs ``(start, end)`` into ``text``, end exclusive).
    """
    return mask_pii_with_offsets(*normalize_with_offsets(text))


# --- Tokenisation ------------------------------------------------------------------------------
# A word is a run of letters of any alphabet: an English text's café, Pokémon and Nestlé had come
# out as caf, pok + mon and nestl (the accented letter a token of its own), keywords among them.
_WORD = re.compile(r"[^\W\d_]+(?:'[a-z]+)?|\d+(?:\.\d+)?|[^\sA-Za-z\d]")


# jieba joins these degree adverbs to the adjective they grade (很甜, 挺沉, 蛮大): a Chinese word that
# opens with one is a judgement, not a name (aspect spans, keywords).
ZH_DEGREE_HEADS = "很挺蛮"


def join_words(words: Sequence[str], lang: Lang | str) -> str:
    """Segmented words written back as one phrase: without spaces in Chinese, with one in English."""
    return ("" if lang == "zh" else " ").join(words)


def segment_words(text: str, lang: Lang) -> list[str]:
    """Words of a normalised, lower-cased text: jieba for Chinese, a regex for English.

    In Chinese text, Latin runs and numbers come out as single words too (jieba keeps them whole).
    """
    if lang == "zh":
        import jieba  # imported lazily: loading its dictionary takes ~1 s

        return [w for w in jieba.lcut(text) if not w.isspace()]
    return _WORD.findall(text)


def hashed_ngrams(text: str, words: Sequence[str], n_buckets: int, char_orders: Iterable[int] = (1, 2, 3)) -> list[int]:
    """Bucket ids of a text's character n-grams and words, by CRC32 hashing.

    Hashing keeps the feature space fixed (``n_buckets``) so a model trained on one corpus takes any
    text at serving time without a vocabulary file; collisions cost little at 2**20 buckets.

    Returns:
        a list of ints in ``[0, n_buckets)``; at least one element (bucket 0 for an empty text).
    """
    grams = [text[i : i + n] for n in char_orders for i in range(len(text) - n + 1)]
    grams += ["\x01" + w for w in words]  # a prefix no character n-gram can start with
    return [zlib.crc32(g.encode()) % n_buckets for g in grams] or [0]


class Vocab:
    """Token <-> id map with ``<pad>`` = 0 and ``<unk>`` = 1. Serialises to a plain list of tokens."""

    PAD, UNK = 0, 1

    def __init__(self, tokens: Sequence[str]) -> None:
        if list(tokens[:2]) != ["<pad>", "<unk>"]:
            raise ValueError(f"a vocab starts with ['<pad>', '<unk>'], got {list(tokens[:2])}")
        self.tokens = list(tokens)
        self.index = {t: i for i, t in enumerate(self.tokens)}

    @classmethod
    def build(cls, sequences: Iterable[Iterable[str]], min_count: int = 2, max_size: int | None = None) -> Vocab:
        """Tokens seen at least ``min_count`` times, most frequent first, capped at ``max_size``."""
        counts = Counter(tok for seq in sequences for tok in seq)
        kept = [t for t, c in counts.most_common(max_size) if c >= min_count]
        return cls(["<pad>", "<unk>", *kept])

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        return [self.index.get(t, self.UNK) for t in tokens]


def span_between(breaks: re.Pattern[str], text: str, start: int, end: int, keep_end: bool) -> tuple[int, int]:
    """[begin, finish) around ``text[start:end]`` between the nearest matches of ``breaks`` (a
    sentence's or a clause's ends); the closing match inside with ``keep_end``."""
    begin, finish = 0, len(text)
    for m in breaks.finditer(text):
        if m.end() <= start:
            begin = m.end()
        elif m.start() >= end:
            finish = m.end() if keep_end else m.start()
            break
    return begin, finish
