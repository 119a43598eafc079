"""A BERT encoder in plain torch, for the all-MiniLM-L6-v2 family the English models fine-tune.

Why not ``transformers.BertModel``: importing it costs about 4.7 s of CPU (transformers 5 pulls in
``torch.distributed.tensor``, its kernel hub and loss zoo), paid by every serving worker on every
start, where the whole model is ~80 lines of torch. Parameter names match Hugging Face's
``BertModel`` exactly, so a Hugging Face folder (``config.json`` + ``model.safetensors``) loads
as is, and artifacts trained before this module existed load unchanged. Training and serving
both build the encoder here; a unit test checks the outputs against ``transformers.BertModel``.

Shapes: B sequences, T word pieces, H hidden size, N heads.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn


@dataclass
class BertConfig:
    """The fields of a Hugging Face BERT ``config.json`` this encoder uses (absolute positions,
    post-layer-norm, exact-erf GELU: the BERT and MiniLM checkpoints)."""

    vocab_size: int
    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0

    @classmethod
    def from_json(cls, path: Path) -> BertConfig:
        """Read a ``config.json``; unknown keys are ignored, unsupported variants are refused."""
        raw = json.loads(Path(path).read_text())
        if raw.get("model_type", "bert") != "bert":
            raise ValueError(f"{path}: model_type must be 'bert', got {raw.get('model_type')!r}")
        if raw.get("hidden_act", "gelu") != "gelu" or raw.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(
                f"{path}: only hidden_act 'gelu' with absolute positions is supported, got "
                f"{raw.get('hidden_act')!r} / {raw.get('position_embedding_type')!r}"
            )
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in names and v is not None})

    def save(self, folder: Path) -> None:
        """Write a Hugging Face compatible ``config.json`` into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        body = {
            "model_type": "bert",
            "architectures": ["BertModel"],
            "position_embedding_type": "absolute",
            **{f.name: getattr(self, f.name) for f in fields(self)},
        }
        (folder / "config.json").write_text(json.dumps(body, indent=1))


class BertEmbeddings(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size, padding_idx=c.pad_token_id)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> (B, T, H); one segment (token type 0), positions 0..T-1."""
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = (
            self.word_embeddings(input_ids)
            + self.position_embeddings(positions)[None]
            + self.token_type_embeddings.weight[0]
        )
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        if c.hidden_size % c.num_attention_heads:
            raise ValueError(
                f"hidden_size {c.hidden_size} is not a multiple of num_attention_heads {c.num_attention_heads}"
            )
        self.heads = c.num_attention_heads
        self.query = nn.Linear(c.hidden_size, c.hidden_size)
        self.key = nn.Linear(c.hidden_size, c.hidden_size)
        self.value = nn.Linear(c.hidden_size, c.hidden_size)
        self.dropout_p = c.attention_probs_dropout_prob

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """x (B, T, H), keep (B, 1, 1, T) bool (True on real tokens) -> (B, T, H)."""
        B, T, H = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:  # (B, T, H) -> (B, N, T, H/N)
            return t.view(B, T, self.heads, H // self.heads).transpose(1, 2)

        out = F.scaled_dot_product_attention(
            split(self.query(x)),
            split(self.key(x)),
            split(self.value(x)),
            attn_mask=keep,
            dropout_p=self.dropout_p if self.training else 0.0,
            scale=1 / math.sqrt(H // self.heads),
        )
        return out.transpose(1, 2).reshape(B, T, H)


class BertSelfOutput(nn.Module):
    def __init__(self, c: BertConfig, inner: int) -> None:
        super().__init__()
        self.dense = nn.Linear(inner, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, h: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(h)) + residual)


class BertAttention(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.self = BertSelfAttention(c)
        self.output = BertSelfOutput(c, c.hidden_size)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(x, keep), x)


class BertIntermediate(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(x))


class BertLayer(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.attention = BertAttention(c)
        self.intermediate = BertIntermediate(c)
        self.output = BertSelfOutput(c, c.intermediate_size)  # same shape as HF's BertOutput

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        a = self.attention(x, keep)
        return self.output(self.intermediate(a), a)


class BertEncoder(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(c) for _ in range(c.num_hidden_layers))


class BertPooler(nn.Module):
    # Unused by the heads here (they pool the last hidden states themselves); kept so checkpoints
    # and artifacts load strictly, with every parameter accounted for.
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)


class BertModel(nn.Module):
    """``encoder(input_ids=..., attention_mask=...).last_hidden_state`` as with Hugging Face's
    ``BertModel``: input_ids (B, T) int64, attention_mask (B, T) 0/1 -> (B, T, H) float."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> Any:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        keep = attention_mask.bool()[:, None, None, :]
        x = self.embeddings(input_ids)
        for layer in self.encoder.layer:
            x = layer(x, keep)
        return SimpleNamespace(last_hidden_state=x)

    @classmethod
    def from_folder(cls, folder: Path, weights: bool = True) -> BertModel:
        """A Hugging Face BERT folder: ``config.json`` and, with ``weights``, ``model.safetensors``
        (extra buffers such as ``embeddings.position_ids`` are ignored, missing weights refused)."""
        model = cls(BertConfig.from_json(Path(folder) / "config.json"))
        if weights:
            state = load_file(str(Path(folder) / "model.safetensors"))
            state = {k.removeprefix("bert."): v for k, v in state.items() if not k.endswith("position_ids")}
            model.load_state_dict(state, strict=True)
        return model
