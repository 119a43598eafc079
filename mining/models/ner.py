"""Named-entity recognition: entities from tags, the served NER models and their artifacts.

Tag schemes and tokens are in :mod:`mining.models.tags`, the CRF networks in
:mod:`mining.models.crf`; their public names are re-exported here.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import torch

from mining.artifacts import load_weights
from mining.contracts import EntitySpan
from mining.models.crf import (  # re-exported: the NER library's public names
    BiLSTMCRF as BiLSTMCRF,
)
from mining.models.crf import (
    CRFTagger as CRFTagger,
)
from mining.models.crf import (
    EncoderCRF as EncoderCRF,
)
from mining.models.crf import (
    crf_decode as crf_decode,
)
from mining.models.crf import (
    crf_loss as crf_loss,
)
from mining.models.crf import (
    crf_marginals as crf_marginals,
)
from mining.models.gazetteer import DictionaryNerModel as DictionaryNerModel
from mining.models.tags import (
    NO_PIECE as NO_PIECE,
)
from mining.models.tags import (
    PIECE_POSITIONS as PIECE_POSITIONS,
)
from mining.models.tags import (
    SHAPES as SHAPES,
)
from mining.models.tags import (
    Offsets as Offsets,
)
from mining.models.tags import (
    Scheme as Scheme,
)
from mining.models.tags import (
    Span as Span,
)
from mining.models.tags import (
    char_bigram_ids as char_bigram_ids,
)
from mining.models.tags import (
    char_tokens as char_tokens,
)
from mining.models.tags import (
    convert_tags as convert_tags,
)
from mining.models.tags import (
    span_scheme as span_scheme,
)
from mining.models.tags import (
    spans_to_tags as spans_to_tags,
)
from mining.models.tags import (
    tags_to_spans as tags_to_spans,
)
from mining.models.tags import (
    token_pieces as token_pieces,
)
from mining.models.tags import (
    word_shape as word_shape,
)
from mining.models.tags import (
    word_tokens as word_tokens,
)
from mining.text import Vocab, cells_per_forward, length_batches, require_strings

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
        batch = {
            "input_ids": enc["input_ids"],
            "attention_mask": enc["attention_mask"],
            "first_piece": piece,
            "shapes": shapes,
            "piece_position": position,
            "mask": mask,
        }
        if self.net.char is not None:
            batch["char_ids"] = char_buckets(sequences, W, self.net.char.num_embeddings)
        return batch

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
        if self.net.char is not None and self.net.char_lstm is not None:
            spec["char_lstm"] = self.net.char_lstm.hidden_size
            spec["char_buckets"], spec["char_dim"] = self.net.char.num_embeddings, self.net.char.embedding_dim
        write_artifact(path, spec, self.net, self.tokenizer)

    @classmethod
    def load(cls, path: Path, spec: dict[str, Any], device: torch.device) -> EncoderCRFModel:
        from mining.artifacts import encoder_skeleton

        encoder, tokenizer = encoder_skeleton(path, spec.get("frozen_layers", 0))
        # Keys an older artifact lacks take EncoderCRF's defaults (no such layer).
        optional = {k: spec[k] for k in ("position_dim", "char_lstm", "char_buckets", "char_dim") if k in spec}
        net = EncoderCRF(encoder, len(spec["tags"]), spec["shape_dim"], spec["dropout"], **optional)
        load_weights(net, path / "weights.safetensors")
        return cls(net.to(device).eval(), tokenizer, spec["tags"], spec["lang"], spec["max_tokens"], spec["max_pieces"])


def char_buckets(sequences: Sequence[Sequence[str]], width: int, buckets: int) -> torch.Tensor:
    """(B, ``width``) int64: each token's first character's code point folded into ``[1, buckets)``
    (0 pads, and an empty token)."""
    out = torch.zeros(len(sequences), width, dtype=torch.long)
    for b, seq in enumerate(sequences):
        out[b, : len(seq)] = torch.tensor([ord(t[0]) % (buckets - 1) + 1 if t else 0 for t in seq], dtype=torch.long)
    return out


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


def merge_entities(groups: Sequence[Sequence[EntitySpan]]) -> list[EntitySpan]:
    """One non-overlapping entity list from several sources' spans (models, brands table,
    patterns): higher scores win a contested span (ties: the longer entity, then the earlier
    group); result in text order. The spans are kept as given, not copied."""
    ranked = sorted(
        ((e, k) for k, group in enumerate(groups) for e in group),
        key=lambda ek: (-ek[0].score, -(ek[0].end - ek[0].start), ek[1]),
    )
    kept: list[EntitySpan] = []
    for e, _ in ranked:
        if all(e.end <= k.start or e.start >= k.end for k in kept):
            kept.append(e)
    return sorted(kept, key=lambda e: e.start)
