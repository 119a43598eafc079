"""Aspect-level sentiment parts with known answers: the polarity input, the opinion lexicon and its
nearest-opinion rule, dictionary matching, offsets on full-width and mixed text, the table reader,
and the training metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mining.models import aspects as aspects_module
from mining.models.aspects import (
    AspectDictionary,
    AspectModel,
    OpinionLexicon,
    aspect_context,
    clause_bounds,
    polarity_input,
    zh_clauses,
)
from training import data
from training.aspects_eval import score_domain


def ex(text: str, aspect: str, polarity: str, nth: int = 0) -> tuple[str, int, int, str]:
    start = -1
    for _ in range(nth + 1):
        start = text.index(aspect, start + 1)
    return text, start, start + len(aspect), polarity


def test_polarity_input_marks_the_asked_aspect() -> None:
    text = "屏幕很好，电池不行"
    assert polarity_input(text, 5, 7, "zh") == "电池：【电池】不行"
    assert polarity_input("The battery is weak", 4, 11, "en") == "battery [SEP] The battery is weak"


def test_polarity_input_reads_the_sentence_or_the_clause_as_asked() -> None:
    text = "The screen is great but the battery is weak. Shipping was slow"
    s = text.index("battery")
    assert polarity_input(text, s, s + 7, "en") == "battery [SEP] the battery is weak."
    assert (
        polarity_input(text, s, s + 7, "en", "sentence") == "battery [SEP] The screen is great but the battery is weak."
    )
    zh = "屏幕很好，电池不行。物流慢"
    assert polarity_input(zh, 5, 7, "zh", "sentence") == "电池：屏幕很好，【电池】不行。"
    with pytest.raises(ValueError, match="polarity context"):
        polarity_input(text, s, s + 7, "en", "paragraph")


def test_an_aspect_artifact_names_what_its_polarity_classifier_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Recorder:
        def __init__(self) -> None:
            self.seen: list[str] = []

        def save(self, path: Path) -> None:
            path.mkdir(parents=True)

        def predict_proba(self, texts: list[str]) -> np.ndarray:
            self.seen += texts
            return np.tile([0.1, 0.9], (len(texts), 1))

    text = "The screen is great but the battery is weak"
    lexicon = OpinionLexicon("en", {})
    model = AspectModel("en", Recorder(), Recorder(), ["negative", "positive"], lexicon, context="sentence")  # type: ignore[arg-type]
    model.save(tmp_path / "m")
    monkeypatch.setattr(aspects_module, "load_crf_artifact", lambda _path, _device: None)
    monkeypatch.setattr(aspects_module, "load_artifact", lambda _path, _device: Recorder())
    loaded = AspectModel.load(tmp_path / "m")
    assert loaded.context == "sentence"
    loaded.classify([(text, 28, 35)])
    assert loaded.polarity.seen == [f"battery [SEP] {text}"]  # type: ignore[attr-defined]
    # Saved before the key existed: every such model was trained on clauses.
    spec = json.loads((tmp_path / "m" / "aspects.json").read_text())
    del spec["polarity_context"]
    (tmp_path / "m" / "aspects.json").write_text(json.dumps(spec))
    older = AspectModel.load(tmp_path / "m")
    older.classify([(text, 28, 35)])
    assert older.context == "clause" and older.polarity.seen == ["battery [SEP] the battery is weak"]  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="polarity context"):
        AspectModel("en", Recorder(), Recorder(), ["negative", "positive"], lexicon, context="review")  # type: ignore[arg-type]


def _read(text: str, aspect: str, lang: str) -> str:
    """The polarity input of the first ``aspect`` in ``text``."""
    s = text.index(aspect)
    return polarity_input(text, s, s + len(aspect), lang)


def test_polarity_reads_the_aspects_sentence_of_a_long_review() -> None:
    text = (
        "Bought it in May. Shipping took 3.5 weeks!  The battery dies by noon; the screen is fine.\nWould not buy again"
    )
    assert _read(text, "battery", "en") == "battery [SEP] The battery dies by noon;"
    assert _read(text, "Shipping", "en") == "Shipping [SEP] Shipping took 3.5 weeks!"
    assert _read(text, "screen", "en") == "screen [SEP] the screen is fine."
    # English: the aspect's clause, the next one too where its own holds only stop words
    en = "The noise cancelling is amazing but the battery only lasts 10 hours, sadly. The case, though, is 1,000 g!"
    assert _read(en, "noise cancelling", "en") == "noise cancelling [SEP] The noise cancelling is amazing"
    assert _read(en, "battery", "en") == "battery [SEP] the battery only lasts 10 hours"
    assert _read(en, "case", "en") == "case [SEP] The case, though, is 1,000 g!"
    zh = "物流很快。屏幕很好，但是电池不行！客服态度差"
    assert _read(zh, "电池", "zh") == "电池：但是【电池】不行"  # its clause: the screen's praise stays out
    assert _read(zh, "客服", "zh") == "客服：【客服】态度差"
    # a clause of the aspect alone reads the next one too
    assert _read("电池，一天就没电了。屏幕还行", "电池", "zh") == "电池：【电池】，一天就没电了"


def pieces(text: str) -> list[str]:
    """The clauses of ``text`` as strings."""
    return [text[lo:hi] for lo, hi in zh_clauses(text)]


def test_chinese_clauses_end_at_punctuation_and_at_spaces_beside_chinese() -> None:
    assert pieces("屏幕很清晰，但是电池不耐用") == ["屏幕很清晰", "但是电池不耐用"]
    assert pieces("物流很快 包装不错!!价格1,000元,还行。") == ["物流很快", "包装不错", "价格1,000元", "还行"]
    assert pieces("iPhone 14 Pro的屏幕3.5寸、10:30到货") == ["iPhone 14 Pro的屏幕3.5寸", "10:30到货"]
    assert pieces("质量好") == ["质量好"] and pieces("，，") == ["，，"]


def test_chinese_clauses_also_start_at_a_conjunction_that_opens_a_new_judgement() -> None:
    assert pieces("价格偏贵但是质量不错") == ["价格偏贵", "但是质量不错"]
    assert pieces("很保暖就是有点掉毛，尺码偏小而且颜色暗") == ["很保暖", "就是有点掉毛", "尺码偏小", "而且颜色暗"]
    assert pieces("屏幕大但电池小") == ["屏幕大", "但电池小"]
    # not a break: 就是 as "is" after 优点, 但 of 不但, a conjunction opening the text
    assert pieces("最大的优点就是待机长") == ["最大的优点就是待机长"]
    assert pieces("不但便宜而且好用") == ["不但便宜", "而且好用"]
    assert pieces("但是外放差") == ["但是外放差"]


def test_chinese_aspects_are_extracted_clause_by_clause_with_offsets_into_the_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str] = []

    def extract_entities(_model: object, texts: list[str]) -> list[list[dict[str, object]]]:
        # the first known aspect of each text, as a model trained on one-aspect clauses would do
        seen.extend(texts)
        out: list[list[dict[str, object]]] = []
        for t in texts:
            hits = sorted((t.find(w), w) for w in ("屏幕", "电池", "物流", "了") if w in t)
            s, w = hits[0] if hits else (0, "")
            out.append([{"type": "ASP", "text": w, "start": s, "end": s + len(w), "score": 0.9}] if hits else [])
        return out

    monkeypatch.setattr(aspects_module, "extract_entities", extract_entities)
    model = AspectModel.__new__(AspectModel)
    model.lang, model.extractor = "zh", None  # type: ignore[assignment]
    texts = ["屏幕很清晰，但是电池不耐用", "质量一般 物流很快。一天就没电了"]
    found = model.extract(texts)
    # 了 is a stop word: the span a tagger gives a clause without an aspect is dropped
    assert [[texts[i][s:e] for s, e, _ in spans] for i, spans in enumerate(found)] == [["屏幕", "电池"], ["物流"]]
    assert seen == ["屏幕很清晰", "但是电池不耐用", "质量一般", "物流很快", "一天就没电了"]


def test_a_one_character_fragment_becomes_its_noun_and_a_number_is_no_aspect(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def extract_entities(_model: object, texts: list[str]) -> list[list[dict[str, object]]]:
        # a tagger that stops after the first character of a word it never saw, and one that
        # takes an order number for an aspect
        out: list[list[dict[str, object]]] = []
        for t in texts:
            ents = [{"type": "ASP", "start": t.find(c), "end": t.find(c) + 1, "score": 0.9} for c in "物音难" if c in t]
            ents += [{"type": "ASP", "start": m.start(), "end": m.end(), "score": 0.9} for m in re.finditer(r"\d+", t)]
            out.append(ents)
        return out

    monkeypatch.setattr(aspects_module, "extract_entities", extract_entities)
    model = AspectModel.__new__(AspectModel)
    model.lang, model.extractor = "zh", None  # type: ignore[assignment]
    texts = ["物流太慢了", "音质很好", "订单3345120987还没发货", "难免有点复杂"]
    found = [[t[s:e] for s, e, _ in spans] for t, spans in zip(texts, model.extract(texts), strict=True)]
    # 难 heads 难免, an adverb: a fragment of a word that names nothing
    assert found == [["物流"], ["音质"], [], []]


def test_whole_noun_leaves_longer_spans_and_non_nouns_alone() -> None:
    from mining.models.aspects import whole_noun

    assert whole_noun([("物流", 0, 2), ("太慢", 2, 4)], 0, 1) == (0, 2)
    assert whole_noun([("物流", 0, 2)], 0, 2) == (0, 2)  # already a word
    assert whole_noun([("稳定性", 0, 3)], 1, 2) == (0, 3)  # inside a noun, not only its head
    assert whole_noun([("难免", 0, 2)], 0, 1) == (0, 0)  # part of an adverb: emptied
    assert whole_noun([("多少", 0, 2), ("钱", 2, 3)], 0, 1) == (0, 0)  # part of a numeral
    assert whole_noun([("屏", 0, 1)], 0, 1) == (0, 1)  # a one-character word stays
    assert whole_noun([("声大", 0, 2)], 0, 1) == (0, 1)  # a word jieba made up: left alone


def test_aspect_context_cuts_a_long_sentence_around_the_aspect() -> None:
    text = "word " * 100 + "battery" + " word" * 100
    s = text.index("battery")
    lo, hi = aspect_context(text, s, s + 7, 41)
    assert text[lo:hi] == "word word word battery word word word"  # centred, whole words
    lo, hi = aspect_context(text, s, s + 7, 3)  # a budget below the aspect never cuts it
    assert (lo, hi) == (s, s + 7)
    lo, hi = aspect_context("battery", 0, 7, 240)
    assert (lo, hi) == (0, 7)
    # at the text's start the unused left budget goes right
    lo, hi = aspect_context("battery" + " x" * 200, 0, 7, 27)
    assert (lo, hi) == (0, 27)


def test_clause_bounds_stop_at_punctuation_and_but() -> None:
    text = "The screen is great but the battery is weak, sadly"
    s = text.index("battery")
    lo, hi = clause_bounds(text, s, s + 7)
    assert text[lo:hi] == " the battery is weak"
    lo, hi = clause_bounds("屏幕很好，但是电池不行。", 7, 9)
    assert "屏幕很好，但是电池不行。"[lo:hi] == "电池不行"


EN_TRAIN = [
    ex("The screen is great", "screen", "positive"),
    ex("Great keyboard", "keyboard", "positive"),
    ex("The battery is great", "battery", "positive"),
    ex("The fan is terrible", "fan", "negative"),
    ex("Terrible speakers", "speakers", "negative"),
    ex("The trackpad is terrible", "trackpad", "negative"),
    ex("The box is white", "box", "neutral"),
]


def test_lexicon_from_training_data_finds_the_nearest_opinion_word() -> None:
    lex = OpinionLexicon.derive(EN_TRAIN, "en", min_count=2, min_log_odds=0.5)
    assert lex.words.keys() == {"great", "terrible"}  # "the"/"is" occur on both sides; aspects never enter
    assert lex.fallback == "neutral"  # the only training aspect without an opinion word
    text = "The screen is great but the fan is terrible"
    screen, fan = ex(text, "screen", ""), ex(text, "fan", "")
    op = lex.opinion(text, screen[1], screen[2])
    assert op is not None and (text[op.start : op.end], op.polarity) == ("great", "positive")
    op = lex.opinion(text, fan[1], fan[2])
    assert op is not None and (op.text, op.polarity) == ("terrible", "negative")
    assert lex.opinion("The lid is blue", 4, 7) is None and lex.polarity("The lid is blue", 4, 7) == "neutral"


def test_auxiliaries_contraction_stems_and_letters_never_become_opinions() -> None:
    # Beside complaints these words are as lopsided as "terrible": only what they are keeps them out.
    train = [
        ex("Does the fan work it d be terrible x", "fan", "negative"),
        ex("Does the fan spin don t think so terrible x", "fan", "negative"),
        ex("Does the lid close don t know it d be terrible x", "lid", "negative"),
        ex("The lid is great", "lid", "positive"),
        ex("The screen is great", "screen", "positive"),
        ex("The keyboard is great", "keyboard", "positive"),
    ]
    lex = OpinionLexicon.derive(train, "en", min_count=2, min_log_odds=0.5)
    assert lex.words.keys() == {"great", "terrible"}
    op = lex.opinion("Does the battery last long?", 9, 16)
    assert op is None


def test_negation_flips_the_opinion() -> None:
    lex = OpinionLexicon.derive(EN_TRAIN, "en", min_count=2, min_log_odds=0.5)
    text = "The keyboard is not great"
    op = lex.opinion(text, 4, 12)
    assert op is not None and op.text == "great" and op.polarity == "negative"
    zh = OpinionLexicon("zh", {"好": 2.0, "差": -2.0})
    op = zh.opinion("电池不太好", 0, 2)
    assert op is not None and op.polarity == "negative"


def test_an_opinion_deep_in_a_long_text_is_the_one_of_its_clause_alone() -> None:
    """Only the aspect's clause is read (and folded): the answer, offsets shifted, is the clause's
    own, negation at the clause's start included."""
    zh = OpinionLexicon("zh", {"好": 2.0, "差": -2.0})
    en = OpinionLexicon("en", {"great": 2.0})
    for lex, clause, aspect, filler in (
        (zh, "电池不太好", "电池", "物流很差，"),
        (en, "the ＫＥＹＢＯＡＲＤ is not great", "ＫＥＹＢＯＡＲＤ", "Shipping was great. "),
    ):
        alone = lex.opinion(clause, clause.index(aspect), clause.index(aspect) + len(aspect))
        text = filler * 300 + clause + ("。" if lex.lang == "zh" else ".") + filler * 10
        lo = len(filler) * 300
        deep = lex.opinion(text, lo + clause.index(aspect), lo + clause.index(aspect) + len(aspect))
        assert alone is not None and deep is not None and alone.polarity == deep.polarity == "negative"
        assert (deep.start - lo, deep.end - lo, deep.text) == (alone.start, alone.end, alone.text)


