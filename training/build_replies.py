"""Build the built-in reply knowledge base, ``data/customer_service/replies_kb.csv``.

    python -m training.build_replies            # writes the CSV and prints its SHA256SUMS line

English: Bitext's requests with their agent replies (intent = the project's label, the request
kept as the example). Both languages: the written shop replies of ``shop_replies.csv`` (one intent
and one example request each, placeholders for the order, item, delivery state and amounts).
Chinese: then every helpdesk turn of STC-3's Chinese TRAIN dialogues that answers
a customer turn (the reply, the customer turn before it as the example; no intent). Personal and
customer-specific data become ``{{Placeholder}}`` slots (:func:`en_entry`, :func:`zh_text`), so
nothing of one customer is stored and :func:`mining.replies.fill` can put the next customer's
values in. Rows are deduplicated; the whole run is deterministic (same input, same bytes).
"""

from __future__ import annotations

import argparse
import hashlib
import re
from pathlib import Path

from mining.replies import PLACEHOLDER, ReplyEntry, load_kb, write_kb
from mining.text import clean, mask_pii
from training.service_data import DATA, ReplyRow, TurnSplit, stc3_dialogues, template_key, verified

OUT = DATA / "replies_kb.csv"
SHOP_REPLIES = "shop_replies.csv"
# The file stays near 3 MB (the size of the vendored sets it derives from); how it is met: see main.
MAX_BYTES = 3_000_000
EN_PER_INTENT = 60  # replies kept per Bitext intent (27 intents)
# A suggested reply an agent could send says something: helpdesk turns of fewer letters, digits and
# characters than this (placeholders not counted) are acknowledgements and chit-chat ("收到",
# "么么哒", "都爱死你了") that a lexical ranker can put first for any message sharing a word.
MIN_ZH_REPLY_CHARS = 8


def says_something(reply: str) -> bool:
    """Whether a reply holds at least :data:`MIN_ZH_REPLY_CHARS` letters, digits or characters
    outside its placeholders."""
    return sum(ch.isalnum() for ch in PLACEHOLDER.sub("", reply)) >= MIN_ZH_REPLY_CHARS


# Bitext slot type -> the placeholder its value becomes in the reply and the request.
SLOT_PLACEHOLDERS: dict[str, str] = {
    "order_id": "{{Order Number}}",
    "invoice_id": "{{Invoice Number}}",
    "person_name": "{{Person Name}}",
    "account_type": "{{Account Type}}",
    "refund_amount": "{{Refund Amount}}",
    "delivery_city": "{{Delivery City}}",
    "delivery_country": "{{Delivery Country}}",
}
# A few Bitext replies carry the request's order number (or a hash of it) as a placeholder name.
_LEAKED_NUMBER = re.compile(r"\{\{[0-9A-F]{6,}\}\}")
# Numbers of 5 or more digits in an English reply: the request's order or invoice number, kept there
# even where the slot value of the request was shortened.
_EN_NUMBER = re.compile(r"(?<![\w{])\d{5,}(?![\w}])")
# Money amounts ($1200, 1499 dollars): the number becomes {{Refund Amount}}, the currency stays.
_EN_AMOUNT = re.compile(r"(?<=\$)\d[\d,]*(?:\.\d+)?|(?<![\w{])\d[\d,]*(?:\.\d+)?(?=\s?dollars?\b)", re.IGNORECASE)
_MASKS = {"<PHONE>": "{{Phone Number}}", "<EMAIL>": "{{Email}}", "<CARD>": "{{Card Number}}", "<ID>": "{{ID Number}}"}
# Letter-digit runs with 7 or more digits: order, account, QQ and staff numbers. Kept: the shops'
# 10-digit 400 / 800 service lines, public by design.
_LONG_NUMBER = re.compile(r"(?<![A-Za-z0-9])(?![48]00\d{7}(?![A-Za-z0-9]))[A-Za-z]*\d(?:[A-Za-z-]*\d){6,}[A-Za-z]*")
_MENTION = re.compile(r"@([^\s@,，.。:：!！?？;；、()（）]{1,30})")
# A mention naming an organisation (carrier, maker, shop, service account) is kept.
_ORG = re.compile(
    r"客服|官方|官网|联通|电信|移动|科技|手机|软件|公司|集团|银行|商城|网|店|微博|小米|锤子|魅族|华为|中国"
)
# A common surname with a title, as a helpdesk addresses a customer (张先生, 秦小姐).
_TITLED_NAME = re.compile(r"[\u4e00-\u9fff](?:先生|女士|小姐)")
_SURNAMES = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖"
    "贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)


def _slot_pattern(value: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)" + re.escape(value) + r"(?!\w)", re.IGNORECASE)


