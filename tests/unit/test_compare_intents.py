"""training.compare_intents: the per-group table two intent versions are compared by."""

from __future__ import annotations

import numpy as np
import pytest

from training.compare_intents import group_table


def test_each_group_is_answered_at_its_languages_threshold_and_scored() -> None:
    metadata = {"abstention": {"temperature": 1.0, "threshold": 0.5, "by_lang": {"zh": 0.9, "en": 0.6}}}
    y = np.array([0, 1, 2, 0, 1, 2])
    pred = np.array([0, 1, 0, 0, 2, 2])
    top = np.array([0.95, 0.8, 0.7, 0.65, 0.7, 0.5])
    groups = np.array(["zh", "zh", "zh", "requests_en", "requests_en", "en"], dtype=object)
    table = group_table(pred, top, y, groups, metadata)
    # zh at 0.9: one of three answered (right); requests_en at the English 0.6: both answered, one right.
    assert table["zh"] == pytest.approx({"n": 3, "accuracy": 2 / 3, "answered": 1 / 3, "precision": 1.0})
    assert table["requests_en"] == pytest.approx({"n": 2, "accuracy": 0.5, "answered": 1.0, "precision": 0.5})
    # Nothing answered: no precision, not a made-up one.
    assert table["en"] == {"n": 1, "accuracy": 1.0, "answered": 0.0}
