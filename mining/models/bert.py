"""A BERT encoder in plain torch, for the all-MiniLM-L6-v2 family the English models fine-tune.

Why not ``transformers.BertModel``: importing it (transformers 5 pulls in ``torch.distributed.tensor``,
its kernel hub and loss zoo) costs every serving worker seconds of CPU on every start
(docs/benchmarks.md#serving-layouts-and-knobs), where the whole model is ~80 lines of torch.
Parameter names match Hugging Face's ``BertModel`` exactly, so a Hugging Face folder
(``config.json`` + ``model.safetensors``) and an artifact saved from ``transformers.BertModel``
load as they are. Training and serving both build the encoder here; a unit test checks the
outputs against ``transformers.BertModel``.

Shapes: B sequences, T word pieces, H hidden size, N heads.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mining.artifacts import map_weights


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


def through(layers: Iterable[nn.Module], x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """x (B, T, H) through ``layers`` (each ``layer(x, keep)``) in the dtype of their weights (a
    bottom served in bfloat16, :func:`mining.artifacts.quantize_bottom`), returned in x's dtype."""
    layers = list(layers)
    dtype = next((p.dtype for layer in layers for p in layer.parameters()), x.dtype)
    y = x.to(dtype)
    for layer in layers:
        y = layer(y, keep)
    return y.to(x.dtype)


