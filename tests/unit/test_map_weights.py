"""Memory-mapped weights: tensors read straight from a safetensors file, shared through the page cache."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from mining.artifacts import load_weights, map_weights


def mapped(file: Path) -> bool:
    """Whether this process has ``file`` memory-mapped now."""
    return str(file.resolve()) in Path("/proc/self/maps").read_text()


def test_every_dtype_and_shape_reads_back_exactly(tmp_path: Path) -> None:
    torch.manual_seed(0)
    tensors = {
        "f32": torch.randn(3, 5),
        "f16": torch.randn(7).half(),
        "bf16": torch.randn(2, 2).bfloat16(),
        "i64": torch.arange(-4, 5),
        "i8": torch.tensor([1, -2, 3], dtype=torch.int8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 4),
    }
    file = tmp_path / "w.safetensors"
    save_file(tensors, str(file))
    got = map_weights(file)
    assert set(got) == set(tensors)
    for name, want in tensors.items():
        assert got[name].dtype == want.dtype and got[name].shape == want.shape, name
        assert torch.equal(got[name], want), name


def test_tensors_are_views_of_the_file_and_writes_stay_private(tmp_path: Path) -> None:
    file = tmp_path / "w.safetensors"
    save_file({"w": torch.ones(1024, 256)}, str(file))
    got = map_weights(file)
    assert mapped(file)
    got["w"].add_(1)  # copy-on-write: this process's pages only
    assert torch.equal(load_file(str(file))["w"], torch.ones(1024, 256))
    assert torch.equal(map_weights(file)["w"], torch.ones(1024, 256))


def test_misaligned_tensor_is_copied_with_its_value(tmp_path: Path) -> None:
    # A hand-written file: one byte, then a float32 at data offset 1 (safetensors' writer never
    # does this, other writers may).
    header = {
        "b": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},
        "f": {"dtype": "F32", "shape": [2], "data_offsets": [1, 9]},
    }
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    file = tmp_path / "odd.safetensors"
    file.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\x07" + struct.pack("<2f", 1.5, -3.0))
    got = map_weights(file)
    assert got["b"].tolist() == [7]
    assert got["f"].tolist() == [1.5, -3.0]


def test_unknown_dtype_is_refused_by_name(tmp_path: Path) -> None:
    raw = json.dumps({"c": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}}).encode()
    raw += b" " * (-len(raw) % 8)
    file = tmp_path / "c.safetensors"
    file.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(8))
    with pytest.raises(ValueError, match="'c'.*C64"):
        map_weights(file)


def test_load_weights_gives_the_same_network_as_a_copying_load(tmp_path: Path) -> None:
    torch.manual_seed(1)
    trained = nn.Sequential(nn.Embedding(50, 8), nn.Linear(8, 3), nn.LayerNorm(3))
    file = tmp_path / "net.safetensors"
    save_file({k: v.contiguous() for k, v in trained.state_dict().items()}, str(file))
    copied = nn.Sequential(nn.Embedding(50, 8), nn.Linear(8, 3), nn.LayerNorm(3))
    copied.load_state_dict(load_file(str(file)))
    served = load_weights(nn.Sequential(nn.Embedding(50, 8), nn.Linear(8, 3), nn.LayerNorm(3)), file).eval()
    ids = torch.tensor([[1, 7, 49]])
    assert torch.equal(served(ids), copied.eval()(ids))
    assert all(isinstance(p, nn.Parameter) for p in served.parameters())
    assert mapped(file)


def test_load_weights_refuses_missing_or_extra_keys(tmp_path: Path) -> None:
    file = tmp_path / "net.safetensors"
    save_file({"weight": torch.zeros(3, 2)}, str(file))
    with pytest.raises(RuntimeError, match="bias"):
        load_weights(nn.Linear(2, 3), file)
