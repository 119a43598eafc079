"""Next-item prediction from a user's ordered item events: a self-attentive Transformer
(SASRec-style, causal attention over the last ``max_len`` events, each an item and its event
type) and a GRU, trained with a full softmax over every item.

Shapes: B sequences, L positions (left-padded: the newest event is at ``L - 1``), H hidden units,
I items. Item index 0 is padding; item ``k`` (1..I) is ``item_ids[k - 1]``. Event types index
:data:`EVENT_TYPES` from 1 (0 is padding).

A model whose network scored below a simpler scorer on validation (a last-item Markov chain,
item-kNN over the last events, popularity) is served by that scorer instead (``config["served"]``,
one of :data:`FALLBACKS`), whose counts the artifact then holds.

The artifact is ``model.safetensors`` (the network's state dict) plus ``config.json`` (the
constructor arguments, the item ids, the minimum history, what serves) and, when trained with one,
the items table (``items.csv``), and with a fallback its ``<name>.npz`` (counts, index arrays); no
pickle.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mining.artifacts import load_weights
from mining.models.items import ItemCatalog
from mining.models.sequence_fallbacks import FALLBACKS as FALLBACKS
from mining.models.sequence_fallbacks import Fallback as Fallback
from mining.models.sequence_fallbacks import ItemKNN as ItemKNN
from mining.models.sequence_fallbacks import MarkovChain as MarkovChain
from mining.models.sequence_fallbacks import Popularity as Popularity

# Item event types in order of how much they say (as the event store's ITEM_WEIGHTS: 1-5).
EVENT_TYPES = ("view", "click", "cart", "review", "purchase")
ARCHS = ("sasrec", "gru")


def type_of_weight(weight: float) -> str:
    """The event type whose interaction weight (1 view ... 5 purchase, or a 1-5 rating) is nearest
    to ``weight``: how a table of weights without types (MovieLens ratings) gets its types."""
    k = min(max(int(round(float(weight))), 1), len(EVENT_TYPES))
    return EVENT_TYPES[k - 1]


class SequenceNet(nn.Module):
    """Item + event-type embeddings, then causal self-attention blocks (``sasrec``) or a GRU
    (``gru``); scores are the last hidden state's dot products with the item embeddings (tied).

    Args:
        n_items: I, the number of items (embedding rows I + 1 with padding).
        arch: ``sasrec`` or ``gru``.
        hidden: H.
        layers: attention blocks or GRU layers.
        heads: attention heads (``sasrec``).
        max_len: L, the events read (``sasrec`` has a position embedding per slot).
        dropout: on embeddings and inside the blocks.
    """

    def __init__(
        self,
        n_items: int,
        arch: str = "sasrec",
        hidden: int = 64,
        layers: int = 2,
        heads: int = 1,
        max_len: int = 50,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}; got {arch!r}")
        self.arch, self.max_len, self.heads = arch, max_len, heads
        self.items = nn.Embedding(n_items + 1, hidden, padding_idx=0)
        self.types = nn.Embedding(len(EVENT_TYPES) + 1, hidden, padding_idx=0)
        self.drop = nn.Dropout(dropout)
        if arch == "sasrec":
            self.positions = nn.Embedding(max_len, hidden)
            block = nn.TransformerEncoderLayer(
                hidden, heads, dim_feedforward=hidden * 2, dropout=dropout, batch_first=True, norm_first=True
            )
            self.encoder = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(hidden)
        else:
            self.gru = nn.GRU(hidden, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        nn.init.normal_(self.items.weight, std=hidden**-0.5)
        with torch.no_grad():
            self.items.weight[0].zero_()

    def forward(self, items: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        """(B, L) item and type indices (0 = padding, left-padded) -> (B, L, H) states; the state
        at position t has read events 0..t only."""
        pad = items == 0
        x = self.items(items) * math.sqrt(self.items.embedding_dim) + self.types(types)
        if self.arch == "gru":
            out, _ = self.gru(self.drop(x))
            return out  # type: ignore[no-any-return]
        length = items.shape[1]
        x = x + self.positions(torch.arange(self.max_len - length, self.max_len, device=items.device))
        x = self.drop(x) * (~pad).unsqueeze(-1)
        # Position t may attend to s <= t, and not to padding, except to itself: a row that masked
        # everything would give NaN; a padded row attends to itself only and is never scored.
        future = torch.ones(length, length, dtype=torch.bool, device=items.device).triu(1)
        blocked = future.unsqueeze(0) | pad.unsqueeze(1)
        blocked = blocked & ~torch.eye(length, dtype=torch.bool, device=items.device).unsqueeze(0)
        mask = blocked.repeat_interleave(self.heads, dim=0)
        return self.norm(self.encoder(x, mask=mask))  # type: ignore[no-any-return]

    def scores(self, states: torch.Tensor) -> torch.Tensor:
        """(..., H) states -> (..., I) logits over items 1..I."""
        return states @ self.items.weight[1:].T


def pad_left(sequences: Sequence[Sequence[int]], length: int) -> torch.Tensor:
    """Index lists -> (B, length) long tensor, each list's last ``length`` entries right-aligned."""
    out = torch.zeros(len(sequences), length, dtype=torch.long)
    for row, seq in enumerate(sequences):
        tail = list(seq)[-length:]
        if tail:
            out[row, length - len(tail) :] = torch.tensor(tail, dtype=torch.long)
    return out