class BertModel(nn.Module):
    """``encoder(input_ids=..., attention_mask=...).last_hidden_state`` as with Hugging Face's
    ``BertModel``: input_ids (B, T) int64, attention_mask (B, T) 0/1 -> (B, T, H) float.

    ``frozen_layers`` K > 0: the embeddings and the first K layers keep their pretrained weights
    (no gradient, no dropout) while the rest fine-tunes. Heads trained that way on the same
    pretrained encoder compute identical bottom states, so serving can run that part once per text
    for all of them (:func:`share_bottom`).
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config)
        self.frozen_layers = 0
        self.shared: SharedBottom | None = None  # set by share_bottom; not a submodule (no state)

    def freeze_bottom(self, layers: int) -> BertModel:
        """Keep the embeddings and the first ``layers`` layers at their current weights."""
        if not 0 <= layers <= self.config.num_hidden_layers:
            raise ValueError(f"frozen layers must be in 0..{self.config.num_hidden_layers}, got {layers}")
        self.frozen_layers = layers
        for module in self.bottom():
            module.requires_grad_(False)
        return self.train(self.training)

    def bottom(self) -> list[nn.Module]:
        """The frozen part: embeddings and the first ``frozen_layers`` layers (empty when none)."""
        if not self.frozen_layers:
            return []
        return [self.embeddings, *self.encoder.layer[: self.frozen_layers]]

    def train(self, mode: bool = True) -> BertModel:
        super().train(mode)
        for module in self.bottom():  # frozen means the states served: no dropout there either
            module.eval()
        return self

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> Any:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        keep = attention_mask.bool()[:, None, None, :]
        if self.shared is not None:
            x = self.shared(input_ids, attention_mask)
        else:
            with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen_layers):
                x = through(self.encoder.layer[: self.frozen_layers], self.embeddings(input_ids), keep)
        for layer in self.encoder.layer[self.frozen_layers :]:
            x = layer(x, keep)
        return SimpleNamespace(last_hidden_state=x)

    @classmethod
    def from_folder(cls, folder: Path, weights: bool = True) -> BertModel:
        """A Hugging Face BERT folder: ``config.json`` and, with ``weights``, ``model.safetensors``
        (extra buffers such as ``embeddings.position_ids`` are ignored, missing weights refused)."""
        model = cls(BertConfig.from_json(Path(folder) / "config.json"))
        if weights:
            state = map_weights(Path(folder) / "model.safetensors")
            state = {k.removeprefix("bert."): v for k, v in state.items() if not k.endswith("position_ids")}
            model.load_state_dict(state, strict=True, assign=True)
        return model


class SharedBottom(nn.Module):
    """The frozen bottom (embeddings + first K layers) of one pretrained encoder, held once per
    process for every head fine-tuned above it, with its outputs cached per text.

    A text's bottom states depend only on its own word pieces (absolute positions, padding masked
    out of attention), so they are cached by the piece ids of its real tokens: the heads reading the
    same text within a short time (``/mine`` sends each text to sentiment, NER, product NER and
    aspects) run the bottom once. Concurrent batches wait for a text another batch is computing
    instead of computing it again. At most ``capacity`` texts and, where given, ``max_bytes`` bytes
    of states are kept (least recently used out); a text of T pieces holds T x H floats (64 pieces
    x 384 floats: ~98 KB).
    """

    def __init__(
        self,
        embeddings: BertEmbeddings,
        layers: list[nn.Module],
        digest: str,
        capacity: int = 512,
        while_training: bool = False,
        max_bytes: int | None = None,
    ) -> None:
        super().__init__()
        self.embeddings = embeddings
        self.layers = nn.ModuleList(layers)
        self.digest, self.capacity, self.max_bytes = digest, capacity, max_bytes
        self.bytes = 0  # held by the cached states
        # Training above a frozen bottom: the bottom gets no gradient, so its states are cached too.
        self.while_training = while_training
        self.cache: OrderedDict[tuple[int, ...], torch.Tensor] = OrderedDict()
        self.pending: dict[tuple[int, ...], threading.Event] = {}
        self.lock = threading.Lock()
        self.hits = self.misses = 0

    def clear(self) -> None:
        """Forget every cached state (the caller holds ``lock``)."""
        self.cache.clear()
        self.bytes = 0

    def compute(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, T) ids and 0/1 mask -> (B, T, H) bottom states, no cache."""
        keep = attention_mask.bool()[:, None, None, :]
        return through(self.layers, self.embeddings(input_ids), keep)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, T) ids and 0/1 mask (real tokens first) -> (B, T, H) bottom states; rows cached."""
        lengths = attention_mask.sum(1).tolist()
        if (torch.is_grad_enabled() and not self.while_training) or any(
            int(attention_mask[b, :n].sum()) != n for b, n in enumerate(lengths)
        ):  # a gradient through an unfrozen bottom, or left padding: nothing to share safely
            return self.compute(input_ids, attention_mask)
        keys = [tuple(input_ids[b, :n].tolist()) for b, n in enumerate(lengths)]
        found: dict[tuple[int, ...], torch.Tensor] = {}
        mine: list[tuple[int, ...]] = []
        waits: dict[tuple[int, ...], threading.Event] = {}
        with self.lock:
            for key in dict.fromkeys(keys):
                if key in self.cache:
                    self.cache.move_to_end(key)
                    found[key] = self.cache[key]
                elif key in self.pending:
                    waits[key] = self.pending[key]
                else:
                    mine.append(key)
                    self.pending[key] = threading.Event()
            self.hits += len(keys) - len(mine)
            self.misses += len(mine)
        try:
            if mine:
                found.update(self._run(mine, input_ids.device))
        finally:
            with self.lock:
                for key in mine:
                    if key in found:  # claimed as pending above, so not cached yet
                        self.cache[key] = found[key]
                        self.bytes += _nbytes(found[key])
                    self.pending.pop(key).set()
                while self.cache and (
                    len(self.cache) > self.capacity or (self.max_bytes is not None and self.bytes > self.max_bytes)
                ):
                    self.bytes -= _nbytes(self.cache.popitem(last=False)[1])
        for key, event in waits.items():
            event.wait()
            with self.lock:
                states = self.cache.get(key)
            found[key] = states if states is not None else self._run([key], input_ids.device)[key]
        out = torch.zeros(
            *input_ids.shape, found[keys[0]].shape[-1], dtype=found[keys[0]].dtype, device=input_ids.device
        )
        for b, key in enumerate(keys):
            out[b, : len(key)] = found[key]
        return out

    def _run(self, keys: list[tuple[int, ...]], device: torch.device) -> dict[tuple[int, ...], torch.Tensor]:
        T = max(len(k) for k in keys)
        ids = torch.zeros(len(keys), T, dtype=torch.long, device=device)
        mask = torch.zeros(len(keys), T, dtype=torch.long, device=device)
        for b, key in enumerate(keys):
            ids[b, : len(key)] = torch.tensor(key, dtype=torch.long)
            mask[b, : len(key)] = 1
        with torch.no_grad():  # frozen weights: the states need no graph
            states = self.compute(ids, mask)
        return {key: states[b, : len(key)].clone() for b, key in enumerate(keys)}


def _nbytes(states: torch.Tensor) -> int:
    return states.numel() * states.element_size()


_SHARED: dict[tuple[str, int, str], SharedBottom] = {}
_SHARED_LOCK = threading.Lock()


def bottom_digest(encoder: BertModel) -> str:
    """sha256 of the frozen bottom's weights (names and bytes): equal digests, equal states."""
    h = hashlib.sha256()
    prefixes = ("embeddings.", *(f"encoder.layer.{i}." for i in range(encoder.frozen_layers)))
    for name, tensor in sorted(encoder.state_dict().items()):
        if name.startswith(prefixes):
            h.update(name.encode())
            h.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def share_bottom(encoder: BertModel) -> SharedBottom | None:
    """Point ``encoder``'s frozen bottom at the process-wide copy of the same weights (made from
    this encoder if none exists yet): one copy in memory, one cached pass per text. Bottoms are
    never quantised (:func:`mining.artifacts.quantize`), so heads that differ in quantisation
    still share. Returns the shared bottom, or None when the encoder has no frozen layers."""
    if not encoder.frozen_layers:
        return None
    device = str(next(encoder.parameters()).device)
    key = (bottom_digest(encoder), encoder.frozen_layers, device)
    with _SHARED_LOCK:
        shared = _SHARED.get(key)
        if shared is None:
            shared = _SHARED[key] = SharedBottom(
                encoder.embeddings, list(encoder.encoder.layer[: encoder.frozen_layers]), key[0]
            ).eval()
    encoder.embeddings = shared.embeddings
    for i, layer in enumerate(shared.layers):
        encoder.encoder.layer[i] = layer
    object.__setattr__(encoder, "shared", shared)  # a reference, not a submodule: no state_dict keys
    return shared


