"""Rule labels for product-title NER: BRAND, CATEGORY, SIZE, CAPACITY, COUNT, RESOLUTION, MODEL.

No hand-annotated product NER data exists for this catalogue, so labels come from rules derived
from the catalogue itself:

- BRAND: the lexicon of every title's first word (the catalogue files titles as "<Brand> ..."),
  minus product-line words that are not brands (MacBook, iPad, ...), plus the multi-word brands and
  the component makers the titles name (Apple, Intel, AMD, ...). Matched as whole words,
  case-insensitively when the title writes the word capitalised or in capitals.
- CATEGORY: a lexicon of product-type head nouns taken from the catalogue's sub-categories.
- SIZE / CAPACITY / COUNT / RESOLUTION / MODEL: regular expressions (65", 512GB, 4-pack, 1080p,
  QN90C).

The rules see the whole catalogue, which is fine for making labels; a model trained on them is
evaluated on titles whose brands it never saw, so it is scored on generalising, not on memory. Its
test F1 is agreement with these rules, not with annotators: the model's store metadata says so
(``data.label_source: rules``), and a number beside gold-label scores must carry that note.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

NOT_BRANDS = {
    "MacBook",
    "iPad",
    "iMac",
    "Mac",
    "AirPods",
    "HomePod",
    "Chromecast",
    "CHARGE",
    "My",
    "$100",
    "$200",
    "Precision",
    "Bowers",
    "Singing",
    "Feit",
    "ION",
    "MW",
}
MULTI_WORD_BRANDS = (
    "Bowers & Wilkins",
    "Singing Machine",
    "Feit Electric",
    "My Arcade",
    "ION Audio",
    "Precision Pro",
    "MW Mounts",
)
EXTRA_BRANDS = ("Apple", "Google", "Nintendo", "Sony", "Microsoft", "Intel", "AMD", "NVIDIA", "Atari", "Amazon", "JBL")

CATEGORIES = (
    "gaming desktop",
    "gaming laptop",
    "gaming tower",
    "mini pc",
    "tower",
    "all-in-one",
    "laptop",
    "notebook",
    "desktop",
    "chromebook",
    "monitor",
    "tv",
    "television",
    "projector",
    "soundbar",
    "sound bar",
    "subwoofer",
    "speaker",
    "headphones",
    "earbuds",
    "earphones",
    "smart watch",
    "watch",
    "tablet",
    "camera",
    "camcorder",
    "security system",
    "doorbell",
    "floodlight",
    "nvr",
    "router",
    "mesh system",
    "modem",
    "extender",
    "thermostat",
    "smart plug",
    "bulb",
    "dimmer",
    "light",
    "lock",
    "sensor",
    "console",
    "controller",
    "gift card",
    "keyboard",
    "mouse",
    "piano",
    "drum kit",
    "guitar",
    "karaoke machine",
    "karaoke system",
    "battery",
    "batteries",
    "ssd",
    "hard drive",
    "memory card",
    "flash drive",
    "power station",
    "phone",
    "radio",
    "mount",
    "receiver",
    "drone",
    "microphone",
    "amplifier",
    "switch",
)

_NUM = r"\d+(?:\.\d+)?"
PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("SIZE", re.compile(rf"(?<![\w.]){_NUM}\s?(?:\"|”|''|-inch\b| inch\b|-in(?![\w-]))|\(\d+-inch\)")),
    ("CAPACITY", re.compile(rf"(?<![\w.]){_NUM}\s?(?:GB|TB|MB|mAh|Wh|cu\. ?ft\.)(?!\w)")),
    ("RESOLUTION", re.compile(r"(?<![\w.])(?:[2458]K\+?|\d{3,4}[pP]|\d{3,4} ?[xX] ?\d{3,4}|\d+MP)(?![\w])")),
    ("COUNT", re.compile(r"(?<![\w.])\d+[- ](?:pack|Pack|count|Count|piece|Piece|pk|ct)\b")),
)
# Letters and digits mixed in one word: QN90C, i7-1360P, HW-B57C. Ordinals (13th), durations and
# counts written as number-hyphen-word (3-Year, 8-core, 2-in-1) are not model numbers.
_MODEL = re.compile(r"(?<![\w.-])(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*(?![\w-])")
_NOT_MODEL = re.compile(r"^\d+(?:st|nd|rd|th)$|^\d+(?:-[A-Za-z]+)+$|^\d+-in-\d+$")


def brand_lexicon(titles: Iterable[str]) -> list[str]:
    """Brands of a catalogue: title-initial words (minus :data:`NOT_BRANDS`), multi-word brands,
    and :data:`EXTRA_BRANDS`; longest first so multi-word brands win."""
    firsts = {t.split()[0] for t in titles if t.split()}
    brands = {b for b in firsts if b not in NOT_BRANDS and any(c.isalpha() for c in b)}
    brands |= set(MULTI_WORD_BRANDS) | set(EXTRA_BRANDS)
    return sorted(brands, key=lambda b: (-len(b), b))


def _word_pattern(words: Iterable[str], plural: bool) -> re.Pattern[str]:
    alts = "|".join(re.escape(w) + ("(?:s|es)?" if plural else "") for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<![\w&-])(?:{alts})(?![\w&-])", re.IGNORECASE)


class ProductLabeler:
    """Char spans (type, start, end-exclusive) of a title by the rules above; no overlaps, the
    earlier rule wins (BRAND, SIZE, CAPACITY, RESOLUTION, COUNT, CATEGORY, MODEL)."""

    def __init__(self, titles: Iterable[str]) -> None:
        self.brands = brand_lexicon(titles)
        self._brand = _word_pattern(self.brands, plural=False)
        self._category = _word_pattern(CATEGORIES, plural=True)

    def spans(self, title: str) -> list[tuple[str, int, int]]:
        taken = [False] * len(title)
        out: list[tuple[str, int, int]] = []

        def add(etype: str, start: int, end: int) -> None:
            if not any(taken[start:end]):
                taken[start:end] = [True] * (end - start)
                out.append((etype, start, end))

        for m in self._brand.finditer(title):
            if m.group()[0].isupper() or m.group() in self.brands:  # "ring the bell" is not Ring
                add("BRAND", m.start(), m.end())
        for etype, pattern in PATTERNS:
            for m in pattern.finditer(title):
                add(etype, m.start(), m.end())
        for m in self._category.finditer(title):
            add("CATEGORY", m.start(), m.end())
        for m in _MODEL.finditer(title):
            if len(m.group()) >= 3 and not _NOT_MODEL.match(m.group()):
                add("MODEL", m.start(), m.end())
        return sorted(out, key=lambda s: s[1])
