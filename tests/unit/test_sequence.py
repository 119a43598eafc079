"""Next-item model: causality, the leave-one-out protocol on a known cyclic pattern, the baselines'
arithmetic, the artifact, the item catalog's matching rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from mining.models.items import ItemCatalog, term_matches
from mining.models.sequence import SequenceModel, SequenceNet, pad_left, type_of_weight
from training.train_sequence import markov_scores, rank_metrics, sequences


@pytest.mark.parametrize("arch", ["sasrec", "gru"])
def test_a_prediction_never_sees_a_later_event(arch: str) -> None:
    torch.manual_seed(0)
    net = SequenceNet(30, arch, hidden=16, layers=2, heads=2, max_len=12, dropout=0.0).eval()
    items = pad_left([[3, 4, 5, 6, 7, 8, 9], [1, 2, 3]], 12)
    types = pad_left([[1, 2, 3, 4, 5, 1, 2], [5, 5, 5]], 12)
    changed_items, changed_types = items.clone(), types.clone()
    changed_items[0, 9:] = torch.tensor([20, 21, 22])  # the first row's last three events
    changed_types[0, 9:] = torch.tensor([5, 5, 5])
    with torch.no_grad():
        before, after = net(items, types), net(changed_items, changed_types)
    assert torch.allclose(before[:, :9], after[:, :9], atol=1e-6)  # every earlier position unchanged
    assert not torch.allclose(before[0, 9:], after[0, 9:])  # the perturbed ones did change
    assert torch.allclose(before[1], after[1], atol=1e-6)  # and the other row not at all
    assert torch.isfinite(before).all()  # padded positions produce no NaN


def test_rank_metrics_known_answers() -> None:
    scores = np.array([[0.1, 0.9, 0.5, 0.2], [1.0, 1.0, 1.0, 1.0]])
    # row 0: item 1 (col 1) is seen and removed, target item 3 (col 2) is then first
    # row 1: all tie; ties rank by item index, so target item 4 is fourth
    m = rank_metrics(scores, [[2], []], [3, 4], k=2)
    assert m["hit_at_2"] == 0.5 and m["ndcg_at_2"] == pytest.approx(0.5)
    assert m["mrr"] == pytest.approx((1.0 + 0.25) / 2)


def test_markov_chain_counts_what_followed_the_last_item() -> None:
    scores = markov_scores([[1, 2, 3], [1, 2, 4], [2, 3, 1]], 4)
    # prefix 0 ends in 3: 3 was followed by 1 once; prefix 1 ends in 4: nothing, popularity only
    assert np.argmax(scores[0]) == 0 and scores[0][0] >= 1.0
    assert scores[1].max() < 1.0


def _cyclic_table(n_users: int = 80, length: int = 8, cycle: int = 30) -> pd.DataFrame:
    """Users walk the items 1..cycle in order from a random start (shorter than the cycle, so no
    item repeats within a user): the next item is a function of the last one, which a Markov chain
    and a Transformer must both learn."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(n_users):
        start = int(rng.integers(cycle))
        for t in range(length):
            rows.append((f"u{u}", f"i{(start + t) % cycle + 1:02d}", 3.0, 1_000 + t))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "weight", "ts"])


def test_leave_one_out_on_a_cycle_markov_and_transformer_learn_it(tmp_path: Path) -> None:
    from training import train_sequence

    path = tmp_path / "cycle.csv"
    _cyclic_table().to_csv(path, index=False)
    result = train_sequence.main(
        ["--data", str(path), "--hidden", "32", "--layers", "1", "--max-len", "8", "--epochs", "40", "--lr", "0.01",
         "--dropout", "0", "--patience", "40", "--no-save", "--threads", "1", "--report-dir", str(tmp_path)]
    )  # fmt: skip
    assert result["baselines"]["markov"]["test_hit_at_10"] == 1.0  # each step follows from the last
    assert result["baselines"]["markov"]["test_mrr"] > 0.9
    assert result["network_test_hit_at_10"] == 1.0 and result["network_test_mrr"] > 0.9, result  # the Transformer too
    assert result["test_hit_at_10"] == 1.0  # and so does what is served, whichever validation preferred
    assert result["baselines"]["popularity"]["test_mrr"] < 0.5  # and order is what carries it
    assert (tmp_path / "sequence" / "loss.png").exists() and (tmp_path / "sequence" / "metrics.json").exists()


