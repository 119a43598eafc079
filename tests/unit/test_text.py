import pytest

from mining.text import (
    Vocab,
    detect_language,
    hashed_ngrams,
    mask_pii,
    normalize,
    segment_words,
    unsupported_language,
)
from training.dedup import dedup_key, deduplicate_labelled, duplicate_clusters


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ＡＢＣ１２３", "ABC123"),  # full-width Latin and digits
        ("质量\u3000很好！", "质量 很好!"),  # ideographic space, full-width punctuation
        ("Great<br /><br />taste", "Great taste"),
        ("  many \t\n spaces  ", "many spaces"),
        ("zero\u200bwidth", "zerowidth"),
        ("ﬁne", "fine"),  # compatibility ligature
        ("", ""),
        ("這個手機電池不耐用", "这个手机电池不耐用"),  # Traditional characters read as Simplified
        ("衣服質量很差，退貨！", "衣服质量很差,退货!"),
        ("显著著名的干部", "显著著名的干部"),  # Simplified text stays as it is
        ("Apple 蘋果 ipad", "Apple 苹果 ipad"),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_traditional_characters_keep_their_offsets() -> None:
    from mining.text import normalize_with_offsets, traditional_to_simplified

    table = traditional_to_simplified()
    assert len(table) > 4000 and all(len(v) == 1 for v in table.values())
    assert ord("这") not in table  # a Simplified character is never changed
    text = "這家酒店的服務非常好"
    out, src = normalize_with_offsets(text)
    assert out == "这家酒店的服务非常好" and src == [(i, i + 1) for i in range(len(text))]


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("质量很好，物流也快", "zh"),
        ("The coffee arrived stale.", "en"),
        ("这个iPhone壳很好用", "zh"),
        ("I bought it in 北京 last week and it broke", "en"),
        ("12345 !!!", "en"),
        ("😀", "en"),
    ],
)
def test_detect_language(text: str, lang: str) -> None:
    assert detect_language(text) == lang


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("この商品はとても良いです", "Japanese"),
        ("이 제품 정말 좋아요", "Korean"),
        ("Este producto es muy malo, no lo recomiendo", "Spanish"),
        ("Ce produit est excellent", "French"),
        ("Das ist ein schlechtes Produkt", "German"),
        ("Produto muito bom, chegou rápido", "Portuguese"),
        ("Questo prodotto è molto buono", "Italian"),
        ("Очень хороший товар", "Russian or another Cyrillic language"),
        ("המוצר הזה מצוין", "Hebrew"),  # other alphabets by their letters' Unicode names
        ("Αυτό το προϊόν είναι καλό", "Greek"),
        ("ეს პროდუქტი კარგია", "Georgian"),
        ("এই পণ্যটি খুব ভালো", "Bengali"),
        ("5Ω 10μF resistor kit", None),  # a unit's letter is no Greek text
        # service requests without a function word of the first lists
        ("Quiero devolver mi pedido", "Spanish"),
        ("Dónde está", "Spanish"),  # accented words count (they had been cut at the accent)
        ("Não recebi a encomenda", "Portuguese"),
        ("Je voudrais retourner ma commande", "French"),
        ("Wo ist mein Paket?", "German"),
        ("Quero devolver o meu pedido", "Portuguese"),
        ("Voglio restituire il prodotto", "Italian"),
        # short reviews: two words of the language, or one and its own letters
        ("Produit de mauvaise qualité", "French"),
        ("Sehr gutes Produkt", "German"),
        ("Slecht product, niet kopen", "Dutch"),
        ("Produk bagus sekali", "Indonesian"),
        ("Emballage abîmé", "French"),  # one word and letters English does not write
        # letters of one language alone, however few words
        ("Sản phẩm rất tốt", "Vietnamese"),
        ("Siparişım ığ", "Turkish"),
        ("Przesyłka źle", "Polish"),
        # what the models read, however it looks
        ("The crème brûlée was great", None),  # letters do not count beside English function words
        ("Açaí bowl mix", None),  # nor more than once
        ("Mötley Crüe vinyl", None),
        ("Non stick pan, very good", None),  # non as in non-stick is no Italian
        ("這個產品很好", None),
        ("我の手机很好用", None),  # one borrowed kana in Chinese
        ("I bought it at La Casa del Sol and it is great", None),  # more English than Spanish
        ("Le Creuset pan, great quality", None),
        ("good phone, muy bueno", None),
        ("hola, where is my package", None),  # a greeting borrowed into English
        ("Xiaomi Mi Band 6 Mi Smart Band", None),  # Mi is a product line, not Spanish for "my"
        ("iPhone 15 Pro Max 256GB", None),
        ("外观不错，y330的配置也好", None),  # Latin words in Chinese text are not weighed
        ("12345 !!!", None),
        ("😀", None),
    ],
)
def test_languages_no_model_reads_are_named(text: str, language: str | None) -> None:
    assert unsupported_language(text) == language


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("mail me at li.wei+shop@example.com.cn please", "mail me at <EMAIL> please"),
        ("我的手机是13812345678，谢谢", "我的手机是<PHONE>，谢谢"),
        ("手机 +86 138-1234-5678", "手机 <PHONE>"),
        ("call (415) 555-2671 today", "call <PHONE> today"),
        ("call 1-800-833-5330 and ask", "call <PHONE> and ask"),  # seen in the Fine Food reviews
        ("座机 010-62345678", "座机 <PHONE>"),
        ("身份证110101199003074578号", "身份证<ID>号"),
        ("ID 11010519491231002X ok", "ID <ID> ok"),
        ("card 4111 1111 1111 1111 exp", "card <CARD> exp"),
        ("卡号6222020200112233446", "卡号<CARD>"),  # Luhn-valid UnionPay-style number
        ("order 123456789012345 shipped", "order 123456789012345 shipped"),  # fails Luhn: not a card
        ("I paid 1299 yuan for 2 pcs", "I paid 1299 yuan for 2 pcs"),
        ("no pii here", "no pii here"),
    ],
)
def test_mask_pii(raw: str, masked: str) -> None:
    assert mask_pii(raw) == masked


