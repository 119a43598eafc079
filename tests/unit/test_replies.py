"""Reply knowledge base and rankers (mining.replies), its build rules (training.build_replies) and the
retrieval measurement's arithmetic (training.eval_replies), on tiny hand-made fixtures."""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from mining.replies import (
    LABELS,
    Bm25Ranker,
    ReplyEntry,
    ReplyIndex,
    TfidfRanker,
    fill,
    load_kb,
    load_ranker,
    load_shop_values,
    placeholders,
    slot_key,
    tokens,
    write_kb,
)
from training.build_replies import en_entry, zh_text
from training.eval_replies import candidates, rank_metrics
from training.service_data import LABELS as SERVICE_LABELS
from training.service_data import ReplyRow, Slot, reply_query_split

DOCS = ["where is my order", "cancel my order please", "refund for a damaged item", "change the delivery address"]


def brute_bm25(docs: list[str], query: str, k1: float = 1.2, b: float = 0.75) -> list[float]:
    toks = [d.split() for d in docs]
    n, avgdl = len(docs), sum(len(t) for t in toks) / len(docs)
    out = []
    for t in toks:
        s = 0.0
        for term in set(query.split()):
            df = sum(term in d for d in toks)
            if df == 0:
                continue
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            tf = t.count(term)
            s += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(t) / avgdl))
        out.append(s)
    return out


def brute_tfidf(docs: list[str], query: str) -> list[float]:
    toks = [d.split() for d in docs]
    n = len(docs)
    vocab = sorted({w for t in toks for w in t})
    idf = {w: math.log((1 + n) / (1 + sum(w in t for t in toks))) + 1 for w in vocab}

    def vec(words: list[str]) -> dict[str, float]:
        v = {w: (1 + math.log(c)) * idf[w] for w, c in Counter(words).items() if w in idf}
        norm = math.sqrt(sum(x * x for x in v.values()))
        return {w: x / norm for w, x in v.items()} if norm else v

    q = vec(query.split())
    return [sum(q.get(w, 0.0) * x for w, x in vec(t).items()) for t in toks]


@pytest.mark.parametrize(("ranker", "brute"), [(Bm25Ranker(), brute_bm25), (TfidfRanker(), brute_tfidf)])
def test_rankers_put_the_exact_match_first_and_match_a_hand_computation(ranker, brute) -> None:
    ranker.fit(DOCS)
    for query in ("cancel my order please", "damaged item refund", "order address"):
        got = ranker.scores(query)
        assert np.allclose(got, brute(DOCS, query), atol=1e-12)
    assert int(np.argmax(ranker.scores("cancel my order please"))) == 1
    unit = ranker.unit_scores("where is my order")
    assert int(np.argmax(unit)) == 0 and unit.min() >= 0.0 and unit.max() <= 1.0
    assert not ranker.scores("unknown words only").any()
    # new texts weighed with the fitted statistics score as the fitted copies do
    fresh = np.asarray(ranker.doc_matrix(DOCS[::-1]) @ ranker.query_vector("my order")).ravel()
    assert np.allclose(fresh, ranker.scores("my order")[::-1])


def test_tokens_chinese_unigrams_and_bigrams_english_words() -> None:
    assert tokens("退款了") == ["退", "款", "了", "退款", "款了"]
    assert tokens("iPhone 退款, Don't WAIT") == ["退", "款", "退款", "iphone", "don't", "wait"]


def test_fill_by_normalised_key_and_slot_type_and_reports_missing() -> None:
    text = "Hi {{Person Name}}, order {{Order Number}} ({{Purchase ID Anonymized}}) goes to {{Delivery City}}."
    assert placeholders(text) == ["Person Name", "Order Number", "Purchase ID Anonymized", "Delivery City"]
    out, missing = fill(text, {"order_id": "A17", "Person Name": "Ann", "city": ""})
    assert out == "Hi Ann, order A17 (A17) goes to {{Delivery City}}."
    assert missing == ["Delivery City"]
    out, missing = fill("{{Order Number}} {{Order Number}}", {"ORDER-number": "9"})
    assert (out, missing) == ("9 9", [])
    # the tracking_id slot fills a tracking-number placeholder; an order number does not
    assert fill("Parcel {{Tracking Number}}.", {"tracking_id": "SF1234567890123"}) == ("Parcel SF1234567890123.", [])
    assert fill("Parcel {{Waybill Number}}.", {"order_id": "A17"}) == ("Parcel {{Waybill Number}}.", ["Waybill Number"])
    # An item opening a sentence gets a capital; an order number, or an item inside a sentence, stays as it is.
    assert fill("{{Item}} is in stock. {{Item}} ships today.", {"item": "rain jacket"})[0] == (
        "Rain jacket is in stock. Rain jacket ships today."
    )
    assert fill("Order {{Item}}! {{Order Number}} ships.", {"item": "jacket", "order_id": "a17b"})[0] == (
        "Order jacket! a17b ships."
    )
    assert fill("Hello,\n{{Item}} ships today.", {"item": "jacket"})[0] == "Hello,\nJacket ships today."
    assert slot_key(" Order Number Anonymized ") == "order_number"


