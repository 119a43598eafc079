"""Settings chosen on validation: the grid a ``--search`` flag means and the pick among its fits."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from training.common import search_grid, search_on_validation


@dataclass
class Cfg:
    lr: float = 1e-3
    frozen_layers: int = 0
    arch: str = "bilstm"
    ensemble: bool = True
    seed: int = 7
    search: str = ""


def test_grid_is_every_combination_in_written_order() -> None:
    grid = search_grid(Cfg(), "lr=1e-4,2e-4; frozen-layers=0,3")
    assert grid == [
        {"lr": 1e-4, "frozen_layers": 0},
        {"lr": 1e-4, "frozen_layers": 3},
        {"lr": 2e-4, "frozen_layers": 0},
        {"lr": 2e-4, "frozen_layers": 3},
    ]
    assert all(isinstance(g["frozen_layers"], int) for g in grid)
    assert search_grid(Cfg(), "") == []


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("nope=1,2", "nope=1,2"),
        ("lr", "'lr'"),
        ("frozen_layers=a", "not int"),
        ("lr=", "no values"),
        ("ensemble=0,1", "on/off"),
        ("search=x", "search=x"),
        ("seed=1,2", "sets the data"),  # the splits are drawn once, before the search
    ],
)
def test_bad_specs_are_refused_with_the_setting_named(spec: str, says: str) -> None:
    with pytest.raises(ValueError, match="--search") as err:
        search_grid(Cfg(), spec)
    assert says in str(err.value)


def test_best_validation_fit_is_kept_and_copied_onto_the_config() -> None:
    val = {1e-4: 0.70, 2e-4: 0.81, 4e-4: 0.79}
    fitted: list[float] = []

    def fit(c: Cfg) -> tuple[str, float]:
        fitted.append(c.lr)
        return f"model@{c.lr:g}", val[c.lr]

    cfg = Cfg(search="lr=1e-4,2e-4,4e-4")
    out_cfg, result, block = search_on_validation(cfg, fit, lambda r: r[1], "accuracy")
    assert fitted == [1e-4, 2e-4, 4e-4]
    assert result == ("model@0.0002", 0.81)
    assert out_cfg is cfg and cfg.lr == 2e-4
    assert block["chosen_on"] == "validation" and block["chosen"] == {"lr": 2e-4}
    assert [c["val"] for c in block["candidates"]] == [0.70, 0.81, 0.79]


def test_ties_keep_the_first_written_and_no_search_fits_once() -> None:
    cfg = Cfg(search="arch=cnn,bilstm")
    _, result, _ = search_on_validation(cfg, lambda c: c.arch, lambda r: 0.5, "accuracy")
    assert result == "cnn" and cfg.arch == "cnn"
    calls: list[Cfg] = []
    plain = Cfg(lr=3e-4)
    same, out, block = search_on_validation(plain, lambda c: calls.append(c) or "m", lambda r: 1.0, "accuracy")
    assert (same, out, block) == (plain, "m", {}) and calls == [plain]


def test_every_candidate_starts_from_the_same_seed() -> None:
    import random

    draws: list[float] = []
    search_on_validation(
        Cfg(search="lr=1e-4,2e-4,4e-4"), lambda c: draws.append(random.random()), lambda r: 0.0, "accuracy"
    )
    assert len(set(draws)) == 1
