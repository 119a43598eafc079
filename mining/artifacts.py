"""What every model artifact shares: the device a model runs on, and the directory layout of a
torch model (``model.json`` with constructor args and labels, ``weights.safetensors``, and for a
fine-tuned encoder an ``encoder/`` folder with its config and tokenizer). No pickle anywhere."""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import save_file
from torch import nn

if TYPE_CHECKING:
    from mining.models.bert import BertModel


def pick_device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_encoder(folder: Path) -> tuple[BertModel, Any]:
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


# safetensors dtype names -> torch dtypes (the ones torch can view raw bytes as).
_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


def map_weights(file: Path | str) -> dict[str, torch.Tensor]:
    """The tensors of a ``.safetensors`` file, as CPU tensors that are views of one copy-on-write
    memory map of the file (no copy into process memory).

    Why: gateway workers each load every model; weights read from the same file through a map
    are the page cache's pages, held once on the machine however many workers map them, until a
    worker writes one (training, quantisation), which then gets a private copy of that page
    only. A tensor whose offset in the file does not suit its dtype's alignment is copied.
    """
    file = Path(file)
    with file.open("rb") as f:
        (header_len,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(header_len))
    header.pop("__metadata__", None)
    start = 8 + header_len
    storage = torch.UntypedStorage.from_file(str(file), shared=False, nbytes=os.path.getsize(file))
    raw = torch.empty(0, dtype=torch.uint8).set_(storage)  # type: ignore[arg-type]
    tensors = {}
    for name, entry in header.items():
        if entry["dtype"] not in _DTYPES:
            raise ValueError(f"{file}: tensor {name!r} has dtype {entry['dtype']}, which cannot be mapped")
        dtype = _DTYPES[entry["dtype"]]
        begin, end = entry["data_offsets"]
        chunk = raw[start + begin : start + end]
        if (start + begin) % dtype.itemsize:
            chunk = chunk.clone()
        tensors[name] = chunk.view(dtype).view(entry["shape"])
    return tensors


def load_weights(net: nn.Module, file: Path | str) -> nn.Module:
    """Load ``file`` (``.safetensors``, every key of ``net``'s state dict) into ``net`` by
    assigning the memory-mapped tensors of :func:`map_weights` as its parameters and buffers;
    returns ``net``. Moving ``net`` to a GPU afterwards copies them, as usual."""
    net.load_state_dict(map_weights(file), strict=True, assign=True)
    return net


def encoder_skeleton(path: Path, frozen_layers: int = 0) -> tuple[BertModel, Any]:
    """(encoder with freshly initialised weights, tokenizer) from an artifact's ``encoder/``
    folder, its first ``frozen_layers`` layers marked frozen as in training; the caller loads the
    trained weights from ``weights.safetensors``."""
    from transformers import AutoTokenizer

    from mining.models.bert import BertModel

    encoder = BertModel.from_folder(path / "encoder", weights=False).freeze_bottom(frozen_layers)
    return encoder, AutoTokenizer.from_pretrained(str(path / "encoder"), local_files_only=True)


QUANTIZATIONS = ("none", "int8", "int8-channel")
# A frozen bottom may also serve in bfloat16 (see quantize_bottom).
BOTTOM_QUANTIZATIONS = (*QUANTIZATIONS, "bf16")


def torch_modules(model: Any, depth: int = 5) -> list[nn.Module]:
    """The torch modules a loaded model object holds: its ``nn.Module`` attributes, looked for
    through nested model objects and lists down to ``depth`` levels. The deepest served today is an
    aspect model's polarity network: aspect model -> ensemble -> members list -> member -> ``net``
    (four levels below the aspect model)."""
    found: list[nn.Module] = []

    def walk(obj: Any, level: int) -> None:
        if isinstance(obj, nn.Module):
            if all(obj is not m for m in found):
                found.append(obj)
            return
        if level == 0 or isinstance(obj, (str, bytes, int, float, bool, type(None))):
            return
        values = obj if isinstance(obj, (list, tuple)) else getattr(obj, "__dict__", {}).values()
        for value in values:
            walk(value, level - 1)

    walk(model, depth)
    return found


