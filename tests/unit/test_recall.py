import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mining.models.recall import RecallModel, confidence, recommend_many
from training import train_recall
from training.train_recall import (
    fit,
    headline_uncertainty,
    popularity_recs,
    ranking_metrics,
    ranking_scores,
    stratified_split,
)


def checkerboard(n_users: int = 20, n_items: int = 20, hold_out: int = 3) -> tuple[pd.DataFrame, dict[str, set[str]]]:
    """Users like exactly the items of their own parity (a rank-2 matrix: 2 factors fit it; more
    factors learn the hold-out pattern); a few of each user's items are held out."""
    rows, held = [], {}
    for u in range(n_users):
        same = [i for i in range(n_items) if i % 2 == u % 2]
        out = {same[(u + k) % len(same)] for k in range(hold_out)}
        held[f"u{u}"] = {f"i{i}" for i in out}
        rows += [(f"u{u}", f"i{i}", 1.0, 0) for i in same if i not in out]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "weight", "ts"]), held


PARAMS = {"factors": 2, "regularization": 0.1, "alpha": 5.0, "iterations": 20, "weighting": "binary"}


@pytest.fixture(scope="module")
def model() -> RecallModel:
    train, _ = checkerboard()
    return fit(train, PARAMS, seed=0)


def test_als_recovers_the_checkerboard(model: RecallModel) -> None:
    _, held = checkerboard()
    for u in ["u0", "u7"]:
        out = model.recommend(u, n=3)
        assert out["source"] == "als"
        assert {r["item_id"] for r in out["items"]} == held[u]  # exactly the held-out same-parity items
    recs = train_recall.recommend_all(model, list(held), k=3)
    assert ranking_metrics(held, recs, k=3)["recall_at_3"] == pytest.approx(1.0)


def test_fold_in_unknown_user_and_popularity_fallback(model: RecallModel) -> None:
    out = model.recommend("newcomer", n=4, recent=[("i2", 1.0), ("i4", 1.0), ("nope", 1.0)], explain=True)
    assert out["source"] == "als_folded_in" and out["unknown_items"] == ["nope"]
    ids = [r["item_id"] for r in out["items"]]
    assert all(int(i[1:]) % 2 == 0 for i in ids) and "i2" not in ids and "i4" not in ids
    assert {c["item_id"] for c in out["items"][0]["because"]} <= {"i2", "i4"}
    cold = model.recommend("stranger", n=3, deny=["i0"])
    assert cold["source"] == "popularity" and "i0" not in [r["item_id"] for r in cold["items"]]
    allowed = model.recommend("u0", n=5, allow=["i1", "i2", "i3"], deny=["i3"], exclude_seen=False)
    assert {r["item_id"] for r in allowed["items"]} <= {"i1", "i2"}
    assert allowed["items"][0]["item_id"] == "i2"  # same parity ranks first


def test_similar_items_and_round_trip(model: RecallModel, tmp_path: Path) -> None:
    sim = model.similar_items("i0", n=3)
    assert len(sim) == 3 and all(int(s["item_id"][1:]) % 2 == 0 and s["item_id"] != "i0" for s in sim)
    with pytest.raises(KeyError, match="'i99' is not in the model"):
        model.similar_items("i99")
    model.save(tmp_path)
    loaded = RecallModel.load(tmp_path)
    assert loaded.recommend("u3", n=5) == model.recommend("u3", n=5)
    assert loaded.recommend("x", recent=[("i1", 2.0)]) == model.recommend("x", recent=[("i1", 2.0)])
    assert np.load(tmp_path / "factors.npz", allow_pickle=False)["item_factors"].shape == (20, 2)
    with pytest.raises(TypeError, match="item 1 is str"):
        recommend_many(loaded, [{"user_id": "u1"}, "u2"])  # type: ignore[list-item]


def test_confidence_is_shared_by_fit_and_fold_in() -> None:
    w = np.array([0.5, 1.0, 4.0], np.float32)
    assert confidence(w, "binary").tolist() == [1.0, 1.0, 1.0]
    assert confidence(w, "weight").tolist() == [0.5, 1.0, 4.0]
    assert confidence(w, "log") == pytest.approx(np.log1p(w))
    with pytest.raises(ValueError, match="one of binary, weight, log; got 'bm25'"):
        confidence(w, "bm25")
    train, _ = checkerboard()
    heavy = train[train.user_id == "u0"].item_id.iloc[0]
    train = train.assign(weight=np.where(train.item_id == heavy, 3.0, 1.0))
    logged = fit(train, {**PARAMS, "weighting": "log"}, seed=0)
    assert logged.user_items.max() == 3.0  # raw weights stored; the weighting applies on top
    # A stored user re-solved from their own row must land on the factors ALS fitted for them.
    row = logged._row("u0", [])
    assert row[0, logged.item_index[heavy]] == pytest.approx(np.log1p(3.0))
    assert logged._row("u0", [(heavy, 1.0)])[0, logged.item_index[heavy]] == pytest.approx(np.log1p(4.0))
    refit = np.asarray(logged.als.recalculate_user(0, row)).ravel()
    assert refit == pytest.approx(logged.als.user_factors[logged.user_index["u0"]], abs=0.05)


