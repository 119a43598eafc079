"""Product types named in a text (手机, 电热水器, 蓝牙耳机; blender, dog food), from word lists.

One list per language (``data/words/product_types_zh.txt``, ``product_types_en.txt``) holds kinds
of goods a shop sells; users extend them with their own files of the same format
(``DEMAND_MINING_PRODUCT_TYPES``: an entry with a Chinese character goes to the Chinese matcher,
one without to both, MP3 being MP3 in either). The NER runner serves them beside the brands table
(CATEGORY entities); the Chinese list also labels the training data of the Chinese product tagger
that was tried (``training.data.product_ner_zh_table``, not served:
docs/training.md#brands-and-attributes).

English entries are singular; each also matches its plural (laptop -> laptops, battery ->
batteries, dress -> dresses), as whole words in any case, and not before a word that makes it
something else (phone number, coffee shop, TV show).

Chinese matching rules, each because a bare substring match named non-products:
- entries and text are compared normalised (:func:`mining.text.normalize`: full-width, Traditional
  characters), Latin letters in any case, an entry that starts or ends with a Latin letter or digit
  only as a whole word (sim卡 is SIM卡, AMP3 holds no MP3);
- longest entry first (蓝牙耳机, not 耳机);
- a one-character type (书, 鞋, 膜) counts only after a measure word, a demonstrative, 的 or a
  verb of buying or reading (这本书, 一双鞋, 买的书, 看书), or, not preceded by another Chinese
  character, before 的 or a degree word (书很好): elsewhere it is mostly part of another word
  (证书, 秘书, 火锅, 起床);
- a match followed by a word that makes it something else is skipped, and no shorter entry is
  tried in its place: 手机号 (a number; but 鞋子号码偏小 is a shoe size), 电视剧 and 电视台
  (programmes, stations), 电脑城 and 书店 (places), 牛奶味 (a flavour; but 牛奶味道 is the milk's
  taste), 咖啡色 (a colour), 面包车 (a van), 手机银行 and 手机版 (services, editions).
Offsets index the text exactly as sent (matching runs on the normalised text and maps back).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mining.text import normalize, normalize_with_offsets
from mining.wordlists import WORDS_DIR, read_words

BUILT_IN = {lang: WORDS_DIR / f"product_types_{lang}.txt" for lang in ("zh", "en")}
# Before a one-character type: a measure word, a demonstrative, 的, a verb of buying or reading;
# after it: 的 or a degree word.
_BEFORE_SHORT = "本部台件双条只个款把盏套张瓶盒袋箱斤支片罐桶颗" + "这那此该每" + "的" + "买卖送购订看读荐贴"
_AFTER_SHORT = "的很太挺真"
# A type right before a masked phone number says what the number is (phone <PHONE>, 手机：<PHONE>):
# no product the customer writes about. Read in the text as given (normalising drops the mask).
_BEFORE_PHONE = re.compile(r"\s*[:：]?\s*<PHONE>")
# After a type, a word that turns it into something else; regular expressions.
_NOT_AFTER = (
    "号(?!码?[偏正大小合])",  # 手机号 is a number; 鞋子号码偏小 is the shoe's size
    "剧",
    "台(?!湾)",
    "城",
    "店",
    "厂(?!家)",
    "味(?!道)",
    "商(?!家|品)",
    "色",
    "车",
    "园",
    "蛋",
    "支撑",
    "银行",
    "版",
    "视频",
    "节目",
    "频道",
    "市场",
    "行业",
    "卖场",
    "tv",
)
# After an English type: a word that makes it something else (phone number, coffee shop, TV show).
_NOT_AFTER_EN = r"\s+(?:number|numbers|shop|shops|store|stores|show|shows|series|call|calls|station|channel|company)\b"
_CJK = "\u3400-\u9fff"
_HAS_CJK = re.compile(f"[{_CJK}]")
_LATIN_OR_DIGIT = re.compile(r"[A-Za-z0-9]")


@dataclass(frozen=True)
class ProductMention:
    """A product type named by ``text == input[start:end]``."""

    text: str
    start: int
    end: int


def read_types(*paths: str | Path) -> list[str]:
    """The entries of product-type word lists: one a line, ``#`` starts a comment line (UTF-8,
    UTF-16 or GB18030). Raises ``ValueError`` naming a file without any entry."""
    out: list[str] = []
    for path in paths:
        words = read_words(path)
        if not words:
            raise ValueError(f"{path}: product types list has no entry (one type a line, # for comments)")
        out += words
    return out


class ProductTypes:
    """One language's product-type list as a matcher: :meth:`load`, or from words and ``lang`` (zh, en)."""

    def __init__(self, words: Iterable[str], lang: str = "zh") -> None:
        forms = {normalize(w.strip()) for w in words if w.strip()} - {""}
        if lang == "en":
            forms = {f.lower() for f in forms if not _HAS_CJK.search(f)}
            forms |= {plural(f) for f in forms}
        ordered = sorted(forms, key=lambda w: (-len(w), w))
        self.words = frozenset(ordered)
        long_forms = [_whole(w) for w in ordered if len(w) > 1]
        short = "".join(re.escape(w) for w in ordered if len(w) == 1 and _HAS_CJK.match(w))
        parts = ["|".join(long_forms)] if long_forms else []
        if short:
            # Lookarounds, so the span is the type alone (这本书 -> 书).
            parts.append(f"(?<=[{_BEFORE_SHORT}])[{short}]|(?<![{_CJK}])[{short}](?=[{_AFTER_SHORT}])")
        not_after = _NOT_AFTER_EN if lang == "en" else "|".join(_NOT_AFTER)
        # Atomic: a longest match the next word rejects is not replaced by a shorter entry (手机壳店
        # names no 手机).
        self._pattern = re.compile(f"(?>{'|'.join(parts)})(?!{not_after})", re.IGNORECASE) if parts else None

    @classmethod
    def load(cls, lang: str, *paths: str | Path) -> ProductTypes:
        """The matcher of ``lang`` (``zh`` or ``en``): its built-in list plus the users' lists
        ``paths`` (their entries of that language)."""
        if lang not in BUILT_IN:
            raise ValueError(f"no product-type list for language {lang!r}; lists exist for {sorted(BUILT_IN)}")
        return cls(read_types(BUILT_IN[lang], *paths), lang)

    def find(self, text: str) -> list[ProductMention]:
        """Every product type named in ``text``, non-overlapping (longest first), in text order;
        not one that introduces a masked phone number (``my phone: <PHONE>``)."""
        if self._pattern is None or not text:
            return []
        norm, src = normalize_with_offsets(text)
        out = []
        for m in self._pattern.finditer(norm):
            start, end = src[m.start()][0], src[m.end() - 1][1]
            if not _BEFORE_PHONE.match(text, end):
                out.append(ProductMention(text[start:end], start, end))
        return out


def _whole(word: str) -> str:
    """``word`` as a pattern; a Latin letter or digit at either end must not continue a longer word."""
    out = re.escape(word)
    if _LATIN_OR_DIGIT.match(word[0]):
        out = f"(?<![A-Za-z0-9]){out}"
    if _LATIN_OR_DIGIT.match(word[-1]):
        out = f"{out}(?![A-Za-z0-9])"
    return out


def plural(word: str) -> str:
    """The English plural of a singular entry, its last word inflected: box -> boxes, battery ->
    batteries, dog treat -> dog treats. Irregular plurals go in the list as entries of their own."""
    if re.search(r"(?:s|x|z|ch|sh)$", word):
        return word + "es"
    if re.search(r"[^aeiou]y$", word):
        return word[:-1] + "ies"
    return word + "s"
