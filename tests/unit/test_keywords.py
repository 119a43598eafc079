import json
from pathlib import Path

import pytest

from mining.models.keywords import KeywordExtractor, content_runs

CORPUS = [
    "The coffee arrived fresh and the coffee tastes great.",
    "Great coffee, fast delivery.",
    "The tea was stale.",
    "Delivery was slow but the tea is fine.",
    "物流很快，包装很好",
    "物流太慢了，包装破损",
    "手机质量不错，物流也快",
]


@pytest.fixture(scope="module")
def extractor() -> KeywordExtractor:
    return KeywordExtractor.fit(CORPUS, min_df=1)


def test_stop_words_and_punctuation_break_runs() -> None:
    assert content_runs("The coffee maker, and the grinder!", "en") == [["coffee", "maker"], ["grinder"]]
    assert all("的" not in run for run in content_runs("这是我的手机电池", "zh"))
    # 很强 and 挺好 (jieba's words) judge; they are not what the text is about
    assert content_runs("吸力很强，续航挺好", "zh") == [["吸力"], ["续航"]]
    # accented letters stay inside their word (café had been caf, Pokémon pok and mon)
    assert content_runs("Pokémon cards and café beans", "en") == [["pokémon", "cards"], ["café", "beans"]]


def test_rare_words_outrank_common_ones(extractor: KeywordExtractor) -> None:
    out = extractor.extract("Coffee grinder broke; the grinder was new.", top_k=5)
    assert out["lang"] == "en"
    words = [k["keyword"] for k in out["keywords"]]
    # "grinder" is unseen in the corpus and said twice; "coffee" is in 2 of 7 documents.
    assert words[0] == "grinder"
    assert "coffee" in words and "the" not in words and "was" not in words
    scores = [k["score"] for k in out["keywords"]]
    assert scores == sorted(scores, reverse=True)


def test_phrases_do_not_repeat_their_words(extractor: KeywordExtractor) -> None:
    out = extractor.extract("replacement coffee maker; the coffee maker leaks, coffee maker again", top_k=10)
    words = [k["keyword"] for k in out["keywords"]]
    assert words[0] == "coffee maker"
    assert "coffee" not in words and "maker" not in words


def test_chinese_keywords(extractor: KeywordExtractor) -> None:
    out = extractor.extract("电池续航太差，电池发热严重", top_k=3)
    assert out["lang"] == "zh" and out["keywords"][0]["keyword"].startswith("电池")
    assert extractor.extract("的了吗", top_k=3)["keywords"] == []


def test_save_load_round_trip_and_bad_input(extractor: KeywordExtractor, tmp_path: Path) -> None:
    extractor.save(tmp_path)
    loaded = KeywordExtractor.load(tmp_path)
    text = "fast delivery of fresh tea"
    assert loaded.extract(text) == extractor.extract(text)
    with pytest.raises(TypeError, match="item 1 is NoneType"):
        loaded.extract_many(["ok", None])  # type: ignore[list-item]


def test_stop_words_come_from_the_data_files() -> None:
    from mining.wordlists import WORDS_DIR, stop_words, word_list

    en, zh = stop_words("en"), stop_words("zh")
    assert len(en) == 201 and len(zh) == 168
    assert {"the", "and", "about"} <= en and "battery" not in en
    assert {"的", "了", "和"} <= zh and "电池" not in zh
    assert en == word_list("en_stop_words") and (WORDS_DIR / "README.md").exists()


