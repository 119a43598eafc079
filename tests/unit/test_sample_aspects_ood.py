"""The out-of-domain sampler on a tiny known table: one eligible sentence per review, archive
sentences and near-identical ones never drawn, excluded reviews skipped, the same seed the same
draw."""

from __future__ import annotations

from training.sample_aspects_ood import draw, eligible_sentences, near_key


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
