import itertools
import unicodedata
import zlib

import pytest
import torch

from mining.contracts import EntitySpan
from mining.models.ner import (
    BiLSTMCRF,
    CharCRFModel,
    DictionaryNerModel,
    EncoderCRF,
    EncoderCRFModel,
    char_bigram_ids,
    char_tokens,
    convert_tags,
    crf_decode,
    crf_loss,
    crf_marginals,
    entities_from_tags,
    extract_entities,
    load_crf_artifact,
    load_ner_artifact,
    merge_entities,
    spans_to_tags,
    tags_to_spans,
    word_shape,
    word_tokens,
)
from mining.text import Vocab


@pytest.mark.parametrize(
    ("bio", "bmes", "spans"),
    [
        (["B-PER", "I-PER", "O", "B-LOC"], ["B-PER", "E-PER", "O", "S-LOC"], [("PER", 0, 2), ("LOC", 3, 4)]),
        (["B-ORG", "I-ORG", "I-ORG"], ["B-ORG", "M-ORG", "E-ORG"], [("ORG", 0, 3)]),
        (["B-PER", "B-PER"], ["S-PER", "S-PER"], [("PER", 0, 1), ("PER", 1, 2)]),
        (["O", "O"], ["O", "O"], []),
        ([], [], []),
    ],
)
def test_schemes_convert_through_spans(bio: list[str], bmes: list[str], spans: list) -> None:
    assert tags_to_spans(bio, "BIO") == spans
    assert tags_to_spans(bmes, "BMES") == spans
    assert convert_tags(bio, "BIO", "BMES") == bmes
    assert convert_tags(bmes, "BMES", "BIO") == bio


def test_lenient_on_malformed_sequences() -> None:
    # An I- after O, or after another type, opens a new entity, as conlleval does.
    assert tags_to_spans(["O", "I-LOC", "I-PER"], "BIO") == [("LOC", 1, 2), ("PER", 2, 3)]
    assert tags_to_spans(["B-LOC", "M-LOC"], "BMES") == [("LOC", 0, 2)]


