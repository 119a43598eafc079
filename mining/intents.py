"""What a customer text asks of a service team: the intent it can be routed on.

``return_refund``  a return, refund, exchange, repair or warranty claim, wanted or under way;
``order_status``   a problem or inquiry about delivery, shipping or what the order contained;
``request``        wants a product, a feature or availability ("有没有大容量的", "looking for");
``question``       asks for information before or after buying ("请问适合油性头发吗？");
``complaint``      negative about the product or the service;
``praise``         positive;
``neutral``        none of these (a description, an unclear or off-topic text).

A text can carry several; the first rule that holds in the order above decides, because it is the
one a team acts on (a refund demand inside a complaint goes to returns). The rules were written on
one half of a hand-labelled sample of real reviews and measured on the other half (README, intents).
Wording rules come first; sentiment, from the language's sentiment model, decides between
complaint, praise and neutral, and whether a question is really a rhetorical complaint.
"""

from __future__ import annotations

import re
from typing import Literal

Intent = Literal["question", "order_status", "return_refund", "complaint", "praise", "request", "neutral"]
INTENTS: tuple[Intent, ...] = ("question", "order_status", "return_refund", "complaint", "praise", "request", "neutral")

_I = re.IGNORECASE
_RETURN = {
    "zh": re.compile(
        r"退货|退款|退钱|退换|换货|换个货|换一个|退回|赔偿|赔我|补偿|保修|维修|返修|修理|三包|退了|能退|可以退"
    ),
    "en": re.compile(
        r"\b(?:refund(?:ed|s)?|return(?:ed|ing)? (?:it|them|this|these|those|the|my|an?)|(?:a|the|my) return|return (?:label|policy|window)|"
        r"send(?:ing)? (?:it|them) back|sent (?:it|them) back|exchange|replacement|warranty|repair(?:ed|s)?|"
        r"service cent(?:er|re)|money back|rma)\b",
        _I,
    ),
}
_DELIVERY = {
    "zh": re.compile(
        r"快递|物流|发货|送货|配送|派送|到货|收到货|送到|送来|送过来|寄到|运送|包裹|订单|下单|签收|拍下|次日到|才到"
    ),
    "en": re.compile(
        r"\b(?:orders?|ordered|ship(?:ping|ped|ment|s)?|deliver(?:y|ed|ing)?|package|parcel|tracking|courier|arrive[ds]?|"
        r"arrival|received|receive)\b",
        _I,
    ),
}
# A problem with the delivery, in the same clause as a delivery word.
_DELIVERY_PROBLEM = {
    "zh": re.compile(
        r"没(?:有)?(?:收到|到|送|发|给)|还没|未(?:收到|到|发)|慢|迟|晚|差|不到|丢|漏|少|错|不全|缺|怎么还|何时|什么时候|"
        r"哪里|等了|几天|才到|才完成|送不|不送|没联系|变成|没有|没告知|无语|不打烊|做不到"
    ),
    "en": re.compile(
        r"\b(?:not|never|hasn'?t|haven'?t|didn'?t|wasn'?t|isn'?t|still|late|slow|delay(?:ed)?|wrong|missing|lost|where|yet|"
        r"waiting|damaged|broken)\b",
        _I,
    ),
}
# What the order held: a wrong, missing or different item, whatever the delivery.
_ORDER_CONTENT = {
    "zh": re.compile(
        r"发错|送错|给我发的是|货不对版|不对版|少发|漏发|没送全|送全|赠品.{0,6}没|送的.{0,8}没有|显示送.{0,8}没"
    ),
    "en": re.compile(
        r"\b(?:wrong (?:item|size|color|colour|product)|sent (?:me )?the wrong|missing (?:item|part)s?|never (?:came|arrived)|"
        r"still waiting|not (?:yet )?(?:arrived|received|shipped)|where is my)\b",
        _I,
    ),
}
_WANT = {
    "zh": re.compile(
        r"有没有(?!人)|能不能买|可不可以买|想要|想买|求推荐|给推荐|推荐一下[吧？?]|求购|打算买|哪里(?:能)?买|什么时候(?:有货|到货|上架|出)|出不出|"
        r"希望(?:能|可以)?(?:出|有|推出|增加|加个)|要是有.{0,12}就好|如果有.{0,12}就好|能不能出|有货吗|补货"
    ),
    "en": re.compile(
        r"\b(?:looking for|want(?:ed)? to buy|i want|i need|we need|need an?|recommend (?:me|a|an|some)|any suggestions?|"
        r"do you (?:have|sell|carry)|is there an?y?|are there any|where can i (?:buy|get|find)|restock|back in stock|"
        r"wish (?:you|it|they) (?:had|made|sold)|(?:can|could) you (?:please )?(?:add|make|put|stock|sell)|please (?:add|make|put|stock))\b",
        _I,
    ),
}
# Asking for information: explicit wording (a question even from an unhappy customer) ...
_ASK = {
    "zh": re.compile(
        r"请问|请教|是否|能否|可不可以|能不能|可以.{0,8}吗|适合.{0,10}吗|有人知道|谁知道|谁能告诉|帮帮忙|求助|求解|"
        r"怎么(?:办|用|设置|安装|弄|调|连接|开)|如何|哪个(?:好|更好)|多少钱|多久|是正品吗|什么时候发货"
    ),
    "en": re.compile(
        r"^\s*(?:does|do|is|are|can|could|will|would|should|which|what|how|where|when|has|have)\b[^.!]*\?|"
        r"\b(?:let me know|please advise|any(?:one|body) know|can (?:you|someone|anyone) (?:tell|help|explain)|"
        r"how (?:do|can|should) i|is it (?:ok|safe|compatible|suitable)|how can i know)\b",
        _I | re.MULTILINE,
    ),
}
# ... and a clause in question form. Only a clause that asks in earnest: review text is full of
# rhetorical questions ("这是什么质量？", "why the big price jump?") and of stray question marks
# (characters lost to an encoding), so a question mark alone proves nothing.
_ASKING_CLAUSE = {
    "zh": re.compile(r"(?:吗|么|呢|是不是|有没有|能不能|可不可以|什么|哪|几|多少|怎么样)\s*[?？]"),
    "en": re.compile(
        r"(?:^|[.!?]\s+)(?:does|do|is|are|can|could|will|would|should|which|how|where|when|has|have|did)\b[^.!?]{3,}\?",
        _I,
    ),
}
_RHETORICAL = {
    "zh": re.compile(r"为什么|为何|难道|怎么会|凭什么|什么(?:质量|东西|玩意|鬼)|是不是假|还是我|搞错|excuse me", _I),
    "en": re.compile(r"\b(?:why|what the|seriously|really\?|guess what|are they joking|is this how)\b", _I),
}
_CLAUSE = re.compile(r"[，,。.!！?？;；\n]+")


