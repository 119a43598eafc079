"""Language routing with known answers: the shared helper (grouping, input order, one model call
per language, the missing-language answer, no dropped result) and the runners built on it
(aspects, NER), plus the sequence runner's one answer per request."""

from __future__ import annotations

import random
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest

from mining.contracts import AspectSpan, EntitySpan, OpinionSpan, TextItem
from mining.products import ProductTypes
from mining.routing import route_by_language
from tests.support.fakes import FixedClassifier


@dataclass(frozen=True)
class Item:
    text: str
    lang: str


class Recorder:
    """A per-language function that answers ``lang:text`` and records each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    def __call__(self, lang: str, texts: list[str]) -> list[str]:
        self.calls.append((lang, list(texts)))
        return [f"{lang}:{t}" for t in texts]


def test_mixed_languages_come_back_in_input_order_with_one_call_per_language() -> None:
    items = [Item("a", "en"), Item("甲", "zh"), Item("x", "fr"), Item("b", "en"), Item("乙", "zh"), Item("y", "ja")]
    predict = Recorder()
    missed: list[Item] = []

    def missing(item: Item) -> str:
        missed.append(item)
        return f"none:{item.lang}:{item.text}"

    out = route_by_language(items, {"en": "model-en", "zh": "model-zh", "de": "model-de"}, predict, missing)
    assert out == ["en:a", "zh:甲", "none:fr:x", "en:b", "zh:乙", "none:ja:y"]
    # The languages' order, each once with its texts in input order; a language without texts is never called.
    assert predict.calls == [("en", ["a", "b"]), ("zh", ["甲", "乙"])]
    assert missed == [items[2], items[5]]


def test_a_text_in_a_language_no_model_reads_gets_the_unreadable_answer() -> None:
    # Detected as zh (kanji) and en (Latin letters), but Japanese and Spanish.
    items = [Item("この商品はとても良いです", "zh"), Item("很好", "zh"), Item("Este producto es muy malo", "en")]
    predict = Recorder()
    out = route_by_language(items, {"zh": 1, "en": 2}, predict, unreadable=lambda item, lang: f"unreadable:{lang}")
    assert out == ["unreadable:Japanese", "zh:很好", "unreadable:Spanish"]
    assert predict.calls == [("zh", ["很好"])]
    assert route_by_language(items[2:], {"en": 2}, predict) == ["en:Este producto es muy malo"]  # no callback: routed


def test_an_empty_input_calls_nothing() -> None:
    predict = Recorder()
    assert route_by_language([], {"zh": 1}, predict, lambda item: pytest.fail("missing called")) == []
    assert predict.calls == []


def test_without_a_missing_callback_an_unrouted_item_is_an_error_before_any_model_runs() -> None:
    predict = Recorder()
    items = [Item("a", "en"), Item("甲", "zh"), Item("x", "fr")]
    with pytest.raises(
        RuntimeError, match=r"item 2: no model for its language 'fr' \(models exist for \['en', 'zh'\]\)"
    ):
        route_by_language(items, {"zh": 1, "en": 2}, predict)
    assert predict.calls == []
    assert route_by_language(items[:2], {"zh": 1, "en": 2}, predict) == ["en:a", "zh:甲"]


def test_a_short_answer_is_an_error_never_a_dropped_result() -> None:
    with pytest.raises(RuntimeError, match="the 'zh' model answered 1 of 2 texts"):
        route_by_language([Item("甲", "zh"), Item("乙", "zh")], {"zh": 1}, lambda lang, texts: ["only one"])
    # A result that happens to be None is a result: kept in place.
    none_for_zh = route_by_language([Item("甲", "zh"), Item("a", "en")], {"zh": 1}, lambda lang, texts: [None], str)
    assert none_for_zh == [None, "Item(text='a', lang='en')"]


def test_routing_equals_answering_each_item_alone() -> None:
    rng = random.Random(7)
    for _ in range(50):
        items = [Item(f"t{i}", rng.choice(["zh", "en", "fr", "ja"])) for i in range(rng.randrange(0, 30))]
        available = rng.sample(["zh", "en", "fr", "ja"], rng.randrange(0, 5))
        predict = Recorder()
        out = route_by_language(items, available, predict, lambda item: f"none:{item.text}")
        assert out == [f"{it.lang}:{it.text}" if it.lang in available else f"none:{it.text}" for it in items]
        assert [lang for lang, _ in predict.calls] == [
            lang for lang in available if any(it.lang == lang for it in items)
        ]


def test_predict_routed_asks_each_model_once_and_keeps_the_order() -> None:
    from mining.models.textclf import predict_routed

    zh, en = (
        FixedClassifier(["negative", "positive"], [0.1, 0.9]),
        FixedClassifier(["negative", "positive"], [0.8, 0.2]),
    )
    items = [TextItem(text="good", lang="en"), TextItem(text="很好", lang="zh"), TextItem(text="bad", lang="en")]
    out = predict_routed({"zh": zh, "en": en}, {"zh": "s-zh:1", "en": "s-en:1"}, items, task="sentiment")
    assert [(r.lang, r.label, r.model) for r in out] == [
        ("en", "negative", "s-en:1"),
        ("zh", "positive", "s-zh:1"),
        ("en", "negative", "s-en:1"),
    ]
    assert (zh.calls, en.calls) == ([["很好"]], [["good", "bad"]])
    spanish_item = [TextItem(text="Es muy malo, no lo compren", lang="en")]
    (spanish,) = predict_routed({"zh": zh, "en": en}, {"zh": "s-zh:1", "en": "s-en:1"}, spanish_item)
    assert (spanish.label, spanish.model) == (None, None)
    assert spanish.reason == "the text looks Spanish; the classification models read Chinese and English only"
    (only,) = predict_routed({"zh": zh}, {"zh": "s-zh:1"}, items[:1], task="sentiment")
    assert (only.label, only.model, only.reason) == (
        None,
        None,
        "no sentiment model for 'en' text (models exist for ['zh'])",
    )


# --- runners ------------------------------------------------------------------------------------


class FakeAspects:
    """Per text two aspects: characters 0-2 (no opinion) and 3-5 (character 2 as its negative opinion)."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def predict(self, texts: list[str]) -> list[list[Any]]:
        self.calls.append(list(texts))
        return [
            [
                SimpleNamespace(aspect=t[:2], start=0, end=2, polarity="positive", score=0.75, opinion=None),
                SimpleNamespace(
                    aspect=t[3:5],
                    start=3,
                    end=5,
                    polarity="negative",
                    score=0.5,
                    opinion=SimpleNamespace(text=t[2], start=2, end=3, polarity="negative"),
                ),
            ]
            for t in texts
        ]