def _trained_cycle_model(table: pd.DataFrame) -> SequenceModel:
    from training.train_sequence import SequenceConfig, train_net

    seqs = sequences(table)
    cfg = SequenceConfig(hidden=32, layers=1, max_len=8, lr=0.01, dropout=0.0, batch_size=16)
    net, _, _ = train_net(cfg, "sasrec", len(seqs.item_ids), (seqs.items, seqs.types), None, 40, "cycle")
    config = {"arch": "sasrec", "hidden": 32, "layers": 1, "heads": 1, "max_len": 8, "dropout": 0.0, "min_history": 1}
    return SequenceModel(net, seqs.item_ids, config)


def test_artifact_round_trip_and_prediction(tmp_path: Path) -> None:
    model = _trained_cycle_model(_cyclic_table())
    model.catalog = ItemCatalog([{"item_id": "i2", "title": "Two", "category": "A|B", "attributes": "k=v"}])
    model.save(tmp_path / "m")
    assert not list((tmp_path / "m").glob("*.pkl")) and (tmp_path / "m" / "items.csv").exists()
    loaded = SequenceModel.load(tmp_path / "m")
    history = [("i01", "view"), ("i02", "click"), ("unknown", "view")]
    a, b = model.predict([history], n=3), loaded.predict([history], n=3)
    # Same items, same order; scores equal to float rounding (the loaded weights are read from a
    # memory map, whose alignment may pick another kernel path).
    assert [i for i, _ in a[0]["items"]] == [i for i, _ in b[0]["items"]] and a[0]["used"] == b[0]["used"] == 2
    assert [s for _, s in a[0]["items"]] == pytest.approx([s for _, s in b[0]["items"]], rel=1e-5)
    assert a[0]["items"][0][0] == "i03"  # the cycle goes on: 1, 2 -> 3
    assert "i01" not in [i for i, _ in a[0]["items"]]  # seen items are left out
    assert loaded.catalog is not None and loaded.catalog.get("i2")["categories"] == ["A", "B"]
    short = loaded.predict([[("unknown", "view")]])[0]
    assert short["items"] is None and short["reason"] == "0 known item events; the sequence model needs 1"


def test_types_from_weights() -> None:
    assert [type_of_weight(w) for w in (1, 2, 3, 4, 5, 0.2, 9)] == [
        "view", "click", "cart", "review", "purchase", "view", "purchase",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("term", "value", "expected"),
    [
        ("comedy", "Comedy", True),
        ("romantic comedy movies", "Comedy", True),
        ("children's film", "Children's", True),
        ("comedian", "Comedy", False),
        ("华为手机", "华为", True),
        ("手机", "手机壳", True),
        ("机", "手机", False),
        ("", "Comedy", False),
    ],
)
def test_demand_terms_match_catalog_values(term: str, value: str, expected: bool) -> None:
    assert term_matches(term, value) is expected


