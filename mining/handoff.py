"""When a customer-service conversation should go to a person, and why.

A reply is handed over when one of five reasons holds, checked in this order (the first decides the
``reason``, because it is the one an agent should read first):

1. ``asks for a human``: the text asks for a person (:func:`asks_for_human`), or the intent model
   says ``human_agent``;
2. ``repeated contact``: the user wrote about the same order or intent at least
   :data:`REPEAT_THRESHOLD` times before, within the event store's recent window;
3. ``strong negative sentiment``: P(negative) of the text is at least :data:`NEGATIVE_THRESHOLD`
   where no hand-over model serves the language; where one does, at least the cut its training
   chose, or never (:func:`negative_cut`): a review-trained sentiment model reads a plain request
   (我要退货, "I want to return it") as strongly negative, and on STC-3's fitting dialogues adding
   the sentiment alone to the model's flag only lowered the flag's F1 (0.492 -> 0.459 at 0.96);
4. ``likely dissatisfied``: the served hand-over model (``handoff-<lang>``, trained by
   ``python -m training.train_handoff`` on the customer turns of STC-3 dialogues with their
   satisfaction scores) puts P(low satisfaction) of the conversation's customer turns at or above
   the threshold its training chose;
5. ``low intent confidence``: no intent model answered, or the calibrated probability of its best
   label is under :data:`INTENT_THRESHOLD`, so an automatic answer would likely answer the wrong
   question. The best label counts even where the intent model abstained from showing it (its
   abstention threshold asks for a label's precision, 0.9 on validation, which for Chinese leaves
   most messages unlabelled; a message whose best label is more likely right than wrong is
   understood well enough not to need a person for that reason alone).

:func:`handoff_score` ranks conversations by how likely the customer ends dissatisfied (0..1), from
the customer-side evidence only: the hand-over model's probability where one serves the language,
else a logistic function of the signals, whose weights and the two data-chosen thresholds were
fitted by ``python -m training.eval_handoff`` on the fitting part of STC-3's Chinese training
dialogues (label: mean satisfaction <= -1); the held-out part was read once for the reported numbers.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

from mining.contracts import DissatisfactionScore, LabelResult, TextItem
from mining.intents import cue_pattern
from mining.text import as_simplified, clean
from mining.wordlists import word_list

# The intent that is itself a request for a person: like one in the text, it needs no threshold.
HUMAN_INTENT = "human_agent"
# Chosen with the P(negative) cut on STC-3's fitting part, for the best F1 of the flag (0.304).
REPEAT_THRESHOLD = 3
# Chosen with the repeat count; high because half of STC-3's dialogues peak above P(negative) 0.89.
NEGATIVE_THRESHOLD = 0.96
# A calibrated top probability under one half means the intent is more likely wrong than right.
INTENT_THRESHOLD = 0.5
# Beyond a few messages more say little more, and one very long chat must not pin the score to 1.
TURNS_CAP = 5
REPEAT_CAP = 3
# Logistic weights of handoff_score, fitted on STC-3's fitting part (training/eval_handoff.py). Turns
# weigh against repeats: at a given count of complaints, more calm turns mean a calmer customer.
SCORE_WEIGHTS: dict[str, float] = {
    "bias": -6.35,
    "negative": 4.39,
    "asks_human": 1.03,
    "repeat_contacts": 1.29,
    "turns": -0.65,
}
SCORE_FEATURES: tuple[str, ...] = ("negative", "asks_human", "repeat_contacts", "turns")


class HandoffSignals(BaseModel):
    """What the decision reads about one customer message and its conversation."""

    intent: str | None = Field(
        description="the intent label, or the most probable one where the model abstained; None when no model answered"
    )
    intent_score: float = Field(ge=0, le=1, description="calibrated top probability, 0 when no intent model answered")
    intent_reason: str | None = Field(
        default=None, description="why no intent model answered, where none did (the text's language, no words...)"
    )
    asks_human: bool = Field(description="the text explicitly asks for a person")
    negative: float = Field(ge=0, le=1, description="probability that the text is negative")
    repeat_contacts: int = Field(ge=0, description="earlier messages of the user on the same order or intent")
    turns: int = Field(ge=0, description="customer messages in the conversation so far, this one included")
    dissatisfied: float | None = Field(
        default=None, ge=0, le=1, description="P(low satisfaction) by the hand-over model; None without one"
    )
    dissatisfied_threshold: float | None = Field(
        default=None, ge=0, le=1, description="the hand-over model's threshold on `dissatisfied`"
    )


class Handoff(BaseModel):
    """The decision: hand over or not, the first reason that holds with its evidence, and the score."""

    needed: bool
    reason: str | None
    score: float = Field(ge=0, le=1)


@functools.cache
def _human_pattern(lang: str) -> re.Pattern[str]:
    """The cues of ``data/words/handoff_human_<lang>.txt`` as one pattern, longest first."""
    cues = sorted(word_list(f"handoff_human_{lang}"), key=lambda c: (-len(c), c))
    if lang == "zh":
        return re.compile("|".join(re.escape(c) for c in cues))
    return re.compile(r"\b(?:" + "|".join(cues) + r")\b", re.IGNORECASE)


def conversation_text(turns: Sequence[str]) -> str:
    """What the hand-over model reads: the customer's cleaned turns, oldest first, joined by a space
    (the same in training and serving, so both see one text per conversation)."""
    return " ".join(c for c in (clean(t) for t in turns) if c)


def score_conversations(
    models: Mapping[str, Any],
    decisions: Mapping[str, Mapping[str, Any]],
    tags: Mapping[str, str],
    items: Sequence[TextItem],
) -> list[DissatisfactionScore]:
    """P(low satisfaction) of each conversation text by the hand-over model of its language.

    Args:
        models: language -> model with ``predict_proba(texts) -> (n, 2)`` and ``labels`` holding
            ``low_satisfaction``.
        decisions: language -> what its training chose (the store metadata's ``decision``):
            ``threshold`` on P(low satisfaction), and ``negative_threshold``, the P(negative) cut
            for the sentiment alone beside the model, absent where it chose none.
        tags: language -> store tag, reported per answer.
        items: n conversation texts (:func:`conversation_text`, masked) with their language.
    Returns:
        n answers in the order of ``items``; a language without a model gets ``probability`` null
        and the reason.
    """
    out: list[DissatisfactionScore | None] = [None] * len(items)
    for lang in sorted({i.lang for i in items}):
        idx = [k for k, i in enumerate(items) if i.lang == lang]
        model = models.get(lang)
        if model is None:
            reason = f"no handoff model for '{lang}' text (models exist for {sorted(models)})"
            for k in idx:
                out[k] = DissatisfactionScore(lang=lang, probability=None, threshold=None, model=None, reason=reason)
            continue
        p = model.predict_proba([items[k].text for k in idx])[:, model.labels.index("low_satisfaction")]
        for k, pk in zip(idx, p.tolist(), strict=True):
            out[k] = DissatisfactionScore(
                lang=lang,
                probability=pk,
                threshold=float(decisions[lang]["threshold"]),
                model=tags[lang],
                negative_threshold=decisions[lang].get("negative_threshold"),
            )
    return [o for o in out if o is not None]


def asks_for_human(text: str, lang: str) -> bool:
    """Whether ``text`` asks for a person (转人工, 找你们经理, "speak to someone", ...).

    Args:
        text: one customer message (cleaned or not: cues hold no personal data; Traditional
            characters read as Simplified, 轉人工 as 转人工).
        lang: ``zh`` for the Chinese cues; anything else reads the English ones.
    """
    return bool(_human_pattern("zh" if lang == "zh" else "en").search(as_simplified(text)))


def score_features(signals: HandoffSignals) -> dict[str, float]:
    """The inputs of :func:`handoff_score`, by name (:data:`SCORE_FEATURES`): P(negative), the
    request for a person (0/1, the ``human_agent`` intent counting), and the repeated contacts and
    turns capped at :data:`REPEAT_CAP` and :data:`TURNS_CAP`."""
    return {
        "negative": float(signals.negative),
        "asks_human": float(signals.asks_human or signals.intent == HUMAN_INTENT),
        "repeat_contacts": float(min(signals.repeat_contacts, REPEAT_CAP)),
        "turns": float(min(signals.turns, TURNS_CAP)),
    }


def handoff_score(signals: HandoffSignals, weights: dict[str, float] | None = None) -> float:
    """How likely the customer ends the conversation dissatisfied, 0..1: the hand-over model's
    ``dissatisfied`` where it is given, else a logistic function of :func:`score_features` with
    :data:`SCORE_WEIGHTS` (or ``weights``, same keys). The intent's confidence is not in it: it says
    whether an automatic answer can be given, not how the customer feels."""
    if signals.dissatisfied is not None and weights is None:
        return float(signals.dissatisfied)
    w = SCORE_WEIGHTS if weights is None else weights
    z = w["bias"] + sum(w[name] * value for name, value in score_features(signals).items())
    return 1.0 / (1.0 + math.exp(-z))


def top_intent(result: LabelResult) -> str | None:
    """The intent model's label, or where it abstained its most probable label; None where no model
    answered (no probabilities)."""
    if result.label is not None or not result.probabilities:
        return result.label
    return max(result.probabilities, key=lambda k: result.probabilities[k])


def reply_intent(result: LabelResult, text: str, lang: str, has_order: bool, negative: bool = False) -> str | None:
    """The intent whose replies come first for ``text``: :func:`top_intent`, except where the model
    abstained and
    - the text asks where its parcel is and the user has a purchase in the events (``has_order``;
      the cues of ``data/words/intent_where_is_it_<lang>.txt``): then ``order_status``, so the order
      and item of the events fill the reply;
    - its guess is ``feedback`` while the message's sentiment is ``negative`` (``negative``: the
      sentiment model answered so): then ``complaint``. Why: every built-in ``feedback`` reply
      thanks the customer ("Thanks for the great review!"), and of the 16 real validation turns of
      the intent model so guessed and judged negative, 8 are labelled complaint and 3 feedback.
    The intent shown and hand-over keep the model's answer."""
    lang = "zh" if lang == "zh" else "en"
    if result.label is None and has_order and cue_pattern("where_is_it", lang).search(as_simplified(text)):
        return "order_status"
    guess = top_intent(result)
    if result.label is None and guess == "feedback" and negative:
        return "complaint"
    return guess