def _runner(langs: dict[str, str], models: dict[str, Any], **extra: Any) -> SimpleNamespace:
    return SimpleNamespace(
        models=models,
        tags={name: f"{name}:v1" for name in models},
        specs={name: SimpleNamespace(lang=langs[name]) for name in models},
        **extra,
    )


def test_aspects_runner_routes_by_language_and_gives_a_reason_where_no_model_exists() -> None:
    from runners.aspects import AspectsRunner

    model = FakeAspects()
    runner = _runner({"aspects-zh": "zh"}, {"aspects-zh": model})
    items = [
        TextItem(text="the battery", lang="en"),
        TextItem(text="电池差屏幕", lang="zh"),
        TextItem(text="外观好价格", lang="zh"),
    ]
    en, zh1, zh2 = AspectsRunner.inner.predict.func(runner, items)
    assert (en.lang, en.aspects, en.models) == ("en", [], [])
    assert en.reason == "no aspects model for 'en' text (models exist for ['zh'])"
    assert zh1.lang == "zh" and zh1.models == ["aspects-zh:v1"] and zh1.reason is None
    assert zh1.aspects == [
        AspectSpan(aspect="电池", start=0, end=2, polarity="positive", score=0.75, opinion=None),
        AspectSpan(
            aspect="屏幕",
            start=3,
            end=5,
            polarity="negative",
            score=0.5,
            opinion=OpinionSpan(text="差", start=2, end=3, polarity="negative"),
        ),
    ]
    assert [a.aspect for a in zh2.aspects] == ["外观", "价格"]
    assert model.calls == [["电池差屏幕", "外观好价格"]]


