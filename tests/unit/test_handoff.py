"""The hand-over decision: each reason on its own signal and in priority order, the request-for-a-person
cues and their false friends, the AUC statistic and the fixed held-out split of the evaluation."""

from __future__ import annotations

import hashlib
import itertools
import math
from typing import Any

import numpy as np
import pytest

from mining import handoff
from mining.contracts import DissatisfactionScore, LabelResult, TextItem
from mining.handoff import (
    Handoff,
    HandoffSignals,
    asks_for_human,
    conversation_text,
    decide_handoff,
    handoff_score,
    negative_cut,
    reply_intent,
    score_conversations,
)
from mining.wordlists import word_list
from training.eval_handoff import auc, auc_of, dialogue_signals, held_out
from training.service_data import Dialogue, Turn

CALM: dict[str, Any] = {
    "intent": "order_status",
    "intent_score": 0.9,
    "asks_human": False,
    "negative": 0.1,
    "repeat_contacts": 0,
    "turns": 1,
}


def signals(**changes: Any) -> HandoffSignals:
    return HandoffSignals(**{**CALM, **changes})


def test_a_calm_confident_message_stays_with_the_bot() -> None:
    h = decide_handoff(signals())
    assert isinstance(h, Handoff)
    assert (h.needed, h.reason) == (False, None)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"asks_human": True}, "asks for a human: request for a person in the text"),
        ({"intent": "human_agent"}, "asks for a human: intent human_agent at 0.90"),
        (
            {"repeat_contacts": handoff.REPEAT_THRESHOLD},
            f"repeated contact: {handoff.REPEAT_THRESHOLD} earlier messages on the same order or intent "
            f"(>= {handoff.REPEAT_THRESHOLD})",
        ),
        (
            {"negative": handoff.NEGATIVE_THRESHOLD},
            f"strong negative sentiment: P(negative) {handoff.NEGATIVE_THRESHOLD:.2f} (>= {handoff.NEGATIVE_THRESHOLD:.2f})",
        ),
        ({"intent": None, "intent_score": 0.0}, "low intent confidence: no intent"),
        (
            {"intent": None, "intent_score": 0.0, "intent_reason": "the text looks French"},
            "low intent confidence: no intent (the text looks French)",
        ),
        ({"intent_score": 0.3}, f"low intent confidence: order_status at 0.30 (< {handoff.INTENT_THRESHOLD:.2f})"),
    ],
)
def test_each_reason_fires_on_its_own_signal(changes: dict[str, Any], reason: str) -> None:
    h = decide_handoff(signals(**changes))
    assert h.needed is True
    assert h.reason == reason


def test_the_handoff_models_probability_hands_over_at_its_own_threshold() -> None:
    at = decide_handoff(signals(dissatisfied=0.3, dissatisfied_threshold=0.3))
    assert (at.needed, at.reason) == (True, "likely dissatisfied: P(low satisfaction) 0.30 (>= 0.30)")
    assert at.score == 0.3  # the model's probability is the score
    below = decide_handoff(signals(dissatisfied=0.29, dissatisfied_threshold=0.3))
    assert (below.needed, below.reason, below.score) == (False, None, 0.29)
    # Without a threshold the probability still ranks, but never flags on its own.
    alone = decide_handoff(signals(dissatisfied=0.99))
    assert (alone.needed, alone.score) == (False, 0.99)
    # The evaluation's weights score the signals, model or not.
    zero = {k: 0.0 for k in ("bias", *handoff.SCORE_FEATURES)}
    assert handoff_score(signals(dissatisfied=0.99), zero) == 0.5


class _CountingModel:
    """P(low satisfaction) = characters / 100: a known answer per text."""

    labels = ["other", "low_satisfaction"]

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        p = np.array([min(len(t) / 100, 1.0) for t in texts])
        return np.stack([1 - p, p], axis=1)