def test_a_chinese_degree_word_is_shown_with_the_adjective_it_modifies() -> None:
    zh = OpinionLexicon("zh", {"偏": -2.0, "好": 2.0})

    def shown(text: str, aspect: str) -> tuple[str, str] | None:
        start = text.index(aspect)
        op = zh.opinion(text, start, start + len(aspect))
        return None if op is None else (text[op.start : op.end], op.polarity)

    assert shown("尺码偏小", "尺码") == ("偏小", "negative")
    assert shown("颜色偏暗，质量好", "颜色") == ("偏暗", "negative")
    assert shown("尺码偏，质量好", "尺码") == ("偏", "negative")  # nothing after it in the clause
    assert shown("质量好", "质量") == ("好", "positive")


def test_offsets_hold_on_full_width_and_mixed_text() -> None:
    lex = OpinionLexicon("en", {"great": 2.0})
    text = "ＴＨＥ battery is ＧＲＥＡＴ！"  # full-width letters fold to the lexicon's word
    op = lex.opinion(text, 4, 11)
    assert op is not None and text[op.start : op.end] == "ＧＲＥＡＴ"
    zh = OpinionLexicon("zh", {"给力": 2.0})
    mixed = "iPhone 15的电池（5000mAh）很给力！"
    s = mixed.index("电池")
    op = zh.opinion(mixed, s, s + 2)
    assert op is not None and mixed[op.start : op.end] == "给力" and op.polarity == "positive"
    d = AspectDictionary.from_examples(
        [("Ｂａｔｔｅｒｙ life", 0, 7, "positive"), ("x 电池 y", 2, 4, "negative")], "en"
    )
    found = d.find("My BATTERY died; batteryless? 电池")
    assert found == [(3, 10), (30, 32)]  # whole words only for English; offsets into the text as sent


