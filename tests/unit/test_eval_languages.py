"""The language check sets and what the rule does on them (no training table needed)."""

from __future__ import annotations

from mining.text import unsupported_language
from training.eval_languages import _tsv, share


def test_share_counts_and_interval() -> None:
    r = share([True, False, False, True], n_boot=200, seed=0)
    assert (r["n"], r["hits"], r["share"]) == (4, 2, 0.5)
    assert 0.0 <= r["ci95"][0] <= 0.5 <= r["ci95"][1] <= 1.0


def test_check_sets_are_whole() -> None:
    rows = _tsv("other_languages.tsv")
    assert {r["set"] for r in rows} == {"development", "check"}
    assert sum(r["set"] == "check" for r in rows) == 72
    assert all(len(r["lang"]) == 2 and r["text"].strip() for r in rows)


def test_english_with_foreign_letters_stays_english() -> None:
    refused = [(r["text"], lang) for r in _tsv("english_loanwords.tsv") if (lang := unsupported_language(r["text"]))]
    assert refused == []


def test_development_rows_are_caught() -> None:
    # the rows the word lists were written on: a drop here is a list or rule broken
    rows = [r["text"] for r in _tsv("other_languages.tsv") if r["set"] == "development"]
    caught = sum(unsupported_language(t) is not None for t in rows)
    assert caught >= 100, f"{caught} of {len(rows)}"