def test_conversations_are_scored_by_their_languages_model_in_order() -> None:
    items = [
        TextItem(text="x" * 30, lang="en"),
        TextItem(text="你" * 50, lang="zh"),
        TextItem(text="y" * 10, lang="en"),
    ]
    out = score_conversations({"en": _CountingModel()}, {"en": {"threshold": 0.2}}, {"en": "handoff-en:v1"}, items)
    assert [(o.lang, o.probability, o.threshold, o.model) for o in out] == [
        ("en", 0.3, 0.2, "handoff-en:v1"),
        ("zh", None, None, None),
        ("en", 0.1, 0.2, "handoff-en:v1"),
    ]
    assert out[1].reason == "no handoff model for 'zh' text (models exist for ['en'])"


def test_the_sentiment_cut_is_the_libraries_without_a_model_and_the_models_beside_one() -> None:
    def mood(probability: float | None, negative_threshold: float | None = None) -> DissatisfactionScore:
        threshold = None if probability is None else 0.2
        return DissatisfactionScore(
            lang="zh", probability=probability, threshold=threshold, model=None, negative_threshold=negative_threshold
        )

    assert negative_cut(mood(None)) == handoff.NEGATIVE_THRESHOLD
    assert negative_cut(mood(0.1)) is None
    assert negative_cut(mood(0.1, 0.98)) == 0.98
    very_negative = signals(negative=0.99)
    assert decide_handoff(very_negative, negative_threshold=negative_cut(mood(0.1))).needed is False
    assert decide_handoff(very_negative, negative_threshold=negative_cut(mood(None))).reason == (
        f"strong negative sentiment: P(negative) 0.99 (>= {handoff.NEGATIVE_THRESHOLD:.2f})"
    )


def test_each_language_gets_the_sentiment_cut_of_its_own_model() -> None:
    items = [TextItem(text="x", lang="en"), TextItem(text="y", lang="zh")]
    models = {"en": _CountingModel(), "zh": _CountingModel()}
    decisions = {"en": {"threshold": 0.2}, "zh": {"threshold": 0.2, "negative_threshold": 0.97}}
    out = score_conversations(models, decisions, {"en": "a", "zh": "b"}, items)
    assert [(o.lang, o.negative_threshold) for o in out] == [("en", None), ("zh", 0.97)]


def test_the_conversation_text_is_the_cleaned_turns_oldest_first() -> None:
    assert conversation_text(["  where is it  ", "", "\u200bstill   nothing!"]) == "where is it still nothing!"
    assert conversation_text([]) == ""


def test_each_threshold_is_the_edge() -> None:
    assert decide_handoff(signals(repeat_contacts=handoff.REPEAT_THRESHOLD - 1)).needed is False
    assert decide_handoff(signals(negative=handoff.NEGATIVE_THRESHOLD - 0.01)).needed is False
    assert decide_handoff(signals(intent_score=handoff.INTENT_THRESHOLD)).needed is False


def test_both_human_evidences_are_listed() -> None:
    h = decide_handoff(signals(asks_human=True, intent="human_agent", intent_score=0.75))
    assert h.reason == "asks for a human: request for a person in the text; intent human_agent at 0.75"


def test_reasons_go_in_priority_order() -> None:
    everything: dict[str, Any] = {
        "asks_human": True,
        "repeat_contacts": 5,
        "negative": 0.99,
        "dissatisfied": 0.9,
        "dissatisfied_threshold": 0.2,
        "intent": None,
        "intent_score": 0.0,
    }
    expected = [
        "asks for a human",
        "repeated contact",
        "strong negative sentiment",
        "likely dissatisfied",
        "low intent confidence",
    ]
    calm_values = {"asks_human": False, "repeat_contacts": 0, "negative": 0.1, "dissatisfied": 0.1}
    for i, prefix in enumerate(expected):
        dropped = {k: calm_values[k] for k in list(calm_values)[:i]}
        reason = decide_handoff(signals(**{**everything, **dropped})).reason
        assert reason is not None and reason.startswith(prefix), (i, reason)


