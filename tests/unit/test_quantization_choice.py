"""What training records as the served quantisation (training.common.choose_quantization), with
made-up validation scores: the guard, the order in which int8 variants are tried, and what is kept."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from training.common import MAX_QUANTIZATION_DROP, choose_quantization, record_test_drop


def scorer(values: dict[str, float]) -> tuple[Callable[[str], float], list[str]]:
    """A made-up test scorer and the modes it was asked for, in order."""
    tried: list[str] = []

    def score(mode: str) -> float:
        tried.append(mode)
        return values[mode]

    return score, tried


def test_per_tensor_int8_within_the_guard_is_served_without_trying_per_row() -> None:
    score, tried = scorer({"int8": 0.8, "int8-channel": 0.9})
    q = choose_quantization("int8", "acc", 0.802, score)
    assert tried == ["int8"]
    assert q["mode"] == "int8" and q["drop_points"] == pytest.approx(0.2)
    assert "int8-channel" not in q and "reason" not in q


def test_per_row_scales_are_tried_when_one_scale_per_tensor_loses_too_much() -> None:
    score, tried = scorer({"int8": 0.445, "int8-channel": 0.468})
    q = choose_quantization("int8", "f1", 0.465, score)
    assert tried == ["int8", "int8-channel"]
    assert q["mode"] == "int8-channel" and q["drop_points"] == pytest.approx(-0.3)
    assert q["int8"] == 0.445 and q["int8-channel"] == 0.468  # both kept for the record


def test_float32_is_served_when_every_variant_loses_too_much() -> None:
    score, _ = scorer({"int8": 0.70, "int8-channel": 0.794})
    q = choose_quantization("int8", "f1", 0.80, score)
    assert q["mode"] == "none" and q["drop_points"] == 0.0
    assert q["reason"] == (
        f"int8 loses 10.0, int8-channel loses 0.6 points of f1 (more than {MAX_QUANTIZATION_DROP}): float32 served"
    )


def test_an_explicit_mode_is_the_only_one_tried_and_none_tries_nothing() -> None:
    score, tried = scorer({"int8": 0.9, "int8-channel": 0.5})
    assert choose_quantization("int8-channel", "f1", 0.6, score)["mode"] == "none"
    assert tried == ["int8-channel"]
    assert choose_quantization("none", "f1", 0.6, score) == {
        "mode": "none",
        "requested": "none",
        "metric": "f1",
        "chosen_on": "validation",
        "fp32": 0.6,
        "drop_points": 0.0,
    }
    assert tried == ["int8-channel"]
    with pytest.raises(ValueError, match="--quantize must be one of none, int8, int8-channel; got 'fp8'"):
        choose_quantization("fp8", "f1", 0.6, score)


def test_the_served_variant_test_drop_is_recorded_and_can_exceed_the_guard() -> None:
    score, _ = scorer({"int8": 0.80})
    q = choose_quantization("int8", "val_f1", 0.802, score)
    assert q["mode"] == "int8" and q["chosen_on"] == "validation"
    record_test_drop(q, test_fp32=0.81, test_served=0.79)
    # chosen within 0.5 on validation, yet 2 points lost on test: the record keeps the truth
    assert q["test_drop_points"] == pytest.approx(2.0) and q["drop_points"] == pytest.approx(0.2)
