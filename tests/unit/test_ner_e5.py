"""Entity taggers on the multilingual encoder: Chinese characters reading the SentencePiece piece
that covers them, the save/load round trip, and the English word path left as it was."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import torch

from mining.models.bert import BertConfig, BertModel
from mining.models.ner import (
    NO_PIECE,
    EncoderCRF,
    EncoderCRFModel,
    char_tokens,
    crf_loss,
    extract_entities,
    load_ner_artifact,
    token_pieces,
)
from training import data
from training.tagging import _optimizers, evaluate
from training.train_ner import NerConfig

BLANK = "\u2581"


@pytest.fixture(scope="module")
def e5_tokenizer() -> Any:
    from transformers import AutoTokenizer

    from training.encoders import e5_dir

    return AutoTokenizer.from_pretrained(str(e5_dir()), local_files_only=True)


def _tiny_encoder(vocab_size: int, pad_token_id: int) -> BertModel:
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        pad_token_id=pad_token_id,
    )
    return BertModel(config)


def _e5_char_model(tokenizer: Any, tags: list[str], seed: int = 0) -> EncoderCRFModel:
    """A character tagger on a small random encoder with the e5 tokenizer (the real vocabulary)."""
    torch.manual_seed(seed)
    net = EncoderCRF(_tiny_encoder(len(tokenizer), tokenizer.pad_token_id), len(tags), position_dim=16)
    return EncoderCRFModel(net, tokenizer, tags, lang="zh", max_tokens=256)


# --- (a) the character-to-piece map ------------------------------------------------------------
def test_token_pieces_known_answer() -> None:
    # pieces: <s>, 'x' (0,1), '▁' that fast tokenizers place over 'y' (2,3), 'y' (2,3), </s>
    offsets, blank = [(0, 0), (0, 1), (2, 3), (2, 3), (0, 0)], [False, False, True, False, False]
    pieces, positions = token_pieces("x y", [(0, 1), (1, 2), (2, 3)], offsets, blank)
    # The space has no piece: it reads its nearest token's, the left one on a tie.
    assert pieces == [1, 1, 3] and positions == [0, NO_PIECE, 0]
    # One piece over four characters, a fifth dropped by the normaliser, nothing covered at all.
    pieces, positions = token_pieces("abcd\x7fe", [(i, i + 1) for i in range(6)], [(0, 0), (0, 4), (5, 6)], [False] * 3)
    assert pieces == [1, 1, 1, 1, 1, 2] and positions == [0, 1, 2, 3, NO_PIECE, 0]
    assert token_pieces("  ", [(0, 1), (1, 2)], [(0, 0), (0, 0)], [False, False]) == ([0, 0], [NO_PIECE] * 2)


MAP_TEXTS = [
    "我在京东买的iPhone15 Pro，很好用！",
    "京东  商城\u3000旗舰店 ",
    "（测试）“好”。【限时】～",
    "𠮷野家的牛丼很好吃",
    "hello 世界 ok",
    "哈哈哈哈哈哈",
    "ｉＰｈｏｎｅ１５手机和华为Mate60",
    "北京\t上海\n广州",
]


@pytest.mark.parametrize("raw", MAP_TEXTS)
def test_every_character_reads_the_piece_that_covers_it(e5_tokenizer: Any, raw: str) -> None:
    model = _e5_char_model(e5_tokenizer, ["O", "B-ORG", "I-ORG"])
    chars, _ = model.tokenize(raw)
    assert chars == char_tokens(raw)[0]
    text = "".join(chars)
    batch = model.collate([chars])
    ids = batch["input_ids"][0].tolist()
    strings = e5_tokenizer.convert_ids_to_tokens(ids)
    offsets = e5_tokenizer(text, return_offsets_mapping=True)["offset_mapping"]
    assert e5_tokenizer(text)["input_ids"] == ids  # the batch tokenized the joined text once
    read, pos = batch["first_piece"][0].tolist(), batch["piece_position"][0].tolist()
    assert len(read) == len(chars) and batch["mask"][0].all()
    by_piece: dict[int, str] = {}
    for i, ch in enumerate(chars):
        if ch.isspace():
            assert pos[i] == NO_PIECE
            continue
        # Brute force: the first piece, other than a bare '▁', whose offsets cover character i.
        covering = [p for p, (s, e) in enumerate(offsets) if s <= i < e and strings[p] != BLANK]
        assert read[i] == covering[0], (i, ch, strings[read[i]])
        assert pos[i] == min(len(by_piece.get(read[i], "")), 3)
        by_piece[read[i]] = by_piece.get(read[i], "") + ch
    # The characters reading each piece spell that piece exactly (an unknown piece aside).
    for p, spelled in by_piece.items():
        if strings[p] != e5_tokenizer.unk_token:
            assert strings[p].lstrip(BLANK) == spelled
    assert any(len(spelled) > 1 for spelled in by_piece.values())  # the text has a multi-character piece


def test_multi_character_pieces_split_into_positions(e5_tokenizer: Any) -> None:
    model = _e5_char_model(e5_tokenizer, ["O", "B-ORG", "I-ORG"])
    chars = list("我在京东买的iPhone")
    batch = model.collate([chars])
    strings = e5_tokenizer.convert_ids_to_tokens(batch["input_ids"][0].tolist())
    read = [strings[p] for p in batch["first_piece"][0].tolist()]
    assert read == ["我在", "我在", "京东", "京东", "买", "的", *["iPhone"] * 6]
    assert batch["piece_position"][0].tolist() == [0, 1, 0, 1, 0, 0, 0, 1, 2, 3, 3, 3]


def test_characters_cut_off_by_max_pieces_read_the_last_piece_kept(e5_tokenizer: Any) -> None:
    model = _e5_char_model(e5_tokenizer, ["O", "B-ORG", "I-ORG"])
    model.max_pieces = 6  # <s>, 4 pieces, </s>
    batch = model.collate([list("我在京东买的手机很好用"), []])
    strings = e5_tokenizer.convert_ids_to_tokens(batch["input_ids"][0].tolist())
    assert strings == ["<s>", BLANK, "我在", "京东", "买", "</s>"]
    assert [strings[p] for p in batch["first_piece"][0].tolist()] == ["我在", "我在", "京东", "京东"] + ["买"] * 7
    assert batch["piece_position"][0].tolist() == [0, 1, 0, 1, 0] + [NO_PIECE] * 6
    assert batch["mask"][1].tolist() == [True] + [False] * 10  # an empty text: one padding token


def test_a_character_layer_reads_each_character_itself(e5_tokenizer: Any, tmp_path: Path) -> None:
    from mining.models.ner import char_buckets

    assert char_buckets([["北", "京", ""], ["a"]], 4, 2**16).tolist() == [
        [ord("北") % (2**16 - 1) + 1, ord("京") % (2**16 - 1) + 1, 0, 0],
        [ord("a") + 1, 0, 0, 0],
    ]
    torch.manual_seed(0)
    tags = ["O", "B-LOC", "I-LOC"]
    net = EncoderCRF(_tiny_encoder(len(e5_tokenizer), e5_tokenizer.pad_token_id), 3, position_dim=16, char_lstm=8)
    model = EncoderCRFModel(net, e5_tokenizer, tags, lang="zh", max_tokens=256)
    sequences = [list("北京市人民政府"), list("我在京东"), []]
    batch = model.collate(sequences)
    assert batch["char_ids"].shape == batch["first_piece"].shape and batch["char_ids"][2].sum() == 0
    assert net.emissions(batch).shape == (3, 7, 3)
    # Two characters of one piece (北京市 is one) get different emissions from their own embeddings.
    emissions = net.eval().emissions(batch)[0]
    assert not torch.allclose(emissions[0], emissions[1])
    model.save(tmp_path / "chars")
    spec = json.loads((tmp_path / "chars" / "model.json").read_text())
    assert (spec["char_lstm"], spec["char_buckets"], spec["char_dim"]) == (8, 2**16, 64)
    loaded = load_ner_artifact(tmp_path / "chars", torch.device("cpu"))
    assert isinstance(loaded, EncoderCRFModel) and loaded.net.char_lstm is not None
    assert loaded.tag_tokens(sequences) == model.tag_tokens(sequences)
    from training.tagging import TaggerConfig, build_model

    with pytest.raises(ValueError, match="--char-lstm is for the Chinese character tagger"):
        build_model(TaggerConfig(dataset="wnut16", arch="minilm", lang="en", char_lstm=8), [], ["O"])


# --- (b) learning a pattern, (c) the round trip ------------------------------------------------
FILLER = ["我", "在", "买了", "手机", "很好", "今天", "的", "用", "这个", "价格", "北京", "他说"]
ORGS = ["京东", "华为"]


def _sentences(n: int, seed: int) -> list[tuple[list[str], list[str]]]:
    """Filler words with an organisation ('京东' or '华为', each one e5 piece) in 2 of 3 sentences."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = [(w, "O") for w in rng.choices(FILLER, k=rng.randint(2, 5))]
        if rng.random() < 2 / 3:
            words.insert(rng.randint(0, len(words)), (rng.choice(ORGS), "ORG"))
        chars, tags = [], []
        for w, t in words:
            chars += list(w)
            tags += ["O"] * len(w) if t == "O" else ["B-ORG"] + ["I-ORG"] * (len(w) - 1)
        out.append((chars, tags))
    return out