def test_ranking_metrics_by_hand() -> None:
    truth = {"a": {"x", "y"}, "b": {"z"}, "c": {"q"}}
    recs = {"a": ["x", "m", "y"], "b": ["n", "o", "p"]}  # "c" has no recommendations: not counted
    m = ranking_metrics(truth, recs, k=3)
    assert m["precision_at_3"] == pytest.approx((2 / 3 + 0) / 2)
    assert m["recall_at_3"] == pytest.approx((1 + 0) / 2)
    idcg = 1 + 1 / np.log2(3)
    assert m["ndcg_at_3"] == pytest.approx(((1 + 1 / np.log2(4)) / idcg) / 2)
    assert m["map"] == pytest.approx(((1 / 1 + 2 / 3) / 2) / 2)


def test_per_user_scores_average_to_the_headline_and_pair_by_user() -> None:
    truth = {"c": {"q"}, "a": {"x", "y"}, "b": {"z"}}  # c first: pairing by position would pair it with a
    model = {"a": ["x", "m", "y"], "b": ["z", "o", "p"]}  # "c" unknown to the model
    popular = {"c": ["q", "m", "n"], "b": ["n", "o", "z"], "a": ["m", "n", "o"]}
    users, rows = ranking_scores(truth, model, k=3)
    assert users == ["a", "b"] and rows["recall_at_3"].tolist() == [1.0, 1.0]
    assert {k: float(v.mean()) for k, v in rows.items()} == ranking_metrics(truth, model, k=3)
    out = headline_uncertainty(truth, model, popular)
    assert set(out["ci95"]) == {"test_ndcg_at_10", "test_recall_at_10"} and out["n_test_items"] == 2
    # Paired on the model's users a and b: popularity misses a, ranks z third for b.
    model_ndcg = ranking_metrics(truth, model)["ndcg_at_10"]
    base_ndcg = (0.0 + 1 / np.log2(4)) / 2
    row = out["vs_baseline"]["test_ndcg_at_10"]
    assert row["baseline"] == "popularity" and row["diff"] == pytest.approx(round(model_ndcg - base_ndcg, 4))
    assert out["vs_baseline"]["test_recall_at_10"]["diff"] == pytest.approx(1.0 - 0.5)
    lo, hi = out["ci95"]["test_ndcg_at_10"]
    assert lo <= model_ndcg <= hi
    with pytest.raises(ValueError, match="no recommendations for 1 test users"):
        headline_uncertainty(truth, model, {"a": ["x"]})


def test_stratified_split_per_group() -> None:
    df = pd.DataFrame(
        {"user_id": [f"u{k}" for k in range(12)], "item_id": ["a"] * 8 + ["b"] * 4, "weight": 1.0, "ts": 0}
    )
    train, test = stratified_split(df, 0.75, "item_id", seed=0)
    assert (train.item_id == "a").sum() == 6 and (train.item_id == "b").sum() == 3 and len(test) == 3
    assert popularity_recs(train, ["zz"], k=1) == {"zz": ["a"]}


def test_training_smoke(tmp_path: Path) -> None:
    train, held = checkerboard(40, 30, hold_out=5)
    table = tmp_path / "clicks.csv"
    train.to_csv(table, index=False)
    out = train_recall.main(
        [
            "--data",
            str(table),
            "--trials",
            "3",
            "--factors",
            "2,8",
            "--regularization",
            "0.1,1",
            "--alpha",
            "5",
            "--iterations",
            "15",
            "--report-dir",
            str(tmp_path),
        ]
    )
    assert out["test_recall_at_10"] > 0.9 and out["tag"].startswith("recall:")
    assert out["test_recall_at_10"] > out["per_user_split"]["recall_at_10"] - 0.2
    report = json.loads((tmp_path / "recall" / "metrics.json").read_text())
    for metric in ("test_ndcg_at_10", "test_recall_at_10"):  # intervals of the reported numbers
        lo, hi = out["ci95"][metric]
        assert lo - 1e-4 <= out[metric] <= hi + 1e-4
        diff = out[metric] - report["baseline"][metric]
        assert out["vs_baseline"][metric]["diff"] == pytest.approx(round(diff, 4), abs=1e-9)
    assert out["vs_baseline"]["test_ndcg_at_10"]["verdict"] == "ahead"  # the checkerboard beats popularity
    import bentoml

    meta = bentoml.models.get(out["tag"]).info.metadata
    assert meta["ci95"] == out["ci95"] and meta["vs_baseline"] == out["vs_baseline"]


def test_a_table_whose_test_users_have_no_training_interactions_is_refused_in_words(tmp_path: Path) -> None:
    # Every user has one interaction: no test user can be scored by a model fitted without them.
    rows = [(f"u{u}", f"i{u % 5}", 1.0, 1000 + u) for u in range(40)]
    table = tmp_path / "clicks.csv"
    pd.DataFrame(rows, columns=["user_id", "item_id", "weight", "ts"]).to_csv(table, index=False)
    with pytest.raises(ValueError, match=r"has \d+ users, 0 of them with training interactions"):
        train_recall.main(["--data", str(table), "--trials", "1", "--no-save", "--report-dir", str(tmp_path)])
    model = train_recall.fit(pd.DataFrame(rows[:20], columns=["user_id", "item_id", "weight", "ts"]), PARAMS, 0)
    assert train_recall.recommend_all(model, ["nobody"]) == {}
