"""The out-of-domain sampler on a tiny known table: one eligible sentence per review, archive
sentences and near-identical ones never drawn, excluded reviews skipped, the same seed the same
draw."""

from __future__ import annotations

from training.sample_aspects_ood import draw, eligible_sentences, english_sentences, near_key


def test_eligible_sentences_keep_their_closing_marks_and_need_six_to_sixty_characters_with_a_cjk_one() -> None:
    review = "物流很快！！包装也不错。好。ok ok ok ok ok。" + "很" * 61 + "。"
    assert eligible_sentences(review) == ["物流很快！！", "包装也不错。"]


def test_near_key_ignores_case_width_space_punctuation_and_symbols() -> None:
    assert near_key("Ｗi-Fi 很好！") == near_key("wifi很好") == "wifi很好"


def test_the_draw_skips_archive_near_identical_and_excluded_sentences() -> None:
    reviews = [
        ("书的内容很丰富。", "书籍"),  # 0: in the archive
        ("作者文笔很好。", "书籍"),  # 1
        ("作者文笔很好！", "书籍"),  # 2: near-identical to 1
        ("纸张质量太差了。", "书籍"),  # 3: excluded row
        ("裤子面料很舒服。", "衣服"),  # 4
        ("好。", "衣服"),  # 5: nothing eligible
    ]
    rows = draw(reviews, ["这本书的内容很丰富。"], seed=1, per_category=5, exclude_rows={3})
    texts = {r["source"]["row"]: r["text"] for r in rows}
    assert 0 not in texts and 3 not in texts and 5 not in texts
    assert texts[4] == "裤子面料很舒服。"
    assert len({1, 2} & set(texts)) == 1  # whichever the shuffle reaches first
    assert all(r["split"] == "test" and r["aspects"] is None and r["lang"] == "zh" for r in rows)
    assert {r["domain"] for r in rows} == {"books", "clothes"}
    assert draw(reviews, ["这本书的内容很丰富。"], seed=1, per_category=5, exclude_rows={3}) == rows


def test_the_draw_stops_at_the_count_and_excluded_texts_count_as_taken() -> None:
    words = ["物流很快速", "包装很结实", "价格很实惠", "客服很耐心", "颜色很正宗", "尺码很标准"]
    reviews = [(f"这件衣服{w}。", "衣服") for w in words]
    assert len(draw(reviews, [], seed=3, per_category=4)) == 4
    assert len(draw(reviews, [], seed=3, per_category=10)) == 6
    taken = draw(reviews, [], seed=3, per_category=10, exclude_texts=["这件衣服物流很快速！"])
    assert len(taken) == 5 and all("物流" not in r["text"] for r in taken)


def test_english_sentences_cut_after_end_marks_before_space_and_keep_five_to_forty_words() -> None:
    review = "Tastes great, costs 2.5 dollars a box!! Well..not bad at all, really; buy it<br />Too short. " + "a " * 41
    assert english_sentences(review) == ["Tastes great, costs 2.5 dollars a box!!", "Well..not bad at all, really;"]


def test_english_reviews_are_drawn_after_the_chinese_with_the_same_generator() -> None:
    reviews = [("裤子面料很舒服。", "衣服")]
    english = [("The coffee is smooth and rich.", "c", 0), ("The box arrived crushed badly.", "c", 1)]
    rows = draw(reviews, [], seed=5, per_category=1, english=english, english_count=2, english_exclude={("c", 1)})
    assert [(r["lang"], r["domain"], r["text"]) for r in rows] == [
        ("zh", "clothes", "裤子面料很舒服。"),
        ("en", "fine_food", "The coffee is smooth and rich."),
    ]