@pytest.fixture(scope="module")
def trained(e5_tokenizer: Any) -> tuple[EncoderCRFModel, list[tuple[list[str], list[str]]]]:
    model = _e5_char_model(e5_tokenizer, ["O", "B-ORG", "I-ORG"], seed=3)
    train_set = _sentences(128, 1)
    counts = Counter(p for chars, _ in train_set for p in set(e5_tokenizer.tokenize("".join(chars))))
    known = {p for p, n in counts.items() if n >= 3}

    def seen(sentences: list[tuple[list[str], list[str]]]) -> list[tuple[list[str], list[str]]]:
        # A random encoder knows only pieces it trained on ('在北京' is one piece, '在' another).
        return [s for s in sentences if set(e5_tokenizer.tokenize("".join(s[0]))) <= known]

    test = seen(_sentences(60, 3))
    assert len(test) >= 30 and sum("B-ORG" in tags for _, tags in test) >= 15
    cfg = NerConfig(dataset="msra", arch="e5", lr=5e-3, head_lr=2e-2).resolve()
    (opt,) = _optimizers(cfg, model)
    # The in-piece position embedding starts from scratch: it trains at the head's rate.
    assert any(p is model.net.piece_position.weight for p in opt.param_groups[1]["params"])  # type: ignore[union-attr]
    tag_ids = {t: i for i, t in enumerate(model.tags)}
    model.net.train()
    for _ in range(10):  # a fixed number of epochs: early stopping on a tiny validation set stops too soon
        for i in range(0, len(train_set), 16):
            chunk = train_set[i : i + 16]
            batch = model.collate([chars for chars, _ in chunk])
            gold = torch.zeros(batch["mask"].shape, dtype=torch.long)
            for b, (_, tags) in enumerate(chunk):
                gold[b, : len(tags)] = torch.tensor([tag_ids[t] for t in tags])
            opt.zero_grad()
            crf_loss(model.net, batch, gold).backward()
            opt.step()
    model.net.eval()
    return model, test