def _clauses(text: str) -> list[str]:
    return [c for c in _CLAUSE.split(text) if c.strip()]


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
        text: the text as sent.
        lang: ``zh`` or ``en``: picks the wording rules.
        positive: probability of positive sentiment from the language's model, 0-1; None when no
            sentiment is known (then a text without wording cues is ``neutral``).
        negative_below: a text whose ``positive`` is below this is a complaint.
        praise_above: a text whose ``positive`` is above this is praise.
        rhetorical_below: a clause in question form in a text this negative is rhetorical: a complaint.
    """
    lang = lang if lang in _RETURN else "en"
    if _RETURN[lang].search(text):
        return "return_refund"
    if _ORDER_CONTENT[lang].search(text) or any(
        _DELIVERY[lang].search(c) and _DELIVERY_PROBLEM[lang].search(c) for c in _clauses(text)
    ):
        return "order_status"
    if _WANT[lang].search(text):
        return "request"
    if _ASK[lang].search(text):
        return "question"
    if (
        _ASKING_CLAUSE[lang].search(text)
        and not _RHETORICAL[lang].search(text)
        and (positive is None or positive >= rhetorical_below)
    ):
        return "question"
    if positive is not None and positive < negative_below:
        return "complaint"
    if positive is not None and positive > praise_above:
        return "praise"
    return "neutral"
