"""Word lists kept as data: the files hold exactly the words the rules were written with."""

from __future__ import annotations

import re

import pytest

from mining.intents import _FRAMES, cue_pattern
from mining.models.aspects import negators
from mining.wordlists import word_list

# The negators as written when they were literals in mining/models/aspects.py.
OLD_NEGATORS = {
    "en": {"not", "no", "never", "n't", "isn't", "wasn't", "don't", "doesn't", "didn't", "can't", "won't"},
    "zh": {"不", "没", "没有", "不是", "不太", "不够", "别", "无", "未", "不会", "不能"},
}

# The intent rules as written when their cues were literals in mining/intents.py: (pattern, flags).
OLD_RULES: dict[tuple[str, str], tuple[str, int]] = dict(
    [
        # contact_me and where_is_it: inline patterns of mining/intents.py and mining/handoff.py before
        # their cues moved to word lists, written here as alternatives of one group.
        (("contact_me", "zh"), (r"联系我|加我|回复我|回电话?给我|打电话给我|私信我|通知我", 0)),
        (
            ("contact_me", "en"),
            (r"\b(?:contact\s+me|call\s+me|text\s+me|e-?mail\s+me|reach\s+me|message\s+me|dm\s+me)\b", re.I),
        ),
        (
            ("where_is_it", "zh"),
            (r"到哪|在哪|到了没|什么时候(?:能)?(?:到|发货|送到)|怎么还没(?:到|发货|收到)|还没(?:到|收到|发货)", 0),
        ),
        (
            ("where_is_it", "en"),
            (
                r"\b(?:where(?:'s|\s+is|\s+are)\s+(?:it|they|my|the|this|that|those)"
                r"|when\s+(?:will|does|do|is|are)\b[^.?!]{0,40}\b(?:arrive|come|ship|deliver|get\s+here)\w*"
                r"|(?:hasn't|haven't|has\s+not|have\s+not|still\s+not|not\s+yet)\s+(?:arrived|come|shipped|been\s+delivered|received)\w*"
                r"|still\s+(?:nothing|waiting))\b",
                re.I,
            ),
        ),
        (
            ("return", "zh"),
            (
                r"退货|退款|退钱|退换|换货|换个货|换一个|退回|赔偿|赔我|补偿|保修|维修|返修|修理|三包|退了|能退|可以退",
                0,
            ),
        ),
        (
            ("return", "en"),
            (
                r"\b(?:refund(?:ed|s)?|return(?:ed|ing)? (?:it|them|this|these|those|the|my|an?)|(?:a|"
                r"the|my) return|return (?:label|policy|window)|send(?:ing)? (?:it|them) back|sent (?:it|"
                r"them) back|exchange|replacement|warranty|repair(?:ed|s)?|service cent(?:er|re)|money back|"
                r"rma)\b",
                re.IGNORECASE,
            ),
        ),
        (
            ("delivery", "zh"),
            (
                r"快递|物流|发货|送货|配送|派送|到货|收到货|送到|送来|送过来|寄到|运送|包裹|订单|下单|签收|拍下|次日到|才到",
                0,
            ),
        ),
        (
            ("delivery", "en"),
            (
                r"\b(?:orders?|ordered|ship(?:ping|ped|ment|s)?|deliver(?:y|ed|ing)?|package|parcel|"
                r"tracking|courier|arrive[ds]?|arrival|received|receive)\b",
                re.IGNORECASE,
            ),
        ),
        (
            ("delivery_problem", "zh"),
            (
                r"没(?:有)?(?:收到|到|送|发|给)|还没|未(?:收到|到|发)|慢|迟|晚|差|不到|丢|漏|少|错|不全|缺|怎么还|何时|什么时候|哪里|等了|几天|"
                r"才到|才完成|送不|不送|没联系|变成|没有|没告知|无语|不打烊|做不到",
                0,
            ),
        ),
        (
            ("delivery_problem", "en"),
            (
                r"\b(?:not|never|hasn'?t|haven'?t|didn'?t|wasn'?t|isn'?t|still|late|slow|delay(?:ed)?|"
                r"wrong|missing|lost|where|yet|waiting|damaged|broken)\b",
                re.IGNORECASE,
            ),
        ),
        (
            ("order_content", "zh"),
            (
                r"发错|送错|给我发的是|货不对版|不对版|少发|漏发|没送全|送全|赠品.{0,6}没|送的.{0,8}没有|显示送.{0,8}没",
                0,
            ),
        ),
        (
            ("order_content", "en"),
            (
                r"\b(?:wrong (?:item|size|color|colour|product)|sent (?:me )?the wrong|missing (?:item|"
                r"part)s?|never (?:came|arrived)|still waiting|not (?:yet )?(?:arrived|received|shipped)|"
                r"where is my)\b",
                re.IGNORECASE,
            ),
        ),
        (
            ("want", "zh"),
            (
                r"有没有(?!人)|能不能买|可不可以买|想要|想买|求推荐|给推荐|推荐一下[吧？?]|求购|打算买|哪里(?:能)?买|什么时候(?:有货|到货|上架|出)|"
                r"出不出|希望(?:能|可以)?(?:出|有|推出|增加|加个)|要是有.{0,12}就好|如果有.{0,12}就好|能不能出|有货吗|补货",
                0,
            ),
        ),
        (
            ("want", "en"),
            (
                r"\b(?:looking for|want(?:ed)? to buy|i want|i need|we need|need an?|recommend (?:me|"
                r"a|an|some)|any suggestions?|do you (?:have|sell|carry)|is there an?y?|are there any|"
                r"where can i (?:buy|get|find)|restock|back in stock|wish (?:you|it|they) (?:had|made|"
                r"sold)|(?:can|could) you (?:please )?(?:add|make|put|stock|sell)|please (?:add|make|"
                r"put|stock))\b",
                re.IGNORECASE,
            ),
        ),
        (
            ("ask", "zh"),
            (
                r"请问|请教|是否|能否|可不可以|能不能|可以.{0,8}吗|适合.{0,10}吗|有人知道|谁知道|谁能告诉|帮帮忙|求助|求解|怎么(?:办|用|设置|安装|"
                r"弄|调|连接|开)|如何|哪个(?:好|更好)|多少钱|多久|是正品吗|什么时候发货",
                0,
            ),
        ),
        (
            ("ask", "en"),
            (
                r"^\s*(?:does|do|is|are|can|could|will|would|should|which|what|how|where|when|has|"
                r"have)\b[^.!]*\?|\b(?:let me know|please advise|any(?:one|body) know|can (?:you|someone|"
                r"anyone) (?:tell|help|explain)|how (?:do|can|should) i|is it (?:ok|safe|compatible|"
                r"suitable)|how can i know)\b",
                re.IGNORECASE | re.MULTILINE,
            ),
        ),
        (
            ("rhetorical", "zh"),
            (
                r"为什么|为何|难道|怎么会|凭什么|什么(?:质量|东西|玩意|鬼)|是不是假|还是我|搞错|excuse me",
                re.IGNORECASE,
            ),
        ),
        (
            ("rhetorical", "en"),
            (
                r"\b(?:why|what the|seriously|really\?|guess what|are they joking|is this how)\b",
                re.IGNORECASE,
            ),
        ),
    ]
)
# Cue count of each rule as written: the known answer for the split below.
OLD_COUNTS = {
    ("contact_me", "zh"): 7,
    ("contact_me", "en"): 7,
    ("where_is_it", "zh"): 6,
    ("where_is_it", "en"): 4,
    ("return", "zh"): 19,
    ("return", "en"): 13,
    ("delivery", "zh"): 20,
    ("delivery", "en"): 12,
    ("delivery_problem", "zh"): 31,
    ("delivery_problem", "en"): 19,
    ("order_content", "zh"): 12,
    ("order_content", "en"): 7,
    ("want", "zh"): 19,
    ("want", "en"): 17,
    ("ask", "zh"): 21,
    ("ask", "en"): 7,
    ("rhetorical", "zh"): 10,
    ("rhetorical", "en"): 7,
}
# Cues added after the rules moved into files, each with a case in tests/unit/test_insight.py.
ADDED = {
    ("ask", "zh"): {r"(?<!不)怎么样\s*(?:[?？]|$)"},
    ("order_content", "zh"): {
        r"(?:买的是|订的是|拍的是|下单的是|选的是|要的是).{0,12}?(?:收到的|发来的|发的|发给我的|给我的|发货给我的)(?:却|竟然|居然)?是"
    },
    ("delivery_problem", "zh"): {r"(?:帮我|帮忙|麻烦)?(?<!检)查(?:一下|查|询)"},
    ("order_content", "en"): {
        r"ordered\b[^.!?]{0,60}?\bbut\b[^.!?]{0,12}?\b(?:received|got|was sent|were sent)\s+(?:a|an|the|only|one|two)"
    },
}
_EN_ASK_LEAD = r"^\s*(?:does|do|is|are|can|could|will|would|should|which|what|how|where|when|has|have)\b[^.!]*\?|"