def test_a_character_tagger_on_e5_learns_tags_inside_one_piece(
    trained: tuple[EncoderCRFModel, list[tuple[list[str], list[str]]]],
) -> None:
    model, test = trained
    assert evaluate(model, test)["f1"] == 1.0
    chars = list("今天在京东买了手机")
    batch = model.collate([chars])
    strings = model.tokenizer.convert_ids_to_tokens(batch["input_ids"][0].tolist())
    assert strings[batch["first_piece"][0, 3]] == strings[batch["first_piece"][0, 4]] == "京东"
    ((tags, probs),) = model.tag_tokens([chars])
    assert tags == ["O", "O", "O", "B-ORG", "I-ORG", "O", "O", "O", "O"] and min(probs) > 0.5
    # '京' and '东' read one state with one shape: only their in-piece positions tell them apart.
    with torch.no_grad():
        emissions = model.net.emissions(batch)[0]
        assert not torch.allclose(emissions[3], emissions[4])
        saved = model.net.piece_position.weight.clone()  # type: ignore[union-attr]
        model.net.piece_position.weight.zero_()  # type: ignore[union-attr]
        assert torch.equal(model.net.emissions(batch)[0][3], model.net.emissions(batch)[0][4])
        model.net.piece_position.weight.copy_(saved)  # type: ignore[union-attr]


