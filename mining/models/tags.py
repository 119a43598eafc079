"""Tag schemes and tokens for the NER taggers: scheme conversion, character and word tokens with
their offsets, hashed character bigrams, word shapes and subword pieces.

Tags are strings such as ``B-PER``; schemes are ``BIO`` (B, I, O) and ``BMES`` (B, M, E, S, O; also
called BIOES). Every scheme goes through :func:`tags_to_spans` / :func:`spans_to_tags`, so one
pair of functions is the single conversion path between them.
"""

from __future__ import annotations

import bisect
import re
import zlib
from collections.abc import Sequence
from typing import Literal

from mining.text import normalize_with_offsets

Scheme = Literal["BIO", "BMES"]
Span = tuple[str, int, int]  # (entity type, start, end): token indices, end exclusive


def _split(tag: str) -> tuple[str, str]:
    if tag == "O":
        return "O", ""
    prefix, sep, etype = tag.partition("-")
    if not sep or not etype or len(prefix) != 1:
        raise ValueError(f"tag {tag!r} is neither 'O' nor '<prefix>-<TYPE>'")
    return prefix, etype


def tags_to_spans(tags: Sequence[str], scheme: Scheme) -> list[Span]:
    """Entity spans of a tag sequence.

    Lenient the way evaluation scripts are: an ``I``/``M``/``E`` that does not continue an open
    entity of the same type starts a new one (so malformed model output still yields spans).

    Args:
        tags: n tags.
        scheme: ``"BIO"`` or ``"BMES"``.
    Returns:
        spans in order, as (type, start, end) with token indices and ``end`` exclusive.
    """
    allowed = {"BIO": "BIO", "BMES": "BMESO"}[scheme]
    spans: list[Span] = []
    open_type, open_start = None, 0
    for i, tag in enumerate(tags):
        prefix, etype = _split(tag)
        if prefix not in allowed:
            raise ValueError(f"tag {tag!r} at {i} is not in scheme {scheme}")
        continues = open_type == etype and prefix in ("I", "M", "E")
        if open_type is not None and not continues:
            spans.append((open_type, open_start, i))
            open_type = None
        if prefix == "O":
            continue
        if not continues:
            open_type, open_start = etype, i
        if prefix in ("E", "S"):
            spans.append((etype, open_start, i + 1))
            open_type = None
    if open_type is not None:
        spans.append((open_type, open_start, len(tags)))
    return spans


def spans_to_tags(spans: Sequence[Span], length: int, scheme: Scheme) -> list[str]:
    """Tag sequence of ``length`` tokens for non-overlapping spans (type, start, end-exclusive)."""
    tags = ["O"] * length
    for etype, start, end in sorted(spans, key=lambda s: s[1]):
        if not 0 <= start < end <= length:
            raise ValueError(f"span {(etype, start, end)} does not fit {length} tokens")
        if any(t != "O" for t in tags[start:end]):
            raise ValueError(f"span {(etype, start, end)} overlaps another span")
        if scheme == "BIO":
            tags[start:end] = [f"B-{etype}"] + [f"I-{etype}"] * (end - start - 1)
        elif end - start == 1:
            tags[start] = f"S-{etype}"
        else:
            tags[start:end] = [f"B-{etype}"] + [f"M-{etype}"] * (end - start - 2) + [f"E-{etype}"]
    return tags


def convert_tags(tags: Sequence[str], source: Scheme, target: Scheme) -> list[str]:
    """Re-tag a sequence from one scheme to another (BIO <-> BMES) through its spans."""
    return spans_to_tags(tags_to_spans(tags, source), len(tags), target)


def span_scheme(tags: Sequence[str]) -> Scheme:
    """The scheme a tag set is written in: ``BMES`` when any tag uses M, E or S, else ``BIO``."""
    return "BMES" if any(t[:2] in ("M-", "E-", "S-") for t in tags) else "BIO"


# --- Tokens with offsets into the caller's text ------------------------------------------------
Offsets = list[tuple[int, int]]


def char_tokens(text: str) -> tuple[list[str], Offsets]:
    """Characters of the normalised text (the Chinese model's tokens) and, per character, the
    ``[start, end)`` range of the input it came from."""
    norm, src = normalize_with_offsets(text)
    return list(norm), src


# URLs, @mentions and #tags stay whole; words keep inner hyphens, dots and apostrophes
# (i7-1360P, 15.6, don't); every other non-space character is a token of its own.
_WORD_TOKEN = re.compile(r"https?://\S+|[@#]\w+|\w+(?:[-.'’]\w+)*|[^\w\s]")