def test_thresholds_can_be_passed_for_the_evaluation() -> None:
    s = signals(negative=0.8, repeat_contacts=1)
    assert decide_handoff(s).needed is False
    assert decide_handoff(s, negative_threshold=0.8).reason.startswith("strong negative")  # type: ignore[union-attr]
    assert decide_handoff(s, repeat_threshold=1).reason.startswith("repeated contact")  # type: ignore[union-attr]


def test_the_score_is_the_logistic_of_the_capped_features() -> None:
    zero = {k: 0.0 for k in ("bias", *handoff.SCORE_FEATURES)}
    assert handoff_score(signals(), zero) == 0.5
    w = {**zero, "bias": math.log(3.0)}
    assert handoff_score(signals(), w) == pytest.approx(0.75)
    w = {**zero, "turns": 1.0, "repeat_contacts": 1.0}
    capped = handoff.TURNS_CAP + handoff.REPEAT_CAP
    assert handoff_score(signals(turns=99, repeat_contacts=99), w) == pytest.approx(1 / (1 + math.exp(-capped)))
    w = {**zero, "asks_human": 2.0}
    assert handoff_score(signals(intent="human_agent"), w) == handoff_score(signals(asks_human=True), w) > 0.5


def test_the_served_score_rises_with_negativity_and_stays_in_range() -> None:
    low, high = handoff_score(signals(negative=0.1)), handoff_score(signals(negative=0.99))
    assert 0.0 < low < high < 1.0
    assert decide_handoff(signals(negative=0.99)).score == high


def test_signals_are_validated() -> None:
    with pytest.raises(ValueError):
        signals(negative=1.5)
    with pytest.raises(ValueError):
        signals(repeat_contacts=-1)


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("能不能帮我转人工？", "zh"),
        ("我要人工客服，机器人说不清楚", "zh"),
        ("你们的投诉电话是多少", "zh"),
        ("解决不了我就找你们经理", "zh"),
        ("能不能幫我轉人工？", "zh"),  # Traditional characters
        ("I want to speak to someone about my order", "en"),
        ("Can I talk with a real person please", "en"),
        ("please connect me to a human agent", "en"),
        ("I need to speak with a live agent", "en"),
        ("I'd like to CHAT WITH AN OPERATOR", "en"),
    ],
)
def test_asks_for_human_finds_the_cues(text: str, lang: str) -> None:
    assert asks_for_human(text, lang) is True


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("人工智能音箱很好用", "zh"),
        ("这款是产品经理推荐的，质量不错", "zh"),
        ("快递什么时候到？", "zh"),
        ("The human hair wig looks natural", "en"),
        ("Great for a person who travels a lot", "en"),
        ("Where is my order? It is late", "en"),
    ],
)
def test_asks_for_human_ignores_false_friends(text: str, lang: str) -> None:
    assert asks_for_human(text, lang) is False


def test_the_cue_files_hold_the_core_cues() -> None:
    assert {"转人工", "人工客服", "投诉电话", "找你们经理"} <= word_list("handoff_human_zh")
    assert {"real person", "human agent"} <= word_list("handoff_human_en")
    assert not {"人工", "经理"} & word_list("handoff_human_zh")


def brute_force_auc(scores: list[float], labels: list[bool]) -> float:
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    pairs = [1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg)]
    return sum(pairs) / len(pairs)


def test_auc_is_the_pairwise_count() -> None:
    scores = [0.9, 0.4, 0.4, 0.7, 0.1, 0.4, 0.8]
    labels = [True, True, False, False, False, True, False]
    assert auc(scores, labels) == pytest.approx(brute_force_auc(scores, labels))
    assert auc(scores, labels) == pytest.approx(7 / 12)  # 4 + 1.5 + 1.5 of the 3 x 4 pairs
    assert auc([0.2, 0.9], [False, True]) == 1.0
    assert math.isnan(auc([0.2, 0.9], [True, True]))


