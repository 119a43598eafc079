"""The plain-torch BERT encoder against transformers' own, on a tiny random checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mining.models.bert import BertConfig, BertModel
from tests.support.fakes import tiny_encoder_folder


def test_matches_transformers_bert_on_real_tokens(tmp_path: Path) -> None:
    from transformers import BertModel as Reference

    folder = tiny_encoder_folder(tmp_path / "enc")
    ours, ref = BertModel.from_folder(folder).eval(), Reference.from_pretrained(str(folder)).eval()
    torch.manual_seed(1)
    ids = torch.randint(5, 40, (3, 11))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    mask[2, 2:] = 0
    with torch.inference_mode():
        a = ours(input_ids=ids, attention_mask=mask).last_hidden_state
        b = ref(input_ids=ids, attention_mask=mask).last_hidden_state
    assert a.shape == b.shape == (3, 11, 16)
    torch.testing.assert_close(a[mask.bool()], b[mask.bool()], atol=1e-5, rtol=1e-5)
    # padding does not leak into real tokens: row 2 alone gives the same first two states
    with torch.inference_mode():
        alone = ours(input_ids=ids[2:, :2], attention_mask=mask[2:, :2]).last_hidden_state
    torch.testing.assert_close(alone[0], a[2, :2], atol=1e-5, rtol=1e-5)


def test_config_round_trip_and_refusals(tmp_path: Path) -> None:
    config = BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)
    config.save(tmp_path / "c")
    assert BertConfig.from_json(tmp_path / "c" / "config.json") == config
    raw = json.loads((tmp_path / "c" / "config.json").read_text())
    (tmp_path / "c" / "config.json").write_text(json.dumps({**raw, "hidden_act": "relu"}))
    with pytest.raises(ValueError, match="only hidden_act 'gelu'.*got 'relu'"):
        BertConfig.from_json(tmp_path / "c" / "config.json")
    with pytest.raises(ValueError, match="not a multiple"):
        BertModel(BertConfig(vocab_size=10, hidden_size=10, num_attention_heads=3))


def test_missing_weights_are_refused(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    folder = tiny_encoder_folder(tmp_path / "enc")
    state = load_file(str(folder / "model.safetensors"))
    save_file({k: v for k, v in state.items() if "layer.1." not in k}, str(folder / "model.safetensors"))
    with pytest.raises(RuntimeError, match="Missing key"):
        BertModel.from_folder(folder)