def word_tokens(text: str) -> tuple[list[str], Offsets]:
    """Words of the normalised text (the English models' tokens) and each word's ``[start, end)``
    in the input."""
    norm, src = normalize_with_offsets(text)
    tokens, offsets = [], []
    for m in _WORD_TOKEN.finditer(norm):
        tokens.append(m.group())
        offsets.append((src[m.start()][0], src[m.end() - 1][1]))
    return tokens, offsets


def char_bigram_ids(chars: Sequence[str], n_buckets: int) -> list[int]:
    """Hashed id in ``[1, n_buckets)`` of each character's bigram with its right neighbour.

    Bigrams carry most of the word-boundary signal Chinese NER needs; hashing avoids a second
    vocabulary file. Id 0 is left for padding.
    """
    padded = [*chars, "\x00"]
    return [1 + zlib.crc32((padded[i] + padded[i + 1]).encode()) % (n_buckets - 1) for i in range(len(chars))]


# Word shapes the uncased English encoder cannot see: capitals are strong entity evidence.
SHAPES = ("<pad>", "lower", "Title", "UPPER", "miXed", "digit", "punct", "handle")


def word_shape(word: str) -> int:
    """Index into :data:`SHAPES` of a word's casing / character class."""
    if word[:1] in "@#" and len(word) > 1 or word.startswith("http"):
        return 7
    if any(c.isdigit() for c in word):
        return 5
    letters = [c for c in word if c.isalpha()]
    if not letters:
        return 6
    if all(c.islower() for c in letters):
        return 1
    if all(c.isupper() for c in letters):
        return 3
    if letters[0].isupper() and all(c.islower() for c in letters[1:]):
        return 2
    return 4


# --- Characters on a piece tokenizer -------------------------------------------------------------
# Where a character sits in the piece it reads: 0, 1, 2, or 3 for the fourth and later; NO_PIECE for
# a character without a piece of its own (whitespace, or one the tokenizer's normaliser dropped).
NO_PIECE = 4
PIECE_POSITIONS = 5


def token_pieces(
    text: str, spans: Sequence[tuple[int, int]], offsets: Sequence[tuple[int, int]], blank: Sequence[bool]
) -> tuple[list[int], list[int]]:
    """The piece each token of ``text`` reads, and the token's position inside that piece.

    A piece owns the characters of its offset range that no earlier piece owns, except that a piece
    which is only the word-boundary mark (``blank``: SentencePiece's '▁', which fast tokenizers give
    the range of the character after it) owns whitespace only. A token reads the piece owning its
    first non-space character; its position is how many earlier tokens read that piece (3 for the
    fourth and later). A whitespace token, or one whose characters no piece owns, gets
    :data:`NO_PIECE`: it reads the piece owning its whitespace where one does, else its nearest
    token's piece (the left one on a tie), else piece 0 (``<s>`` / ``[CLS]``) when no token has one.

    Args:
        text: the string the tokenizer was given.
        spans: n tokens' ``[start, end)`` character ranges in ``text``.
        offsets: P pieces' ``[start, end)`` in ``text`` (``return_offsets_mapping``; special and
            padding pieces are (0, 0)).
        blank: P flags, True for a piece that is only the word-boundary mark.
    Returns:
        (n piece indices in ``[0, P)``, n positions in ``[0, PIECE_POSITIONS)``).
    """
    owner = [-1] * len(text)
    for p, (s, e) in enumerate(offsets):
        for c in range(s, min(e, len(text))):
            if owner[c] < 0 and (not blank[p] or text[c].isspace()):
                owner[c] = p
    pieces, positions = [], []
    seen: dict[int, int] = {}
    for s, e in spans:
        solid = [owner[c] for c in range(s, e) if owner[c] >= 0 and not text[c].isspace()]
        if solid:
            p = solid[0]
            positions.append(min(seen.get(p, 0), NO_PIECE - 1))
            seen[p] = seen.get(p, 0) + 1
        else:
            p = next((owner[c] for c in range(s, e) if owner[c] >= 0), -1)
            positions.append(NO_PIECE)
        pieces.append(p)
    have = [i for i, p in enumerate(pieces) if p >= 0]
    for i, p in enumerate(pieces):
        if p < 0:
            k = bisect.bisect_left(have, i)
            near = have[max(k - 1, 0) : k + 1]
            pieces[i] = pieces[min(near, key=lambda j: (abs(j - i), j))] if near else 0
    return pieces, positions
