"""What every model artifact shares: the device a model runs on, and the directory layout of a
torch model (``model.json`` with constructor args and labels, ``weights.safetensors``, and for a
fine-tuned encoder an ``encoder/`` folder with its config and tokenizer). No pickle anywhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn


def pick_device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_encoder(folder: Path) -> tuple[nn.Module, Any]:
    """(pretrained encoder, tokenizer) from a local Hugging Face BERT folder; never touches the network."""
    from transformers import AutoTokenizer

    from mining.models.bert import BertModel

    return BertModel.from_folder(folder), AutoTokenizer.from_pretrained(str(folder), local_files_only=True)


def write_artifact(path: Path, spec: dict[str, Any], net: nn.Module, tokenizer: Any = None) -> None:
    """Write ``model.json`` (``spec``), ``weights.safetensors`` (``net``'s state dict) and, with a
    tokenizer, ``encoder/`` (the encoder's config and tokenizer files, no weights: those are in
    the state dict)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "model.json").write_text(json.dumps(spec, ensure_ascii=False, indent=1))
    if tokenizer is not None:
        net.encoder.config.save(path / "encoder")  # type: ignore[union-attr,operator]
        tokenizer.save_pretrained(str(path / "encoder"))
    save_file({k: v.contiguous().cpu() for k, v in net.state_dict().items()}, str(path / "weights.safetensors"))


def encoder_skeleton(path: Path) -> tuple[nn.Module, Any]:
    """(encoder with freshly initialised weights, tokenizer) from an artifact's ``encoder/``
    folder; the caller loads the trained weights from ``weights.safetensors``."""
    from transformers import AutoTokenizer

    from mining.models.bert import BertModel

    encoder = BertModel.from_folder(path / "encoder", weights=False)
    return encoder, AutoTokenizer.from_pretrained(str(path / "encoder"), local_files_only=True)
