"""Intent rules, the demand summary in the text's language, abstention and calibration."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pytest

from mining.contracts import SERVICE_INTENTS, AspectSpan, EntitySpan, text_items
from mining.insight import demand_summary
from mining.intents import (
    INTENTS,
    SERVICE_TO_DEMAND,
    after_greeting,
    asks_or_wants,
    demand_intent,
    intent_of,
    only_pleasantries,
)
from mining.models.textclf import Abstention, predict_routed
from tests.support.fakes import FixedClassifier
from training.calibration import MIN_MARGINAL_PRECISION, choose_threshold, fit_temperature, marginal_precision, temper


@pytest.mark.parametrize(
    ("text", "lang", "positive", "intent"),
    [
        ("有没有更大容量的充电宝", "zh", 0.05, "request"),  # a stated want, even when read as negative
        ("这款耳机还有货吗？", "zh", 0.5, "request"),
        ("Do you have this in a 64GB version?", "en", 0.55, "request"),
        ("请问这个洗发水适合油性头发吗？", "zh", 0.1, "question"),  # a question is not a complaint
        ("Is it compatible with a Mac?", "en", 0.4, "question"),
        ("这是什么质量？一天就坏了", "zh", 0.05, "complaint"),  # rhetorical: no real question
        ("小米手环8的续航怎么样？", "zh", 0.1, "question"),  # asks, however negative it reads
        ("这质量不怎么样？", "zh", 0.1, "complaint"),  # 不怎么样 is a judgement
        ("屏幕怎么样", "zh", 0.2, "question"),  # a chat message asks without its question mark
        ("屏幕不怎么样", "zh", 0.2, "complaint"),
        ("Why did it break after a week?", "en", 0.1, "complaint"),
        ("我的快递三天了还没到，怎么回事", "zh", 0.2, "order_status"),
        ("麻烦帮我查一下物流", "zh", 0.2, "order_status"),  # an inquiry about the delivery
        ("快递员叫我收到货后检查一下", "zh", 0.2, "complaint"),  # 检查: inspecting, no inquiry
        ("物流很快，第二天就到了", "zh", 0.95, "praise"),  # a delivery word without a problem is not an order issue
        ("Where is my order? It still has not shipped.", "en", 0.3, "order_status"),
        ("发错颜色了，我买的是黑色", "zh", 0.3, "order_status"),
        # Ordered one thing, got another: what the order held, however it is worded.
        ("I ordered a size M but received an L.", "en", 0.2, "order_status"),
        ("我买的是深蓝色，发货给我的却是黑色", "zh", 0.1, "order_status"),
        ("订的是大床房，但是床却是坏的", "zh", 0.1, "complaint"),  # the room came; the bed was broken
        ("I ordered this for my son but he got bored", "en", 0.3, "complaint"),
        ("质量太差，我要退货", "zh", 0.02, "return_refund"),
        ("質量太差，我要退貨", "zh", 0.02, "return_refund"),  # Traditional characters, the same cues
        ("I want to return these, please refund me", "en", 0.1, "return_refund"),
        ("屏幕坏了，太失望了", "zh", 0.05, "complaint"),
        ("Great sound, love it", "en", 0.97, "praise"),
        ("Arrived on Tuesday", "en", 0.5, "neutral"),
        ("Arrived on Tuesday", "en", None, "neutral"),  # no sentiment known
        # A message that only greets, thanks or acknowledges judges nothing, however its two words read.
        ("ok", "en", 0.47, "neutral"),
        ("OK, thanks!! 🙏", "en", 0.97, "neutral"),
        ("好的，谢谢😊", "zh", 0.95, "neutral"),
        ("你好 在吗？", "zh", 0.1, "neutral"),
        ("謝謝", "zh", 0.9, "neutral"),  # Traditional characters
        ("ok but the screen broke", "en", 0.1, "complaint"),  # more than an acknowledgement
        ("thanks for nothing", "en", 0.05, "complaint"),
        ("好的手机", "zh", 0.9, "praise"),  # 好的 inside a judgement
        # A question or a request after a greeting reads as one.
        ("Hi there, is it in stock?", "en", 0.4, "question"),
        ("Hey, does it come with a charger?", "en", 0.8, "question"),
        ("Thanks, great service", "en", 0.95, "praise"),
        ("Hi, the blender broke after a day", "en", 0.05, "complaint"),
        # A Chinese message ending in 吗 / 么 / 呢 asks without its question mark; a rhetorical one complains.
        ("这个价格能便宜点吗", "zh", 0.7, "question"),
        ("能送到新疆吗。", "zh", 0.6, "question"),
        ("这也叫手机吗", "zh", 0.05, "complaint"),
        ("吗字在中间也是评价", "zh", 0.9, "praise"),
        ("感觉不错呢", "zh", 0.9, "praise"),  # 呢 ends statements as often as questions
        ("人生不就是一连串惊奇的组合吗！", "zh", 0.8, "praise"),  # 吗！ is mostly rhetorical
    ],
)
def test_intent_rules(text: str, lang: str, positive: float | None, intent: str) -> None:
    assert intent in INTENTS
    assert intent_of(text, lang, positive) == intent


@pytest.mark.parametrize(
    ("rule", "service", "expected"),
    [
        ("complaint", "change_order", "order_status"),  # 能帮我把收货地址改成…吗 read by its sentiment
        ("complaint", "cancel_order", "order_status"),
        ("praise", "invoice", "question"),
        ("complaint", "refund_status", "return_refund"),
        ("question", "order_status", "order_status"),  # When will my order ship?
        ("order_status", "return_exchange", "return_refund"),
        ("praise", "complaint", "complaint"),
        ("return_refund", "complaint", "return_refund"),  # a wording cue comes before a complaint
        ("order_status", "complaint", "order_status"),
        ("request", "complaint", "request"),
        ("request", "product_question", "request"),  # asking for a product is wanting it
        ("neutral", "product_question", "question"),
        ("complaint", None, "complaint"),  # the model withheld its label: the rules decide
        ("complaint", "human_agent", "complaint"),  # no demand intent of its own
        ("praise", "feedback", "praise"),
        ("neutral", "other", "neutral"),
    ],
)
def test_the_service_intent_decides_where_it_routes(rule: str, service: str | None, expected: str) -> None:
    assert demand_intent(rule, service) == expected  # type: ignore[arg-type]


def test_every_routing_service_intent_is_a_service_label_and_maps_to_a_demand_intent() -> None:
    assert set(SERVICE_TO_DEMAND) <= set(SERVICE_INTENTS)
    assert set(SERVICE_TO_DEMAND.values()) <= set(INTENTS)
    assert set(SERVICE_INTENTS) - set(SERVICE_TO_DEMAND) == {"human_agent", "feedback", "other"}


def test_the_summary_follows_the_service_intent() -> None:
    text = "发票什么时候能开好"
    assert demand_summary(text, "zh", None, 0.1, [], []).intent == "complaint"  # the rules alone
    s = demand_summary(text, "zh", None, 0.1, [], [], service_intent="invoice")
    assert s.intent == "question" and s.summary == "顾客咨询商品"
    assert demand_summary(text, "zh", None, 0.1, [], [], query=True, service_intent="invoice").intent == "request"


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("ok", "en", True),
        ("Okay okay, thank you very much!", "en", True),
        ("Hello, hello, hi!", "en", True),
        ("hello? anyone there?", "en", True),  # checking someone is there asks nothing of the shop
        ("THX", "en", True),
        ("not ok", "en", False),
        ("okapi", "en", False),  # whole words only
        ("🙏", "en", False),  # nothing left once emoji go: not a pleasantry either
        ("", "en", False),
        ("嗯嗯，收到，辛苦了！", "zh", True),
        ("好好好", "zh", False),  # alone, a review's praise: 好 is not listed
        ("很好", "zh", False),
        ("谢谢你们的耐心", "zh", False),
    ],
)
def test_only_pleasantries(text: str, lang: str, expected: bool) -> None:
    assert only_pleasantries(text, lang) is expected


def test_pleasantries_are_read_in_one_pass_however_a_text_repeats_them() -> None:
    # Overlapping phrases (嗯 and 嗯嗯, bye and bye bye) split a repeated run in exponentially many
    # ways: a backtracking pattern never returned on such a text. The longest text a request holds.
    assert not only_pleasantries("嗯" * 1999 + "x", "zh")
    assert not only_pleasantries("bye " * 499 + "x", "en")
    assert only_pleasantries("嗯" * 2000, "zh") and only_pleasantries("bye " * 500, "en")
    assert after_greeting("hi, " * 499 + "x", "en") == "x"
    assert after_greeting(" " * 1999 + "x", "en") == " " * 1999 + "x"  # spaces with no clause mark


def test_after_greeting_drops_the_opening_pleasantries_only() -> None:
    assert after_greeting("Hi, hello! Does it fit a Mac?", "en") == "Does it fit a Mac?"
    assert after_greeting("您好！请问有蓝色的吗", "zh") == "请问有蓝色的吗"
    assert after_greeting("Hi there", "en") == "Hi there"  # nothing after it: the text itself
    assert after_greeting("Highly rated, but slow", "en") == "Highly rated, but slow"
    # The aspects model reads an aspect in such a sentence as asked about, not judged.
    assert asks_or_wants("Hi, does the battery last long?", "en")
    assert not asks_or_wants("Hi, the battery lasts long.", "en")


def _aspect(aspect: str, polarity: Literal["positive", "negative", "neutral"], within: str = "") -> AspectSpan:
    """An aspect at its first place in ``within`` (default: at 0)."""
    start = max(within.find(aspect), 0)
    return AspectSpan(aspect=aspect, polarity=polarity, start=start, end=start + len(aspect), score=0.9, opinion=None)


def _entity(type_: str, text: str, score: float = 1.0, within: str = "") -> EntitySpan:
    """An entity at its first place in ``within`` (default: at 0)."""
    start = max(within.find(text), 0)
    return EntitySpan(type=type_, text=text, start=start, end=start + len(text), score=score)


def test_demand_summary_reads_the_parts() -> None:
    text = "Looking for a Samsung 65 in TV with better sound; the picture of my old one is great"
    aspects = [_aspect("sound", "negative", text), _aspect("picture", "positive", text), _aspect("sound", "negative")]
    s = demand_summary(
        text,
        "en",
        "Televisions",
        0.5,
        [
            _entity("PRODUCT", "Looking", 0.6, text),  # below the entity score floor
            _entity("BRAND", "Samsung", 1.0, text),
            _entity("SCREEN", "65 in", 1.0, text),
        ],
        aspects,
    )
    assert s.intent == "request" and s.targets == ["Samsung"] and s.attributes == ["65 in"]
    assert s.aspects == aspects  # the aspect results as given; the summary names each judgement once
    assert s.summary == (
        "customer wants Samsung (category Televisions; attributes 65 in; aspects sound negative, picture positive)"
    )
    bare = demand_summary("ok", "en", None, None, [], [])
    assert bare.summary == "customer mentions something" and bare.intent == "neutral"


def test_summary_is_in_the_language_of_the_text() -> None:
    s = demand_summary(
        "有没有20000毫安的华为充电宝？",
        "zh",
        None,
        0.3,
        [_entity("BRAND", "华为"), _entity("CAPACITY", "20000毫安")],
        [],
    )
    assert s.summary == "顾客想要华为（属性：20000毫安）"
    liked = demand_summary(
        "降噪很好，电池不行", "zh", None, 0.4, [], [_aspect("电池", "negative"), _aspect("降噪", "positive")]
    )
    assert liked.summary.endswith("（评价：电池 负面、降噪 正面）")
    assert demand_summary("好", "zh", "水果", 0.9, [], []).summary == "顾客称赞水果"


def test_a_search_query_is_a_request_whose_aspects_are_wanted() -> None:
    text = "蓝牙耳机 降噪 300元以内"
    aspects = [_aspect("降噪", "negative", text)]
    entities = [_entity("CATEGORY", "蓝牙耳机", 1.0, text), _entity("PRICE", "300元以内", 1.0, text)]
    q = demand_summary(text, "zh", None, 0.1, entities, aspects, query=True)
    assert q.intent == "request" and [(a.aspect, a.polarity, a.opinion) for a in q.aspects] == [
        ("降噪", "neutral", None)
    ]
    assert q.summary == "顾客想要蓝牙耳机（属性：300元以内）"  # no judgement to sum up
    read = demand_summary(text, "zh", None, 0.1, entities, aspects)  # read as a message, as before
    assert read.intent == "complaint" and read.aspects[0].polarity == "negative"


def test_a_language_without_a_model_gets_null_with_a_reason() -> None:
    fixed = FixedClassifier(["a", "b"], [0.8, 0.2])
    zh, en = predict_routed({"en": fixed}, {"en": "classification-en:1"}, text_items(["中文的文本", "english"]))
    assert (zh.label, zh.model, zh.probabilities) == (None, None, {})
    assert zh.reason == "no classification model for 'zh' text (models exist for ['en'])"
    assert (en.label, en.model, en.reason) == ("a", "classification-en:1", None)
    unsure = predict_routed({"en": fixed}, {"en": "m"}, text_items(["x"]), abstention={"en": Abstention(1.0, 0.85)})
    assert unsure[0].label is None and unsure[0].score == pytest.approx(0.8)
    assert unsure[0].reason == "not sure: top probability 0.80 (a) is under the threshold 0.85 chosen on validation"


def test_temperature_scaling_known_answer() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4000, 3)) * 2
    p_true = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in p_true])
    overconfident = np.exp(logits * 2.0) / np.exp(logits * 2.0).sum(1, keepdims=True)  # temperature 0.5
    assert fit_temperature(overconfident, y) == pytest.approx(2.0, rel=0.1)
    assert np.allclose(temper(overconfident, 2.0), p_true, atol=1e-9)
    assert np.allclose(Abstention(2.0, 0.0).apply(overconfident), p_true, atol=1e-9)


def test_threshold_reaches_the_precision_and_declines_outside_texts() -> None:
    # 10 confident right answers at 0.9, 10 unsure ones at 0.6 of which half are wrong.
    p = np.array([[0.9, 0.1]] * 10 + [[0.6, 0.4]] * 10)
    y = np.array([0] * 15 + [1] * 5)
    rule = choose_threshold(p, y, min_precision=0.95)
    assert rule["threshold"] == pytest.approx(0.61) and rule["val_precision"] == 1.0 and rule["val_coverage"] == 0.5
    outside = np.array([[0.95, 0.05]] * 20)  # confident out-of-domain texts push the threshold up
    strict = choose_threshold(p, y, min_precision=0.5, p_outside=outside, max_outside_answered=0.05)
    assert strict["threshold"] > 0.95 and strict["outside_answered"] == 0.0 and strict["val_coverage"] == 0.0


def test_a_label_more_likely_wrong_than_right_is_never_given() -> None:
    # Five classes, every validation answer right even at 0.3: precision alone would answer all.
    p = np.array([[0.3, 0.2, 0.2, 0.15, 0.15]] * 5 + [[0.8, 0.05, 0.05, 0.05, 0.05]] * 5)
    y = np.zeros(10, dtype=int)
    rule = choose_threshold(p, y, min_precision=0.9)
    assert rule["threshold"] == 0.5 and rule["floor"] == 0.5 and rule["val_coverage"] == 0.5


def test_a_two_class_model_right_overall_still_declines_its_coin_flips() -> None:
    # 900 confident right answers and 100 at 0.52 of which half are right: 0.95 precision overall,
    # so precision alone answers everything, at 0.52 too.
    p = np.array([[0.95, 0.05]] * 900 + [[0.52, 0.48]] * 100)
    y = np.array([0] * 950 + [1] * 50)
    rule = choose_threshold(p, y, min_precision=0.9)
    assert rule["threshold"] == pytest.approx(0.53) and rule["val_coverage"] == 0.9
    assert rule["val_marginal_precision"] == 1.0 and rule["min_marginal_precision"] == MIN_MARGINAL_PRECISION
    # Where the unsure answers are mostly right (80 of the 100 tied nearest the threshold), they are kept.
    y_good = np.array([0] * 900 + [0] * 80 + [1] * 20)
    kept = choose_threshold(p, y_good, min_precision=0.9)
    assert kept["threshold"] == 0.5 and kept["val_coverage"] == 1.0 and kept["val_marginal_precision"] == 0.8


def test_marginal_precision_reads_the_answers_nearest_the_threshold() -> None:
    top = np.array([0.55] * 10 + [0.7] * 30 + [0.99] * 60)
    right = np.array([False] * 10 + [True] * 90)
    # 100 texts: the 20 nearest (MARGIN_MIN > 5% of 100) of those answered, and every text tied
    # with the 20th (all 30 at 0.7): 30 right of 40
    assert marginal_precision(top, right, 0.5) == 0.75
    assert marginal_precision(top, right, 0.6) == 1.0
    assert marginal_precision(top, right, 0.999) is None


def test_a_piece_of_a_name_is_no_aspect_and_holds_no_opinion() -> None:
    from mining.contracts import OpinionSpan

    text = "三只松鼠的坚果很新鲜，小米扫地机器人噪音太大了"
    brands = [_entity("BRAND", "三只松鼠", within=text), _entity("BRAND", "小米", within=text)]
    piece = _aspect("松鼠", "positive", text)  # inside 三只松鼠
    nuts = _aspect("坚果", "positive", text)
    start = text.index("小米")
    noise = _aspect("噪音", "negative", text).model_copy(
        update={"opinion": OpinionSpan(text="小", start=start, end=start + 1, polarity="negative")}
    )
    whole = _aspect("三只松鼠", "positive", text)  # a whole name may be judged
    s = demand_summary(text, "zh", None, 0.4, brands, [whole, piece, nuts, noise])
    assert [a.aspect for a in s.aspects] == ["三只松鼠", "坚果", "噪音"]
    assert s.aspects[2].opinion is None and s.aspects[2].polarity == "negative"
    # Without the names nothing is dropped: the rule reads the entities, not the characters.
    assert [a.aspect for a in demand_summary(text, "zh", None, 0.4, [], [piece, noise]).aspects] == ["松鼠", "噪音"]
    low = [e.model_copy(update={"score": 0.3}) for e in brands]  # entities under the score floor count for nothing
    assert len(demand_summary(text, "zh", None, 0.4, low, [piece]).aspects) == 1


def test_an_aspect_whose_only_opinion_was_inside_a_name_is_asked_about_in_a_question() -> None:
    from mining.contracts import OpinionSpan

    def battery(text: str) -> AspectSpan:
        start = text.index("小米")
        return _aspect("续航", "positive", text).model_copy(
            update={"opinion": OpinionSpan(text="小", start=start, end=start + 1, polarity="positive")}
        )

    question = "小米手环的续航怎么样？"
    (a,) = demand_summary(
        question, "zh", None, 0.2, [_entity("BRAND", "小米", within=question)], [battery(question)]
    ).aspects
    assert (a.opinion, a.polarity, a.score) == (None, "neutral", 1.0)
    # Said, not asked: the classifier's polarity stands.
    said = "小米手环的续航很一般。"
    (b,) = demand_summary(said, "zh", None, 0.2, [_entity("BRAND", "小米", within=said)], [battery(said)]).aspects
    assert (b.opinion, b.polarity) == (None, "positive")


def test_an_opinion_is_shown_only_as_the_reason_for_its_aspects_polarity() -> None:
    from mining.contracts import OpinionSpan
    from mining.insight import outside_names

    text = "The keyboard feels cheap, the screen is great"

    def judged(aspect: str, polarity: Literal["positive", "negative", "neutral"], word: str, says: str) -> AspectSpan:
        at = text.index(word)
        opinion = OpinionSpan(text=word, start=at, end=at + len(word), polarity=says)  # type: ignore[arg-type]
        return _aspect(aspect, polarity, text).model_copy(update={"opinion": opinion})

    keyboard, screen = outside_names(
        [judged("keyboard", "negative", "feels", "positive"), judged("screen", "positive", "great", "positive")],
        [],
        text,
        "en",
    )
    assert (keyboard.opinion, keyboard.polarity) == (None, "negative")
    assert screen.opinion is not None and screen.opinion.text == "great"


def test_the_summary_sums_up_judgements_not_neutral_aspects() -> None:
    asked = AspectSpan(aspect="预算", start=12, end=14, polarity="neutral", score=1.0, opinion=None)
    judged = AspectSpan(aspect="屏幕", start=0, end=2, polarity="negative", score=0.9, opinion=None)
    d = demand_summary("屏幕太暗了，我想买一台笔记本电脑，预算五千", "zh", None, 0.2, [], [judged, asked])
    assert d.aspects == [judged, asked]  # every aspect stays in the result
    assert "屏幕 负面" in d.summary and "预算" not in d.summary


def test_a_withheld_sentiment_leans_the_way_every_judged_aspect_does() -> None:
    text = "Charger gets really hot and charges slowly."
    negative = [_aspect("Charger", "negative", text), _aspect("charges", "negative", text)]
    # P(positive) 0.51 but withheld: the aspects, all negative, decide the side.
    assert demand_summary(text, "en", None, 0.51, [], negative).intent == "praise"  # a label given: as before
    s = demand_summary(text, "en", None, 0.51, [], negative, positive_withheld=True)
    assert s.intent == "complaint" and s.summary.startswith("customer complains")
    text = "Lipstick color is gorgeous, though it dries out my lips."
    mixed = [_aspect("Lipstick color", "positive", text), _aspect("lips", "negative", text)]
    assert demand_summary(text, "en", None, 0.45, [], mixed, positive_withheld=True).intent == "complaint"
    positive = [_aspect("Lipstick color", "positive", text), _aspect("lips", "neutral", text)]
    assert demand_summary(text, "en", None, 0.45, [], positive, positive_withheld=True).intent == "praise"
    # Only the side moves: a question asked without a clear sentiment stays a question.
    text = "Does the charger get hot?"
    assert (
        demand_summary(text, "en", None, 0.4, [], [_aspect("charger", "negative", text)], positive_withheld=True).intent
        == "question"
    )