class FakeNer:
    """Entities by table: ``found[text]`` is this model's entity list for ``text``."""

    def __init__(self, found: dict[str, list[dict[str, Any]]]) -> None:
        self.found = found


def _ent(type_: str, text: str, start: int, score: float) -> dict[str, Any]:
    return {"type": type_, "text": text, "start": start, "end": start + len(text), "score": score}


def test_ner_runner_merges_every_model_of_a_language_in_input_order(monkeypatch: pytest.MonkeyPatch) -> None:
    import mining.models.ner as ner
    from runners.ner import NerRunner

    calls: list[tuple[int, list[str]]] = []

    def extract_entities(model: FakeNer, texts: list[str]) -> list[list[dict[str, Any]]]:
        calls.append((id(model), list(texts)))
        return [model.found.get(t, []) for t in texts]

    monkeypatch.setattr(ner, "extract_entities", extract_entities)
    zh = FakeNer({"北京的天气": [_ent("LOC", "北京", 0, 0.9)]})
    en = FakeNer({"Apple store in Paris": [_ent("LOC", "Paris", 15, 0.8)]})
    products = FakeNer({"Apple store in Paris": [_ent("PRODUCT", "Apple store", 0, 0.6)]})
    brands = SimpleNamespace(
        find=lambda text: (
            [SimpleNamespace(text="Apple", start=0, end=5, brand="Apple")] if text.startswith("Apple") else []
        )
    )
    runner = _runner(
        {"ner-zh": "zh", "ner-en": "en", "ner-products-en": "en"},
        {"ner-zh": zh, "ner-en": en, "ner-products-en": products},
        brands=brands,
        # Each language's text is looked up in its own list (no English list here).
        product_types={"zh": ProductTypes(["天气", "store"])},
    )
    items = [
        TextItem(text="Apple store in Paris", lang="en"),
        TextItem(text="北京的天气", lang="zh"),
        TextItem(text="nothing here", lang="en"),
    ]
    first, second, third = NerRunner.inner.predict.func(runner, items)
    # The brand (score 1) wins the span the product model contested; Paris does not overlap it.
    assert first.entities == [
        EntitySpan(type="BRAND", text="Apple", start=0, end=5, score=1.0, source="brands", canonical="Apple"),
        EntitySpan(type="LOC", text="Paris", start=15, end=20, score=0.8),
    ]
    assert (first.lang, first.models) == ("en", ["ner-en:v1", "ner-products-en:v1"])
    assert second.entities == [
        EntitySpan(type="LOC", text="北京", start=0, end=2, score=0.9),
        EntitySpan(type="CATEGORY", text="天气", start=3, end=5, score=1.0, source="product_types"),
    ]
    assert (second.lang, second.models) == ("zh", ["ner-zh:v1"])
    assert (third.lang, third.entities, third.models) == ("en", [], ["ner-en:v1", "ner-products-en:v1"])
    both_en = ["Apple store in Paris", "nothing here"]
    assert calls == [(id(zh), ["北京的天气"]), (id(en), both_en), (id(products), both_en)]