def test_round_trip_tags_raw_texts_with_character_offsets(
    trained: tuple[EncoderCRFModel, list[tuple[list[str], list[str]]]], tmp_path: Path
) -> None:
    model, test = trained
    model.save(tmp_path / "zh")
    spec = json.loads((tmp_path / "zh" / "model.json").read_text())
    assert spec["position_dim"] == 16 and spec["lang"] == "zh" and spec["max_tokens"] == 256
    assert json.loads((tmp_path / "zh" / "encoder" / "config.json").read_text())["pad_token_id"] == 1
    loaded = load_ner_artifact(tmp_path / "zh", torch.device("cpu"))
    assert isinstance(loaded, EncoderCRFModel) and loaded.chars and loaded.tokenizer.pad_token_id == 1
    assert loaded.net.encoder.config.pad_token_id == 1  # type: ignore[union-attr]
    sequences = [chars for chars, _ in test]
    assert loaded.tag_tokens(sequences) == model.tag_tokens(sequences)
    texts = ["今天 在京东\u3000买了手机！", "华为，华为", ""]
    got = extract_entities(loaded, texts)
    assert got == extract_entities(model, texts)
    assert [[(e["text"], e["start"], e["end"]) for e in ents] for ents in got] == [
        [("京东", 4, 6)],
        [("华为", 0, 2), ("华为", 3, 5)],
        [],
    ]


# --- (d) the English word path as it was ---------------------------------------------------------
# Known answers of the word path: tags and posteriors of the seeded tiny MiniLM-vocabulary tagger
# below, which the character path must leave exactly as they are.
EN_SEQUENCES = [
    ["Samsung", "Galaxy", "S24", "is", "great"],
    ["I", "bought", "an", "iPhone", "15", "Pro", "from", "@apple", "#deal"],
    [],
    ["OK"],
]
EN_TAGS = [
    ["B-PRODUCT", "B-PRODUCT", "B-COMPANY", "I-PRODUCT", "B-PRODUCT"],
    ["B-PRODUCT", "B-PRODUCT", "B-COMPANY", "B-COMPANY", "B-COMPANY", "B-PRODUCT", "I-PRODUCT", "I-PRODUCT"]
    + ["B-PRODUCT"],
    [],
    ["I-PRODUCT"],
]
EN_PROBS = [
    [0.3779, 0.5674, 0.326, 0.3681, 0.3075],
    [0.3442, 0.3619, 0.3275, 0.3624, 0.3036, 0.4076, 0.3927, 0.4258, 0.3067],
    [],
    [0.3442],
]
EN_SPANS = [
    [("PRODUCT", 0, 7), ("PRODUCT", 8, 14), ("COMPANY", 15, 18), ("PRODUCT", 19, 21), ("COMPANY", 22, 28)],
    [("PRODUCT", 0, 3), ("PRODUCT", 4, 15), ("COMPANY", 15, 16), ("COMPANY", 17, 21), ("PRODUCT", 22, 26)]
    + [("COMPANY", 26, 27)],
]


def test_english_word_path_is_unchanged(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(data.encoder_dir()), local_files_only=True)
    torch.manual_seed(7)
    tags = ["O", "B-PRODUCT", "I-PRODUCT", "B-COMPANY", "I-COMPANY"]
    net = EncoderCRF(_tiny_encoder(tokenizer.vocab_size, 0), len(tags)).eval()
    model = EncoderCRFModel(net, tokenizer, tags, lang="en")
    assert not model.chars and net.piece_position is None
    assert not any("piece_position" in k for k in net.state_dict())
    model.save(tmp_path / "en")
    spec = json.loads((tmp_path / "en" / "model.json").read_text())
    assert "position_dim" not in spec and "char_lstm" not in spec  # the layout English models have always had
    for m in (model, load_ner_artifact(tmp_path / "en", torch.device("cpu"))):
        out = m.tag_tokens(EN_SEQUENCES)
        assert [t for t, _ in out] == EN_TAGS
        assert [p for _, ps in out for p in ps] == pytest.approx([p for ps in EN_PROBS for p in ps], abs=2e-4)
        ents = extract_entities(m, ["Samsung Galaxy S24 in London", "new DELL laptop, 15.6 inch!"])
        assert [[(e["type"], e["start"], e["end"]) for e in es] for es in ents] == EN_SPANS
        assert m.tokenize("Samsung TV") == (["Samsung", "TV"], [(0, 7), (8, 10)])