@pytest.mark.parametrize(
    ("tags", "scheme", "message"),
    [
        (["S-PER"], "BIO", "not in scheme BIO"),
        (["PER"], "BIO", "neither 'O' nor"),
    ],
)
def test_bad_tags_are_refused(tags: list[str], scheme: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tags_to_spans(tags, scheme)  # type: ignore[arg-type]


def test_spans_to_tags_refuses_overlap_and_overflow() -> None:
    with pytest.raises(ValueError, match="overlaps"):
        spans_to_tags([("A", 0, 2), ("B", 1, 3)], 3, "BIO")
    with pytest.raises(ValueError, match="does not fit"):
        spans_to_tags([("A", 2, 4)], 3, "BIO")


def _tiny_batch(lengths: list[int], vocab: int = 10) -> dict[str, torch.Tensor]:
    T = max(lengths)
    ids = torch.zeros(len(lengths), T, dtype=torch.long)
    mask = torch.zeros(len(lengths), T, dtype=torch.bool)
    for b, n in enumerate(lengths):
        ids[b, :n] = torch.randint(1, vocab, (n,))
        mask[b, :n] = True
    return {"token_ids": ids, "bigram_ids": ids.clone(), "mask": mask}


def _path_score(crf, emissions: torch.Tensor, b: int, path: tuple[int, ...]) -> float:
    s = crf.start_transitions[path[0]] + emissions[b, 0, path[0]]
    for t in range(1, len(path)):
        s = s + crf.transitions[path[t - 1], path[t]] + emissions[b, t, path[t]]
    return float((s + crf.end_transitions[path[-1]]).detach())


def test_viterbi_and_marginals_match_brute_force() -> None:
    torch.manual_seed(0)
    n_tags, lengths = 3, [4, 2, 3, 1]
    model = BiLSTMCRF(vocab_size=10, num_tags=n_tags, embed_dim=8, n_bigram_buckets=10, bigram_dim=4, hidden=4).eval()
    with torch.no_grad():
        nn_init = torch.nn.init
        for p in (model.crf.transitions, model.crf.start_transitions, model.crf.end_transitions):
            nn_init.normal_(p, std=1.0)  # far from uniform, so a wrong recursion shows
        batch = _tiny_batch(lengths)
        emissions = model.emissions(batch)
        decoded = crf_decode(model, batch)
        marginals = crf_marginals(model.crf, emissions, batch["mask"])
    for b, n in enumerate(lengths):
        paths = list(itertools.product(range(n_tags), repeat=n))
        scores = torch.tensor([_path_score(model.crf, emissions, b, p) for p in paths], dtype=torch.float64)
        probs = torch.softmax(scores, 0)
        assert decoded[b][0] == list(paths[int(scores.argmax())])
        expected = torch.zeros(n, n_tags, dtype=torch.float64)
        for p, pr in zip(paths, probs):
            for t, k in enumerate(p):
                expected[t, k] += pr
        assert torch.allclose(marginals[b, :n].double(), expected, atol=1e-5)
        assert decoded[b][1] == pytest.approx([float(expected[t, k]) for t, k in enumerate(decoded[b][0])], abs=1e-5)
        assert float(marginals[b, n:].abs().sum()) == 0.0


def test_crf_training_step_lowers_the_loss() -> None:
    torch.manual_seed(0)
    model = BiLSTMCRF(vocab_size=6, num_tags=3, embed_dim=8, hidden=8, dropout=0.0)
    ids = torch.tensor([[1, 2, 3, 4], [5, 1, 0, 0]])
    batch = {"token_ids": ids, "mask": ids != 0}
    tags = torch.tensor([[1, 2, 0, 0], [1, 0, 0, 0]])
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    first = crf_loss(model, batch, tags).item()
    for _ in range(30):
        opt.zero_grad()
        crf_loss(model, batch, tags).backward()
        opt.step()
    assert crf_loss(model, batch, tags).item() < first / 4
    assert [path for path, _ in crf_decode(model, batch)] == [[1, 2, 0, 0], [1, 0]]


@pytest.mark.parametrize(
    "text",
    [
        "北京欢迎你",
        '  Samsung ５５" TV<br/>from Seoul ',
        "我在ＡＰＰＬＥ旗舰店买了iPhone 15 😀，很喜欢",
        "Cafe\u0301 in Paris, 2x 😀😀 HP laptops",
    ],
)
def test_token_offsets_index_the_text_as_sent(text: str) -> None:
    for tokens, offsets in (char_tokens(text), word_tokens(text)):
        assert len(tokens) == len(offsets)
        for tok, (s, e) in zip(tokens, offsets):
            assert 0 <= s < e <= len(text)
            assert tok == tok.strip() or tok == " "
    words, offsets = word_tokens(text)
    for w, (s, e) in zip(words, offsets):
        assert unicodedata.normalize("NFKC", text[s:e]).replace(" ", "") in (w, w.replace(" ", ""))


def test_entities_map_back_to_the_original_characters() -> None:
    text = "  我在ＡＰＰＬＥ旗舰店买了😀iPhone"
    chars, offsets = char_tokens(text)
    norm = "".join(chars)
    s = norm.index("APPLE")
    tags = ["O"] * len(chars)
    tags[s : s + 5] = ["B-ORG", "M-ORG", "M-ORG", "M-ORG", "E-ORG"]
    ents = entities_from_tags(text, offsets, tags, [0.9] * len(chars), "BMES")
    assert ents == [
        {"type": "ORG", "text": "ＡＰＰＬＥ", "start": text.index("Ａ"), "end": text.index("旗"), "score": 0.9}
    ]
    words, w_offsets = word_tokens('Got a Samsung 65" TV!')
    assert words == ["Got", "a", "Samsung", "65", '"', "TV", "!"]
    ents = entities_from_tags(
        'Got a Samsung 65" TV!',
        w_offsets,
        ["O", "O", "B-BRAND", "B-SIZE", "I-SIZE", "O", "O"],
        [1, 1, 0.8, 0.7, 0.6, 1, 1],
        "BIO",
    )
    assert [(e["type"], e["text"], e["score"]) for e in ents] == [("BRAND", "Samsung", 0.8), ("SIZE", '65"', 0.6)]


def test_word_shapes_and_bigrams() -> None:
    assert [word_shape(w) for w in ["apple", "Apple", "NASA", "iPhone", "i7-1360P", ",", "@nike"]] == [
        1,
        2,
        3,
        4,
        5,
        6,
        7,
    ]
    ids = char_bigram_ids(list("北京北京"), 16)
    assert ids[0] == ids[2] and all(1 <= i < 16 for i in ids) and len(ids) == 4


def test_char_model_save_load_round_trip(tmp_path) -> None:
    torch.manual_seed(0)
    tags = ["O", "B-LOC", "M-LOC", "E-LOC", "S-LOC"]
    vocab = Vocab(["<pad>", "<unk>", *"北京上海欢迎你"])
    args = {
        "vocab_size": len(vocab),
        "num_tags": len(tags),
        "embed_dim": 8,
        "n_bigram_buckets": 32,
        "bigram_dim": 4,
        "hidden": 8,
    }
    model = CharCRFModel(BiLSTMCRF(**args).eval(), vocab, tags, args, max_tokens=4)
    texts = ["北京欢迎你", "", "上海 Shanghai 北京欢迎你上海"]  # the third spans several 4-token windows
    before = extract_entities(model, texts)
    decoded = model.tag_tokens([list(t) for t in texts])
    assert [len(t) for t, _ in decoded] == [len(t) for t in texts]
    model.save(tmp_path)
    loaded = load_ner_artifact(tmp_path, torch.device("cpu"))
    assert isinstance(loaded, CharCRFModel)
    assert extract_entities(loaded, texts) == before
    with pytest.raises(TypeError, match="item 1 is int"):
        extract_entities(loaded, ["北京", 3])  # type: ignore[list-item]


def test_dictionary_artifact_answers_raw_texts_with_offsets(tmp_path) -> None:
    entries = {("北", "京"): "LOC", ("北", "京", "大", "学"): "ORG", ("Samsung",): "BRAND", ("Galaxy", "S24"): "MODEL"}
    DictionaryNerModel(entries, "zh").save(tmp_path / "zh")
    zh = load_ner_artifact(tmp_path / "zh")
    assert isinstance(zh, DictionaryNerModel) and zh.scheme == "BIO"
    assert zh.tags == ["O", *(f"{p}-{t}" for t in ("BRAND", "LOC", "MODEL", "ORG") for p in "BI")]
    text = "在北京大学和 北京"
    found = extract_entities(zh, [text, ""])
    assert [(e["type"], e["text"], e["start"], e["end"], e["score"]) for e in found[0]] == [
        ("ORG", "北京大学", 1, 5, 1.0),  # longest match first
        ("LOC", "北京", 7, 9, 1.0),
    ]
    assert found[1] == []
    en = DictionaryNerModel(entries, "en")
    (got,) = extract_entities(en, ["my Samsung Galaxy S24, not a samsung"])
    assert [(e["type"], e["text"]) for e in got] == [("BRAND", "Samsung"), ("MODEL", "Galaxy S24")]
    with pytest.raises(ValueError, match=r"kind 'dictionary' .*\['char_crf', 'encoder_crf'\]"):
        load_crf_artifact(tmp_path / "zh")  # the aspect extractor's loader takes taggers only
    (tmp_path / "zh" / "model.json").write_text('{"kind": "gazetteer"}')
    with pytest.raises(ValueError, match=r"unknown NER artifact kind 'gazetteer'.*'dictionary'"):
        load_ner_artifact(tmp_path / "zh")


class _Config:
    hidden_size = 8


class _ToyEncoder(torch.nn.Module):
    """Stands in for BertModel: an embedding lookup with a ``config.hidden_size``."""

    config = _Config()

    def __init__(self) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(100, 8)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        return type("Out", (), {"last_hidden_state": self.emb(input_ids)})()


class _ToyTokenizer:
    """Splits each word into 3-letter pieces, like a word-piece tokenizer, with [CLS]/[SEP]."""

    def __call__(self, batch, is_split_into_words, truncation, max_length, padding, return_tensors):
        rows, word_ids = [], []
        for words in batch:
            ids, wids = [1], [None]
            for w_i, w in enumerate(words):
                for k in range(0, max(len(w), 1), 3):
                    ids.append(3 + zlib.crc32(w[k : k + 3].encode()) % 90)  # not hash(): the same ids in every run
                    wids.append(w_i)
            rows.append(ids + [2])
            word_ids.append(wids + [None])
        width = max(len(r) for r in rows)
        enc = {
            "input_ids": torch.tensor([r + [0] * (width - len(r)) for r in rows]),
            "attention_mask": torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows]),
        }
        return type("Enc", (dict,), {"word_ids": lambda self, b: word_ids[b]})(enc)