def _cues_of(pattern: str, rule: str, lang: str) -> list[str]:
    """The top-level alternatives of an old rule's cue group (brackets and escapes respected)."""
    prefix = "" if lang == "zh" else (_EN_ASK_LEAD if rule == "ask" else "") + r"\b(?:"
    body = pattern[len(prefix) : len(pattern) - (0 if lang == "zh" else len(r")\b"))]
    assert pattern.startswith(prefix)
    out, depth, cur, i = [], 0, "", 0
    while i < len(body):
        step = body[i : i + 2] if body[i] == "\\" else body[i]
        depth += {"(": 1, ")": -1}.get(step, 0)
        if step == "|" and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += step
        i += len(step)
    return [*out, cur]


def test_negators_are_the_words_written_before() -> None:
    for lang, words in OLD_NEGATORS.items():
        assert negators(lang) == words
        assert word_list(f"{lang}_negators") == words


@pytest.mark.parametrize("key", sorted(OLD_RULES))
def test_intent_cues_are_the_cues_written_before(key: tuple[str, str]) -> None:
    rule, lang = key
    pattern, flags = OLD_RULES[key]
    old = _cues_of(pattern, rule, lang)
    assert len(old) == len(set(old)) == OLD_COUNTS[key]
    assert word_list(f"intent_{rule}_{lang}") == set(old) | ADDED.get(key, set())
    assert cue_pattern(rule, lang).flags == re.compile("", flags).flags
    # Each literal cue, inside a sentence, is found by the old rule and the new alike.
    compiled = re.compile(pattern, flags)
    for cue in old:
        if re.escape(cue) == cue.replace(" ", "\\ "):
            for text in (cue, f"so {cue} now", f"x{cue}y", cue.upper()):
                assert bool(cue_pattern(rule, lang).search(text)) == bool(compiled.search(text)), (key, text)


def test_every_rule_has_both_languages() -> None:
    assert set(OLD_RULES) == {(rule, lang) for rule in _FRAMES for lang in ("zh", "en")}