class RowInt8Linear(nn.Module):
    """A ``nn.Linear`` for CPU inference: int8 weights (one scale per tensor, or per output row with
    ``per_channel``) and an input quantised row by row, each row (one token of one text) to int8 with
    its own scale, multiplied in int32 (``torch._int_mm``) and scaled back to float32.

    Why not PyTorch's dynamic quantisation: it quantises a layer's whole input with one scale, so
    a text's answer depended on the texts batched with it (the batching runners put whatever
    requests arrive together in one batch): of 200 reviews, 35 (English) and 39 (Chinese) got other
    aspect spans alone than in batches of 32, and 1 and 0 with this layer (the English one at a
    padded length), at the same speed and validation scores nearer float32 (docs/benchmarks.md).

    Args:
        linear: the float layer; its weight (out, in) and bias are copied.
        per_channel: one weight scale per output row instead of one for the tensor.
    """

    def __init__(self, linear: nn.Linear, per_channel: bool = False) -> None:
        super().__init__()
        w = linear.weight.detach().float()
        scale = w.abs().amax(1) if per_channel else w.abs().amax().expand(w.shape[0])
        scale = scale.clamp_min(1e-12) / 127.0
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight_int8: torch.Tensor
        self.weight_scale: torch.Tensor
        self.bias: torch.Tensor | None
        # (in, out) int8: the layout torch._int_mm multiplies by.
        self.register_buffer(
            "weight_int8", torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8).t().contiguous()
        )
        self.register_buffer("weight_scale", scale.contiguous())
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().float().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., in) float -> (..., out) float32."""
        shape = x.shape
        rows = x.reshape(-1, shape[-1]).float()
        row_scale = rows.abs().amax(1, keepdim=True).clamp_min(1e-12) / 127.0
        q = torch.round(rows / row_scale).clamp(-127, 127).to(torch.int8)
        y = torch._int_mm(q, self.weight_int8).float() * row_scale * self.weight_scale
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*shape[:-1], self.out_features)


def _int8_linears(module: nn.Module, per_channel: bool, keep: AbstractSet[int] = frozenset()) -> bool:
    """Every ``nn.Linear`` under ``module`` (not ``module`` itself, not those whose id is in
    ``keep``) replaced in place by a :class:`RowInt8Linear`; True when one was."""
    changed = False
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Linear and id(child) not in keep:
                setattr(parent, name, RowInt8Linear(child, per_channel))
                changed = True
    return changed


def served_quantization(metadata: Mapping[str, Any]) -> tuple[str, list[str]]:
    """(mode, float parts) a model's store metadata chose for serving (its ``quantization`` block;
    ``none`` where it has none): the arguments of :func:`quantize`."""
    q = metadata.get("quantization") or {}
    return str(q.get("mode", "none")), [str(p) for p in q.get("float_parts", [])]


def frozen_encoders(model: Any) -> list[BertModel]:
    """The encoders with a frozen bottom inside a loaded model (through :func:`torch_modules`)."""
    from mining.models.bert import BertModel

    return [
        m for module in torch_modules(model) for m in module.modules() if isinstance(m, BertModel) and m.frozen_layers
    ]


def quantize_bottom(encoder: BertModel, mode: str) -> bool:
    """Quantise ``encoder``'s frozen bottom in place: its Linear layers int8 (:class:`RowInt8Linear`:
    one weight scale per tensor for ``int8``, per output row for ``int8-channel``), or its layers' weights and
    activations in bfloat16 (``bf16``; the states it hands on are float32 again, see
    :func:`mining.models.bert.through`); ``none`` leaves it float32. (Only the Linear layers in
    bfloat16, the layer norms and the residual sums float32, lost more on validation: see
    docs/benchmarks.md#quantised-shared-bottoms.)

    The bottom is the part every head above it shares, so this is a serving decision for all of
    them at once (the ``DEMAND_MINING_BOTTOM_QUANTIZATION`` setting), not one head's: where the
    bottom is shared (:func:`mining.models.bert.share_bottom`) the shared copy is changed, and the
    states it cached as float are dropped. On 2 CPU cores the float bottom was most of a text's
    cost (docs/benchmarks.md#quantised-shared-bottoms). A layer already quantised is left as it is.

    Returns:
        True when a layer was quantised now.
    """
    if mode not in BOTTOM_QUANTIZATIONS:
        raise ValueError(f"bottom quantization must be one of {', '.join(BOTTOM_QUANTIZATIONS)}; got {mode!r}")
    layers = list(encoder.encoder.layer[: encoder.frozen_layers])
    if mode == "none" or not layers or any(p.device.type != "cpu" for m in layers for p in m.parameters()):
        return False
    if mode == "bf16":
        # A bottom already in bfloat16, or already int8, is left as it is.
        if not any(p.dtype == torch.float32 for m in layers for p in m.parameters()) or any(
            isinstance(m, RowInt8Linear) for layer in layers for m in layer.modules()
        ):
            return False
        for layer in layers:
            layer.to(torch.bfloat16)
        return _dropped_cache(encoder, True)
    changed = False
    for layer in layers:
        changed = _int8_linears(layer, per_channel=mode == "int8-channel") or changed
    return _dropped_cache(encoder, changed)


def _dropped_cache(encoder: BertModel, changed: bool) -> bool:
    """``changed``, after emptying the shared bottom's cache of states the old weights computed."""
    if changed and encoder.shared is not None:
        with encoder.shared.lock:
            encoder.shared.clear()
    return changed


def quantize(model: Any, mode: str, float_parts: Sequence[str] = ()) -> Any:
    """Quantise ``model``'s torch modules in place for CPU inference and return it.

    ``int8``: every ``nn.Linear`` a :class:`RowInt8Linear` (weights int8 with one scale per
    tensor, each input row quantised with its own scale at run time, so a text's answer does not
    depend on the texts batched with it); embeddings, convolutions, LSTMs and CRF transitions stay
    float. PyTorch's dynamic int8 LSTM quantises a time step of the whole batch with one scale:
    with it, 8 of 200 Chinese reviews got other aspects alone than in batches of 32 from the
    character BiLSTM-CRF, none float (which read 22% slower). ``int8-channel``: the same with one
    scale per output row of each Linear weight, for models whose rows differ too much in range for
    one scale (the English NER heads). ``none``, or a model on a GPU (the int8
    product runs on CPU here): unchanged.

    An encoder's frozen bottom (``BertModel.bottom``) stays float whatever the mode: it is the
    pretrained part several heads share (:func:`mining.models.bert.share_bottom`), run once per
    text for all of them, so one head's choice must not change what the others were scored on.

    ``float_parts``: attributes of ``model`` whose modules stay float (an aspect model's
    ``polarity`` where int8 loses accuracy the extractor does not: the store metadata's
    ``quantization.float_parts``).
    """
    if mode not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {', '.join(QUANTIZATIONS)}; got {mode!r}")
    if mode == "none":
        return model
    from mining.models.bert import BertModel

    kept_float = {id(m) for part in float_parts for m in torch_modules(getattr(model, part))}
    modules = [m for m in torch_modules(model) if id(m) not in kept_float]
    if any(p.device.type != "cpu" for m in modules for p in m.parameters()):
        return model
    for module in modules:
        bottoms = [part for enc in module.modules() if isinstance(enc, BertModel) for part in enc.bottom()]
        keep = {id(m) for part in bottoms for m in part.modules()}
        _int8_linears(module, per_channel=mode == "int8-channel", keep=keep)
    return model
