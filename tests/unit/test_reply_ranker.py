"""The served reply ranking (mining/models/reply_ranker.py) and the sentence encoder under it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mining.artifacts import load_encoder
from mining.contracts import ReplyQuery
from mining.models.reply_ranker import ReplyRanker
from mining.models.sentence import SentenceEncoder
from mining.replies import ReplyEntry, ReplyIndex
from tests.support.fakes import tiny_encoder_folder

ENTRIES = [
    ReplyEntry("order_status", "en", "Your order {{Order Number}} is on its way.", "where is my order"),
    ReplyEntry("refund_status", "en", "Your refund was issued today.", "where is my refund"),
    ReplyEntry("", "en", "Thank you for writing to us.", ""),
    ReplyEntry("order_status", "zh", "您的订单已发货。", "我的快递到哪了"),
    ReplyEntry("refund_status", "zh", "退款已原路退回。", "退款什么时候到"),
]


class AxisEncoder:
    """Query vectors chosen by the test: the text names the unit axis it points along ("axis 2")."""

    def queries(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), 3), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i, int(t.split()[-1])] = 1.0
        return out


def vector_ranker() -> ReplyRanker:
    index = ReplyIndex.build(ENTRIES, on="text")
    # en replies along axes 0, 1 and -0 (opposite of the first); zh along 1 and 2.
    vectors = {
        "en": np.array([[1, 0, 0], [0, 1, 0], [-1, 0, 0]], dtype=np.float32),
        "zh": np.array([[0, 1, 0], [0, 0, 1]], dtype=np.float32),
    }
    return ReplyRanker(index, "f" * 64, "e5", AxisEncoder(), vectors)


def test_encoder_ranking_is_cosine_with_negative_as_zero_and_keeps_to_the_language() -> None:
    (en,) = vector_ranker().rank([ReplyQuery(text="axis 0", lang="en", k=3)], "replies:v1")
    assert [r.index for r in en.replies] == [0, 1, 2]
    assert [r.score for r in en.replies] == [1.0, 0.0, 0.0]  # the opposite reply scores 0, not -1
    assert en.ranker == "replies:v1 (e5)" and en.kb_sha256 == "f" * 64
    (zh,) = vector_ranker().rank([ReplyQuery(text="axis 2", lang="zh", k=5)])
    assert [r.index for r in zh.replies] == [4, 3]  # rows of the whole file; only the two zh entries


def test_replies_of_the_intent_come_first_whatever_their_score() -> None:
    (ranked,) = vector_ranker().rank([ReplyQuery(text="axis 0", lang="en", intent="refund_status", k=2)])
    # refund (score 0) and the any-intent reply (score 0) before the order reply (score 1)
    assert [r.index for r in ranked.replies] == [1, 2]


def test_lexical_ranking_scores_the_reply_text() -> None:
    ranker = ReplyRanker(ReplyIndex.build(ENTRIES, kind="tfidf", on="text"), "0" * 64, "tfidf")
    (ranked,) = ranker.rank([ReplyQuery(text="refund issued", lang="en", k=1)])
    assert [r.index for r in ranked.replies] == [1] and ranked.replies[0].score > 0
    # the request "where is my order" is not what is scored: no reply text holds "where"
    (none,) = ranker.rank([ReplyQuery(text="where", lang="en", k=1)])
    assert none.replies[0].score == 0.0


def test_a_language_without_entries_answers_no_rows() -> None:
    ranker = ReplyRanker(ReplyIndex.build(ENTRIES[:3], on="text"), "0" * 64, "bm25")
    (ranked,) = ranker.rank([ReplyQuery(text="快递", lang="zh")])
    assert ranked.replies == []


def test_vectors_must_cover_every_entry() -> None:
    index = ReplyIndex.build(ENTRIES, on="text")
    with pytest.raises(ValueError, match="2 en reply vectors for 3 en entries"):
        ReplyRanker(index, "0" * 64, "e5", AxisEncoder(), {"en": np.eye(2, 3), "zh": np.eye(2, 3)})
    with pytest.raises(ValueError, match="kind"):
        ReplyRanker(index, "0" * 64, "dense")


def sentence_encoder(tmp_path: Path) -> SentenceEncoder:
    encoder, tokenizer = load_encoder(tiny_encoder_folder(tmp_path / "enc"))
    return SentenceEncoder(encoder.freeze_bottom(1), tokenizer, max_len=16, doc_prefix="the ")


def test_sentence_vectors_are_unit_length_and_independent_of_batch_order(tmp_path: Path) -> None:
    enc = sentence_encoder(tmp_path)
    texts = ["coffee was stale", "i love it", "great taste", "it arrived"]
    one_batch = enc.embed(texts, "")
    singly = np.vstack([enc.embed([t], "", batch=1) for t in texts])
    np.testing.assert_allclose(np.linalg.norm(one_batch, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(one_batch, singly, atol=1e-5)  # padding does not leak into the mean
    assert not np.allclose(enc.documents(texts[:1]), enc.queries(texts[:1]))  # the prefix is read


def test_e5_ranker_round_trips_through_its_artifact(tmp_path: Path) -> None:
    enc = sentence_encoder(tmp_path)
    index = ReplyIndex.build(ENTRIES, on="text")
    vectors = {lang: enc.documents([ENTRIES[i].text for i in ids]) for lang, ids in index.ids.items()}
    ranker = ReplyRanker(index, "a" * 64, "e5", enc, vectors)
    ranker.save(tmp_path / "model")
    loaded = ReplyRanker.load(tmp_path / "model")
    queries = [ReplyQuery(text="where is it", lang="en", k=3), ReplyQuery(text="快递", lang="zh", k=2)]
    assert loaded.rank(queries) == ranker.rank(queries)
    assert loaded.kb_sha256 == "a" * 64 and loaded.encoder.doc_prefix == "the "
    assert loaded.encoder.encoder.frozen_layers == 1  # the bottom can still be shared with the heads
    assert not list((tmp_path / "model").rglob("*.pkl"))


class RequestAxisEncoder(AxisEncoder):
    """Messages and requests along the axis their text names; reply texts along axis 0."""

    def documents(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), 3), dtype=np.float32)
        out[:, 0] = 1.0
        return out


GREETINGS = [
    ReplyEntry("other", "zh", "不客气 axis 0", "好的谢谢 axis 1"),
    ReplyEntry("other", "zh", "您好，请问有什么可以帮您 axis 0", "在吗 axis 2"),
    ReplyEntry("", "en", "Thank you for writing axis 0", ""),
]


def test_the_example_request_ranks_where_the_reply_texts_tie() -> None:
    ranker = ReplyRanker.build(GREETINGS, "b" * 64, "e5", RequestAxisEncoder(), request_weight=0.5)
    (ranked,) = ranker.rank([ReplyQuery(text="有人吗 axis 2", lang="zh", k=2)])
    # Both replies point along axis 0 (text score 0 for the message); the second's request matches it.
    assert [r.index for r in ranked.replies] == [1, 0]
    assert [r.score for r in ranked.replies] == [0.5, 0.0]
    # Weight 0 is the text alone: the tie keeps file order.
    text_alone = ReplyRanker.build(GREETINGS, "b" * 64, "e5", RequestAxisEncoder(), request_weight=0.0)
    (plain,) = text_alone.rank([ReplyQuery(text="有人吗 axis 2", lang="zh", k=2)])
    assert [r.index for r in plain.replies] == [0, 1] and [r.score for r in plain.replies] == [0.0, 0.0]
    # A row without an example request is matched on its reply text on both sides (embedded as a message).
    (en,) = ranker.rank([ReplyQuery(text="hello axis 0", lang="en", k=1)])
    assert en.replies[0].score == 1.0


def test_lexical_request_rankers_score_the_requests_and_blend_with_the_texts() -> None:
    ranker = ReplyRanker.build(ENTRIES, "0" * 64, "tfidf", request_weight=1.0)
    # "where" is in both English requests and in no reply text.
    parts = ranker.score_parts([ReplyQuery(text="where is my refund", lang="en")])
    text, req = parts[0]
    assert req is not None and text.shape == req.shape == (3,)
    assert req[1] > req[0] > 0 and req[2] == text[2]  # row 2 has no request: its text on both sides
    assert np.allclose(ranker.scores([ReplyQuery(text="where is my refund", lang="en")])[0], req)
    quarter = ReplyRanker.build(ENTRIES, "0" * 64, "tfidf", request_weight=0.25)
    half = quarter.scores([ReplyQuery(text="where is my refund", lang="en")])[0]
    np.testing.assert_allclose(half, 0.75 * text + 0.25 * req)


def test_a_request_weight_needs_a_request_side_and_lies_in_0_to_1() -> None:
    index = ReplyIndex.build(ENTRIES, on="text")
    with pytest.raises(ValueError, match="request rankers' rows"):
        ReplyRanker(index, "0" * 64, "bm25", request_weight=0.5)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        ReplyRanker.build(ENTRIES, "0" * 64, "bm25", request_weight=1.5)
    vectors = {"en": np.eye(3), "zh": np.eye(2, 3)}
    with pytest.raises(ValueError, match="1 zh request vectors for 2 zh entries"):
        ReplyRanker(
            index, "0" * 64, "e5", AxisEncoder(), vectors, 0.5, request_vectors={"en": np.eye(3), "zh": np.eye(1, 3)}
        )


def test_the_request_side_and_weight_round_trip_and_an_artifact_without_them_loads_at_weight_0(
    tmp_path: Path,
) -> None:
    enc = sentence_encoder(tmp_path)
    ranker = ReplyRanker.build(ENTRIES, "a" * 64, "e5", enc, request_weight=0.25)
    ranker.save(tmp_path / "e5")
    loaded = ReplyRanker.load(tmp_path / "e5")
    queries = [ReplyQuery(text="where is it", lang="en", k=3), ReplyQuery(text="快递到哪", lang="zh", k=2)]
    assert loaded.request_weight == 0.25 and loaded.rank(queries) == ranker.rank(queries)
    lexical = ReplyRanker.build(ENTRIES, "a" * 64, "bm25", request_weight=0.75)
    lexical.save(tmp_path / "bm25")
    assert ReplyRanker.load(tmp_path / "bm25").rank(queries) == lexical.rank(queries)
    # Saved before the request side existed: no request files, no weight in ranker.json.
    old = ReplyRanker(ReplyIndex.build(ENTRIES, on="text"), "a" * 64, "bm25")
    old.save(tmp_path / "old")
    spec = json.loads((tmp_path / "old" / "ranker.json").read_text())
    del spec["request_weight"]
    (tmp_path / "old" / "ranker.json").write_text(json.dumps(spec))
    again = ReplyRanker.load(tmp_path / "old")
    assert again.request_weight == 0.0 and not again.request_rankers and again.rank(queries) == old.rank(queries)