def en_entry(row: ReplyRow) -> ReplyEntry:
    """A Bitext row as a knowledge-base entry: CRLF to LF; leaked order numbers in placeholder names
    to ``{{Order Number}}``; the request's slot value (of 3 or more characters), wherever the reply
    repeats it (any case, as a whole word), and the slot span of the request to the slot's placeholder
    (:data:`SLOT_PLACEHOLDERS`); other numbers of 5 or more digits in the reply to ``{{Invoice
    Number}}`` (a row with an invoice slot) or ``{{Order Number}}``, and money amounts (``$1200``,
    ``1499 dollars``) in both to ``{{Refund Amount}}``; then :func:`mining.text.mask_pii` on the reply (its line breaks
    kept) and :func:`mining.text.clean` on the request."""
    reply = _LEAKED_NUMBER.sub("{{Order Number}}", row.reply.replace("\r\n", "\n"))
    request = row.request
    for slot in sorted(row.slots, key=lambda s: s.start, reverse=True):
        placeholder = SLOT_PLACEHOLDERS.get(slot.type, "{{" + slot.type.replace("_", " ").title() + "}}")
        if len(slot.text.strip()) >= 3:  # a value of 1 or 2 characters ("1") would hit list numbers
            reply = _slot_pattern(slot.text.strip()).sub(placeholder, reply)
        request = request[: slot.start] + placeholder + request[slot.end :]
    number = "{{Invoice Number}}" if any(s.type == "invoice_id" for s in row.slots) else "{{Order Number}}"
    reply = _EN_NUMBER.sub(number, _EN_AMOUNT.sub("{{Refund Amount}}", reply))
    request = _EN_AMOUNT.sub("{{Refund Amount}}", request)
    return ReplyEntry(row.label, "en", mask_pii(reply).strip(), clean(request))


def _name(m: re.Match[str]) -> str:
    return "{{Person Name}}" if m.group(0)[0] in _SURNAMES else m.group(0)


def zh_text(text: str) -> str:
    """A Chinese turn with its personal and customer-specific bits as placeholders:
    :func:`mining.text.clean` (e-mail, phone, card and resident-ID numbers), then the masks it leaves
    to ``{{Phone Number}}``, ``{{Email}}``, ``{{Card Number}}``, ``{{ID Number}}``; letter-digit runs
    with 7 or more digits (order, account, QQ numbers; not 10-digit 400/800 service lines) to
    ``{{Number}}``; a mention of a person (``@`` and a name without an organisation word) to
    ``@{{User}}``; a surname with 先生 / 女士 / 小姐 to ``{{Person Name}}``."""
    text = clean(text)
    for mask, placeholder in _MASKS.items():
        text = text.replace(mask, placeholder)
    text = _LONG_NUMBER.sub("{{Number}}", text)
    text = _MENTION.sub(lambda m: m.group(0) if _ORG.search(m.group(1)) else "@{{User}}", text)
    return _TITLED_NAME.sub(_name, text)


def zh_pairs(split: TurnSplit = "train") -> list[tuple[str, str, str, float | None]]:
    """(dialogue id, customer turn, the helpdesk turn right after it, the dialogue's mean task
    accomplishment score) for every such pair of STC-3's Chinese ``split``, texts as stored, in
    file order; pairs with an empty turn are left out."""
    out = []
    for d in stc3_dialogues(split, "zh"):
        for prev, turn in zip(d.turns, d.turns[1:], strict=False):
            if prev.sender == "customer" and turn.sender == "helpdesk" and prev.text and turn.text:
                out.append((d.id, prev.text, turn.text, d.a_score))
    return out