def negative_cut(mood: DissatisfactionScore) -> float | None:
    """The P(negative) at which the message's sentiment alone hands over: :data:`NEGATIVE_THRESHOLD`
    where no hand-over model answered (``probability`` null), else the cut the model's training chose
    (``negative_threshold``; None, the sentiment reason off, where it found none that helps)."""
    return NEGATIVE_THRESHOLD if mood.probability is None else mood.negative_threshold


def _reason(
    s: HandoffSignals, repeat_threshold: int, negative_threshold: float | None, intent_threshold: float
) -> str | None:
    if s.asks_human or s.intent == HUMAN_INTENT:
        evidence = ["request for a person in the text"] if s.asks_human else []
        if s.intent == HUMAN_INTENT:
            evidence.append(f"intent {HUMAN_INTENT} at {s.intent_score:.2f}")
        return f"asks for a human: {'; '.join(evidence)}"
    if s.repeat_contacts >= repeat_threshold:
        return f"repeated contact: {s.repeat_contacts} earlier messages on the same order or intent (>= {repeat_threshold})"
    if negative_threshold is not None and s.negative >= negative_threshold:
        return f"strong negative sentiment: P(negative) {s.negative:.2f} (>= {negative_threshold:.2f})"
    p, cut = s.dissatisfied, s.dissatisfied_threshold
    if p is not None and cut is not None and p >= cut:
        return f"likely dissatisfied: P(low satisfaction) {p:.2f} (>= {cut:.2f})"
    if s.intent is None:
        # Say why, for the person taking over: a message in French needs another reader, not a closer look.
        return "low intent confidence: no intent" + (f" ({s.intent_reason})" if s.intent_reason else "")
    if s.intent_score < intent_threshold:
        return f"low intent confidence: {s.intent} at {s.intent_score:.2f} (< {intent_threshold:.2f})"
    return None


def decide_handoff(
    signals: HandoffSignals,
    repeat_threshold: int = REPEAT_THRESHOLD,
    negative_threshold: float | None = NEGATIVE_THRESHOLD,
    intent_threshold: float = INTENT_THRESHOLD,
) -> Handoff:
    """Whether to hand the conversation to a person: ``needed`` when any reason of the module
    docstring holds, ``reason`` the first that does (None when none), ``score`` :func:`handoff_score`.
    The thresholds default to the module's constants; the evaluation passes its own candidates, the
    service :func:`negative_cut` (``negative_threshold`` None: sentiment alone never hands over)."""
    reason = _reason(signals, repeat_threshold, negative_threshold, intent_threshold)
    return Handoff(needed=reason is not None, reason=reason, score=handoff_score(signals))
