"""What a customer text asks of a service team: the intent it can be routed on.

``return_refund``  a return, refund, exchange, repair or warranty claim, wanted or under way;
``order_status``   a problem or inquiry about delivery, shipping or what the order contained;
``request``        wants a product, a feature or availability ("有没有大容量的", "looking for");
``question``       asks for information before or after buying ("请问适合油性头发吗？");
``complaint``      negative about the product or the service;
``praise``         positive;
``neutral``        none of these (a description, an unclear or off-topic text, or a message that
                   only greets, thanks or acknowledges: "ok", "谢谢", "你好在吗").

A text can carry several; the first rule that holds in the order above decides, because it is the
one a team acts on (a refund demand inside a complaint goes to returns). The rules were written on
one half of a hand-labelled sample of real reviews and measured on the other half (README, intents).
Wording rules come first; sentiment, from the language's sentiment model, decides between
complaint, praise and neutral, and whether a question is really a rhetorical complaint. Where the
customer-service intent model gives a message a label that routes, that label decides
(:func:`demand_intent`): the rules, written on reviews, read a chat's plain request by its sentiment.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Literal

from mining.text import as_simplified, span_between
from mining.wordlists import word_list

Intent = Literal["question", "order_status", "return_refund", "complaint", "praise", "request", "neutral"]
INTENTS: tuple[Intent, ...] = ("question", "order_status", "return_refund", "complaint", "praise", "request", "neutral")

_I = re.IGNORECASE
# The cues of each wording rule live in data/words/intent_<rule>_<lang>.txt, one regular-expression
# alternative a line (mostly a literal word or phrase); the frame places them, as a group, at {cues}.
_FRAMES: dict[str, dict[str, tuple[str, int]]] = {
    # A return, refund, exchange, repair or warranty claim.
    "return": {"zh": ("{cues}", 0), "en": (r"\b(?:{cues})\b", _I)},
    # A delivery, shipping or order word ...
    "delivery": {"zh": ("{cues}", 0), "en": (r"\b(?:{cues})\b", _I)},
    # ... and a problem with the delivery, in the same clause as a delivery word.
    "delivery_problem": {"zh": ("{cues}", 0), "en": (r"\b(?:{cues})\b", _I)},
    # What the order held: a wrong, missing or different item, whatever the delivery.
    "order_content": {"zh": ("{cues}", 0), "en": (r"\b(?:{cues})\b", _I)},
    # Wants a product, a feature or availability.
    "want": {"zh": ("{cues}", 0), "en": (r"\b(?:{cues})\b", _I)},
    # Asking for information: explicit wording (a question even from an unhappy customer); in
    # English also a text that opens with a question word and asks with a question mark.
    "ask": {
        "zh": ("{cues}", 0),
        "en": (
            r"^\s*(?:does|do|is|are|can|could|will|would|should|which|what|how|where|when|has|have)\b[^.!]*\?|"
            r"\b(?:{cues})\b",
            _I | re.MULTILINE,
        ),
    },
    # A question that is really a complaint ("这是什么质量？", "why the big price jump?").
    "rhetorical": {"zh": ("{cues}", _I), "en": (r"\b(?:{cues})\b", _I)},
    # Asking the shop to get in touch ("联系我微信...", "please call me back"), no wanting word needed
    # (no sentence of the aspect sets says it: 0 of 16,182 gold aspects).
    "contact_me": {"zh": ("{cues}", 0), "en": (r"\b(?:{cues})\b", _I)},
    # Asking where one's parcel is without naming it ("where is it??", "到哪了").
    "where_is_it": {"zh": ("{cues}", 0), "en": (r"\b(?:{cues})\b", _I)},
}


def _framed(frame: str, flags: int, list_name: str) -> re.Pattern[str]:
    """``frame`` compiled with ``{cues}`` replaced by the group of word list ``list_name``'s
    alternatives, the longest first."""
    cues = sorted(word_list(list_name), key=lambda c: (-len(c), c))
    return re.compile(frame.replace("{cues}", "(?:" + "|".join(cues) + ")"), flags)


@functools.cache
def cue_pattern(rule: str, lang: str) -> re.Pattern[str]:
    """The compiled wording rule ``rule`` (a key of :data:`_FRAMES`) for ``lang`` (``zh`` or
    ``en``), its cues read from ``data/words/intent_<rule>_<lang>.txt`` on first use."""
    return _framed(*_FRAMES[rule][lang], f"intent_{rule}_{lang}")


# A clause in question form. Only a clause that asks in earnest: review text is full of
# rhetorical questions ("这是什么质量？", "why the big price jump?") and of stray question marks
# (characters lost to an encoding), so a question mark alone proves nothing.
_ASKING_CLAUSE = {
    "zh": re.compile(r"(?:吗|么|呢|是不是|有没有|能不能|可不可以|什么|哪|几|多少|怎么样)\s*[?？]"),
    "en": re.compile(
        r"(?:^|[.!?]\s+)(?:does|do|is|are|can|could|will|would|should|which|how|where|when|has|have|did)\b[^.!?]{3,}\?",
        _I,
    ),
}
# A Chinese sentence that asks without its question mark ("适合油性头发吗"): read by asks_or_wants,
# which sees one sentence, and by intent_of at a message's end only, not at a review's stray particles.
_UNMARKED_QUESTION = re.compile(r"(?:吗|么|呢)\s*$")
# A chat message that asks without its question mark: it ends in 吗, a full stop or a tilde at most
# after it. Not 呢 or 么, which end statements as often (感觉不错呢, 还没用呢; 么 of 什么, 这么), nor
# 吗！, mostly rhetorical (人生不就是一连串惊奇的组合吗！).
_CHAT_QUESTION = re.compile(r"吗[\s。.~～]*$")
# Where a sentence ends: "." only before a space or the end (not "3.5", not "a.m.x"), the other
# marks anywhere, full-width ones included.
SENTENCE_END = re.compile(r"\.(?=\s|$)|[!?;。！？；\n]")
_CLAUSE = re.compile(r"[，,。.!！?？;；\n]+")


def _clauses(text: str) -> list[str]:
    return [c for c in _CLAUSE.split(text) if c.strip()]


# A customer asking the shop to act (我要求退款, 帮我取消订单, please cancel my order): a wanting word,
# then within a few characters of the same clause an act of data/words/service_acts_<lang>.txt.
_SERVICE_ASK_FRAMES: dict[str, tuple[str, int]] = {
    "zh": (r"(?:我要|我想|想要|要求|申请|请求|请|帮我|给我|麻烦)[^，,。！？!?；;\n]{0,6}?{cues}", 0),
    "en": (r"\b(?:i want|i need|i'd like|i would like|please|can you|could you)\b[^.!?;,\n]{0,20}?\b{cues}", _I),
}


# A clause that is the act alone, an order with no wanting word (转人工, 退款吧, refund please).
_BARE_ACT_FRAMES: dict[str, tuple[str, int]] = {
    "zh": (r"^\s*(?:请|麻烦|帮我|给我)?\s*{cues}\s*(?:订单|一下)?\s*(?:吧|啊|呀|谢谢)?\s*$", 0),
    "en": (
        r"^\s*(?:please\s+)?{cues}(?:\s+(?:my\s+|the\s+|this\s+)?(?:order|item|it|this|one))?(?:\s+please)?\s*$",
        _I,
    ),
}


@functools.cache
def _service_ask(lang: str) -> re.Pattern[str]:
    return _framed(*_SERVICE_ASK_FRAMES[lang], f"service_acts_{lang}")


@functools.cache
def _bare_act(lang: str) -> re.Pattern[str]:
    return _framed(*_BARE_ACT_FRAMES[lang], f"service_acts_{lang}")


def asks_or_wants(text: str, lang: str) -> bool:
    """Whether ``text`` (one sentence) asks something or says what the customer wants: the cues of
    the ``request`` and ``question`` intents, a clause in question form (a rhetorical one does not
    count), or a Chinese sentence ending in 吗 / 么 / 呢 without its question mark. What such a
    sentence names is asked about or wanted, not judged (the aspects model reads it so)."""
    lang = "zh" if lang == "zh" else "en"
    text = after_greeting(as_simplified(text), lang)
    if cue_pattern("want", lang).search(text) or cue_pattern("ask", lang).search(text):
        return True
    if cue_pattern("rhetorical", lang).search(text):
        return False
    return bool(_ASKING_CLAUSE[lang].search(text) or (lang == "zh" and _UNMARKED_QUESTION.search(text)))


def asks_the_shop(clause: str, lang: str) -> bool:
    """Whether ``clause`` asks the shop to act (我要求退款, 帮我取消订单, please cancel my order; the act
    alone: 转人工, refund please) or to get in touch (联系我微信..., please call me). A clause, not
    its sentence: in 屏幕碎了，我要退货 the screen is judged and the return asked for."""
    lang = "zh" if lang == "zh" else "en"
    clause = as_simplified(clause)
    return bool(
        _service_ask(lang).search(clause)
        or _bare_act(lang).search(clause)
        or cue_pattern("contact_me", lang).search(clause)
    )


def sentence_of(text: str, start: int, end: int) -> str:
    """The sentence around ``text[start:end]``: between the nearest sentence ends
    (:data:`SENTENCE_END`), the end mark kept (a question's ？ is part of what it says)."""
    begin, finish = span_between(SENTENCE_END, text, start, end, keep_end=True)
    return text[begin:finish]


def clause_of(text: str, start: int, end: int) -> str:
    """The clause around ``text[start:end]``: between the nearest commas or sentence ends."""
    begin, finish = span_between(_CLAUSE, text, start, end, keep_end=False)
    return text[begin:finish]


def asked_about(text: str, start: int, end: int, lang: str) -> bool:
    """Whether what ``text[start:end]`` names is asked about or wanted rather than judged: its
    sentence asks or wants (:func:`asks_or_wants`) or its clause asks the shop (:func:`asks_the_shop`).
    Read only where no opinion word judges it: the polarity classifiers learnt from reviews, where
    every aspect carries a judgement."""
    return asks_or_wants(sentence_of(text, start, end), lang) or asks_the_shop(clause_of(text, start, end), lang)


# 投诉 / 举报 (not 不投诉, 没举报): what the clause names is complained about.
_COMPLAINT_ZH = re.compile(r"(?<![不没别])(?:投诉|举报)")


def complained_about(text: str, start: int, end: int, lang: str) -> bool:
    """Whether ``text[start:end]`` is named in a Chinese clause that files a complaint (我要投诉你们的
    客服): judged negative though no opinion word says so. Read only where no opinion word judges it.

    Why Chinese only: the Chinese reviews of the aspect sets never say 投诉 or 举报, and reviews
    taught the polarity classifier nothing about them (客服 of 我要投诉你们的客服 came back positive);
    in the English sets "complain" is as often "no complaints" or "others complained": of the 14
    gold aspects without an opinion word in a sentence saying it, 5 are negative, 6 neutral, 3
    positive."""
    if lang != "zh":
        return False
    return bool(_COMPLAINT_ZH.search(as_simplified(clause_of(text, start, end))))


def unjudged_polarity(text: str, start: int, end: int, lang: str) -> str | None:
    """The polarity of an aspect ``text[start:end]`` that no opinion word judges, where the wording
    decides it: ``negative`` when complained about (:func:`complained_about`), ``neutral`` when
    asked about or wanted (:func:`asked_about`); None leaves it to the polarity classifier."""
    if complained_about(text, start, end, lang):
        return "negative"
    if asked_about(text, start, end, lang):
        return "neutral"
    return None


@functools.cache
def _pleasantry_phrases(lang: str) -> tuple[frozenset[tuple[str, ...]], int]:
    """The phrases of ``data/words/pleasantries_<lang>.txt`` as tuples of their units (Chinese:
    characters; English: words), and the longest phrase's length in units."""
    phrases = frozenset(tuple(p) if lang == "zh" else tuple(p.split()) for p in word_list(f"pleasantries_{lang}"))
    return phrases, max(map(len, phrases))


def _run_of(units: Sequence[str], phrases: frozenset[tuple[str, ...]], longest: int) -> bool:
    """Whether ``units`` split into one or more of ``phrases``: dynamic programming over the
    prefixes, linear in ``len(units)`` (a regular expression of overlapping alternatives, 嗯|嗯嗯,
    backtracks exponentially on 嗯嗯嗯...x, which anyone can send)."""
    ends = [True] + [False] * len(units)
    for i in range(1, len(units) + 1):
        ends[i] = any(ends[i - k] and tuple(units[i - k : i]) in phrases for k in range(1, min(longest, i) + 1))
    return bool(units) and ends[-1]


def only_pleasantries(text: str, lang: str) -> bool:
    """Whether ``text`` says nothing but greetings, thanks, acknowledgements or goodbyes ("OK,
    thanks!", "好的，谢谢🙏", "你好 在吗"): with punctuation, emoji and case dropped, the whole text is
    a run of the phrases of ``data/words/pleasantries_<lang>.txt``. Such a message asks nothing and
    judges nothing, whatever a sentiment model reads into two words. False for an empty text."""
    lang = "zh" if lang == "zh" else "en"
    words = "".join(ch if ch.isalnum() else " " for ch in as_simplified(text).lower()).split()
    units: Sequence[str] = list("".join(words)) if lang == "zh" else words
    return _run_of(units, *_pleasantry_phrases(lang))


# A text's first clause, up to the marks a greeting ends with ("Hi, ...", "您好！...", "Thanks. ..."); it
# starts at a character that is not white space, so a run of spaces is read once, not once per space.
_FIRST_CLAUSE = re.compile(r"\s*([^\s,，.。!！~～][^,，.。!！~～\n]*)[,，.。!！~～\n]+\s*")


def after_greeting(text: str, lang: str) -> str:
    """``text`` without the greetings, thanks or acknowledgements it opens with ("Hi, does it come
    with a charger?" -> "does it come with a charger?"), so that a question or a request after them
    reads as one; the text itself where it is nothing else."""
    at = 0
    last = len(text.rstrip())
    while (m := _FIRST_CLAUSE.match(text, at)) and m.end() < last and only_pleasantries(m.group(1), lang):
        at = m.end()
    return text[at:]


def intent_of(
    text: str,
    lang: str,
    positive: float | None,
    negative_below: float = 0.5,
    praise_above: float = 0.5,
    rhetorical_below: float = 0.3,
) -> Intent:
    """The intent of one customer text (see the module docstring for the meanings and order).

    Args:
        text: the text as sent (Traditional characters read as Simplified, the cues' script).
        lang: ``zh`` or ``en``: picks the wording rules.
        positive: probability of positive sentiment from the language's model, 0-1; None when no
            sentiment is known (then a text without wording cues is ``neutral``).
        negative_below: a text whose ``positive`` is below this is a complaint.
        praise_above: a text whose ``positive`` is above this is praise.
        rhetorical_below: a clause in question form in a text this negative is rhetorical: a complaint.
    """
    lang = "zh" if lang == "zh" else "en"
    text = as_simplified(text)
    if only_pleasantries(text, lang):
        return "neutral"
    text = after_greeting(text, lang)
    if cue_pattern("return", lang).search(text):
        return "return_refund"
    if cue_pattern("order_content", lang).search(text) or any(
        cue_pattern("delivery", lang).search(c) and cue_pattern("delivery_problem", lang).search(c)
        for c in _clauses(text)
    ):
        return "order_status"
    if cue_pattern("want", lang).search(text):
        return "request"
    if cue_pattern("ask", lang).search(text):
        return "question"
    # A chat message asks without its question mark as often as with it (这个价格能便宜点吗, 能送到新疆吗);
    # the rhetorical test below still applies.
    unmarked = lang == "zh" and _CHAT_QUESTION.search(text)
    if (
        (_ASKING_CLAUSE[lang].search(text) or unmarked)
        and not cue_pattern("rhetorical", lang).search(text)
        and (positive is None or positive >= rhetorical_below)
    ):
        return "question"
    if positive is not None and positive < negative_below:
        return "complaint"
    if positive is not None and positive > praise_above:
        return "praise"
    return "neutral"


# What a service intent (data/customer_service/LABELS.md) routes to; the intents left out (a request
# for a person, feedback, other) have no demand intent of their own and leave the rules to decide.
SERVICE_TO_DEMAND: dict[str, Intent] = {
    "order_status": "order_status",
    "cancel_order": "order_status",
    "change_order": "order_status",
    "return_exchange": "return_refund",
    "refund_status": "return_refund",
    "invoice": "question",
    "payment": "question",
    "account": "question",
    "product_question": "question",
    "complaint": "complaint",
}
# The rule intents that a wording cue decides and that come before ``complaint`` in the order: the
# intent model's complaint does not override them (a refund demand inside a complaint goes to returns).
_CUED: frozenset[Intent] = frozenset(("return_refund", "order_status", "request"))


def demand_intent(rule: Intent, service: str | None) -> Intent:
    """The demand intent of a text from its rule intent (:func:`intent_of`) and the label the
    customer-service intent model gave it (None where it withheld one or none serves).

    The model decides where it answers with a label that routes (:data:`SERVICE_TO_DEMAND`), except
    that its ``complaint`` keeps a rule's return, order problem or request, and a product question
    keeps a rule's ``request`` (asking for a product is wanting it).

    Why: the rules were written on reviews and read a chat's plain request by its sentiment
    (能帮我把收货地址改成…吗, Please cancel my order: complaints; 发票什么时候能开好: a complaint). On
    the intent model's validation rows, read with gold service labels mapped the same way, the
    rules alone answered 0.414 of the real customer turns right and with the model 0.437 (+0.023
    [+0.007, +0.038]), the written requests 0.28 -> 0.59 (Chinese) and 0.50 -> 0.78 (English); on
    the review sample's ``tune`` half 0.860 -> 0.864 (docs/training.md, Intents).
    """
    mapped = SERVICE_TO_DEMAND.get(service or "")
    if mapped is None:
        return rule
    if rule in _CUED and mapped == "complaint":
        return rule
    if rule == "request" and service == "product_question":
        return rule
    return mapped
