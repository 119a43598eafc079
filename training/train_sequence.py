"""Train the next-item sequence model (SASRec-style Transformer, with a GRU beside it) on an
interactions table ordered by time, and save it into the model store.

    python -m training.train_sequence                       # MovieLens-100k
    python -m training.train_sequence --data events.csv     # your (user_id, item_id, weight, ts) table

Protocol (leave-one-out): each user's interactions sorted by ``ts``; events in the same second
(half of MovieLens's consecutive ratings share one) are put in a seeded random order drawn once
per data set (``--tie-order shuffle``), since any systematic order inside a second (by item id,
say) is an artefact a model can learn. The last event is the test item, the one before it the
validation item, the rest train; every method reads the same order. A user's next item is ranked
against **all** items the user has not interacted with before it (no sampled negatives); HR@10,
nDCG@10 and MRR. Baselines on the same protocol: popularity, ALS (three settings, the best on
validation), a last-item Markov chain and item-kNN over the last 5 items; the GRU is trained by
the same loop. Epochs are chosen on validation; a network trained that many epochs on everything
before the test items (as the baselines see it) is scored on test and served, or, with
``--refit``, one trained on every interaction. The strongest baseline is chosen on validation; a
network below it there is not served when the artifact can hold that baseline (the Markov chain,
item-kNN, popularity: it then answers from it, ``served`` in the metadata). Test numbers carry 95%
bootstrap intervals over users and a paired interval against that baseline. Users need 3
interactions to be evaluated; all train.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from mining.models.items import ItemCatalog
from mining.models.sequence import (
    EVENT_TYPES,
    FALLBACKS,
    NET_ARGS,
    SequenceModel,
    SequenceNet,
    type_of_weight,
)
from training import data
from training.common import fingerprint, parse_config
from training.intervals import Headline, mean_of, uncertainty
from training.run import Report, Saved, TrainConfig, finish_run, sample_cap_field, setup_run
from training.sequence_fit import (
    ALS_SETTINGS,
    als_scores,
    choose_served,
    choose_strategy,
    item_knn_scores,
    markov_scores,
    means,
    net_scores,
    popularity_scores,
    rank_metrics,
    rank_scores,
    train_net,
)

TIE_ORDERS = ("shuffle", "item_id")
HEADLINES = ("test_ndcg_at_10", "test_hit_at_10")


@dataclass
class SequenceConfig(TrainConfig):
    """Train a next-item model on ordered interactions."""

    data: str = field(
        default="",
        metadata={"help": "CSV/Parquet interactions table (user_id, item_id, weight, ts); default: MovieLens-100k"},
    )
    items: str = field(
        default="",
        metadata={"help": "CSV items table (item_id, title, category, ...) saved with the model; default: the "
                  "MovieLens genres with the built-in data, none with --data"},
    )  # fmt: skip
    arch: str = field(default="sasrec", metadata={"help": "served architecture: sasrec or gru"})
    hidden: int = field(default=64, metadata={"help": "embedding and hidden size"})
    layers: int = field(default=2, metadata={"help": "attention blocks (sasrec) or GRU layers"})
    heads: int = field(default=1, metadata={"help": "attention heads (sasrec)"})
    max_len: int = field(default=100, metadata={"help": "events read per user (the most recent)"})
    tie_order: str = field(
        default="shuffle",
        metadata={
            "help": "order of a user's events in the same second: shuffle (seeded, once per data set, the same for "
            "every method) or item_id (ascending ids: a learnable artefact, for comparison only)",
            "choices": list(TIE_ORDERS),
        },
    )
    tie_seed: int = field(default=0, metadata={"help": "seed of the shuffle of same-second events"})
    dropout: float = field(default=0.3, metadata={"help": "dropout on embeddings and in the blocks"})
    lr: float = field(default=2e-3, metadata={"help": "AdamW learning rate"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    batch_size: int = field(default=64, metadata={"help": "sequences per step"})
    epochs: int = field(default=150, metadata={"help": "most epochs (validation picks the best)"})
    patience: int = field(default=12, metadata={"help": "epochs without a better validation nDCG@10 before stopping"})
    min_history: int = field(
        default=1, metadata={"help": "known item events a user needs before the model predicts (else ALS answers)"}
    )
    gru: bool = field(default=True, metadata={"help": "also train the GRU on the same protocol, as a baseline"})
    refit: bool = field(default=True, metadata={"help": "refit the served model on every interaction"})
    seed: int = field(default=42, metadata={"help": "seed for initialisation and batching"})
    max_train_samples: int = sample_cap_field("users")
    threads: int = field(default=0, metadata={"help": "torch threads (0: torch's default)"})
    report_dir: str = field(default="reports", metadata={"help": "where metrics.json and loss.png go"})


# --- Data ------------------------------------------------------------------------------------------
@dataclass
class Sequences:
    """Per user their item and type indices and interaction weights in time order (items 1..I),
    and the item ids."""

    users: list[str]
    items: list[list[int]]
    types: list[list[int]]
    weights: list[list[float]]
    item_ids: list[str]


def sequences(df: pd.DataFrame, tie_order: str = "shuffle", tie_seed: int = 0) -> Sequences:
    """Order each user's interactions by ``ts``; types from the weights.

    Args:
        df: interactions (``user_id``, ``item_id``, ``weight``, ``ts`` in seconds), in any row order.
        tie_order: how events in the same second are ordered: ``shuffle`` by a random key per row,
            drawn from ``tie_seed`` over the table sorted by (user, ts, item, weight), so the order
            is fixed by the data and the seed, not by the input's row order; ``item_id`` ascending
            ids (the target of a same-second pair then always has the higher id).
    """
    if tie_order not in TIE_ORDERS:
        raise ValueError(f"tie_order must be one of {TIE_ORDERS}; got {tie_order!r}")
    df = df.sort_values(["user_id", "ts", "item_id", "weight"], kind="stable")
    if tie_order == "shuffle":
        key = np.random.default_rng(tie_seed).random(len(df))
        df = df.assign(_tie=key).sort_values(["user_id", "ts", "_tie"], kind="stable")
    item_ids = sorted(df["item_id"].unique())
    index = {item: k + 1 for k, item in enumerate(item_ids)}
    type_index = {t: k + 1 for k, t in enumerate(EVENT_TYPES)}
    users, items, types, weights = [], [], [], []
    for user, group in df.groupby("user_id", sort=True):
        users.append(str(user))
        items.append([index[i] for i in group["item_id"]])
        types.append([type_index[type_of_weight(w)] for w in group["weight"]])
        weights.append([float(w) for w in group["weight"]])
    return Sequences(users, items, types, weights, [str(i) for i in item_ids])


@dataclass
class Split:
    """The leave-one-out cut of :class:`Sequences`: per evaluated user (3 events or more, in
    ``evaluated`` order) the last event is the test target, the one before the validation target,
    the rest train; users with fewer events train whole.

    Attributes:
        evaluated: indices into ``Sequences.users`` of the evaluated users.
        train_items, train_types: per user (all users) the training part.
        seen_items, seen_types: per user everything before the test target (train + validation).
        val_*, test_*: per evaluated user the prefix before the target (items, types, weights)
            and the target item index.
    """

    evaluated: list[int]
    train_items: list[list[int]]
    train_types: list[list[int]]
    seen_items: list[list[int]]
    seen_types: list[list[int]]
    val_prefix: list[list[int]]
    val_types: list[list[int]]
    val_weights: list[list[float]]
    val_target: list[int]
    test_prefix: list[list[int]]
    test_types: list[list[int]]
    test_weights: list[list[float]]
    test_target: list[int]


def leave_one_out(seqs: Sequences) -> Split:
    """Cut each user's ordered events into train, validation (second last) and test (last)."""
    evaluated = [u for u, s in enumerate(seqs.items) if len(s) >= 3]
    cut = {u: len(seqs.items[u]) - 2 for u in evaluated}
    return Split(
        evaluated=evaluated,
        train_items=[s[: cut.get(u, len(s))] for u, s in enumerate(seqs.items)],
        train_types=[t[: cut.get(u, len(t))] for u, t in enumerate(seqs.types)],
        seen_items=[s[: cut[u] + 1] if u in cut else s for u, s in enumerate(seqs.items)],
        seen_types=[t[: cut[u] + 1] if u in cut else t for u, t in enumerate(seqs.types)],
        val_prefix=[seqs.items[u][: cut[u]] for u in evaluated],
        val_types=[seqs.types[u][: cut[u]] for u in evaluated],
        val_weights=[seqs.weights[u][: cut[u]] for u in evaluated],
        val_target=[seqs.items[u][cut[u]] for u in evaluated],
        test_prefix=[seqs.items[u][: cut[u] + 1] for u in evaluated],
        test_types=[seqs.types[u][: cut[u] + 1] for u in evaluated],
        test_weights=[seqs.weights[u][: cut[u] + 1] for u in evaluated],
        test_target=[seqs.items[u][cut[u] + 1] for u in evaluated],
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Split, fit baselines and networks, evaluate, refit and save. Returns the metrics."""
    cfg = parse_config(SequenceConfig, argv)
    setup_run(cfg)
    path = Path(cfg.data) if cfg.data else data.interactions_table()
    df = data.read_table(path, data.INTERACTIONS)
    if cfg.max_train_samples:
        keep = sorted(df["user_id"].unique())[: cfg.max_train_samples]
        df = df[df["user_id"].isin(keep)]
    seqs = sequences(df, cfg.tie_order, cfg.tie_seed)
    n_items = len(seqs.item_ids)
    sp = leave_one_out(seqs)
    if not sp.evaluated:
        raise ValueError(f"{path}: no user has 3 interactions; leave-one-out needs a train, validation and test item")
    print(
        f"[sequence] {len(df)} interactions, {len(seqs.users)} users ({len(sp.evaluated)} evaluated), {n_items} items; "
        f"same-second events in {cfg.tie_order} order",
        file=sys.stderr,
        flush=True,
    )

    # Baselines see everything before the target: the train part, plus the validation item for test.
    def baseline_suite(prefixes: list[list[int]], targets: list[int], als: np.ndarray) -> dict[str, dict]:
        pop = popularity_scores(prefixes, n_items)
        return {
            "popularity": rank_scores(np.tile(pop, (len(prefixes), 1)), prefixes, targets),
            "markov": rank_scores(markov_scores(prefixes, n_items), prefixes, targets),
            "item_knn": rank_scores(item_knn_scores(prefixes, n_items), prefixes, targets),
            "als": rank_scores(als, prefixes, targets),
        }

    als_val_scores = [als_scores(sp.val_prefix, sp.val_weights, n_items, p, cfg.seed) for p in ALS_SETTINGS]
    als_val = [rank_metrics(m, sp.val_prefix, sp.val_target)["ndcg_at_10"] for m in als_val_scores]
    als_best = ALS_SETTINGS[int(np.argmax(als_val))]
    als_val_best = als_val_scores[int(np.argmax(als_val))]
    del als_val_scores
    val_rows = baseline_suite(sp.val_prefix, sp.val_target, als_val_best)
    test_rows = baseline_suite(
        sp.test_prefix, sp.test_target, als_scores(sp.test_prefix, sp.test_weights, n_items, als_best, cfg.seed)
    )
    baselines_val = {name: means(rows) for name, rows in val_rows.items()}
    baselines = {name: means(rows) for name, rows in test_rows.items()}
    best_name = max(baselines_val, key=lambda n: baselines_val[n]["ndcg_at_10"])
    for name, m in baselines.items():
        print(
            f"[sequence] baseline {name}: val nDCG@10 {baselines_val[name]['ndcg_at_10']:.4f}, test {m}",
            file=sys.stderr,
            flush=True,
        )

    def validator(net: SequenceNet) -> tuple[float, float]:
        logits = net_scores(net, sp.val_prefix, sp.val_types, cfg.max_len)
        t = torch.tensor(sp.val_target) - 1
        loss = float(nn.functional.cross_entropy(torch.from_numpy(logits), t))
        return loss, rank_metrics(logits, sp.val_prefix, sp.val_target)["ndcg_at_10"]

    trained: dict[str, dict[str, Any]] = {}
    for arch in [cfg.arch] + (["gru"] if cfg.gru and cfg.arch != "gru" else []):
        t0 = time.time()
        net, history, best_epoch = train_net(
            cfg, arch, n_items, (sp.train_items, sp.train_types), validator, cfg.epochs, arch
        )
        # Scored on test, the network learns from everything before each test item, as the baselines
        # count it (validation items included), for the epochs validation chose.
        seen_net, _, _ = train_net(
            cfg, arch, n_items, (sp.seen_items, sp.seen_types), None, best_epoch, f"{arch} on train and validation"
        )
        net_rows = rank_scores(
            net_scores(seen_net, sp.test_prefix, sp.test_types, cfg.max_len), sp.test_prefix, sp.test_target
        )
        trained[arch] = {"net": net, "seen_net": seen_net, "history": history, "best_epoch": best_epoch,
                         "val_ndcg_at_10": max(history.val_score), "rows": net_rows, "test": means(net_rows),
                         "seconds": round(time.time() - t0, 1)}  # fmt: skip
        print(f"[sequence] {arch}: best epoch {best_epoch}, test {trained[arch]['test']}", file=sys.stderr, flush=True)

    network = trained[cfg.arch]
    served = choose_served(
        cfg.arch, network["val_ndcg_at_10"], {name: m["ndcg_at_10"] for name, m in baselines_val.items()}
    )
    fallback = served["model"] if served["model"] in FALLBACKS else None
    if fallback is None:
        served_val = net_scores(network["net"], sp.val_prefix, sp.val_types, cfg.max_len)
        served_rows, served_val_ndcg = network["rows"], network["val_ndcg_at_10"]
    else:
        served_val = FALLBACKS[fallback].fit(sp.val_prefix, n_items).scores(sp.val_prefix)
        served_rows, served_val_ndcg = test_rows[fallback], baselines_val[fallback]["ndcg_at_10"]
    print(f"[sequence] served: {served['model']} ({served['reason']})", file=sys.stderr, flush=True)
    strategies = choose_strategy(served_val, als_val_best, sp.val_prefix, sp.val_target)
    print(f"[sequence] strategies on validation: {strategies}", file=sys.stderr, flush=True)

    # Headline numbers are what is served; the network's own stay beside them (with intervals when not served).
    metrics = {f"test_{k}": v for k, v in means(served_rows).items()}
    headlines = [
        Headline(f"test_{key}", mean_of(served_rows[key]), mean_of(test_rows[best_name][key]), best_name)
        for key in ("ndcg_at_10", "hit_at_10")
    ]
    metrics.update({f"network_test_{k}": v for k, v in network["test"].items()})
    if fallback is not None:
        headlines += [
            Headline(
                f"network_test_{key}", mean_of(network["rows"][key]), mean_of(test_rows[best_name][key]), best_name
            )
            for key in ("ndcg_at_10", "hit_at_10")
        ]
    intervals = uncertainty(headlines, len(sp.evaluated))
    baseline_metrics: dict[str, Any] = {
        "name": f"the strongest baseline on validation nDCG@10 ({best_name}); each baseline under its name",
        **{f"test_{k}": v for k, v in baselines[best_name].items()},
        **{
            name: {**{f"test_{k}": v for k, v in m.items()}, "val_ndcg_at_10": baselines_val[name]["ndcg_at_10"]}
            for name, m in baselines.items()
        },
        "als_settings": {"chosen": als_best, "val_ndcg_at_10": als_val},
    }
    if "gru" in trained and cfg.arch != "gru":
        baseline_metrics["gru"] = {
            **{f"test_{k}": v for k, v in trained["gru"]["test"].items()},
            "val_ndcg_at_10": trained["gru"]["val_ndcg_at_10"],
        }
    result: dict[str, Any] = {
        **metrics,
        "best_epoch": network["best_epoch"],
        "train_seconds": network["seconds"],
        "val_ndcg_at_10": served_val_ndcg,
        "network_val_ndcg_at_10": network["val_ndcg_at_10"],
        "n_evaluated_users": len(sp.evaluated),
        "baselines": {name: {f"test_{k}": v for k, v in m.items()} for name, m in baselines.items()},
        "baselines_val": {name: {f"val_{k}": v for k, v in m.items()} for name, m in baselines_val.items()},
        "strategies": strategies,
        "served": served,
        "tie_order": cfg.tie_order,
        "tie_seed": cfg.tie_seed,
        **intervals,
    }
    ci = intervals["ci95"]["test_ndcg_at_10"]
    vs = intervals["vs_baseline"]["test_ndcg_at_10"]

    def saved() -> Saved:
        net = network["seen_net"]
        if cfg.refit and fallback is None:  # the served model learns from every interaction, for the chosen epochs
            net, _, _ = train_net(
                cfg, cfg.arch, n_items, (seqs.items, seqs.types), None, network["best_epoch"], "refit"
            )
        # A fallback counts what the network would have learnt from.
        events = seqs.items if cfg.refit else sp.seen_items
        scorer = FALLBACKS[fallback].fit(events, n_items) if fallback else None
        config = {
            **{k: getattr(cfg, k) for k in NET_ARGS},
            "arch": cfg.arch,
            "min_history": cfg.min_history,
            "served": fallback or "network",
            "strategy": strategies["default"],
            "blend_weight": strategies["blend_weight"],
        }
        items = cfg.items or ("" if cfg.data else str(data.items_table()))
        model = SequenceModel(net, seqs.item_ids, config, ItemCatalog.from_table(items) if items else None, scorer)
        rows = [
            f"{u}\t{i}\t{w}\t{t}" for u, i, w, t in df[["user_id", "item_id", "weight", "ts"]].itertuples(index=False)
        ]
        data_meta = {
            "name": str(path) if cfg.data else "MovieLens-100k (GroupLens)",
            "sha256": fingerprint(rows),
            "n_train": sum(len(s) for s in sp.train_items),
            "n_val": len(sp.val_target),
            "n_test": len(sp.test_target),
            "n_users": len(seqs.users),
            "n_items": n_items,
        }
        extra = {"served": served, "tie_order": cfg.tie_order, "tie_seed": cfg.tie_seed, **intervals}
        return Saved("sequence", None, cfg.arch, model.save, data_meta, metadata=extra)

    return finish_run(
        cfg,
        "sequence",
        result,
        metrics=result,
        baseline_metrics=baseline_metrics,
        summary=f"[sequence] served {served['model']}: test nDCG@10 {metrics['test_ndcg_at_10']:.4f} "
        f"[{ci[0]:.4f}, {ci[1]:.4f}] HR@10 {metrics['test_hit_at_10']:.4f} MRR {metrics['test_mrr']:.4f} | best "
        f"baseline on validation ({best_name}) nDCG@10 {baselines[best_name]['ndcg_at_10']:.4f} HR@10 "
        f"{baselines[best_name]['hit_at_10']:.4f} | difference {vs['diff']:+.4f} {vs['ci95']} ({vs['verdict']})",
        report=Report(
            {**result, "baseline": baseline_metrics, "history": asdict(network["history"]), "config": asdict(cfg)},
            network["history"],
            score_name="nDCG@10",
        ),
        saved=saved,
    )


if __name__ == "__main__":
    main()
