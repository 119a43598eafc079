"""The CRF taggers behind the NER and aspect models: forward-backward marginals, the shared loss
and decode, a BiLSTM-CRF over characters and a CRF head on a transformer encoder."""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn
from torchcrf import CRF

from mining.models.tags import PIECE_POSITIONS, SHAPES


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

    With ``char_lstm``, a character tagger also embeds each character itself (``char_buckets``
    rows, by code point) and runs a BiLSTM of ``char_lstm`` units per direction over the characters
    before the emission layer: a piece's state is the same for every character of it, and the
    position alone does not say where a name inside 北京市 or 人民政府 ends.

    Args:
        encoder: a :class:`mining.models.bert.BertModel` (anything returning ``last_hidden_state``).
        num_tags: tag ids.
        shape_dim: width of the :data:`SHAPES` embedding.
        dropout: dropout on the token representations.
        position_dim: width of the in-piece position embedding; 0 for word tokens (no such embedding).
        char_lstm: BiLSTM units per direction over the characters; 0 for none.
        char_buckets: rows of the character embedding (a character's code point modulo this).
        char_dim: width of the character embedding.
    """

    def __init__(
        self,
        encoder: nn.Module,
        num_tags: int,
        shape_dim: int = 16,
        dropout: float = 0.1,
        position_dim: int = 0,
        char_lstm: int = 0,
        char_buckets: int = 2**16,
        char_dim: int = 64,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.shape = nn.Embedding(len(SHAPES), shape_dim, padding_idx=0)
        self.dropout = nn.Dropout(dropout)
        width = int(encoder.config.hidden_size) + shape_dim + position_dim  # type: ignore[union-attr,arg-type]
        self.emit = nn.Linear(2 * char_lstm if char_lstm else width, num_tags)
        self.crf = CRF(num_tags, batch_first=True)
        # Last and for characters only, so a word tagger's parameters and seeded initial values do not depend on it.
        self.piece_position = nn.Embedding(PIECE_POSITIONS, position_dim) if position_dim else None
        self.char: nn.Embedding | None = None
        self.char_lstm: nn.LSTM | None = None
        if char_lstm:
            self.char = nn.Embedding(char_buckets, char_dim, padding_idx=0)
            self.char_lstm = nn.LSTM(width + char_dim, char_lstm, batch_first=True, bidirectional=True)

    def emissions(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """
        Args:
            batch: ``input_ids``, ``attention_mask`` (B, P) int64 word pieces; ``first_piece``
                (B, W) int64 index of the piece each token reads; ``shapes`` (B, W) int64;
                ``piece_position`` (B, W) int64 in ``[0, PIECE_POSITIONS)`` for a character
                tagger; ``char_ids`` (B, W) int64 in ``[0, char_buckets)`` with ``char_lstm``;
                ``mask`` (B, W) bool, True on real tokens.
        Returns:
            (B, W, num_tags) float emission scores.
        """
        hidden = self.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        index = batch["first_piece"].unsqueeze(-1).expand(-1, -1, hidden.shape[-1])
        parts = [hidden.gather(1, index), self.shape(batch["shapes"])]
        if self.piece_position is not None:
            parts.append(self.piece_position(batch["piece_position"]))
        if self.char is None or self.char_lstm is None:
            return self.emit(self.dropout(torch.cat(parts, -1)))
        x = self.dropout(torch.cat([*parts, self.char(batch["char_ids"])], -1))
        lengths = batch["mask"].sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.char_lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return self.emit(self.dropout(out))
