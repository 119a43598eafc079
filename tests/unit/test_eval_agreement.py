"""Cohen's kappa on known answers, and the second readings' file: checksummed, both halves, every id
a turn of the half it names."""

from __future__ import annotations

import pytest

from training.eval_agreement import cohen_kappa, readings
from training.service_data import zh_turns


def test_kappa_known_answers() -> None:
    assert cohen_kappa(["a", "b", "a", "b"], ["a", "b", "a", "b"]) == 1.0
    # Observed 0.5, chance 0.5 (each labeling half a, half b): no agreement beyond chance.
    assert cohen_kappa(["a", "a", "b", "b"], ["a", "b", "a", "b"]) == 0.0
    # Observed 3 of 5; chance 0.6*0.6 + 0.4*0.4 = 0.52; (0.6 - 0.52) / 0.48.
    a = ["a", "a", "a", "b", "b"]
    b = ["a", "a", "b", "b", "a"]
    assert cohen_kappa(a, b) == pytest.approx((0.6 - 0.52) / 0.48)
    assert cohen_kappa(["a", "a"], ["a", "a"]) == 1.0
    with pytest.raises(ValueError, match="same non-empty"):
        cohen_kappa(["a"], [])


def test_the_readings_cover_both_halves_with_their_own_turns() -> None:
    rows = readings()
    halves = {t.id: t.split for t in zh_turns()}
    assert sorted({r["half"] for r in rows}) == ["test", "train"]
    assert all(halves[r["id"]] == r["half"] for r in rows)
    assert len({r["id"] for r in rows}) == len(rows) == 320
