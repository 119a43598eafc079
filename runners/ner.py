"""Named-entity recognition: tag-scheme conversion, entity spans, and a BiLSTM-CRF tagger.

Tags are strings such as ``B-PER``; schemes are ``BIO`` (B, I, O) and ``BMES`` (B, M, E, S, O; also
called BIOES). Every scheme goes through :func:`tags_to_spans` / :func:`spans_to_tags`, so one
pair of functions is the single conversion path between them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn
from torchcrf import CRF

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


class BiLSTMCRF(nn.Module):
    """Character (or word) BiLSTM with a CRF output layer.

    Args:
        vocab_size: token ids, incl. pad = 0.
        num_tags: tag ids.
        embed_dim: token embedding width.
        hidden: LSTM units per direction.
        dropout: dropout on embeddings and LSTM outputs.
    """

    def __init__(self, vocab_size: int, num_tags: int, embed_dim: int = 128, hidden: int = 128,
                 dropout: float = 0.3) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.lstm = nn.LSTM(embed_dim, hidden, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(dropout)
        self.emit = nn.Linear(2 * hidden, num_tags)
        self.crf = CRF(num_tags, batch_first=True)

    def emissions(self, token_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """
        Args:
            token_ids: (B, T) int64, right-padded with 0.
            mask: (B, T) bool, True on real tokens; every row starts with True.
        Returns:
            (B, T, num_tags) float emission scores.
        """
        lengths = mask.sum(1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(self.dropout(self.embed(token_ids)), lengths, batch_first=True,
                                                   enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=token_ids.shape[1])
        return self.emit(self.dropout(out))

    def loss(self, token_ids: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood per sequence; ``tags`` is (B, T) int64 (any value on padding)."""
        return -self.crf(self.emissions(token_ids, mask), tags, mask=mask, reduction="mean")

    def decode(self, token_ids: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
        """Viterbi-best tag ids per sequence, each as long as its mask."""
        return self.crf.decode(self.emissions(token_ids, mask), mask=mask)