def test_auc_of_scores_a_resample_with_repeats() -> None:
    scores = np.array([0.9, 0.4, 0.3, 0.7])
    labels = np.array([True, True, False, False])
    idx = np.array([0, 0, 1, 2, 3, 3])
    expected = brute_force_auc(scores[idx].tolist(), labels[idx].tolist())
    assert auc_of(scores, labels)(idx) == pytest.approx(expected)


def test_the_held_out_part_is_fixed_by_the_id() -> None:
    ids = [str(3830000000000000 + 7919 * i) for i in range(2000)]
    first = [i for i in ids if held_out(i)]
    assert first == [i for i in ids if held_out(i)]
    assert 0.27 < len(first) / len(ids) < 0.33
    for i in ids[:50]:  # the documented rule, written out independently
        h = int(hashlib.sha256(f"handoff:{i}".encode()).hexdigest()[:8], 16)
        assert held_out(i) == (h / 16**8 < 0.3)


def test_dialogue_signals_read_the_customer_turns_only() -> None:
    turns = (
        Turn("customer", "我的宽带又断了", ("我的宽带又断了",)),
        Turn("helpdesk", "您好，请提供账号", ("您好，请提供账号",)),
        Turn("customer", "还是不行，转人工", ("还是不行，转人工",)),
        Turn("helpdesk", "请找人工客服", ("请找人工客服",)),
        Turn("customer", "好的", ("好的",)),
    )
    s = dialogue_signals(Dialogue("1", turns, 0.0, -1.5, 0.0), [0.8, 0.9, 0.2])
    assert (s.turns, s.negative, s.repeat_contacts, s.asks_human) == (3, 0.9, 2, True)
    assert (s.intent, s.intent_score) == (None, 0.0)
    helpdesk_only = (turns[0], turns[1], Turn("customer", "好的", ("好的",)))
    assert dialogue_signals(Dialogue("2", helpdesk_only, 0.0, 0.0, 0.0), [0.8, 0.2]).asks_human is False
    with pytest.raises(ValueError):
        dialogue_signals(Dialogue("3", turns, 0.0, 0.0, 0.0), [0.5])


def _abstained(best: str) -> LabelResult:
    return LabelResult(
        lang="en", label=None, score=0.4, probabilities={best: 0.4, "order_status": 0.1}, model="intent:t", reason="x"
    )


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("where is it??", "en"),
        ("still nothing, it hasn't arrived", "en"),
        ("when will my parcel arrive", "en"),
        ("到哪了", "zh"),
        ("什么时候能到啊", "zh"),
        ("怎麼還沒到", "zh"),  # Traditional
    ],
)
def test_where_is_it_from_a_user_with_a_purchase_asks_about_the_order(text: str, lang: str) -> None:
    assert reply_intent(_abstained("other"), text, lang, has_order=True) == "order_status"
    # without a purchase in the events, the model's best guess
    assert reply_intent(_abstained("other"), text, lang, has_order=False) == "other"


def test_the_model_decides_where_it_answered_or_the_text_asks_no_where() -> None:
    answered = LabelResult(
        lang="en", label="refund_status", score=0.9, probabilities={"refund_status": 0.9}, model="intent:t", reason=None
    )
    assert reply_intent(answered, "where is my refund", "en", has_order=True) == "refund_status"
    assert reply_intent(_abstained("payment"), "I was charged twice", "en", has_order=True) == "payment"
    assert reply_intent(_abstained("complaint"), "the screen is where it broke", "en", has_order=True) == "complaint"


def test_a_negative_message_guessed_as_feedback_gets_the_replies_of_a_complaint() -> None:
    text = "The headphones sound great but the left earcup started crackling"
    assert reply_intent(_abstained("feedback"), text, "en", has_order=False, negative=True) == "complaint"
    assert reply_intent(_abstained("feedback"), text, "en", has_order=False, negative=False) == "feedback"
    answered = LabelResult(
        lang="en", label="feedback", score=0.95, probabilities={"feedback": 0.95}, model="intent:t", reason=None
    )
    assert reply_intent(answered, text, "en", has_order=False, negative=True) == "feedback"  # the model answered