def test_encoder_crf_reads_each_words_first_piece() -> None:
    torch.manual_seed(0)
    model = EncoderCRFModel(EncoderCRF(_ToyEncoder(), 3).eval(), _ToyTokenizer(), ["O", "B-X", "I-X"])
    batch = model.collate([["Samsung", "TV"], ["a", "Galaxy", "phone", "now"]])
    # [CLS] Sam sun g TV [SEP] / [CLS] a Gal axy pho ne now [SEP]
    assert batch["first_piece"].tolist() == [[1, 4, 0, 0], [1, 2, 4, 6]]
    assert batch["mask"].tolist() == [[True, True, False, False], [True] * 4]
    assert batch["shapes"].tolist() == [[2, 3, 0, 0], [1, 2, 1, 1]]
    emissions = model.net.emissions(batch)
    assert emissions.shape == (2, 4, 3)
    decoded = model.tag_tokens([["Samsung", "TV"], ["a", "Galaxy", "phone", "now"], []])
    assert [len(t) for t, _ in decoded] == [2, 4, 0]


def test_merge_entities_keeps_the_best_span_of_each_contest() -> None:
    def span(text: str, start: int, score: float, type_: str = "ORG") -> EntitySpan:
        return EntitySpan(type=type_, text=text, start=start, end=start + len(text), score=score)

    brand = span("Apple", 0, 1.0, "BRAND")
    product = span("Apple store", 0, 0.6, "PRODUCT")  # overlaps the brand, scores lower: dropped
    longer, shorter = span("Paris Hilton", 15, 0.8), span("Paris", 15, 0.8)  # a tie: the longer wins
    first, second = span("Nice", 30, 0.7, "LOC"), span("Nice", 30, 0.7, "PER")  # a full tie: the earlier group
    merged = merge_entities([[brand, shorter, first], [product, longer, second]])
    assert merged == [brand, longer, first]
    assert merged[0] is brand  # the spans as given, not copies
    assert merge_entities([]) == [] and merge_entities([[], []]) == []