def test_read_aspects_checks_every_rule(tmp_path: Path) -> None:
    good = {"text": "电池不错", "lang": "zh", "aspects": [{"start": 0, "end": 2, "polarity": "positive"}]}
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps(good, ensure_ascii=False) + "\n\n")
    rows = data.read_aspects(path)
    assert rows[0]["split"] == "train" and rows[0]["domain"] == "own"
    # Tags as a spreadsheet leaves them read as the other tables read them.
    loose = {**good, "lang": "ZH-cn", "split": " Test", "aspects": [{"start": 0, "end": 2, "polarity": "Positive "}]}
    path.write_text(json.dumps(loose, ensure_ascii=False))
    (row,) = data.read_aspects(path)
    assert (row["lang"], row["split"], row["aspects"][0]["polarity"]) == ("zh", "test", "positive")
    for bad, rule in [
        ({**good, "lang": "fr"}, "'lang' must be 'zh' or 'en'"),
        ({**good, "aspects": [{"start": 3, "end": 9, "polarity": "positive"}]}, "is not a span 0 <= start < end <= 4"),
        ({**good, "aspects": [{"start": 0, "end": 2, "polarity": "good"}]}, "polarity must be one of"),
        ({**good, "split": "dev"}, "'split' must be 'train' or 'test'"),
    ]:
        path.write_text(json.dumps(bad, ensure_ascii=False))
        with pytest.raises(ValueError, match=rule):
            data.read_aspects(path)


def test_strongest_baseline_takes_the_best_per_metric_and_domain() -> None:
    from training.aspects_eval import METRIC_KEYS, strongest_baseline

    def b(x: float, y: float) -> dict:
        return {**dict.fromkeys(METRIC_KEYS, x), "metrics_by_domain": {"phone": dict.fromkeys(METRIC_KEYS, y)}}

    best = strongest_baseline({"lexicon": b(0.5, 0.2), "whole_text": b(0.4, 0.3), "other": {"missing": "x"}})
    assert best["test_pair_f1"] == 0.5 and best["metrics_by_domain"]["phone"]["test_aspect_f1"] == 0.3


def test_metrics_known_answer() -> None:
    rows = [
        {
            "text": "ab cd",
            "aspects": [{"start": 0, "end": 2, "polarity": "positive"}, {"start": 3, "end": 5, "polarity": "negative"}],
        },
        {"text": "ef", "aspects": [{"start": 0, "end": 2, "polarity": "negative"}]},
    ]
    # predicted: (0,2) right span + right polarity, (3,4) wrong span; row 2: right span, wrong polarity
    m = score_domain(
        rows,
        [[(0, 2), (3, 4)], [(0, 2)]],
        [["positive", "negative"], ["positive"]],
        ["positive", "positive", "negative"],
        ["negative", "positive"],
    )
    assert m["test_aspect_f1"] == pytest.approx(2 * 2 / (3 + 3))
    assert m["test_pair_f1"] == pytest.approx(2 * 1 / (3 + 3))
    assert m["test_polarity_accuracy"] == pytest.approx(2 / 3)
    assert m["test_polarity_macro_f1"] == pytest.approx((2 / 3 + 2 / 3) / 2)


def test_a_word_seen_mostly_negated_is_learnt_with_its_own_polarity() -> None:
    # 耐用 appears in complaints as 不耐用: counted as the lookup reads it, it is a positive word.
    train = [ex("电池不耐用", "电池", "negative")] * 4 + [ex("电池很耐用", "电池", "positive")]
    lex = OpinionLexicon.derive(train, "zh", min_count=3, min_log_odds=0.5)
    assert lex.words["耐用"] > 0
    op = lex.opinion("这款手机电池不耐用", 4, 6)
    assert op is not None and (op.text, op.polarity) == ("耐用", "negative")
    op = lex.opinion("电池非常耐用", 0, 2)
    assert op is not None and op.polarity == "positive"


def test_an_opinion_asked_for_a_polarity_is_the_nearest_word_that_says_it() -> None:
    lex = OpinionLexicon("en", {"feels": 1.2, "cheap": -1.5, "great": 2.0})
    text = "The keyboard feels cheap"
    start = text.index("keyboard")
    end = start + len("keyboard")
    assert lex.opinion(text, start, end).text == "feels"  # type: ignore[union-attr]  # nearest, any polarity
    negative = lex.opinion(text, start, end, "negative")
    assert negative is not None and (negative.text, negative.polarity) == ("cheap", "negative")
    assert lex.opinion(text, start, end, "neutral") is None
    flipped = "The keyboard is not cheap"
    found = lex.opinion(flipped, start, start + len("keyboard"), "positive")
    assert found is not None and (found.text, found.polarity) == ("cheap", "positive")  # negated
    assert lex.opinion(flipped, start, start + len("keyboard"), "negative") is None


