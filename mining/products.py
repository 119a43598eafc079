"""Chinese product types named in a text (手机, 电热水器, 蓝牙耳机), from a word list.

The list (``data/words/product_types_zh.txt``) holds kinds of goods a shop sells; users extend it
with their own file of the same format (``DEMAND_MINING_PRODUCT_TYPES``). It is the dictionary
beside the Chinese product tagger (``ner-products-zh``), which finds types the list lacks, and the
source of that tagger's training labels (``training.data.product_ner_zh_table``).

Matching rules, each because a bare substring match named non-products:
- longest entry first (蓝牙耳机, not 耳机);
- a one-character type (书, 鞋, 膜) counts only after a measure word, a demonstrative, 的 or a
  verb of buying or reading (这本书, 一双鞋, 买的书, 看书), or before 的 or a degree word (书很好):
  elsewhere it is mostly part of another word (证书, 书记, 书店);
- a match followed by a word that makes it something else is skipped: 手机号 (a number), 电视剧
  and 电视台 (programmes, stations), 电脑城 and 书店 (places), 牛奶味 (a flavour).
Offsets index the text exactly as sent (matching runs on the normalised text and maps back).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mining.files import read_text
from mining.text import normalize_with_offsets
from mining.wordlists import WORDS_DIR

BUILT_IN = WORDS_DIR / "product_types_zh.txt"
# Before a one-character type: a measure word, a demonstrative, 的, a verb of buying or reading;
# after it: 的 or a degree word.
_BEFORE_SHORT = "本部台件双条只个款把盏套张瓶盒袋箱斤支片罐桶颗" + "这那此该每" + "的" + "买卖送购订看读荐贴"
_AFTER_SHORT = "的很太挺真"
# After a type, a word that turns it into a non-product (手机号, 电视剧, 电脑城, 牛奶味 but not 牛奶味道);
# regular expressions.
_NOT_AFTER = ("号", "剧", "台", "城", "店", "厂", "味(?!道)", "商", "节目", "频道", "市场", "行业", "卖场")


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
        words = [w for line in read_text(path).splitlines() if (w := line.strip()) and not w.startswith("#")]
        if not words:
            raise ValueError(f"{path}: product types list has no entry (one type a line, # for comments)")
        out += words
    return out


class ProductTypes:
    """The product-type list as a matcher. Build it with :meth:`load` or from words."""

    def __init__(self, words: Iterable[str]) -> None:
        forms = sorted({w.strip() for w in words if w.strip()}, key=lambda w: (-len(w), w))
        self.words = frozenset(forms)
        long_forms = [re.escape(w) for w in forms if len(w) > 1]
        short = "".join(re.escape(w) for w in forms if len(w) == 1)
        not_after = "|".join(_NOT_AFTER)
        parts = [f"(?:{'|'.join(long_forms)})"] if long_forms else []
        if short:
            # Lookarounds, so the span is the type alone (这本书 -> 书).
            parts.append(f"(?:(?<=[{_BEFORE_SHORT}])[{short}]|[{short}](?=[{_AFTER_SHORT}]))")
        self._pattern = re.compile(f"(?:{'|'.join(parts)})(?!{not_after})") if parts else None

    @classmethod
    def load(cls, *paths: str | Path) -> ProductTypes:
        """The matcher of the word lists ``paths`` (the built-in list when none is given)."""
        return cls(read_types(*(paths or (BUILT_IN,))))

    def find(self, text: str) -> list[ProductMention]:
        """Every product type named in ``text``, non-overlapping (longest first), in text order."""
        if self._pattern is None or not text:
            return []
        norm, src = normalize_with_offsets(text)
        out = []
        for m in self._pattern.finditer(norm):
            start, end = src[m.start()][0], src[m.end() - 1][1]
            out.append(ProductMention(text[start:end], start, end))
        return out