def test_kb_csv_roundtrip_and_errors_name_row_and_column(tmp_path: Path) -> None:
    entries = [
        ReplyEntry("refund_status", "en", 'Your refund, "{{Refund Amount}}",\nis on its way.', "where is my refund"),
        ReplyEntry("", "zh", "您好,请私信订单号.", ""),
    ]
    path = tmp_path / "kb.csv"
    write_kb(path, entries)
    assert load_kb(path) == entries
    path.write_text("intent,lang,text\norder_status,en,Shipped.\nother,fr,Bonjour\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"row 2, column 'lang'"):
        load_kb(path)
    path.write_text("intent,lang,text\nrefunds,en,Soon.\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"row 1, column 'intent'"):
        load_kb(path)
    path.write_text("intent,lang,text\norder_status,zh, \n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"row 1, column 'text'"):
        load_kb(path)
    path.write_text("intent,language,text\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"'lang' is missing"):
        load_kb(path)


def test_shop_values_by_language_over_any_and_fill_the_shops_placeholders(tmp_path: Path) -> None:
    path = tmp_path / "shop.csv"
    path.write_text(
        "placeholder,value,lang\n"
        "{{Website Name}},shop.example.com,\n"
        "Customer Support Availability,9:00-21:00,en\n"
        " customer support availability ,每天 9:00-21:00,zh\n"
        "Customer Support Availability,always,\n",
        encoding="utf-8",
    )
    shop = load_shop_values(path)
    assert shop.for_lang("en") == {"website_name": "shop.example.com", "customer_support_availability": "9:00-21:00"}
    assert shop.for_lang("zh")["customer_support_availability"] == "每天 9:00-21:00"
    text = "See {{Website Name}}, {{Customer Support Availability}}; order {{Order Number}}."
    assert fill(text, shop.for_lang("en")) == (
        "See shop.example.com, 9:00-21:00; order {{Order Number}}.",
        ["Order Number"],
    )


@pytest.mark.parametrize(
    ("rows", "error"),
    [
        ("placeholder,value\nWebsite Name,\n", r"row 1, column 'value': empty"),
        ("placeholder,value\n{{}},x\n", r"row 1, column 'placeholder': '\{\{\}\}' names no placeholder"),
        ("placeholder,value\nOrder Number,123\n", r"row 1, column 'placeholder': 'Order Number' is filled from each"),
        ("placeholder,value\nPerson Name,Ann\n", r"column 'placeholder': 'Person Name' is filled from each"),
        ("placeholder,value,lang\nWebsite Name,a,fr\n", r"row 1, column 'lang': 'fr' is not zh, en or empty"),
        ("placeholder,value\nWebsite Name,a\nwebsite  name,b\n", r"row 2, column 'placeholder': .* twice .*\(row 1\)"),
        ("placeholder,value\nWebsite Name,{{Order Number}}\n", r"row 1, column 'value': .*no '\{\{'"),
        ("placeholder,value\nWebsite Name," + "x" * 501 + "\n", r"row 1, column 'value': at most 500"),
        ("placeholder,value\nWebsite Name,a,b\n", r"row 1, column 'value': more fields than columns"),
        ("name,value\n", r"column 'placeholder' is missing"),
        ("placeholder,value,note\n", r"column 'note' is not one of placeholder, value, lang"),
    ],
)
def test_a_bad_shop_values_row_is_named_by_row_column_and_rule(tmp_path: Path, rows: str, error: str) -> None:
    path = tmp_path / "shop.csv"
    path.write_text(rows, encoding="utf-8")
    with pytest.raises(ValueError, match=error):
        load_shop_values(path)


def _index(kind: str = "bm25") -> ReplyIndex:
    return ReplyIndex.build(
        [
            ReplyEntry("order_status", "en", "Your order {{Order Number}} is on its way.", "where is my order"),
            ReplyEntry("refund_status", "en", "Refunds take 5 days.", "where is my refund"),
            ReplyEntry("", "en", "Happy to help.", ""),
            ReplyEntry("", "zh", "iphone 订单已发货.", "iphone order 订单到哪了"),
            ReplyEntry("refund_status", "zh", "退款三天到账.", "退款什么时候到"),
        ],
        kind,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("kind", ["bm25", "tfidf"])
def test_top_k_stays_in_the_language_and_puts_the_intent_first(kind: str) -> None:
    index = _index(kind)
    en = index.top_k("where is my iphone order 订单", "en", k=10)
    assert [e.lang for e, _ in en] == ["en", "en", "en"]
    assert en[0][0].intent == "order_status" and all(0.0 <= s <= 1.0 for _, s in en)
    zh = index.top_k("iphone order", "zh", k=10)
    assert {e.lang for e, _ in zh} == {"zh"} and zh[0][0].text.startswith("iphone")
    first = index.top_k("where is my order", "en", intent="refund_status", k=3)
    assert [e.intent for e, _ in first] == ["refund_status", "", "order_status"]
    # A reply written for the intent comes before one for any intent that shares more words.
    zh_any = index.top_k("iphone order 订单到哪了", "zh", k=2)
    assert [e.intent for e, _ in zh_any] == ["", "refund_status"] and zh_any[0][1] > zh_any[1][1]
    assert [e.intent for e, _ in index.top_k("iphone order 订单到哪了", "zh", intent="refund_status", k=2)] == [
        "refund_status",
        "",
    ]
    assert index.top_k("order", "en", k=0) == []
    with pytest.raises(ValueError, match="unknown intent"):
        index.top_k("order", "en", intent="refunds")


def test_index_save_load_gives_identical_scores(tmp_path: Path) -> None:
    index = _index()
    index.save(tmp_path / "idx")
    again = ReplyIndex.load(tmp_path / "idx")
    assert again.entries == index.entries
    for lang, query in (("en", "where is my refund"), ("zh", "退款到哪了")):
        assert np.array_equal(again.rankers[lang].scores(query), index.rankers[lang].scores(query))
        assert again.top_k(query, lang, k=5) == index.top_k(query, lang, k=5)
    ranker = TfidfRanker().fit(DOCS)
    ranker.save(tmp_path / "r")
    assert np.array_equal(load_ranker(tmp_path / "r").scores("my order"), ranker.scores("my order"))


def test_labels_match_the_service_data_labels() -> None:
    assert LABELS == SERVICE_LABELS


def test_zh_text_masks_customer_bits_and_keeps_service_lines() -> None:
    text = "@张三丰 @中国联通客服 张先生您好,订单pzf160402122647970已退款,电话13812345678,热线4008123456或10010"
    got = zh_text(text)
    assert "@{{User}}" in got and "@中国联通客服" in got and "{{Person Name}}您好" in got
    assert "订单{{Number}}" in got and "{{Phone Number}}" in got
    assert "4008123456" in got and "10010" in got and "138" not in got and "160402" not in got


def test_en_entry_turns_slot_values_into_placeholders() -> None:
    request = "where is order 370795561790 for Anna Freeman"
    slots = (Slot("order_id", 15, 27, "370795561790"), Slot("person_name", 32, 44, "Anna Freeman"))
    reply = "Order 370795561790 of anna freeman:\r\n1. Log in.\r\n2. Paid $1200."
    row = ReplyRow(request, reply, "track_order", "order_status", "ORDER", "", slots)
    entry = en_entry(row)
    assert entry.request == "where is order {{Order Number}} for {{Person Name}}"
    assert entry.text == "Order {{Order Number}} of {{Person Name}}:\n1. Log in.\n2. Paid ${{Refund Amount}}."
    assert (entry.intent, entry.lang) == ("order_status", "en")


def test_rank_metrics_average_over_tied_orders() -> None:
    scores = np.array([[1.0, 1.0, 0.0], [0.5, 0.9, 0.1], [0.2, 0.2, 0.2]])
    m = rank_metrics(scores)
    assert np.allclose(m["r@1"], [0.5, 0.0, 1 / 3])
    assert np.allclose(m["mrr"], [(1 + 1 / 2) / 2, 1 / 2, (1 + 1 / 2 + 1 / 3) / 3])
    assert np.allclose(m["r@5"], [1.0, 1.0, 1.0])


def test_candidates_hold_the_own_reply_first_and_distinct_others() -> None:
    replies = [f"reply {i % 40}" for i in range(60)]
    pool, cand = candidates(replies, seed=3, n=10)
    assert len(pool) == 40 and cand.shape == (60, 10)
    for q, row in enumerate(cand):
        assert pool[row[0]] == replies[q] and len(set(row.tolist())) == 10
    assert np.array_equal(candidates(replies, seed=3, n=10)[1], cand)


def test_a_chinese_reply_that_says_too_little_is_not_a_suggestion() -> None:
    from training.build_replies import says_something

    assert not says_something("收到")
    assert not says_something("都爱死你了")
    assert not says_something("怎么样了呢?")
    # Placeholders do not count: a number alone is no answer.
    assert not says_something("订单{{Number}}呢?")
    assert says_something("您好,请私信订单号,我们帮您查询")
    assert says_something("请拨打{{Phone Number}}进行咨询,谢谢")


def test_the_written_shop_replies_cover_every_intent_and_take_only_fillable_placeholders() -> None:
    from collections import Counter

    from mining.replies import PLACEHOLDER_SLOTS, load_kb, placeholders, slot_key
    from training.build_replies import OUT, shop_entries

    shop = shop_entries()
    per_intent = Counter(e.intent for e in shop)
    assert set(per_intent) == set(LABELS) and min(per_intent.values()) >= 4
    assert {e.lang for e in shop} == {"zh", "en"} and all(e.request for e in shop)
    for lang in ("zh", "en"):
        assert set(Counter(e.intent for e in shop if e.lang == lang)) == set(LABELS)
    # Each placeholder is filled from the message, the events or a value a shop sets.
    shops_own = {"customer_support_phone_number", "customer_support_availability", "website_name"}
    names = {slot_key(n) for e in shop for n in placeholders(e.text)}
    assert names and names <= set(PLACEHOLDER_SLOTS) | shops_own
    # An order's state comes from {{Delivery State}} only: a row for a state says "if" (如 / 如果 / If).
    state = {"zh": r"已(?:签收|发货|收到)|[尚还]未发货", "en": r"\b(?:has|have|was) (?:already )?(?:shipped|delivered)"}
    cond = {"zh": "如", "en": "If "}
    stated = [
        e.text
        for e in shop
        for m in re.finditer(state[e.lang], e.text)
        if cond[e.lang] not in e.text[max(0, m.start() - 30) : m.start()]
    ]
    assert not stated
    # An amount slot is the number alone (退款99元, $99 -> 99): the reply names the currency.
    unit = {"zh": "{{Refund Amount}}元", "en": "${{Refund Amount}}"}
    assert all(e.text.count("{{Refund Amount}}") == e.text.count(unit[e.lang]) for e in shop)
    # The built-in base holds them, in file order, before each language's replies of STC-3 or Bitext.
    for lang in ("zh", "en"):
        own = [e for e in shop if e.lang == lang]
        kb = [e for e in load_kb(OUT) if e.lang == lang]
        assert kb[: len(own)] == own
        # STC-3's Chinese replies carry no intent; Bitext's English ones all do.
        assert all(bool(e.intent) == (lang == "en") for e in kb[len(own) :])


def test_facts_first_puts_the_reply_the_customers_values_fill_most_first_within_its_group() -> None:
    from mining.replies import facts_first

    situation = ReplyEntry("order_status", "zh", "如果订单{{Order Number}}显示已签收而您没收到，请联系我们。")
    state = ReplyEntry("order_status", "zh", "订单{{Order Number}}目前{{Delivery State}}。")
    generic = ReplyEntry("", "zh", "您好，请问有什么可以帮您？")
    other = ReplyEntry("refund_status", "zh", "订单{{Order Number}}的退款{{Refund Amount}}元已提交。")
    ranked = [(generic, 0.9), (situation, 0.8), (other, 0.7), (state, 0.5)]
    known = {"order_id": "SO-1", "delivery_state": "已发货"}
    # Intent first, then any-intent, then the others; inside a group, more of the customer's values first.
    assert [e for e, _ in facts_first(ranked, "order_status", known)] == [state, situation, generic, other]
    # Without values, the ranker's order inside each group; scores travel with their rows.
    assert facts_first(ranked, "order_status", {}) == [(situation, 0.8), (state, 0.5), (generic, 0.9), (other, 0.7)]
    # Without an intent one group: the values alone reorder.
    assert [e for e, _ in facts_first(ranked, None, known)] == [state, situation, other, generic]


def test_written_rank_metrics_rank_the_intended_reply_among_all_or_its_intents_rows() -> None:
    from training.eval_replies import WrittenSet, written_rank_metrics

    entries = [
        ReplyEntry("other", "zh", "a", "在吗"),
        ReplyEntry("other", "zh", "b", "你好"),
        ReplyEntry("payment", "zh", "c", "付款失败"),
        ReplyEntry("payment", "zh", "d", "扣了两次"),
    ]
    ws = WrittenSet("zh", entries, ["有人吗", "支付不了"], [0, 2])
    scores = [np.array([0.5, 0.4, 0.9, 0.1]), np.array([0.3, 0.8, 0.3, 0.2])]
    every = written_rank_metrics(ws, scores, "all")
    # Query 0: one row above (0.9) -> rank 2. Query 1: one above (0.8) and one tie (0.3) -> rank 2 or 3.
    np.testing.assert_allclose(every["r@1"], [0.0, 0.0])
    np.testing.assert_allclose(every["mrr"], [0.5, (1 / 2 + 1 / 3) / 2])
    own = written_rank_metrics(ws, scores, "intent")
    # Among its intent's rows only: query 0 beats 0.4, query 1 beats 0.2.
    np.testing.assert_allclose(own["r@1"], [1.0, 1.0])
    with pytest.raises(ValueError, match="setting"):
        written_rank_metrics(ws, scores, "some")


def test_the_request_weight_is_chosen_by_the_written_messages_and_ties_go_to_the_smaller() -> None:
    from training.eval_replies import WrittenSet
    from training.train_replies import choose_request_weight

    entries = [ReplyEntry("other", "en", f"reply {i}", f"request {i}") for i in range(3)]
    ws = WrittenSet("en", entries, ["q0", "q1"], [0, 1])
    wrong_texts = np.array([0.1, 0.2, 0.9]), np.array([0.9, 0.1, 0.2])
    right_requests = np.array([0.9, 0.1, 0.1]), np.array([0.1, 0.9, 0.1])
    weight, scores = choose_request_weight([ws], [list(zip(wrong_texts, right_requests, strict=True))])
    # Text alone ranks the intended replies third and second; at 0.5 the first ties (0.5 both),
    # from 0.75 on the requests decide alone, and 0.75 is the smaller of the two best.
    assert weight == 0.75 and scores["0.0"] < scores["0.25"] < scores["0.5"] < scores["0.75"] == scores["1.0"]
    # Requests that say nothing new: every weight scores the same, the smallest stays.
    weight, _ = choose_request_weight([ws], [list(zip(right_requests, right_requests, strict=True))])
    assert weight == 0.0


def test_the_written_messages_name_a_written_reply_and_never_repeat_its_example_request() -> None:
    from training.build_replies import shop_entries
    from training.eval_replies import written_sets
    from training.service_data import reply_queries

    requests = {(e.lang, e.request) for e in shop_entries()}
    messages = reply_queries()
    assert {(m.lang, m.target) for m in messages} == requests  # every written reply has its messages
    assert not {(m.lang, m.text) for m in messages} & requests
    assert len({m.id for m in messages}) == len(messages) == 2 * len(requests)
    assert all(m.split == reply_query_split(m.lang, m.text) for m in messages)  # the loader checks it too
    halves = Counter(m.split for m in messages)
    assert set(halves) == {"validation", "test"} and min(halves.values()) > 0.4 * len(messages)
    for split in ("validation", "test"):
        for ws in written_sets(split):
            assert all(0 <= t < len(ws.entries) and ws.entries[t].lang == ws.lang for t in ws.targets)


def test_train_replies_stops_at_once_on_a_knowledge_base_it_cannot_read(tmp_path: Path) -> None:
    from training.train_replies import main

    with pytest.raises(SystemExit, match=r"--kb .*missing\.csv: .*No such file"):
        main(["--kb", str(tmp_path / "missing.csv"), "--no-save"])
    bad = tmp_path / "bad.csv"
    bad.write_text("intent,lang,text\nbogus,zh,你好\n", encoding="utf-8")
    with pytest.raises(SystemExit, match=r"row 1, column 'intent': 'bogus' is not one of the 13 labels"):
        main(["--kb", str(bad), "--no-save"])