def test_where_int8_loses_only_in_the_polarity_classifier_the_extractor_alone_is_quantised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training import train_aspects

    quantised: list[tuple[str, tuple[str, ...]]] = []
    real_quantize = train_aspects.quantize

    def watched(model: Any, mode: str, float_parts: Any = ()) -> Any:
        quantised.append((mode, tuple(float_parts)))
        return real_quantize(model, mode, float_parts)

    # The whole model loses more than allowed; with the polarity classifier float it does not.
    blocks = iter([{"mode": "none", "int8": 0.1, "reason": "int8 loses 9 points"}, {"mode": "int8", "int8": 0.5}])

    def choose(requested: str, metric: str, fp32: float, score: Any) -> dict[str, Any]:
        score("int8")
        return {"requested": requested, "metric": metric, "fp32": fp32, **next(blocks)}

    monkeypatch.setattr(train_aspects, "quantize", watched)
    monkeypatch.setattr(train_aspects, "choose_quantization", choose)
    result = train_aspects.main(
        [
            "--lang", "zh", "--max-train-samples", "300", "--max-eval-samples", "40", "--extractor-epochs", "1",
            "--polarity-epochs", "1", "--threads", "1", "--validation-only", "--report-dir", str(tmp_path),
        ]
    )  # fmt: skip
    q = result["metrics"]["quantization"]
    assert (q["mode"], q["float_parts"]) == ("int8", ["polarity"])
    assert ("int8", ()) in quantised and quantised[-1] == ("int8", ("polarity",))  # what serves: the partial one


def test_training_smoke_beats_the_lexicon_on_real_reviews(tmp_path: Path) -> None:
    """A small real run (1,500 Chinese training sentences, 200 test sentences, ~20 s) saved into
    the test store, measured as served, with the polarity model clearly above its lexicon baseline."""
    from training import aspects_eval, train_aspects

    result = train_aspects.main(
        [
            "--lang", "zh", "--max-train-samples", "1500", "--max-eval-samples", "200",
            "--extractor-epochs", "6", "--polarity-epochs", "2", "--threads", "1",
            "--sentiment-model", "no-such-model:latest", "--report-dir", str(tmp_path),
        ]
    )  # fmt: skip
    m, lexicon = result["metrics"], result["baseline_metrics"]["lexicon"]
    assert m["test_aspect_f1"] > 0.4 and m["test_pair_f1"] > 0.3
    assert m["test_polarity_accuracy"] > 0.8 and m["test_polarity_accuracy"] > lexicon["test_polarity_accuracy"]
    assert set(m["metrics_by_domain"]) == {"camera", "car", "notebook", "phone"}
    assert result["baseline_metrics"]["whole_text"]["missing"] == "no sentiment model in the store"
    # Under the model's own keys: the strongest baseline measured (here the lexicon alone).
    assert result["baseline_metrics"]["test_pair_f1"] == lexicon["test_pair_f1"]
    assert set(result["baseline_metrics"]["metrics_by_domain"]) == set(m["metrics_by_domain"])
    assert result["tag"].startswith("aspects-zh:")
    assert (tmp_path / "aspects-zh" / "confusion.png").exists()
    # Test without the sentences training holds, beside the published split; what serves is measured.
    assert m["published_split"]["pooled"]["n_sentences"] == 200 >= m["pooled"]["n_sentences"]
    assert m["quantization"]["chosen_on"] == "validation" and m["quantization"]["test_served"] == m["test_pair_f1"]
    assert set(result["ci95"]) == set(aspects_eval.INTERVAL_KEYS)
    assert result["n_test_items"] == m["pooled"]["n_sentences"]
    assert result["vs_baseline"]["test_pair_f1"]["baseline"] == "lexicon"
    # A setting is compared with a stored model on the same validation sentences: against itself, level.
    import bentoml

    from mining.artifacts import quantize, served_quantization
    from mining.models.aspects import AspectModel

    val = train_aspects.load_rows(train_aspects.AspectsConfig(lang="zh", max_eval_samples=200))[0]["val"][:60]
    saved = bentoml.models.get(result["tag"])
    stored = quantize(AspectModel.load(Path(saved.path)), *served_quantization(dict(saved.info.metadata)))
    mine = aspects_eval.item_scores(val, *aspects_eval.served_predictor(stored, stored.labels)(val))
    against = train_aspects.scores_against(result["tag"], val, mine)
    assert against["model"] == result["tag"] and 0 < against["val_pair_f1"] <= against["val_aspect_f1"]
    for key in ("val_aspect_f1", "val_polarity_accuracy", "val_pair_f1"):
        assert against[f"{key}_diff"]["diff"] == 0 and against[f"{key}_diff"]["verdict"] == "level"


def test_a_comparison_with_a_stored_model_is_on_validation_only() -> None:
    from training import train_aspects

    with pytest.raises(SystemExit, match="add --validation-only"):
        train_aspects.main(["--lang", "zh", "--validation-against", "aspects-zh:latest"])