def test_names_of_goods_the_segmenter_cuts_are_one_keyword(extractor: KeywordExtractor) -> None:
    from mining.models.keywords import merge_compounds

    zh = frozenset({"空气炸锅", "扫地机器人"})
    assert merge_compounds(["这款", "空气", "炸锅", "很", "好"], zh, "zh") == ["这款", "空气炸锅", "很", "好"]
    en = frozenset({"air fryer", "robot vacuum cleaner", "robot vacuum"})
    assert merge_compounds(["the", "robot", "vacuum", "cleaner", "air"], en, "en") == [
        "the",
        "robot vacuum cleaner",
        "air",
    ]
    local = KeywordExtractor.fit([*CORPUS, "空气清新", "空气很好", "这里空气不错", "容量很大"], min_df=1)
    text = "这款空气炸锅容量够大，炸鸡翅很脆"
    cut = [k["keyword"] for k in local.extract(text, top_k=10)["keywords"]]
    assert "炸锅" in cut and not any("空气炸锅" in k for k in cut)  # jieba: 空气 / 炸锅
    whole = [k["keyword"] for k in local.extract(text, top_k=10, compounds=zh)["keywords"]]
    assert "空气炸锅" in whole and "空气" not in whole and "炸锅" not in whole
    # Unseen as one word by the corpus counts, a compound is as rare as its rarest part.
    assert local._idf_of("空气炸锅", "zh", zh) == max(local.idf("空气", "zh"), local.idf("炸锅", "zh"))
    assert local._idf_of("空气炸锅", "zh", frozenset()) == local.idf("空气炸锅", "zh")  # not merged: as before
    assert local.idf("空气", "zh") < local.idf("炸锅", "zh")
    out = local.extract_many(["My air fryer is great", "这款空气炸锅很好"], compounds={"en": en, "zh": zh})
    assert out[0]["keywords"][0]["keyword"] == "air fryer" and out[1]["keywords"][0]["keyword"] == "空气炸锅"


def test_the_extractors_own_compounds_are_counted_kept_and_read_as_one_word(tmp_path: Path) -> None:
    corpus = [*CORPUS, "battery life is short", "the battery died", "long life", "battery life is great"]
    extractor = KeywordExtractor.fit(corpus, min_df=1, compounds={"en": ["Battery Life"]})
    assert extractor.doc_freq["en"]["battery life"] == 2  # counted as one word, lower-cased
    assert extractor.doc_freq["en"]["battery"] == 1 and extractor.doc_freq["en"]["life"] == 1
    words = [k["keyword"] for k in extractor.extract("The battery life is awful", top_k=5)["keywords"]]
    assert "battery life" in words and "battery" not in words and "life" not in words
    extractor.save(tmp_path)
    assert KeywordExtractor.load(tmp_path).compounds == {"en": frozenset({"battery life"})}
    # An artifact written before compounds were kept loads with none.
    spec = json.loads((tmp_path / "model.json").read_text())
    del spec["compounds"]
    (tmp_path / "model.json").write_text(json.dumps(spec))
    assert KeywordExtractor.load(tmp_path).compounds == {}


def test_aspect_terms_named_often_become_compounds(monkeypatch: pytest.MonkeyPatch) -> None:
    from training import train_keywords

    def row(text: str, spans: list[tuple[int, int]], lang: str = "en", split: str = "train") -> dict[str, object]:
        aspects = [{"start": s, "end": e, "polarity": "positive"} for s, e in spans]
        return {"text": text, "lang": lang, "split": split, "domain": "d", "aspects": aspects}

    rows = [row("Battery life rocks", [(0, 12)])] * 3 + [row("battery life", [(0, 12)], split="test")] * 5
    rows += [row("bottle of wine", [(0, 14)])] * 3 + [row("screen is fine", [(0, 6)])] * 3
    rows += [row("电池续航很好", [(0, 4)], "zh")] * 3 + [row("屏幕很好", [(0, 2)], "zh")] * 3
    monkeypatch.setattr(train_keywords.data, "read_aspects", lambda _path: rows)
    monkeypatch.setattr(train_keywords.data, "aspects_table", lambda: Path("unused"))
    # Training split only; one-word terms and terms holding a stop word are not compounds.
    assert train_keywords.aspect_compounds(3) == {"en": ["battery life"], "zh": ["电池续航"]}
    assert train_keywords.aspect_compounds(4) == {"en": [], "zh": []}
    assert train_keywords.aspect_compounds(0) == {}
