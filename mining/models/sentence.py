"""Sentence vectors from a pretrained encoder, e5 style: ``prefix + text`` -> mean of the final
states over the real pieces -> unit vector. Used where a pretrained encoder is served as it is,
without a head (reply retrieval: :mod:`mining.models.reply_ranker`).

The artifact is the encoder's weights (``weights.safetensors``), its config and tokenizer
(``encoder/``) and ``model.json`` with the prefixes and the piece budget. Its bottom layers are
marked frozen like the heads' of the same encoder, so a runner serving both runs them once per
text (:func:`mining.models.bert.share_bottom`) where the text's pieces are the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mining.artifacts import encoder_skeleton, load_weights, write_artifact
from mining.models.bert import BertModel

KIND = "sentence-encoder"


class _Holder(nn.Module):
    """The state-dict layout of an artifact: ``encoder.<bert names>``."""

    def __init__(self, encoder: BertModel) -> None:
        super().__init__()
        self.encoder = encoder


class SentenceEncoder:
    """Unit sentence vectors of one pretrained encoder.

    Args:
        encoder: the BERT-layout encoder (its ``frozen_layers`` only matter for sharing the bottom).
        tokenizer: its Hugging Face tokenizer.
        max_len: pieces per text, ``<s>``/``</s>`` included; longer texts are cut.
        query_prefix, doc_prefix: what is put before a query and before a stored document (e5 was
            trained with ``query: `` / ``passage: ``; the choice is made on validation).
    """

    def __init__(
        self, encoder: BertModel, tokenizer: Any, max_len: int = 128, query_prefix: str = "", doc_prefix: str = ""
    ) -> None:
        self.encoder = encoder.eval()
        self.tokenizer = tokenizer
        self.max_len = max_len
        self.query_prefix = query_prefix
        self.doc_prefix = doc_prefix

    @property
    def dim(self) -> int:
        return int(self.encoder.config.hidden_size)

    def embed(self, texts: Sequence[str], prefix: str, batch: int = 32) -> np.ndarray:
        """(len(texts), dim) float32 unit vectors of ``prefix + text``. Texts run shortest first so
        batches pad little; rows come back in the given order. A text of no pieces gets zeros."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")
        device = next(self.encoder.parameters()).device
        with torch.inference_mode():
            for start in range(0, len(order), batch):
                rows = order[start : start + batch]
                enc = self.tokenizer(
                    [prefix + texts[i] for i in rows],
                    padding=True,
                    truncation=True,
                    max_length=self.max_len,
                    return_tensors="pt",
                )
                mask = enc["attention_mask"].to(device)
                states = self.encoder(input_ids=enc["input_ids"].to(device), attention_mask=mask).last_hidden_state
                weights = mask.unsqueeze(-1).to(states.dtype)
                mean = (states * weights).sum(1) / weights.sum(1).clamp(min=1)
                out[rows] = torch.nn.functional.normalize(mean.float(), dim=-1).cpu().numpy()
        return out

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        """:meth:`embed` with the query prefix."""
        return self.embed(texts, self.query_prefix)

    def documents(self, texts: Sequence[str]) -> np.ndarray:
        """:meth:`embed` with the document prefix."""
        return self.embed(texts, self.doc_prefix)

    def save(self, path: Path) -> None:
        """Write the artifact (module docstring) into ``path``."""
        spec = {
            "kind": KIND,
            "max_len": self.max_len,
            "query_prefix": self.query_prefix,
            "doc_prefix": self.doc_prefix,
            "frozen_layers": self.encoder.frozen_layers,
        }
        write_artifact(Path(path), spec, _Holder(self.encoder), self.tokenizer)

    @classmethod
    def load(cls, path: Path, device: torch.device | None = None) -> SentenceEncoder:
        """Read an artifact written by :meth:`save` (weights memory-mapped), onto ``device``."""
        import json

        path = Path(path)
        spec = json.loads((path / "model.json").read_text(encoding="utf-8"))
        if spec.get("kind") != KIND:
            raise ValueError(f"{path}: model.json kind is {spec.get('kind')!r}, not {KIND!r}")
        encoder, tokenizer = encoder_skeleton(path, int(spec["frozen_layers"]))
        holder = load_weights(_Holder(encoder), path / "weights.safetensors")
        if device is not None:
            holder.to(device)
        return cls(encoder, tokenizer, int(spec["max_len"]), spec["query_prefix"], spec["doc_prefix"])
