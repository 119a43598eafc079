"""Named-entity recognition: tag-scheme conversion, tokens with offsets, CRF taggers and their artifacts.

Tags are strings such as ``B-PER``; schemes are ``BIO`` (B, I, O) and ``BMES`` (B, M, E, S, O; also
called BIOES). Every scheme goes through :func:`tags_to_spans` / :func:`spans_to_tags`, so one
pair of functions is the single conversion path between them.
"""

from __future__ import annotations

import bisect
import itertools
import json
import re
import threading
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import torch
from torch import nn
from torchcrf import CRF

from mining.artifacts import load_weights
from mining.text import Vocab, cells_per_forward, length_batches, normalize_with_offsets, require_strings

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


# --- CRF helpers ---------------------------------------------------------------------------------
def crf_marginals(crf: CRF, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Posterior probability of every tag at every position, by forward-backward.

    Args:
        crf: a batch-first ``torchcrf.CRF``.
        emissions: (B, T, K) float scores.
        mask: (B, T) bool, True on real tokens, every row starting with True.
    Returns:
        (B, T, K) float; rows sum to 1 on real tokens; padding positions are 0.
    """
    B, T, K = emissions.shape
    trans = crf.transitions.unsqueeze(0)  # (1, K_from, K_to)
    alpha = [crf.start_transitions + emissions[:, 0]]
    for t in range(1, T):
        alpha.append(torch.logsumexp(alpha[-1].unsqueeze(2) + trans, dim=1) + emissions[:, t])
    end = crf.end_transitions.expand(B, K)
    beta = [end]
    for t in range(T - 2, -1, -1):
        step = torch.logsumexp(trans + (emissions[:, t + 1] + beta[-1]).unsqueeze(1), dim=2)
        beta.append(torch.where(mask[:, t + 1 : t + 2], step, end))
    alphas, betas = torch.stack(alpha, 1), torch.stack(beta[::-1], 1)  # (B, T, K)
    last = mask.long().sum(1) - 1
    log_z = torch.logsumexp(alphas[torch.arange(B), last] + crf.end_transitions, dim=-1)  # (B,)
    probs = torch.exp(alphas + betas - log_z.view(B, 1, 1))
    return probs * mask.unsqueeze(-1)


class CRFTagger(Protocol):
    crf: CRF

    def emissions(self, batch: dict[str, torch.Tensor]) -> torch.Tensor: ...


def crf_loss(net: CRFTagger, batch: dict[str, torch.Tensor], tags: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood per sequence; ``tags`` is (B, T) int64 over ``batch['mask']``
    (any value on padding)."""
    return -net.crf(net.emissions(batch), tags, mask=batch["mask"], reduction="mean")


@torch.no_grad()
def crf_decode(net: CRFTagger, batch: dict[str, torch.Tensor]) -> list[tuple[list[int], list[float]]]:
    """Viterbi-best tag ids per sequence and, per token, the posterior probability of its tag."""
    emissions = net.emissions(batch).float()
    mask = batch["mask"]
    paths = net.crf.decode(emissions, mask=mask)
    probs = crf_marginals(net.crf, emissions, mask).cpu()
    return [(path, [float(probs[b, t, k]) for t, k in enumerate(path)]) for b, path in enumerate(paths)]


# --- Networks ------------------------------------------------------------------------------------
class BiLSTMCRF(nn.Module):
    """Character BiLSTM with hashed character-bigram embeddings and a CRF output layer.

    Args:
        vocab_size: character ids, incl. pad = 0 and unk = 1.
        num_tags: tag ids.
        embed_dim: character embedding width.
        n_bigram_buckets: hashed bigram ids (0 disables bigram features).
        bigram_dim: bigram embedding width.
        hidden: LSTM units per direction.
        layers: stacked BiLSTM layers.
        dropout: dropout on embeddings and LSTM outputs.
    """

    def __init__(
        self,
        vocab_size: int,
        num_tags: int,
        embed_dim: int = 128,
        n_bigram_buckets: int = 0,
        bigram_dim: int = 64,
        hidden: int = 128,
        layers: int = 1,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.bigram = nn.Embedding(n_bigram_buckets, bigram_dim, padding_idx=0) if n_bigram_buckets else None
        width = embed_dim + (bigram_dim if n_bigram_buckets else 0)
        self.lstm = nn.LSTM(
            width,
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.emit = nn.Linear(2 * hidden, num_tags)
        self.crf = CRF(num_tags, batch_first=True)

    def emissions(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """
        Args:
            batch: ``token_ids`` (B, T) int64 right-padded with 0; ``bigram_ids`` (B, T) int64 when
                the net has bigram features; ``mask`` (B, T) bool, True on real tokens.
        Returns:
            (B, T, num_tags) float emission scores.
        """
        token_ids, mask = batch["token_ids"], batch["mask"]
        x = self.embed(token_ids)
        if self.bigram is not None:
            x = torch.cat([x, self.bigram(batch["bigram_ids"])], -1)
        lengths = mask.sum(1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(self.dropout(x), lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=token_ids.shape[1])
        return self.emit(self.dropout(out))


class EncoderCRF(nn.Module):
    """A Transformer encoder over word pieces, read once per token, plus a word-shape embedding, a
    linear emission layer and a CRF over tokens.

    Tokens are words (English: each word reads its first piece) or, with ``position_dim``,
    characters (Chinese): each character reads the piece covering it, plus an embedding of its
    position inside that piece (:data:`PIECE_POSITIONS`), so characters sharing one piece can take
    different tags.

    Args:
        encoder: a :class:`mining.models.bert.BertModel` (anything returning ``last_hidden_state``).
        num_tags: tag ids.
        shape_dim: width of the :data:`SHAPES` embedding.
        dropout: dropout on the token representations.
        position_dim: width of the in-piece position embedding; 0 for word tokens (no such embedding).
    """

    def __init__(
        self, encoder: nn.Module, num_tags: int, shape_dim: int = 16, dropout: float = 0.1, position_dim: int = 0
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.shape = nn.Embedding(len(SHAPES), shape_dim, padding_idx=0)
        self.dropout = nn.Dropout(dropout)
        width = int(encoder.config.hidden_size) + shape_dim + position_dim  # type: ignore[union-attr,arg-type]
        self.emit = nn.Linear(width, num_tags)
        self.crf = CRF(num_tags, batch_first=True)
        # Last and for characters only, so a word tagger's parameters and seeded initial values do not depend on it.
        self.piece_position = nn.Embedding(PIECE_POSITIONS, position_dim) if position_dim else None

    def emissions(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """
        Args:
            batch: ``input_ids``, ``attention_mask`` (B, P) int64 word pieces; ``first_piece``
                (B, W) int64 index of the piece each token reads; ``shapes`` (B, W) int64;
                ``piece_position`` (B, W) int64 in ``[0, PIECE_POSITIONS)`` for a character
                tagger; ``mask`` (B, W) bool, True on real tokens.
        Returns:
            (B, W, num_tags) float emission scores.
        """
        hidden = self.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        index = batch["first_piece"].unsqueeze(-1).expand(-1, -1, hidden.shape[-1])
        parts = [hidden.gather(1, index), self.shape(batch["shapes"])]
        if self.piece_position is not None:
            parts.append(self.piece_position(batch["piece_position"]))
        return self.emit(self.dropout(torch.cat(parts, -1)))


# --- Artifacts -----------------------------------------------------------------------------------
Entity = dict[str, Any]  # {"type", "text", "start", "end", "score"}: offsets into the caller's text


def entities_from_tags(
    text: str, offsets: Offsets, tags: Sequence[str], probs: Sequence[float], scheme: Scheme
) -> list[Entity]:
    """Entities of one decoded text, with character offsets into ``text`` (the caller's string).

    The score is the lowest posterior probability among the entity's token tags: a span is only as
    certain as its least certain token.
    """
    out = []
    for etype, s, e in tags_to_spans(tags, scheme):
        start, end = offsets[s][0], offsets[e - 1][1]
        out.append(
            {"type": etype, "text": text[start:end], "start": start, "end": end, "score": round(min(probs[s:e]), 4)}
        )
    return out


class NerModel(Protocol):
    tags: list[str]
    scheme: Scheme
    lang: str

    def tokenize(self, text: str) -> tuple[list[str], Offsets]: ...

    def tag_tokens(self, sequences: Sequence[Sequence[str]]) -> list[tuple[list[str], list[float]]]: ...


def extract_entities(model: NerModel, texts: Sequence[str]) -> list[list[Entity]]:
    """Entities of each raw text, offsets into that text.

    Args:
        model: a loaded NER artifact.
        texts: n raw strings.
    Returns:
        n lists of entity dicts, in text order.
    """
    require_strings(texts)
    tokenized = [model.tokenize(t) for t in texts]
    decoded = model.tag_tokens([toks for toks, _ in tokenized])
    return [
        entities_from_tags(text, offs, tags, probs, model.scheme)
        for text, (_, offs), (tags, probs) in zip(texts, tokenized, decoded)
    ]


class CharCRFModel:
    """A trained :class:`BiLSTMCRF` with its character vocabulary and tags: the Chinese artifact."""

    kind = "char_crf"

    def __init__(
        self,
        net: BiLSTMCRF,
        vocab: Vocab,
        tags: list[str],
        args: dict[str, Any],
        lang: str = "zh",
        max_tokens: int = 512,
    ) -> None:
        self.net, self.vocab, self.tags, self.args, self.lang = net, vocab, tags, args, lang
        self.scheme: Scheme = span_scheme(tags)
        self.n_buckets = int(args.get("n_bigram_buckets", 0))
        self.max_tokens = max_tokens

    def tokenize(self, text: str) -> tuple[list[str], Offsets]:
        return char_tokens(text)

    def collate(self, sequences: Sequence[Sequence[str]]) -> dict[str, torch.Tensor]:
        """``token_ids``, ``bigram_ids`` (B, T) int64 and ``mask`` (B, T) bool; an empty sequence
        gets one padding token so the CRF sees a valid mask (its tags are dropped)."""
        T = max(1, *(len(s) for s in sequences)) if sequences else 1
        ids = torch.zeros(len(sequences), T, dtype=torch.long)
        bigrams = torch.zeros(len(sequences), T, dtype=torch.long)
        mask = torch.zeros(len(sequences), T, dtype=torch.bool)
        for b, seq in enumerate(sequences):
            n = len(seq)
            ids[b, :n] = torch.tensor(self.vocab.encode(seq), dtype=torch.long)
            if self.n_buckets:
                bigrams[b, :n] = torch.tensor(char_bigram_ids(seq, self.n_buckets), dtype=torch.long)
            mask[b, : max(n, 1)] = True
        return {"token_ids": ids, "bigram_ids": bigrams, "mask": mask}

    @torch.inference_mode()
    def tag_tokens(
        self, sequences: Sequence[Sequence[str]], batch_size: int = 64
    ) -> list[tuple[list[str], list[float]]]:
        """Per sequence of n tokens: n tag strings and n posterior probabilities. Sequences longer
        than ``max_tokens`` are tagged in consecutive windows."""
        return _tag_windows(self, sequences, batch_size)

    def save(self, path: Path) -> None:
        from mining.artifacts import write_artifact

        spec = {
            "kind": self.kind,
            "args": self.args,
            "tags": self.tags,
            "lang": self.lang,
            "max_tokens": self.max_tokens,
        }
        write_artifact(path, spec, self.net)
        (path / "vocab.json").write_text(json.dumps(self.vocab.tokens, ensure_ascii=False))

    @classmethod
    def load(cls, path: Path, spec: dict[str, Any], device: torch.device) -> CharCRFModel:
        net = BiLSTMCRF(**spec["args"])
        load_weights(net, path / "weights.safetensors")
        vocab = Vocab(json.loads((path / "vocab.json").read_text()))
        return cls(net.to(device).eval(), vocab, spec["tags"], spec["args"], spec["lang"], spec["max_tokens"])


class EncoderCRFModel:
    """A fine-tuned :class:`EncoderCRF` with its tokenizer and tags: a word tagger (English; the
    tokens are :func:`word_tokens`) or, when the net has an in-piece position embedding, a
    character tagger (Chinese; the tokens are :func:`char_tokens`, tags are per character)."""

    kind = "encoder_crf"

    def __init__(
        self,
        net: EncoderCRF,
        tokenizer: Any,
        tags: list[str],
        lang: str = "en",
        max_tokens: int = 128,
        max_pieces: int = 512,
    ) -> None:
        self.net, self.tokenizer, self.tags, self.lang = net, tokenizer, tags, lang
        self.scheme: Scheme = span_scheme(tags)
        self.max_tokens, self.max_pieces = max_tokens, max_pieces
        self.tokenizer_lock = threading.Lock()  # see EncoderModel: one Rust tokenizer, many threads
        self.chars = net.piece_position is not None
        self.blank_piece = _blank_piece_id(tokenizer) if self.chars else -1

    def tokenize(self, text: str) -> tuple[list[str], Offsets]:
        return char_tokens(text) if self.chars else word_tokens(text)

    def collate(self, sequences: Sequence[Sequence[str]]) -> dict[str, torch.Tensor]:
        """Word pieces (``input_ids``, ``attention_mask``: (B, P) int64) aligned to tokens
        (``first_piece``, ``shapes``: (B, W) int64; ``mask``: (B, W) bool; a character tagger
        also gets ``piece_position``: (B, W) int64).

        Words are tokenized as given and read their first piece; a word whose pieces were cut by
        ``max_pieces`` reads the [CLS] position. Characters are joined and tokenized as one text,
        and each reads the piece covering it (:func:`token_pieces`); one cut off by
        ``max_pieces`` reads the last piece kept. Windows of ``max_tokens`` tokens keep cuts from
        happening with the default sizes. An empty sequence gets one padding token so the CRF sees
        a valid mask (its tags are dropped).
        """
        if self.chars:
            return self._collate_chars(sequences)
        words = [list(s) or [""] for s in sequences]
        with self.tokenizer_lock:
            enc = self.tokenizer(
                words,
                is_split_into_words=True,
                truncation=True,
                max_length=self.max_pieces,
                padding=True,
                return_tensors="pt",
            )
        W = max(len(w) for w in words)
        first = torch.zeros(len(words), W, dtype=torch.long)
        shapes = torch.zeros(len(words), W, dtype=torch.long)
        mask = torch.zeros(len(words), W, dtype=torch.bool)
        for b, ws in enumerate(words):
            seen: set[int] = set()
            for p, w in enumerate(enc.word_ids(b)):
                if w is not None and w not in seen:
                    seen.add(w)
                    first[b, w] = p
            shapes[b, : len(ws)] = torch.tensor([word_shape(w) if w else 6 for w in ws])
            mask[b, : len(ws)] = True
        return {
            "input_ids": enc["input_ids"],
            "attention_mask": enc["attention_mask"],
            "first_piece": first,
            "shapes": shapes,
            "mask": mask,
        }

    def _collate_chars(self, sequences: Sequence[Sequence[str]]) -> dict[str, torch.Tensor]:
        texts, spans = [], []
        for seq in sequences:
            ends = list(itertools.accumulate(len(t) for t in seq))
            texts.append("".join(seq))
            spans.append(list(zip([0, *ends[:-1]], ends)))
        with self.tokenizer_lock:
            enc = self.tokenizer(
                texts,
                truncation=True,
                max_length=self.max_pieces,
                padding=True,
                return_offsets_mapping=True,
                return_tensors="pt",
            )
        offsets = enc["offset_mapping"].tolist()
        blank = (enc["input_ids"] == self.blank_piece).tolist()
        W = max([1, *(len(s) for s in sequences)])
        piece = torch.zeros(len(texts), W, dtype=torch.long)
        position = torch.full((len(texts), W), NO_PIECE, dtype=torch.long)
        shapes = torch.zeros(len(texts), W, dtype=torch.long)
        mask = torch.zeros(len(texts), W, dtype=torch.bool)
        for b, seq in enumerate(sequences):
            n = len(seq)
            mask[b, : max(n, 1)] = True
            if not n:
                continue
            pieces, positions = token_pieces(texts[b], spans[b], offsets[b], blank[b])
            piece[b, :n] = torch.tensor(pieces)
            position[b, :n] = torch.tensor(positions)
            shapes[b, :n] = torch.tensor([word_shape(t) for t in seq])
        return {
            "input_ids": enc["input_ids"],
            "attention_mask": enc["attention_mask"],
            "first_piece": piece,
            "shapes": shapes,
            "piece_position": position,
            "mask": mask,
        }

    @torch.inference_mode()
    def tag_tokens(
        self, sequences: Sequence[Sequence[str]], batch_size: int = 32
    ) -> list[tuple[list[str], list[float]]]:
        """Per sequence of n tokens: n tag strings and n posterior probabilities. Sequences longer
        than ``max_tokens`` tokens are tagged in consecutive windows."""
        return _tag_windows(self, sequences, batch_size)

    def save(self, path: Path) -> None:
        from mining.artifacts import write_artifact

        spec = {
            "kind": self.kind,
            "tags": self.tags,
            "lang": self.lang,
            "max_tokens": self.max_tokens,
            "max_pieces": self.max_pieces,
            "shape_dim": self.net.shape.embedding_dim,
            "dropout": self.net.dropout.p,
            "frozen_layers": self.net.encoder.frozen_layers,  # type: ignore[union-attr]
        }
        if self.net.piece_position is not None:
            spec["position_dim"] = self.net.piece_position.embedding_dim
        write_artifact(path, spec, self.net, self.tokenizer)

    @classmethod
    def load(cls, path: Path, spec: dict[str, Any], device: torch.device) -> EncoderCRFModel:
        from mining.artifacts import encoder_skeleton

        encoder, tokenizer = encoder_skeleton(path, spec.get("frozen_layers", 0))
        net = EncoderCRF(encoder, len(spec["tags"]), spec["shape_dim"], spec["dropout"], spec.get("position_dim", 0))
        load_weights(net, path / "weights.safetensors")
        return cls(net.to(device).eval(), tokenizer, spec["tags"], spec["lang"], spec["max_tokens"], spec["max_pieces"])


def _blank_piece_id(tokenizer: Any) -> int:
    """Id of the piece that is only SentencePiece's word-boundary mark '▁', or -1 when the
    vocabulary has none (a WordPiece tokenizer)."""
    found = tokenizer.convert_tokens_to_ids("\u2581")
    return int(found) if isinstance(found, int) and tokenizer.convert_ids_to_tokens(found) == "\u2581" else -1


def _tag_windows(
    model: CharCRFModel | EncoderCRFModel, sequences: Sequence[Sequence[str]], batch_size: int
) -> list[tuple[list[str], list[float]]]:
    model.net.eval()
    device = next(model.net.parameters()).device
    # Windows of max_tokens: a 2,000-character review stays within the encoder's position limit and
    # the LSTM's useful context; entities crossing a window edge are rare at these sizes.
    windows = [(i, s) for i, seq in enumerate(sequences) for s in range(0, max(len(seq), 1), model.max_tokens)]
    pieces = [list(sequences[i][s : s + model.max_tokens]) for i, s in windows]
    results: list[tuple[list[str], list[float]]] = [([], []) for _ in sequences]
    decoded: list[tuple[list[int], list[float]]] = [([], [])] * len(pieces)
    # Encoders on a CPU get a padded-cell budget (see length_batches); a word is ~1.3 word pieces.
    cells = cells_per_forward(device) if isinstance(model, EncoderCRFModel) else None
    for idx in length_batches([len(p) for p in pieces], batch_size, cells and int(cells / 1.3)):
        batch = {k: v.to(device) for k, v in model.collate([pieces[i] for i in idx]).items()}
        for i, out in zip(idx, crf_decode(model.net, batch)):
            decoded[i] = out
    for (i, _), piece, (path, probs) in zip(windows, pieces, decoded):
        results[i][0].extend(model.tags[k] for k in path[: len(piece)])
        results[i][1].extend(probs[: len(piece)])
    return results


class DictionaryNerModel:
    """A gazetteer as an NER artifact: token sequences mapped to an entity type, matched
    longest-first, left to right, every match scored 1. Served in place of a trained tagger that
    did not beat it on validation, through the same ``tokenize`` / ``tag_tokens`` calls."""

    kind = "dictionary"

    def __init__(self, entries: dict[tuple[str, ...], str], lang: str, max_len: int = 12) -> None:
        self.entries, self.lang, self.max_len = entries, lang, max_len
        types = sorted(set(entries.values()))
        self.tags = ["O", *(f"{p}-{t}" for t in types for p in "BI")]
        self.scheme: Scheme = "BIO"

    def tokenize(self, text: str) -> tuple[list[str], Offsets]:
        return char_tokens(text) if self.lang == "zh" else word_tokens(text)

    def match(self, tokens: Sequence[str]) -> list[Span]:
        """Spans (type, start, end) found in ``tokens``, non-overlapping, longest match first."""
        spans: list[Span] = []
        i = 0
        while i < len(tokens):
            for n in range(min(self.max_len, len(tokens) - i), 0, -1):
                etype = self.entries.get(tuple(tokens[i : i + n]))
                if etype:
                    spans.append((etype, i, i + n))
                    i += n
                    break
            else:
                i += 1
        return spans

    def tag_tokens(
        self, sequences: Sequence[Sequence[str]], batch_size: int = 0
    ) -> list[tuple[list[str], list[float]]]:
        """Per sequence of n tokens: n BIO tags and n probabilities (1.0: a table match is certain
        to the table); ``batch_size`` is unused, kept for the taggers' call signature."""
        return [(spans_to_tags(self.match(seq), len(seq), "BIO"), [1.0] * len(seq)) for seq in sequences]

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        spec = {"kind": self.kind, "lang": self.lang, "max_len": self.max_len}
        (path / "model.json").write_text(json.dumps(spec, ensure_ascii=False, indent=1))
        rows = [[list(tokens), etype] for tokens, etype in sorted(self.entries.items())]
        (path / "entries.json").write_text(json.dumps(rows, ensure_ascii=False))

    @classmethod
    def load(cls, path: Path, spec: dict[str, Any], device: torch.device | None = None) -> DictionaryNerModel:
        rows = json.loads((path / "entries.json").read_text())
        return cls({tuple(tokens): str(etype) for tokens, etype in rows}, spec["lang"], int(spec["max_len"]))


NerArtifact = CharCRFModel | EncoderCRFModel | DictionaryNerModel


def load_ner_artifact(path: Path, device: torch.device | None = None) -> NerArtifact:
    """Load an NER artifact directory written by a model's ``save()`` onto ``device``: a CRF
    tagger, or the dictionary a trainer serves when its tagger lost to it on validation."""
    path = Path(path)
    spec = json.loads((path / "model.json").read_text())
    kinds = [CharCRFModel.kind, EncoderCRFModel.kind, DictionaryNerModel.kind]
    if spec.get("kind") not in kinds:
        raise ValueError(f"unknown NER artifact kind {spec.get('kind')!r} in {path}; expected one of {sorted(kinds)}")
    if spec["kind"] == DictionaryNerModel.kind:
        return DictionaryNerModel.load(path, spec)
    return load_crf_artifact(path, device)


def load_crf_artifact(path: Path, device: torch.device | None = None) -> CharCRFModel | EncoderCRFModel:
    """Load a CRF tagger's artifact directory (``char_crf`` or ``encoder_crf``) onto ``device``."""
    from mining.artifacts import pick_device

    path, device = Path(path), device or pick_device()
    spec = json.loads((path / "model.json").read_text())
    kinds = {c.kind: c for c in (CharCRFModel, EncoderCRFModel)}
    if spec.get("kind") not in kinds:
        raise ValueError(f"unknown NER artifact kind {spec.get('kind')!r} in {path}; expected one of {sorted(kinds)}")
    return kinds[spec["kind"]].load(path, spec, device)


def merge_entities(groups: Sequence[Sequence[Entity]]) -> list[Entity]:
    """One non-overlapping entity list from several models' outputs: higher scores win a
    contested span (ties: the longer entity, then the earlier model); result in text order."""
    ranked = sorted(
        ((e, k) for k, group in enumerate(groups) for e in group),
        key=lambda ek: (-ek[0]["score"], -(ek[0]["end"] - ek[0]["start"]), ek[1]),
    )
    kept: list[Entity] = []
    for e, _ in ranked:
        if all(e["end"] <= k["start"] or e["start"] >= k["end"] for k in kept):
            kept.append(e)
    return sorted(kept, key=lambda e: e["start"])