def en_entries(rows: list[ReplyRow], per_intent: int = EN_PER_INTENT) -> list[ReplyEntry]:
    """:func:`en_entry` of each row, one per request template (:func:`template_key`) and per reply
    text, at most ``per_intent`` per Bitext intent, in file order. Which rows: within an intent, rows
    in the order of sha256(request) (spread over the intent's phrasings, unlike file order, which
    groups them), skipping a template or reply text already taken."""
    order = sorted(range(len(rows)), key=lambda i: (rows[i].bitext_intent, _digest(rows[i].request), i))
    seen_keys: set[str] = set()
    seen_text: set[str] = set()
    per: dict[str, int] = {}
    keep: dict[int, ReplyEntry] = {}
    for i in order:
        row = rows[i]
        key = template_key(row.request, row.slots)
        entry = en_entry(row)
        if key in seen_keys or entry.text in seen_text or per.get(row.bitext_intent, 0) >= per_intent:
            continue
        seen_keys.add(key)
        seen_text.add(entry.text)
        per[row.bitext_intent] = per.get(row.bitext_intent, 0) + 1
        keep[i] = entry
    return [keep[i] for i in sorted(keep)]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def zh_entries(budget_bytes: int) -> tuple[list[ReplyEntry], dict[str, int]]:
    """Chinese entries from the STC-3 TRAIN pairs within ``budget_bytes`` of CSV text.

    Each pair is masked (:func:`zh_text`); a reply that says too little (:func:`says_something`)
    is left out; a reply repeated (after masking) is kept once, with the first request. When all
    would not fit, dialogues rated better on task accomplishment come first (mean A score, highest
    first; ties by dialogue id), their pairs in turn order, until the budget is spent. Returns
    (entries in that order, counts: pairs, too short, distinct, kept).
    """
    pairs = zh_pairs("train")
    rank = sorted(range(len(pairs)), key=lambda i: (-(pairs[i][3] or 0.0), int(pairs[i][0]), i))
    seen: set[str] = set()
    out: list[ReplyEntry] = []
    distinct = short = 0
    spent = 0
    for i in rank:
        _, customer, helpdesk, _ = pairs[i]
        reply = zh_text(helpdesk)
        if not says_something(reply):
            short += 1
            continue
        if reply in seen:
            continue
        seen.add(reply)
        distinct += 1
        entry = ReplyEntry("", "zh", reply, zh_text(customer))
        size = _row_bytes(entry)
        if spent + size <= budget_bytes:
            out.append(entry)
            spent += size
    return out, {"pairs": len(pairs), "too_short": short, "distinct_replies": distinct, "kept": len(out)}


def shop_entries() -> list[ReplyEntry]:
    """The written shop replies of both languages (``shop_replies.csv``, checked against
    ``SHA256SUMS``), in file order: what an online shop's agent says per intent, each with an
    example request. STC-3's helpdesks (telecom carriers and phone makers) speak of their own
    products and carry no intent; Bitext has no greeting, thanks or return-and-repair replies."""
    verified(SHOP_REPLIES)
    entries = load_kb(DATA / SHOP_REPLIES)
    unlabelled = [i for i, e in enumerate(entries, start=1) if not e.intent or not e.request]
    if unlabelled:
        raise ValueError(f"{SHOP_REPLIES}: row {unlabelled[0]} needs an intent and an example request")
    return entries


def _row_bytes(e: ReplyEntry) -> int:
    """Bytes of the entry's CSV row (quotes and separators counted roughly: 8 per row)."""
    return len(e.intent.encode()) + len(e.lang.encode()) + len(e.text.encode()) + len(e.request.encode()) + 8


def sha256_line(path: Path) -> str:
    """The file's line in ``data/customer_service/SHA256SUMS`` format: ``<hex>  <name>``."""
    return f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.relative_to(DATA).as_posix()}"


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Write the knowledge base and print its SHA256SUMS line and counts.

    Size: English is capped per Bitext intent (``--en-per-intent``), Chinese gets the rest of
    ``--max-bytes`` (best-rated dialogues first, see :func:`zh_entries`).
    """
    from training.service_data import bitext_replies

    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="CSV to write")
    parser.add_argument("--max-bytes", type=int, default=MAX_BYTES, help="size budget of the CSV")
    parser.add_argument("--en-per-intent", type=int, default=EN_PER_INTENT, help="English replies per Bitext intent")
    args = parser.parse_args(argv)
    en = en_entries(bitext_replies(), args.en_per_intent)
    shop = shop_entries()
    zh, zh_counts = zh_entries(args.max_bytes - sum(_row_bytes(e) for e in en + shop) - 64)
    # Per language the written rows come first: on equal scores the shop's own reply wins.
    entries = [e for e in shop if e.lang == "en"] + en + [e for e in shop if e.lang == "zh"] + zh
    shop_zh = sum(e.lang == "zh" for e in shop)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_kb(args.out, entries)
    if load_kb(args.out) != entries:
        raise RuntimeError(f"{args.out} does not read back as written")
    line = (
        sha256_line(args.out)
        if args.out.resolve().parent == DATA.resolve()
        else hashlib.sha256(args.out.read_bytes()).hexdigest()
    )
    summary: dict[str, object] = {
        "path": str(args.out),
        "bytes": args.out.stat().st_size,
        "en": len(en) + len(shop) - shop_zh,
        "zh": shop_zh + len(zh),
        "en_shop": len(shop) - shop_zh,
        "zh_shop": shop_zh,
        "zh_counts": zh_counts,
        "sha256_line": line,
    }
    print(
        f"{args.out}: {summary['en']} English + {summary['zh']} Chinese replies "
        f"({summary['en_shop']} and {shop_zh} written for shops), "
        f"{summary['bytes']:,} bytes"
    )
    print(
        f"Chinese: {zh_counts['pairs']} TRAIN pairs, {zh_counts['too_short']} too short, "
        f"{zh_counts['distinct_replies']} distinct masked replies, {len(zh)} kept"
    )
    print(line)
    return summary


if __name__ == "__main__":
    main()