def test_ner_runner_reads_no_model_for_a_language_none_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    import mining.models.ner as ner
    from mining.brands import BrandTable
    from runners.ner import NerRunner

    calls: list[list[str]] = []

    def extract_entities(model: FakeNer, texts: list[str]) -> list[list[dict[str, Any]]]:
        calls.append(list(texts))
        return [[_ent("LOC", texts[0][:2], 0, 0.9)] for _ in texts]

    monkeypatch.setattr(ner, "extract_entities", extract_entities)
    runner = _runner(
        {"ner-zh": "zh", "ner-en": "en"},
        {"ner-zh": FakeNer({}), "ner-en": FakeNer({})},
        brands=BrandTable([{"brand": "Apple", "aliases": "iPhone"}]),
        product_types={"zh": ProductTypes(["手机"]), "en": ProductTypes(["iphone"], "en")},
    )
    # Japanese would be routed to the Chinese models by its kanji, Spanish to the English ones.
    items = [
        TextItem(text="このiPhoneの画面は5000mAhです", lang="zh"),
        TextItem(text="Quiero devolver el iPhone, no es lo que esperaba", lang="en"),
        TextItem(text="北京的手机", lang="zh"),
    ]
    ja, es, zh = NerRunner.inner.predict.func(runner, items)
    assert calls == [["北京的手机"]]  # only the Chinese text reached a model
    assert (ja.models, es.models) == ([], [])
    assert ja.reason is not None and "Japanese" in ja.reason and es.reason is not None and "Spanish" in es.reason
    # The brands table and the attribute patterns still read names as written.
    assert [(e.type, e.text, e.source) for e in ja.entities] == [
        ("BRAND", "iPhone", "brands"),
        ("CAPACITY", "5000mAh", "pattern"),
    ]
    assert [(e.type, e.text) for e in es.entities] == [("BRAND", "iPhone")]
    assert zh.reason is None and [e.type for e in zh.entities] == ["LOC", "CATEGORY"]


def test_ner_runner_names_a_text_without_a_model_instead_of_dropping_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import mining.models.ner as ner
    from runners.ner import NerRunner

    monkeypatch.setattr(ner, "extract_entities", lambda model, texts: pytest.fail("a model ran"))
    runner = _runner(
        {"ner-zh": "zh"},
        {"ner-zh": FakeNer({})},
        brands=SimpleNamespace(find=lambda text: []),
        product_types={},
    )
    items = [TextItem(text="北京", lang="zh"), TextItem(text="London", lang="en")]
    with pytest.raises(RuntimeError, match=r"item 1: no model for its language 'en' \(models exist for \['zh'\]\)"):
        NerRunner.inner.predict.func(runner, items)


class FakeSequence:
    served = "network"

    def __init__(self, short: bool = False) -> None:
        self.short = short
        self.calls: list[tuple[int, bool]] = []

    def predict(self, histories: list[list[tuple[str, str]]], n: int, exclude_seen: bool) -> list[dict[str, Any]]:
        self.calls.append((len(histories), exclude_seen))
        answers = [{"items": [(f"after-{h[-1][0]}", 0.5), ("other", 0.25)], "used": len(h)} for h in histories]
        return answers[:-1] if self.short else answers


def test_sequence_runner_answers_every_request_in_order_and_a_short_answer_is_an_error() -> None:
    from runners.sequence import SequenceRunner

    model = FakeSequence()
    runner = SimpleNamespace(models={"sequence": model}, tags={"sequence": "sequence:v1"})
    requests = [
        {"events": [["a", "view"]], "n": 1},
        {"events": [["b", "view"], ["c", "buy"]], "n": 2, "exclude_seen": False},
        {"events": [["d", "view"]], "n": 2, "exclude_seen": True},
    ]
    out = SequenceRunner.inner.predict.func(runner, requests)
    assert [[i.item_id for i in r.items] for r in out] == [["after-a"], ["after-c", "other"], ["after-d", "other"]]
    assert [r.used for r in out] == [1, 2, 1] and {r.model for r in out} == {"sequence:v1"}
    assert model.calls == [(2, True), (1, False)]
    short = SimpleNamespace(models={"sequence": FakeSequence(short=True)}, tags={"sequence": "sequence:v1"})
    with pytest.raises(RuntimeError, match="the sequence model answered 1 of 2 requests"):
        SequenceRunner.inner.predict.func(short, requests)