@contextmanager
def cached_bottom(encoder: BertModel, capacity: int, max_bytes: int | None = None) -> Iterator[SharedBottom | None]:
    """While fine-tuning above ``encoder``'s frozen bottom: each distinct text's bottom states are
    computed once and reused by later epochs, repeated training rows and validation passes, so an
    epoch after the first runs only the layers that learn. The bottom has no gradient and no
    dropout, so the states are those an uncached pass computes. At most ``capacity`` texts and
    ``max_bytes`` bytes of states are kept (least recently used out; a text of T pieces holds T x H
    floats, so the bytes a budget holds depend on the texts' real lengths). Yields the cache, or None
    (nothing cached) without frozen layers or with ``capacity`` 0; the encoder is as before after.
    """
    if not encoder.frozen_layers or capacity <= 0:
        yield None
        return
    previous = encoder.shared
    layers = list(encoder.encoder.layer[: encoder.frozen_layers])
    cache = SharedBottom(encoder.embeddings, layers, "training", capacity, while_training=True, max_bytes=max_bytes)
    object.__setattr__(encoder, "shared", cache)  # a reference, not a submodule: no state_dict keys
    try:
        yield cache
    finally:
        object.__setattr__(encoder, "shared", previous)


def shared_bottoms() -> list[SharedBottom]:
    """The shared bottoms of this process (for metrics and tests)."""
    with _SHARED_LOCK:
        return list(_SHARED.values())