def test_dedup_key_ignores_punctuation_case_and_width() -> None:
    assert dedup_key("Great  product!!") == dedup_key("great product") == dedup_key("ＧＲＥＡＴ product")


def test_duplicate_clusters_exact_and_near() -> None:
    base = "这本书的内容非常丰富，印刷质量也很好，推荐给所有喜欢历史的朋友们阅读"
    texts = [
        base,
        base + "!",  # exact after the key
        base.replace("很好", "极好"),  # near duplicate: 3-gram Jaccard 0.82
        "完全不同的一条评论，说的是手机电池续航太差了，不推荐购买",
    ]
    clusters = duplicate_clusters(texts)
    assert clusters.tolist() == [0, 0, 0, 3]


def test_deduplicate_labelled_drops_conflicts_and_keeps_first() -> None:
    texts = ["good stuff", "Good stuff!", "bad stuff here", "bad stuff here.", "fine"]
    labels = ["pos", "pos", "neg", "pos", "pos"]
    keep, stats = deduplicate_labelled(texts, labels)
    assert keep.tolist() == [0, 4]
    assert (stats.n_in, stats.n_out, stats.n_duplicates, stats.n_conflicting) == (5, 2, 1, 2)


def test_deduplicate_labelled_checks_lengths() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        deduplicate_labelled(["a"], [])


def test_segment_words_zh_and_en() -> None:
    assert segment_words("i don't like it", "en") == ["i", "don't", "like", "it"]
    # a word keeps its accented letters (they had cut it: pok + é + mon)
    assert segment_words("my pokémon café, naïve!", "en") == ["my", "pokémon", "café", ",", "naïve", "!"]
    words = segment_words("物流很快", "zh")
    assert "".join(words) == "物流很快" and len(words) >= 2


