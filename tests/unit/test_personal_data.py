"""Names and street addresses in what is kept, and offsets back onto the text as sent, by brute
force: random messages built from known personal and non-personal pieces, glued with the
characters that break rules (zero-width spaces, emoji, full-width punctuation, phone numbers)."""

from __future__ import annotations

import random

from mining.contracts import item_text, item_text_with_offsets
from mining.slots import mask_personal
from mining.text import PLACEHOLDERS

# (piece, the personal part it holds): each piece states its personal part with a cue the rules know.
PERSONAL = [
    ("我叫张伟", "张伟"),
    ("收件人：王小明", "王小明"),
    ("请联系欧阳娜娜。", "欧阳娜娜"),
    ("寄到北京市朝阳区建国路88号3号楼2单元501室", "建国路88号"),
    ("地址改成上海市浦东新区张江路1000弄5号楼302室", "张江路1000弄"),
    ("my name is John Smith.", "John Smith"),
    ("please ask Maria Garcia.", "Maria Garcia"),
    ("ship to 42 Baker Street.", "42 Baker Street"),
    ("Mr. Jones called.", "Jones"),
]
PLAIN = ["华为手机坏了", "订单号20231105889", "退款到哪了？", "the Sony TV broke", "battery 5000mAh", "谢谢", "ok"]
GLUE = [" ", "，", "。", "\u200b", "😀", "tel 13812345678 ", "！", "\n", "4111 1111 1111 1111 "]


def _message(rng: random.Random) -> tuple[str, list[str], list[str]]:
    pieces, secrets, kept = [], [], []
    for _ in range(rng.randint(1, 4)):
        if rng.random() < 0.5:
            piece, secret = rng.choice(PERSONAL)
            secrets.append(secret)
        else:
            piece = rng.choice(PLAIN)
            kept.append(piece)
        pieces.append(piece)
    return "".join(p + rng.choice(GLUE) for p in pieces), secrets, kept


def test_cued_names_and_addresses_never_survive_and_the_rest_does() -> None:
    rng = random.Random(7)
    for _ in range(400):
        text, secrets, kept = _message(rng)
        masked = mask_personal(text)
        assert [s for s in secrets if s in masked] == [], (text, masked)
        # a plain piece may lose a word to a neighbouring address or name, never to nothing
        assert all(p in masked for p in kept if p.isascii() and " " not in p), (text, masked)
        assert mask_personal(masked) == masked  # masking twice changes nothing


def test_what_the_runners_see_maps_back_onto_the_text_as_sent() -> None:
    rng = random.Random(11)
    for _ in range(400):
        text, _, _ = _message(rng)
        seen, src = item_text_with_offsets(text)
        assert seen == item_text(text) and len(src) == len(seen)
        inside_placeholder = set()
        for p in PLACEHOLDERS:
            start = seen.find(p)
            while start >= 0:
                inside_placeholder.update(range(start, start + len(p)))
                start = seen.find(p, start + 1)
        for i, (a, b) in enumerate(src):
            assert 0 <= a < b <= len(text)
            if i not in inside_placeholder:
                assert text[a:b] == seen[i]
        # ranges run forwards: a span [s, e) of what was seen is [src[s][0], src[e-1][1]) of the text
        assert all(src[i][0] <= src[i + 1][0] for i in range(len(src) - 1))
