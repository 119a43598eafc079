"""Next-item model: causality, the leave-one-out protocol on a known cyclic pattern, the baselines'
arithmetic, the artifact, the item catalog's matching rule."""

from __future__ import annotations

from pathlib import Path

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
    assert result["test_hit_at_10"] == 1.0 and result["test_mrr"] > 0.9, result  # the Transformer too
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
    path.write_text(
        "item_id,title,category,brand,attributes\n1,Mate 60,手机|Android,华为,color=black\n2,Toy Story,Comedy,,\n"
    )
    catalog = ItemCatalog.from_table(path)
    assert catalog.matches("1", ["华为手机", "black", "comedy"]) == ["华为手机", "black"]
    assert catalog.matches("2", ["funny comedy"]) == ["funny comedy"] and catalog.matches("3", ["x"]) == []
    (tmp_path / "bad.csv").write_text("id,name\n1,x\n")
    with pytest.raises(ValueError, match=r"lacks columns \['item_id', 'title', 'category'\]"):
        ItemCatalog.from_table(tmp_path / "bad.csv")