class SequenceModel:
    """A trained :class:`SequenceNet` with its item ids.

    Args:
        net: the network (eval mode for serving).
        item_ids: I external item ids; item index k is ``item_ids[k - 1]``.
        config: the constructor arguments of ``net`` plus ``min_history`` (known item events a
            user needs before the model predicts for them) and ``served`` (what answers: ``network``,
            the default, or a name in :data:`FALLBACKS`, which needs that ``fallback``).
        catalog: the items table it was trained with, if any (titles and categories in answers).
        fallback: the scorer that answers when ``served`` names it.
    """

    def __init__(
        self,
        net: SequenceNet,
        item_ids: Sequence[str],
        config: dict[str, Any],
        catalog: ItemCatalog | None = None,
        fallback: Fallback | None = None,
    ) -> None:
        self.net, self.config, self.catalog, self.fallback = net, dict(config), catalog, fallback
        self.item_ids = [str(i) for i in item_ids]
        self.item_index = {item: k + 1 for k, item in enumerate(self.item_ids)}
        self.type_index = {t: k + 1 for k, t in enumerate(EVENT_TYPES)}
        self.min_history = int(config.get("min_history", 1))
        self.served = str(config.get("served", "network"))
        if self.served not in ("network", *FALLBACKS):
            raise ValueError(f"served must be network or one of {tuple(FALLBACKS)}; got {self.served!r}")
        if self.served != "network" and (
            fallback is None or self.served != fallback.KIND or fallback.n_items != len(self.item_ids)
        ):
            raise ValueError(f"served {self.served!r} needs that scorer over the model's {len(self.item_ids)} items")

    @property
    def source(self) -> str:
        """What answers: the network's architecture (``sasrec``, ``gru``) or the fallback's name."""
        return str(self.config["arch"]) if self.served == "network" else self.served

    @property
    def max_len(self) -> int:
        return int(self.config["max_len"])

    def encode(self, events: Sequence[tuple[str, str]]) -> tuple[list[int], list[int]]:
        """(item_id, event type) pairs, oldest first -> (item indices, type indices) of the known
        items (unknown items and types are left out: the model has no embedding for them)."""
        items, types = [], []
        for item, kind in events:
            k = self.item_index.get(str(item))
            if k is not None:
                items.append(k)
                types.append(self.type_index.get(kind, self.type_index["view"]))
        return items, types

    @torch.no_grad()
    def logits(self, histories: Sequence[tuple[list[int], list[int]]]) -> torch.Tensor:
        """Encoded histories (each non-empty) -> (B, I) next-item logits, on the model's device."""
        device = next(self.net.parameters()).device
        length = min(self.max_len, max(len(items) for items, _ in histories))
        items = pad_left([h[0] for h in histories], length).to(device)
        types = pad_left([h[1] for h in histories], length).to(device)
        return self.net.scores(self.net(items, types)[:, -1])

    def predict(
        self, histories: Sequence[Sequence[tuple[str, str]]], n: int = 10, exclude_seen: bool = True
    ) -> list[dict[str, Any]]:
        """Per history (``(item_id, event type)`` pairs, oldest first) its top ``n`` next items.

        Returns:
            per history ``{"items": [(item_id, probability)], "used": int, "source": str}``
            (``used``: the known events the answer depends on, at most ``max_len`` for the network,
            1 for the Markov chain, 5 for item-kNN, 0 for popularity; ``source``: :attr:`source`), or ``{"items": None, "used": int, "reason": str}``
            when it has fewer than ``min_history`` known items.
        """
        out: list[dict[str, Any]] = [{} for _ in histories]
        encoded = [self.encode(h) for h in histories]
        ready = [k for k, (items, _) in enumerate(encoded) if len(items) >= self.min_history]
        for k, (items, _) in enumerate(encoded):
            if k not in ready:
                out[k] = {
                    "items": None,
                    "used": len(items),
                    "reason": f"{len(items)} known item events; the sequence model needs {self.min_history}",
                }
        if ready:
            probs = self._probabilities([encoded[k] for k in ready])
            for row, k in enumerate(ready):
                p = probs[row].copy()
                if exclude_seen:
                    p[np.array(encoded[k][0], dtype=np.int64) - 1] = -1.0
                top = np.argsort(-p, kind="stable")[:n]
                out[k] = {
                    "items": [(self.item_ids[j], float(p[j])) for j in top if p[j] >= 0],
                    "used": self._used(len(encoded[k][0])),
                    "source": self.source,
                }
        return out

    def _probabilities(self, histories: Sequence[tuple[list[int], list[int]]]) -> np.ndarray:
        """Encoded non-empty histories -> (B, I) next-item probabilities from what serves."""
        if self.served == "network":
            return torch.softmax(self.logits(histories).float(), dim=-1).cpu().numpy()  # type: ignore[no-any-return]
        assert self.fallback is not None  # the constructor checked
        return self.fallback.probabilities([items for items, _ in histories])

    def _used(self, known: int) -> int:
        """Known events the answer read out of ``known``."""
        if self.fallback is None or self.served == "network":
            return min(known, self.max_len)
        return min(known, self.fallback.reads)

    # --- artifact ---------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        from safetensors.torch import save_file

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}, path / "model.safetensors"
        )
        (path / "config.json").write_text(json.dumps({**self.config, "item_ids": self.item_ids}, ensure_ascii=False))
        if self.catalog is not None:
            self.catalog.save(path)
        if self.fallback is not None:
            self.fallback.save(path)

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> SequenceModel:
        path = Path(path)
        config = json.loads((path / "config.json").read_text())
        item_ids = config.pop("item_ids")
        net = SequenceNet(len(item_ids), **{k: config[k] for k in NET_ARGS})
        load_weights(net, path / "model.safetensors")
        kind = FALLBACKS.get(str(config.get("served", "network")))
        fallback = kind.load(path) if kind is not None else None
        return cls(net.to(device).eval(), item_ids, config, ItemCatalog.load(path), fallback)


NET_ARGS = ("arch", "hidden", "layers", "heads", "max_len", "dropout")