def test_hashed_ngrams_range_and_determinism() -> None:
    ids = hashed_ngrams("好评", ["好评"], 1000)
    assert ids == hashed_ngrams("好评", ["好评"], 1000)
    assert len(ids) == 2 + 1 + 0 + 1  # two unigrams, one bigram, no trigram, one word
    assert all(0 <= i < 1000 for i in ids)
    assert hashed_ngrams("", [], 10) == [0]


def test_vocab_build_and_encode() -> None:
    v = Vocab.build(["aab", "ab"], min_count=2)
    assert v.tokens[:2] == ["<pad>", "<unk>"] and set(v.tokens[2:]) == {"a", "b"}
    assert v.encode("abz") == [v.index["a"], v.index["b"], Vocab.UNK]
    with pytest.raises(ValueError, match="starts with"):
        Vocab(["a", "b"])


def test_clean_normalises_then_masks() -> None:
    from mining.text import clean

    assert clean("联系我：１３８１２３４５６７８ 或 ｌｉ@ｅｘａｍｐｌｅ.ｃｏｍ") == "联系我:<PHONE> 或 <EMAIL>"


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("mail ｊｏ＠ｅｘａｍｐｌｅ．ｃｏｍ now", "mail <EMAIL> now"),  # full-width @ and dot
        ("call 138\u200b1234\u200b5678", "call <PHONE>"),  # zero-width spaces between the digits
        ("a\u2060b@c\u00add.com", "<EMAIL>"),  # word joiner and soft hyphen inside an address
        ("write jö@bücher.de", "write <EMAIL>"),  # internationalised address
        ("x 用户@例子.公司 y", "x <EMAIL> y"),
        ("我的邮箱是abc@qq.com谢谢", "我的邮箱是<EMAIL>谢谢"),  # glued to Chinese: the Latin address alone
        ("用户名abc_1@163.com吗", "用户名<EMAIL>吗"),
        ("\u202ejo@example.com\u202c", "<EMAIL>"),  # bidi override around it
        ("价格@199.00元", "价格@199.00元"),  # not an address: the top-level domain must be letters
    ],
)
def test_clean_masks_what_hides_from_the_raw_patterns(raw: str, cleaned: str) -> None:
    from mining.text import clean

    assert clean(raw) == cleaned


@pytest.mark.parametrize(
    ("raw", "normalised_span", "original_span"),
    [
        ("我买了ＡＰＰＬＥ手机", "APPLE", "ＡＰＰＬＥ"),  # full-width Latin inside Chinese
        ("  Great   coffee<br />from Kenya", "Kenya", "Kenya"),  # whitespace runs and markup before it
        ("😀😀 华为Mate60很好", "Mate60", "Mate60"),  # emoji are 1 code point each, kept
        ("café ｃａｆe\u0301", "café", "ｃａｆe\u0301"),  # full-width letters plus a combining accent
        ("①号店", "1号店", "①号店"),  # one input character -> one output character here
        ("ﬁne print", "fine", "ﬁne"),  # one input character -> two output characters
    ],
)
def test_offsets_point_into_the_original_text(raw: str, normalised_span: str, original_span: str) -> None:
    from mining.text import normalize_with_offsets

    norm, src = normalize_with_offsets(raw)
    assert norm == normalize(raw) and len(src) == len(norm)
    start = norm.rindex(normalised_span)
    end = start + len(normalised_span)
    assert raw[src[start][0] : src[end - 1][1]] == original_span


def test_offsets_of_a_collapsed_whitespace_run_cover_the_run() -> None:
    from mining.text import normalize_with_offsets

    norm, src = normalize_with_offsets("a \t\n b")
    assert norm == "a b" and src == [(0, 1), (1, 5), (5, 6)]