def test_catalog_matches_categories_brand_and_attributes(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text(  # as a Chinese spreadsheet program saves it
        "item_id,title,category,brand,attributes\n1,Mate 60,手机|Android,华为,color=black\n2,Toy Story,Comedy,,\n",
        encoding="gb18030",
    )
    catalog = ItemCatalog.from_table(path)
    assert catalog.matches("1", ["华为手机", "black", "comedy"]) == ["华为手机", "black"]
    assert catalog.matches("2", ["funny comedy"]) == ["funny comedy"] and catalog.matches("3", ["x"]) == []
    (tmp_path / "bad.csv").write_text("id,name\n1,x\n")
    with pytest.raises(ValueError, match=r"lacks columns \['item_id', 'title', 'category'\]"):
        ItemCatalog.from_table(tmp_path / "bad.csv")


# --- Same-second events, the leave-one-out cut, intervals and the served fallback ------------------
def _tie_table(n_users: int = 600, n_items: int = 40, length: int = 6, per_second: int = 3) -> pd.DataFrame:
    """Users draw distinct items at random (popularity skewed, unrelated to the ids), three events
    per second: the next item does not depend on the last one or on its id."""
    rng = np.random.default_rng(0)
    p = 1.0 / np.arange(1, n_items + 1)
    p = rng.permutation(p / p.sum())
    rows = []
    for u in range(n_users):
        for t, i in enumerate(rng.choice(n_items, size=length, replace=False, p=p)):
            rows.append((f"u{u:04d}", f"i{i:02d}", float(1 + t % 5), 1_000 + t // per_second))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "weight", "ts"])


def test_an_id_order_scorer_gains_nothing_from_shuffled_ties() -> None:
    from training.train_sequence import leave_one_out, popularity_scores

    table = _tie_table()
    gains = {}
    for order in ("shuffle", "item_id"):
        split = leave_one_out(sequences(table, order, tie_seed=0))
        pop = popularity_scores(split.test_prefix, 40)
        plain = np.tile(pop, (len(split.test_prefix), 1))
        above_last = plain.copy()
        for row, prefix in enumerate(split.test_prefix):  # items with an id at or below the last one sink
            above_last[row, : prefix[-1]] -= pop.max() + 1.0
        gains[order] = (
            rank_metrics(above_last, split.test_prefix, split.test_target)["ndcg_at_10"]
            - rank_metrics(plain, split.test_prefix, split.test_target)["ndcg_at_10"]
        )
    assert gains["shuffle"] <= 0.0, gains  # the next item's id says nothing
    assert gains["item_id"] > 0.1, gains  # ties by id leak it: the target sorts above the last item


def test_leave_one_out_cut_on_a_hand_built_table() -> None:
    from training.train_sequence import leave_one_out

    table = pd.DataFrame(
        [
            ("a", "i3", 1.0, 10), ("a", "i1", 2.0, 20), ("a", "i2", 3.0, 30), ("a", "i4", 4.0, 40),
            ("b", "i2", 5.0, 10), ("b", "i1", 1.0, 11),  # two events: trains whole, not evaluated
            ("c", "i2", 2.0, 5), ("c", "i4", 4.0, 7), ("c", "i1", 5.0, 7),  # the last two share a second
        ],
        columns=["user_id", "item_id", "weight", "ts"],
    )  # fmt: skip
    by_id = leave_one_out(sequences(table, "item_id"))
    assert by_id.evaluated == [0, 2]  # users a and c
    assert by_id.train_items == [[3, 1], [2, 1], [2]]
    assert by_id.val_target == [2, 1] and by_id.test_target == [4, 4]  # c's tie ascending by id: i1 then i4
    assert by_id.val_prefix == [[3, 1], [2]] and by_id.test_prefix == [[3, 1, 2], [2, 1]]
    assert by_id.test_weights == [[1.0, 2.0, 3.0], [2.0, 5.0]]  # weights travel with their items
    assert by_id.seen_items == [[3, 1, 2], [2, 1], [2, 1]]
    # Shuffled, c's tied pair comes in either order, but the cut still takes the last event as test.
    orders = set()
    for seed in range(20):
        split = leave_one_out(sequences(table, "shuffle", seed))
        c_val, c_test = split.val_target[1], split.test_target[1]
        assert {c_val, c_test} == {1, 4} and split.train_items[2] == [2] and split.test_prefix[1] == [2, c_val]
        assert split.test_weights[1] == [2.0, {1: 5.0, 4: 4.0}[c_val]]
        assert split.test_target[0] == 4 and split.val_target[0] == 2  # a has no ties: always the same
        orders.add((c_val, c_test))
    assert orders == {(1, 4), (4, 1)}


def test_tie_order_is_fixed_by_the_data_and_seed_not_the_row_order() -> None:
    table = _tie_table(n_users=50)
    base = sequences(table, "shuffle", tie_seed=3)
    for seed in range(3):
        rows = table.sample(frac=1.0, random_state=seed).reset_index(drop=True)
        again = sequences(rows, "shuffle", tie_seed=3)
        assert again == base  # users, items, types and weights all identical
    assert sequences(table, "shuffle", tie_seed=4).items != base.items  # the seed does reorder ties
    assert sequences(table, "item_id").items != base.items
    for user, items in zip(base.users, base.items):  # seconds stay in order; only ties move
        ts = table[table.user_id == user].set_index("item_id")["ts"]
        assert list(ts[[base.item_ids[i - 1] for i in items]]) == sorted(ts)
    with pytest.raises(ValueError, match="tie_order must be one of"):
        sequences(table, "ts")


def test_every_method_reads_the_same_tie_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from training import train_sequence
    from training.train_sequence import leave_one_out

    table = _tie_table(n_users=40, n_items=12, length=6)
    path = tmp_path / "ties.csv"
    table.to_csv(path, index=False)
    expected = leave_one_out(sequences(table, "shuffle", tie_seed=0))
    by_id = leave_one_out(sequences(table, "item_id"))
    assert expected.test_prefix != by_id.test_prefix  # else this test could not tell the orders apart
    seen: dict[str, list[list[list[int]]]] = {}

    def spy(name: str, fn: Any, at: int) -> Any:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            seen.setdefault(name, []).append([list(p) for p in args[at]])
            return fn(*args, **kwargs)

        return wrapped

    for name, at in (("popularity_scores", 0), ("markov_scores", 0), ("item_knn_scores", 0), ("als_scores", 0),
                     ("net_scores", 1)):  # fmt: skip
        monkeypatch.setattr(train_sequence, name, spy(name, getattr(train_sequence, name), at))
    train_sequence.main(
        ["--data", str(path), "--hidden", "8", "--layers", "1", "--max-len", "8", "--epochs", "1", "--no-gru",
         "--no-save", "--threads", "1", "--report-dir", str(tmp_path)]
    )  # fmt: skip
    assert set(seen) == {"popularity_scores", "markov_scores", "item_knn_scores", "als_scores", "net_scores"}
    for name, calls in seen.items():
        for prefixes in calls:
            assert prefixes in (expected.val_prefix, expected.test_prefix), name
        assert expected.test_prefix in calls, name  # each method is scored on the test prefixes


def test_per_user_scores_average_to_the_headline() -> None:
    from training.train_sequence import means, rank_scores

    scores = np.array([[0.1, 0.9, 0.5, 0.2], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.3, 0.2]])
    rows = rank_scores(scores, [[2], [], [3]], [3, 4, 1], k=2)
    # row 0 target first (rank 1); row 1 all tie, target fourth; row 2: item 3 seen, target item 1
    # ties item 2 at 0 and ranks before it (lower index) behind item 4: rank 2.
    assert rows["hit_at_2"].tolist() == [1.0, 0.0, 1.0]
    assert rows["ndcg_at_2"] == pytest.approx([1.0, 0.0, 1 / np.log2(3)])
    assert rows["mrr"] == pytest.approx([1.0, 0.25, 0.5])
    assert means(rows) == rank_metrics(scores, [[2], [], [3]], [3, 4, 1], k=2)


def test_the_served_model_is_never_behind_a_baseline_it_can_hold() -> None:
    from training.train_sequence import choose_served

    ahead = choose_served("sasrec", 0.30, {"markov": 0.30, "popularity": 0.10})
    assert ahead["model"] == "sasrec" and "behind" not in ahead  # a tie keeps the network
    assert choose_served("sasrec", 0.20, {"markov": 0.30, "als": 0.25})["model"] == "markov"
    assert choose_served("gru", 0.05, {"markov": 0.03, "popularity": 0.06})["model"] == "popularity"
    assert choose_served("gru", 0.05, {"markov": 0.03, "item_knn": 0.07, "als": 0.06})["model"] == "item_knn"
    als = choose_served("sasrec", 0.20, {"markov": 0.10, "als": 0.25})
    assert als["model"] == "sasrec" and als["behind"] == "als"  # the artifact cannot answer from ALS


def test_markov_fallback_answers_and_survives_the_round_trip(tmp_path: Path) -> None:
    from mining.models.sequence import MarkovChain

    chain = MarkovChain.fit([[1, 2, 3], [1, 2, 3], [2, 4], [4]], 4)
    assert chain.transitions.toarray().tolist() == [[0, 2, 0, 0], [0, 0, 2, 1], [0, 0, 0, 0], [0, 0, 0, 0]]
    assert chain.popularity.tolist() == [2.0, 3.0, 2.0, 2.0]
    net = SequenceNet(4, "sasrec", hidden=8, layers=1, max_len=4, dropout=0.0).eval()
    config = {"arch": "sasrec", "hidden": 8, "layers": 1, "heads": 1, "max_len": 4, "dropout": 0.0, "served": "markov"}
    model = SequenceModel(net, ["a", "b", "c", "d"], config, fallback=chain)
    model.save(tmp_path / "m")
    assert (tmp_path / "m" / "markov.npz").exists()
    loaded = SequenceModel.load(tmp_path / "m")
    for m in (model, loaded):
        (answer,) = m.predict([[("a", "view"), ("b", "click")]], n=4)
        assert answer["source"] == "markov" and answer["used"] == 1
        assert [i for i, _ in answer["items"]] == ["c", "d"]  # b -> c twice, b -> d once; a and b seen
        assert answer["items"][0][1] > answer["items"][1][1] > 0
    assert loaded.fallback is not None and loaded.fallback.probabilities([[2]]).sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="needs that scorer"):
        SequenceModel(net, ["a", "b", "c", "d"], config)
    with pytest.raises(ValueError, match="needs that scorer"):
        SequenceModel(net, ["a", "b", "c", "d"], {**config, "served": "item_knn"}, fallback=chain)
    plain = SequenceModel(net, ["a", "b", "c", "d"], {**config, "served": "network"})
    assert plain.predict([[("a", "view")]])[0]["source"] == "sasrec"


def test_item_knn_fallback_matches_brute_force_and_round_trips(tmp_path: Path) -> None:
    from mining.models.sequence import ItemKNN, Popularity

    rng = np.random.default_rng(1)
    seqs = [list(rng.choice(np.arange(1, 9), size=int(rng.integers(1, 7)))) for _ in range(30)]
    knn = ItemKNN.fit(seqs, 8, last=3)
    ui = np.zeros((30, 8))
    for u, s in enumerate(seqs):
        ui[u, np.asarray(s) - 1] = 1.0
    norms = np.sqrt(ui.sum(0)) + 1e-9
    sim = (ui.T @ ui) / norms[:, None] / norms[None, :]
    np.fill_diagonal(sim, 0.0)
    pop = np.bincount(np.concatenate(seqs) - 1, minlength=8)
    histories = [[1, 2, 3, 4], [5], [8, 8, 2]]
    expected = np.stack([sim[np.asarray(h[-3:]) - 1].sum(0) for h in histories]) + pop / (pop.max() + 1) * 1e-3
    assert knn.scores(histories) == pytest.approx(expected)
    net = SequenceNet(8, "gru", hidden=8, layers=1, max_len=4, dropout=0.0).eval()
    config = {"arch": "gru", "hidden": 8, "layers": 1, "heads": 1, "max_len": 4, "dropout": 0.0, "served": "item_knn"}
    ids = [f"i{k}" for k in range(1, 9)]
    SequenceModel(net, ids, config, fallback=knn).save(tmp_path / "knn")
    loaded = SequenceModel.load(tmp_path / "knn")
    (answer,) = loaded.predict([[("i1", "view"), ("i2", "view"), ("i3", "view"), ("i4", "view")]], n=8)
    top = [f"i{k + 1}" for k in np.argsort(-expected[0], kind="stable") if k + 1 not in (1, 2, 3, 4)]
    assert [i for i, _ in answer["items"]] == top and answer["source"] == "item_knn" and answer["used"] == 3
    SequenceModel(net, ids, {**config, "served": "popularity"}, fallback=Popularity.fit(seqs, 8)).save(tmp_path / "p")
    (answer,) = SequenceModel.load(tmp_path / "p").predict([[("i1", "view")]], n=1, exclude_seen=False)
    assert answer["items"][0][0] == f"i{int(np.argmax(pop)) + 1}" and answer["used"] == 0


def test_a_network_behind_its_markov_chain_is_not_served(tmp_path: Path) -> None:
    import bentoml

    from training import train_sequence

    path = tmp_path / "cycle.csv"
    _cyclic_table().to_csv(path, index=False)
    result = train_sequence.main(
        ["--data", str(path), "--hidden", "4", "--layers", "1", "--max-len", "8", "--epochs", "1", "--lr", "1e-4",
         "--no-gru", "--threads", "1", "--report-dir", str(tmp_path)]
    )  # fmt: skip
    assert result["network_val_ndcg_at_10"] < result["baselines_val"]["markov"]["val_ndcg_at_10"]
    assert result["served"]["model"] == "markov"
    # The headline is what is served (the chain's test numbers); the network's own stay beside it.
    assert result["test_ndcg_at_10"] == result["baselines"]["markov"]["test_ndcg_at_10"]
    assert result["network_test_ndcg_at_10"] < result["test_ndcg_at_10"]
    stored = bentoml.models.get(result["tag"])
    meta = stored.info.metadata
    assert meta["served"]["model"] == "markov" and meta["tie_order"] == "shuffle"
    assert meta["params"]["tie_order"] == "shuffle" and meta["tie_seed"] == meta["params"]["tie_seed"] == 0
    assert set(meta["ci95"]) == {"test_ndcg_at_10", "test_hit_at_10", "network_test_ndcg_at_10",
                                 "network_test_hit_at_10"}  # fmt: skip
    assert meta["vs_baseline"]["test_ndcg_at_10"]["baseline"] == "markov"
    assert meta["vs_baseline"]["network_test_ndcg_at_10"]["verdict"] == "behind"
    model = SequenceModel.load(stored.path)
    (answer,) = model.predict([[("i05", "view"), ("i06", "view")]], n=3)
    assert answer["source"] == "markov" and answer["items"][0][0] == "i07"  # the cycle's next step


def test_headline_intervals_come_from_the_per_user_scores(tmp_path: Path) -> None:
    from training import train_sequence

    path = tmp_path / "cycle.csv"
    _cyclic_table(n_users=40).to_csv(path, index=False)
    result = train_sequence.main(
        ["--data", str(path), "--hidden", "8", "--layers", "1", "--max-len", "8", "--epochs", "2", "--no-gru",
         "--no-save", "--threads", "1", "--report-dir", str(tmp_path)]
    )  # fmt: skip
    best = result["vs_baseline"]["test_ndcg_at_10"]["baseline"]
    for metric in ("test_ndcg_at_10", "test_hit_at_10"):
        lo, hi = result["ci95"][metric]
        assert lo - 1e-4 <= result[metric] <= hi + 1e-4
        # The paired difference on all users is the difference of the reported means.
        diff = result[metric] - result["baselines"][best][metric]
        assert result["vs_baseline"][metric]["diff"] == pytest.approx(round(diff, 4), abs=1e-9)
    assert result["n_test_items"] == result["n_evaluated_users"] == 40