def test_a_validation_only_run_reads_no_test_sentence_and_saves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settings are compared with ``--validation-only``: every sentence a model reads outside
    training is a validation one, and the store is not touched."""
    from training import train_aspects

    read: list[str] = []
    predictor, fit = train_aspects.served_predictor, train_aspects.fit_and_evaluate

    def watched(model: Any, labels: Any) -> Any:
        def predict(rows: Any) -> Any:
            read.extend(r["split"] for r in rows)
            return predictor(model, labels)(rows)

        return predict

    def fit_watched(cfg: Any, splits: Any, *args: Any, **kwargs: Any) -> Any:
        assert splits["test"] is splits["val"], "the polarity head was given the test split"
        return fit(cfg, splits, *args, **kwargs)

    monkeypatch.setattr(train_aspects, "served_predictor", watched)
    monkeypatch.setattr(train_aspects, "fit_and_evaluate", fit_watched)
    monkeypatch.setattr(train_aspects, "finish_run", lambda *a, **k: pytest.fail("a validation-only run saved"))
    result = train_aspects.main(
        [
            "--lang", "zh", "--max-train-samples", "300", "--max-eval-samples", "40", "--extractor-epochs", "1",
            "--polarity-epochs", "1", "--threads", "1", "--validation-only", "--report-dir", str(tmp_path),
        ]
    )  # fmt: skip
    assert read and set(read) == {"train"}  # validation is carved out of the training split
    m = result["metrics"]
    assert 0 <= m["val_pair_f1"] <= m["val_aspect_f1"] <= 1 and len(m["extractor_val_f1_by_epoch"]) == 1
    assert not any(k.startswith("test_") for k in m)


def _row(text: str, domain: str, split: str, aspects: list[tuple[int, int, str]], lang: str = "en") -> dict:
    return {
        "text": text,
        "lang": lang,
        "domain": domain,
        "split": split,
        "aspects": [{"start": s, "end": e, "polarity": p} for s, e, p in aspects],
    }


def test_validation_and_test_lose_the_sentences_training_holds(tmp_path: Path) -> None:
    from training.dedup import dedup_key
    from training.train_aspects import AspectsConfig, load_rows

    train = [_row(f"屏幕{i}号很好", "phone", "train", [(0, 2, "positive")], "zh") for i in range(30)]
    # Half the sentences come twice, spelt differently: the copies may straddle the validation cut.
    train += [_row(f"屏幕{i}号很好！", "phone", "train", [(0, 2, "positive")], "zh") for i in range(0, 30, 2)]
    train += [_row("电池很差", "phone", "train", [(0, 2, "negative")], "zh")]
    test = [
        _row("屏幕3号 很好", "phone", "test", [(0, 2, "positive")], "zh"),  # in train, spelt differently
        _row("屏幕8号很好", "phone", "test", [(0, 2, "positive")], "zh"),
        _row("电池不行", "phone", "test", [(0, 2, "negative")], "zh"),
        _row("屏幕一般", "phone", "test", [(0, 2, "neutral")], "zh"),
    ]
    path = tmp_path / "aspects.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in train + test), encoding="utf-8")
    splits, published, dedup, _ = load_rows(AspectsConfig(lang="zh", data=str(path), val_fraction=0.4, seed=3))

    train_keys = {dedup_key(r["text"]) for r in splits["train"]}
    assert dedup["val_removed_in_train"] > 0  # the seed puts some copies on both sides
    assert not train_keys & {dedup_key(r["text"]) for r in splits["val"]}
    assert len(splits["train"]) + len(splits["val"]) + dedup["val_removed_in_train"] == len(train)
    assert dedup["val_carved"] == len(splits["val"]) + dedup["val_removed_in_train"]
    assert [r["text"] for r in published] == [r["text"] for r in test]
    assert [r["text"] for r in splits["test"]] == ["电池不行", "屏幕一般"]
    assert (dedup["test_removed_in_train"], dedup["n_test_published"]) == (2, 4)


def test_aspects_of_one_polarity_are_refused_in_words(tmp_path: Path) -> None:
    from training.train_aspects import AspectsConfig, load_rows

    rows = [_row(f"The screen{i} is great", "laptop", "train", [(4, 10, "positive")]) for i in range(12)]
    path = tmp_path / "aspects.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(SystemExit, match=r"1 polarity \(\['positive'\]\).* at least 2 polarities"):
        load_rows(AspectsConfig(lang="en", data=str(path), val_fraction=0.2, seed=0))


PREDICTED_ROWS = [
    _row("ab cd", "laptop", "test", [(0, 2, "positive"), (3, 5, "negative")]),
    _row("gh", "restaurant", "test", [(0, 2, "positive")]),
    _row("ef", "laptop", "test", [(0, 2, "negative")]),
]
# laptop: (0,2) right span and polarity, (3,4) a wrong span; "ef": right span, wrong polarity.
PREDICTED = (
    [[(0, 2), (3, 4)], [], [(0, 2)]],
    [["positive", "negative"], [], ["positive"]],
    ["positive", "positive", "negative", "negative"],
)


def test_headline_item_scores_agree_exactly_with_the_metrics() -> None:
    import numpy as np

    from training.aspects_eval import HEADLINE_STATISTICS, evaluate

    labels = ["negative", "positive"]
    metrics, items = evaluate(PREDICTED_ROWS, PREDICTED, labels, "en")
    assert metrics["headline"] == "laptop"  # English reports the laptop sentences
    assert items.span.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert items.pair.tolist() == [[1, 1, 1], [0, 1, 1]]
    assert (items.polarity_correct.tolist(), items.n_aspects.tolist()) == ([1, 1], [2, 1])
    assert metrics["test_aspect_f1"] == pytest.approx(4 / 6) and metrics["test_pair_f1"] == pytest.approx(2 / 6)
    assert metrics["test_polarity_accuracy"] == pytest.approx(2 / 3)
    every = np.arange(len(items.n_aspects))
    for key, stat in HEADLINE_STATISTICS.items():
        assert stat(items)(every) == metrics[key]
    # Chinese reports the pool: every sentence is an item.
    pooled, all_items = evaluate(PREDICTED_ROWS, PREDICTED, labels, "zh")
    assert len(all_items.n_aspects) == 3 and pooled["test_pair_f1"] == pytest.approx(2 / 7)
    for key, stat in HEADLINE_STATISTICS.items():
        assert stat(all_items)(np.arange(3)) == pooled[key]


def test_uncertainty_compares_each_metric_with_the_baseline_strongest_on_it() -> None:
    from training.aspects_eval import INTERVAL_KEYS, evaluate, headline_uncertainty

    labels = ["negative", "positive"]
    rows = [_row(f"r{i} ab", "laptop", "test", [(3, 5, "positive" if i % 2 else "negative")]) for i in range(40)]
    truth = ["positive" if i % 2 else "negative" for i in range(40)]
    model = evaluate(rows, ([[(3, 5)]] * 40, [[p] for p in truth], truth), labels, "en")
    # "spans" finds every aspect but guesses polarity; "polarity" knows it but finds half the spans.
    spans = evaluate(rows, ([[(3, 5)]] * 40, [["positive"]] * 40, ["positive"] * 40), labels, "en")
    found = [[(3, 5)] if i < 20 else [] for i in range(40)]
    polarity = evaluate(rows, (found, [[p] for p in truth[:20]] + [[]] * 20, truth), labels, "en")
    assert spans[0]["test_aspect_f1"] > polarity[0]["test_aspect_f1"]
    assert polarity[0]["test_polarity_accuracy"] > spans[0]["test_polarity_accuracy"]
    out = headline_uncertainty(model[1], {"spans": spans, "polarity": polarity})
    assert set(out["ci95"]) == set(INTERVAL_KEYS) and out["n_test_items"] == 40
    assert out["vs_baseline"]["test_aspect_f1"]["baseline"] == "spans"
    assert out["vs_baseline"]["test_polarity_accuracy"]["baseline"] == "polarity"
    assert out["vs_baseline"]["test_polarity_accuracy"]["diff"] == 0.0  # both get every polarity right
    assert out["vs_baseline"]["test_pair_f1"]["baseline"] == "polarity"
    assert out["vs_baseline"]["test_pair_f1"]["verdict"] == "ahead"


def test_joined_clauses_keep_every_gold_aspect_at_its_text() -> None:
    from training.eval_aspect_clauses import join_clauses

    polarity = {"屏幕": "positive", "电池": "negative", "价格": "neutral"}
    clauses = ["屏幕很清晰", "但是电池不耐用", "价格还行"] * 3
    rows = [
        {"text": t, "aspects": [{"start": t.index(a), "end": t.index(a) + 2, "polarity": polarity[a]}]}
        for t in clauses
        for a in polarity
        if a in t
    ]
    joined = join_clauses(rows, (2, 3), seed=1)
    assert sum(len(r["aspects"]) for r in joined) == len(rows) and 3 <= len(joined) <= 5
    for r in joined:
        assert [polarity[r["text"][a["start"] : a["end"]]] for a in r["aspects"]] == [
            a["polarity"] for a in r["aspects"]
        ]
    assert join_clauses(rows, (2, 3), seed=1) == joined


def test_a_span_starting_inside_a_word_starts_at_the_word() -> None:
    from mining.models.aspects import word_start

    words = [("客服", 0, 2), ("态度", 2, 4), ("很差", 4, 6)]  # 客服态度很差
    assert word_start(words, 1, 4) == 0  # 服态度 -> 客服态度
    assert word_start(words, 2, 4) == 2  # 态度 starts a word already
    assert word_start(words, 1, 2) == 0  # 服 -> 客服
    assert word_start([("功能丰富", 0, 4)], 2, 3) == 2  # the word runs past the span's end: left alone


@pytest.mark.parametrize(
    ("text", "span", "expected"),
    [
        ("结构难免复杂", (0, 3), "结构"),  # 难免 is an adverb: its head is the opinion, cut off
        ("预算五千左右", (0, 3), "预算"),  # a numeral
        ("声音的也比大", (0, 3), "声音"),  # a trailing particle
        ("使用却很不方便", (0, 3), "使用"),  # a trailing adverb
        ("屏幕大了一点", (0, 4), "屏幕"),  # the particle, then a one-character adjective
        ("油门重", (0, 3), "油门"),
        ("电池能用多久", (0, 3), "电池"),  # a modal verb
        ("东西是坏的", (0, 3), "东西"),  # the copula
        ("总是卡", (0, 2), "总是"),  # 是 inside a word stays
        ("鞋子穿着很舒服", (0, 4), "鞋子"),  # stripping 着 would leave 穿 of the verb 穿着: the verb goes
        ("鞋子穿着很舒服", (0, 3), "鞋子"),
        ("大屏", (0, 2), "大屏"),  # two characters stay
        ("原装皮套很好", (0, 3), "原装皮"),  # 皮套 is a noun: the aspect may go on, left alone
        ("参数平平", (1, 3), "数平"),  # fewer than two characters would be left: left alone
        ("声音", (0, 2), "声音"),  # ends at a word's end
        ("的", (0, 1), "的"),  # a span is never emptied
    ],
)
def test_a_span_ending_inside_a_word_that_is_no_noun_ends_before_it(
    text: str, span: tuple[int, int], expected: str
) -> None:
    from mining.models.aspects import word_end, word_spans

    start, end = span
    assert text[start : word_end(word_spans(text, "zh"), start, end, text)] == expected


@pytest.mark.parametrize(
    ("text", "span", "expected"),
    [
        ("的评价很差", (0, 3), "评价"),  # a leading particle goes
        ("已经等了一个星期了", (3, 8), ""),  # 了一个星期: the particle, then a duration: no aspect
        ("买了两件衬衫", (2, 4), ""),  # a count
        ("两件衬衫", (0, 4), "两件衬衫"),  # a count with its noun stays
        ("屏幕很好", (0, 2), "屏幕"),
    ],
)
def test_a_span_starts_after_its_particles_and_a_count_alone_is_none(
    text: str, span: tuple[int, int], expected: str
) -> None:
    from mining.models.aspects import word_spans, zh_span_words

    start, end = zh_span_words(word_spans(text, "zh"), *span)
    assert text[start:end] == expected and (start == end) == (not expected)


@pytest.mark.parametrize(
    ("text", "span", "expected"),
    [
        ("发到哪儿了", (2, 4), ""),  # a pronoun
        ("哎呀这个怎么用", (0, 2), ""),  # an interjection
        ("哎呀这个怎么用", (2, 6), ""),  # two pronouns
        ("我打电话给客服", (5, 7), "客服"),
    ],
)
def test_a_span_of_function_words_alone_is_none(text: str, span: tuple[int, int], expected: str) -> None:
    from mining.models.aspects import word_spans, zh_span_words

    start, end = zh_span_words(word_spans(text, "zh"), *span)
    assert text[start:end] == expected and (start == end) == (not expected)


@pytest.mark.parametrize(
    ("text", "span", "expected"),
    [
        ("我现在就要退款", (0, 2), ""),  # 我 + the head of 现在 (a time word)
        ("到现在还没发货", (0, 2), ""),  # 到 + the head of 现在
        ("画质变好了", (0, 2), "画质"),  # a listed noun stays, though jieba reads 画 / 质变
        ("我现在就要退款", (5, 7), "退款"),  # a whole word
        ("我现在就要退款", (1, 3), "现在"),  # a whole word (zh_span_words judges it)
    ],
)
def test_a_piece_of_a_word_naming_nothing_is_none(text: str, span: tuple[int, int], expected: str) -> None:
    from mining.models.aspects import word_spans, zh_word_fragment

    start, end = zh_word_fragment(word_spans(text, "zh"), *span, text)
    assert text[start:end] == expected and (start == end) == (not expected)


def test_a_mention_or_a_masked_placeholder_names_nothing() -> None:
    from mining.models.aspects import _names_something

    assert not _names_something("@锤子", frozenset(), "zh")
    assert not _names_something("<USER>", frozenset(), "en")
    assert _names_something("屏幕", frozenset(), "zh") and _names_something("battery", frozenset(), "en")
    assert not _names_something("单号SF1234567890", frozenset(), "zh")  # an order or tracking number
    assert _names_something("Mate60", frozenset(), "zh") and _names_something("RTX 4090", frozenset(), "en")
    # greetings and thanks alone are said to the shop, not judged
    assert not _names_something("你好", frozenset(), "zh") and not _names_something("谢谢亲", frozenset(), "zh")
    assert not _names_something("Hi", frozenset(), "en") and _names_something("hinge", frozenset(), "en")
    # a Chinese word that says rather than names: an interjection, a verdict, the act of complaining
    assert not any(_names_something(w, frozenset(), "zh") for w in ("呵呵", "唉", "垃圾", "投诉", "差评", "怎么办"))
    assert _names_something("投诉电话", frozenset(), "zh") and _names_something("垃圾袋", frozenset(), "zh")


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        ("请问这款面霜适合敏感肌吗", ""),  # a question, not a thing
        ("这不是坑人吗", ""),
        ("请问能制止", ""),  # 请问 then no name
        ("请问是要偷税漏税么", ""),
        ("请问中国联通", "中国联通"),  # 请问 then names alone
        ("手机呢", "手机"),  # "what about the phone?": the phone is asked about
        ("京东送货员嘛", "京东送货员"),
        ("赠品赠完了嘛", ""),
        ("屏幕", "屏幕"),
        ("吗啡", "吗啡"),  # 吗 inside a word is no particle
    ],
)
def test_a_chinese_span_that_is_a_question_keeps_only_the_names_it_asks_about(span: str, expected: str) -> None:
    from mining.models.aspects import zh_span_not_asking

    start, end = zh_span_not_asking(0, len(span), span)
    assert span[start:end] == expected and (start == end) == (not expected)


@pytest.mark.parametrize(
    ("text", "span", "expected"),
    [
        ("这款面膜yyds", (0, 8), "这款面膜"),  # a verdict glued to the name is cut off
        ("屏幕宝藏", (0, 4), "屏幕"),
        ("iPhone真香", (0, 8), "iPhone"),  # a model name jieba does not list is a name
        ("绝绝子", (0, 3), ""),  # a verdict alone names nothing
        ("智商税", (2, 3), ""),  # nor a piece of one
        ("闭眼入", (0, 2), ""),
        ("又踩雷了", (0, 3), ""),  # what it leaves ends in no name
        ("以后会回购", (0, 5), ""),
        ("真香的洗发水", (0, 6), "真香的洗发水"),  # at the start it stays (the next rules keep 洗发水)
        ("拍照效果真的绝了", (0, 4), "拍照效果"),  # a verdict after the span leaves it alone
        ("回购率", (0, 3), "回购率"),  # a name holding a verdict's characters stays
    ],
)
def test_a_chinese_span_loses_the_slang_verdicts_at_its_edges(text: str, span: tuple[int, int], expected: str) -> None:
    from mining.models.aspects import zh_span_without_verdicts

    start, end = zh_span_without_verdicts(*span, text)
    assert text[start:end] == expected and (start == end) == (not expected)


def test_a_clause_of_greetings_or_thanks_alone_is_not_read_for_aspects(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def extract_entities(_model: object, texts: list[str]) -> list[list[dict[str, object]]]:
        # a tagger that marks the start of every clause it reads, as one that saw an aspect in
        # nearly every training clause does
        seen.extend(texts)
        return [[{"type": "ASP", "start": 0, "end": min(4, len(t)), "score": 0.9}] for t in texts]

    monkeypatch.setattr(aspects_module, "extract_entities", extract_entities)
    model = AspectModel.__new__(AspectModel)
    model.lang, model.extractor = "zh", None  # type: ignore[assignment]
    texts = ["好的，谢谢亲", "亲，在吗？空气炸锅有没有大一点的"]
    found = model.extract(texts)
    assert seen == ["空气炸锅有没有大一点的"]
    assert [[texts[i][s:e] for s, e, _ in spans] for i, spans in enumerate(found)] == [[], ["空气炸锅"]]


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("第二天就到了👍", "zh", "第二天就到了"),
        ("！物流！", "zh", "物流"),
        ("👍👍", "zh", ""),
        ("@中国联通", "zh", "@中国联通"),  # a mention's sign stays: the mention is dropped whole
        ("<USER>", "zh", "<USER>"),
        ("[不要][不要]", "zh", ""),  # Weibo emoticons: a sign inside is left, so the span goes
        ("t.cn/8stf087", "zh", ""),
        ("6 Plus 16G", "zh", "6 Plus 16G"),  # a space, a dot or a plus inside stays
        ("[呵呵]", "zh", ""),  # an emoticon, a topic, a link: Weibo's marks at an edge
        ("#随手拍", "zh", ""),
        ("//t", "zh", ""),
        ("（可以了）", "zh", "可以了"),  # brackets of a remark go; the rest is for the later rules
        ("battery 👍", "en", "battery "),
        ("OS (Vista)", "en", "OS (Vista)"),  # English keeps the punctuation its corpus marks
        ("屏幕", "zh", "屏幕"),
    ],
)
def test_symbols_at_a_span_edge_go(text: str, lang: str, expected: str) -> None:
    from mining.models.aspects import without_symbols

    start, end = without_symbols(text, 0, len(text), lang)
    assert text[start:end] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("非常满意", ""),  # an adverb and a verb: a judgement, no name
        ("下次再买", ""),  # a time word, an adverb, a verb
        ("还不错", ""),
        ("服务态度", "服务态度"),  # nouns
        ("发热控制", "发热控制"),  # two verbs: the corpora mark such aspects
        ("一直信赖沙宣", "一直信赖沙宣"),  # a brand jieba does not list may be a name: kept
        ("我要投诉", ""),  # 我要 is the HMM's word: a pronoun and a verb, no name
        ("能帮我查一下吗", ""),  # 能帮, 我查: made-up words of verbs and a pronoun
        ("满意", "满意"),  # one word: left to the tagger (one-word spans are nearly all names)
    ],
)
def test_a_span_of_several_words_none_naming_a_thing_is_none(text: str, expected: str) -> None:
    from mining.models.aspects import word_spans, zh_span_words

    start, end = zh_span_words(word_spans(text, "zh"), 0, len(text))
    assert text[start:end] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我的号码", "号码"),  # the owner goes, the name stays
        ("你们的态度", "态度"),
        ("我手机", "手机"),
        ("我想取消这个订单", ""),  # a subject and what it does
        ("我谢谢您", ""),  # jieba tags 谢谢您 as a person's name: no name of a thing is left
        ("请帮我查一下订单", ""),  # a pronoun inside: a clause about someone
        ("坑了我", ""),
        ("售后态度", "售后态度"),  # no person: as given
        ("吉他弦", "吉他弦"),  # 他 inside a listed word is no pronoun
    ],
)
def test_a_span_about_a_person_keeps_only_the_thing_it_names(text: str, expected: str) -> None:
    from mining.models.aspects import word_spans, zh_span_of_things

    start, end = zh_span_of_things(word_spans(text, "zh"), 0, len(text))
    assert text[start:end] == expected and (start == end) == (not expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("不过有点干", ""),  # a conjunction, then a degree adverb: what is said, no name
        ("太坑", ""),  # jieba lists 太坑 as nothing; 太 + one character grades it
        ("不知道是不是变质", ""),  # a negator first
        ("就是表带", "表带"),  # the clause's conjunction goes, the name stays
        ("苹果很甜", "苹果"),  # a name, then what is said of it (jieba joins 很甜)
        ("价格太高", "价格"),
        ("配置太少", "配置太少"),  # jieba lists 配置 as a verb: not known to be a name, left whole
        ("机子挺沉的", "机子"),
        ("我觉得真的很大气", "我觉得真的很大气"),  # no name before the adverb: the tagger's clause stays
        ("可视角", "可视角"),  # 可 is no conjunction here
        ("太阳能板", "太阳能板"),  # a noun that 太 begins
        ("屏幕不清晰", "屏幕"),
        ("机器人根本听不懂", "机器人"),  # an adverb that opens a complaint, after a name
        ("根本就没发货", ""),  # ... or first
        ("问题一直没有解决", "问题"),
    ],
)
def test_a_span_holds_no_judgement_of_its_aspect(text: str, expected: str) -> None:
    from mining.models.aspects import word_spans, zh_span_judgement

    start, end = zh_span_judgement(word_spans(text, "zh"), 0, len(text), text)
    assert text[start:end] == expected and (start == end) == (not expected)


@pytest.mark.parametrize(
    ("text", "span", "expected"),
    [
        ("苹果都烂了，联系客服", "苹果都烂", "苹果"),  # the subject stays, what happened to it goes
        ("沐浴露漏了", "沐浴露漏", "沐浴露"),
        ("手机卡被锁了好几天", "手机卡被锁", "手机卡"),
        ("懒得退了", "懒得退", ""),  # no name before the predicate: nothing stays
        ("以后再也不会在这买了", "以后再也不会在这买", ""),  # 以后 is a time, not a thing
        ("那问题来了", "那问题来", ""),
        ("苹果都烂", "苹果都烂", "苹果都烂"),  # no 了 / 过 / 着 after it: the tagger's span stays
        ("握持感很好", "握持感", "握持感"),  # a noun's suffix jieba lists as a verb
        ("流量费了", "流量", "流量"),  # two characters: never cut
        # 了 inside the span: a clause, not a name.
        ("刚刚查了订单", "刚刚查了订单", ""),
        ("手机买了还没一星期", "手机买了还没一星期", "手机"),
        ("结果今天只送货送到了一套", "结果今天只送货送到了一套", ""),  # 结果 opens what happened
        ("电池了", "电池了", "电池了"),  # 了 at the edge is not inside
    ],
)
def test_a_span_that_runs_into_its_predicate_keeps_the_names_it_opens_with(text: str, span: str, expected: str) -> None:
    from mining.models.aspects import word_spans, zh_span_predicate

    start = text.index(span)
    a, b = zh_span_predicate(word_spans(text, "zh"), start, start + len(span), text)
    assert text[a:b] == expected and (a == b) == (not expected)


def test_a_word_unknown_to_the_dictionary_is_never_cut_off() -> None:
    from mining.models.aspects import word_end, zh_word_tag

    assert zh_word_tag("难免") is not None and zh_word_tag("声大") is None
    # jieba's HMM made 声大 a word in 快门声大且沉重: its tag is unknown, so the span keeps 声.
    assert word_end([("快门", 0, 2), ("声大", 2, 4)], 0, 3, "快门声大") == 3
    assert word_end([("结构", 0, 2), ("难免", 2, 4)], 0, 3, "结构难免") == 2


def test_an_aspect_asked_about_or_wanted_is_not_judged(monkeypatch: pytest.MonkeyPatch) -> None:
    # The polarity classifier learnt from reviews, where every aspect is judged: asked about a
    # product it still says positive. Without an opinion word, a question or a wish judges nothing.
    class Positive:
        def predict_proba(self, texts: list[str]) -> np.ndarray:
            return np.tile([0.05, 0.95], (len(texts), 1))

    def extract_entities(_model: object, texts: list[str]) -> list[list[dict[str, object]]]:
        out: list[list[dict[str, object]]] = []
        for t in texts:
            hits = [(t.find(w), w) for w in ("笔记本电脑", "预算", "屏幕", "头发") if w in t]
            out.append([{"type": "ASP", "text": w, "start": s, "end": s + len(w), "score": 0.9} for s, w in hits])
        return out

    monkeypatch.setattr(aspects_module, "extract_entities", extract_entities)
    # The Chinese data knows positive and negative only; neutral is what the rule says.
    lexicon = OpinionLexicon("zh", {"清晰": 2.0})
    model = AspectModel("zh", None, Positive(), ["negative", "positive"], lexicon)  # type: ignore[arg-type]
    want, question, review, asked_and_judged = model.predict(
        ["我想买一台笔记本电脑，预算五千左右", "这个洗发水适合油性头发吗", "屏幕很大", "屏幕清晰吗？"]
    )
    assert [(a.aspect, a.polarity, a.score) for a in want] == [("笔记本电脑", "neutral", 1.0), ("预算", "neutral", 1.0)]
    assert [(a.aspect, a.polarity) for a in question] == [("头发", "neutral")]
    assert [(a.aspect, a.polarity, a.score) for a in review] == [("屏幕", "positive", 0.95)]  # a statement: the model's
    assert [(a.aspect, a.polarity) for a in asked_and_judged] == [("屏幕", "positive")]  # an opinion word: judged
    # A chat message asks without its question mark; 不怎么样 ("not up to much") judges.
    asked, judged = model.predict(["屏幕怎么样", "屏幕不怎么样"])
    assert [(a.aspect, a.polarity) for a in asked] == [("屏幕", "neutral")]
    assert [(a.aspect, a.polarity) for a in judged] == [("屏幕", "positive")]  # the model's (a stand-in here)


def test_an_aspect_a_customer_asks_the_shop_about_or_complains_of_is_worded(monkeypatch: pytest.MonkeyPatch) -> None:
    # Service messages: a request to act names what is wanted; a filed complaint judges what it
    # names; the review-trained classifier (a positive stand-in here) knows neither.
    class Positive:
        def predict_proba(self, texts: list[str]) -> np.ndarray:
            return np.tile([0.05, 0.95], (len(texts), 1))

    def extract_entities(_model: object, texts: list[str]) -> list[list[dict[str, object]]]:
        words = ("退款", "客服", "态度", "订单", "物流")
        return [
            [
                {"type": "ASP", "text": w, "start": t.find(w), "end": t.find(w) + len(w), "score": 0.9}
                for w in words
                if w in t
            ]
            for t in texts
        ]

    monkeypatch.setattr(aspects_module, "extract_entities", extract_entities)
    model = AspectModel("zh", None, Positive(), ["negative", "positive"], OpinionLexicon("zh", {"差": -2.0}))  # type: ignore[arg-type]
    refund, cancel, complaint, kept, said = model.predict(
        [
            "转人工，我要求退款",
            "麻烦帮我取消订单",
            "我要投诉你们的客服，态度太差了",
            "我不投诉客服",
            "退款到了，客服还行",
        ]
    )
    assert [(a.aspect, a.polarity, a.score) for a in refund] == [("退款", "neutral", 1.0)]
    assert [(a.aspect, a.polarity) for a in cancel] == [("订单", "neutral")]
    # 客服 by the complaint; 态度 has its opinion word 差, so the classifier (the stand-in) decides
    assert [(a.aspect, a.polarity) for a in complaint] == [("客服", "negative"), ("态度", "positive")]
    # 差 is the clause's only word: kept for the gateway, which reads it against the names in the text
    assert complaint[0].opinion is None and complaint[1].opinion is not None
    assert [(a.aspect, a.polarity) for a in kept] == [("客服", "positive")]  # 不投诉 files none
    assert [(a.aspect, a.polarity) for a in said] == [("退款", "positive"), ("客服", "positive")]  # statements


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("我要求退款", "zh", "neutral"),
        ("请帮我修改收货地址", "zh", "neutral"),
        ("退款很快", "zh", None),  # no wanting word: a statement
        ("我要投诉物流", "zh", "negative"),  # the complaint decides, not the wanting word
        ("please cancel my order", "en", "neutral"),
        ("can you send an invoice for the laptop", "en", "neutral"),
        ("I complained about the battery", "en", None),  # English "complain" judges nothing reliably
        ("the return was easy", "en", None),
        ("联系我微信，物流单号也发给我", "zh", None),  # asking to be contacted, in another clause
        ("物流太慢，联系我微信abc_123", "zh", None),
        ("物流单号和联系方式发我，联系我微信", "zh", None),
        ("物流的事联系我微信", "zh", "neutral"),  # in the clause asking to be contacted
        ("物流联系了我", "zh", None),  # said it did: a statement
        ("物流丢件了，我要求赔偿", "zh", None),  # the complaint's clause, not the request's
        ("物流太慢，退款吧", "zh", "neutral"),  # the act alone is an order
        ("return please, it broke", "en", "neutral"),
        ("please call me about the laptop", "en", "neutral"),
        ("they contacted me about the laptop", "en", None),
    ],
)
def test_the_wording_decides_an_unjudged_aspect(text: str, lang: str, expected: str | None) -> None:
    from mining.intents import unjudged_polarity

    word = {"zh": ("退款", "地址", "物流"), "en": ("order", "laptop", "battery", "return")}[lang]
    start = next(text.find(w) for w in word if w in text)
    assert unjudged_polarity(text, start, start + 2, lang) == expected


def test_a_chinese_span_never_cuts_a_run_of_letters_and_digits(monkeypatch: pytest.MonkeyPatch) -> None:
    from mining.models.aspects import whole_runs

    text = "订单号20231105888，这款手机支持5G吗，ｉＰｈｏｎｅ13"
    assert text[slice(*whole_runs(text, 0, 5))] == "订单号20231105888"
    assert text[slice(*whole_runs(text, 21, 22))] == "5G"
    assert text[slice(*whole_runs(text, 27, 31))] == "ｉＰｈｏｎｅ13"  # full-width letters too
    assert whole_runs(text, 0, 3) == (0, 3)  # a span ending at the run's edge stays

    # Through extraction: the tagger's 订单号20 is an order number once whole, and goes; two pieces
    # of one model name become one aspect.
    cuts = {"订单号20231105888，地址填错了": [(0, 5)], "P50的屏幕很好": [(0, 1), (1, 3), (4, 6)]}

    def extract_entities(_model: object, texts: list[str]) -> list[list[dict[str, object]]]:
        return [
            [{"type": "ASP", "text": t[s:e], "start": s, "end": e, "score": 0.9} for s, e in cuts.get(t, [])]
            for t in texts
        ]

    monkeypatch.setattr(aspects_module, "extract_entities", extract_entities)
    model = AspectModel("zh", None, None, ["negative", "positive"], OpinionLexicon("zh", {}))  # type: ignore[arg-type]
    order, model_name = model.extract(["订单号20231105888，地址填错了", "P50的屏幕很好"])
    assert order == []
    assert [(s, e) for s, e, _ in model_name] == [(0, 3), (4, 6)]


def test_a_person_the_review_tells_of_is_not_an_aspect() -> None:
    from mining.models.aspects import _names_something

    for person in ("孩子", "老公", "宝宝", "朋友"):
        assert not _names_something(person, frozenset(), "zh")
    # a thing named after the people it is for stays: 儿童座椅, 宝宝辅食
    assert _names_something("儿童座椅", frozenset(), "zh") and _names_something("宝宝辅食", frozenset(), "zh")
