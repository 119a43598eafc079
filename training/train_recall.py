"""Train ALS recall on an implicit-feedback table and save it into the model store.

    python -m training.train_recall                       # MovieLens-100k, benchmark protocol
    python -m training.train_recall --data clicks.csv     # your (user_id, item_id, weight, ts) table

Protocol (as the public Microsoft Recommenders ml-100k benchmark): a 75/25 random split stratified
per item, top-10 with each user's training items excluded, precision@10, recall@10, nDCG@10
(binary relevance) and MAP (divided by the user's number of test items). Hyper-parameters are
searched on a validation split carved the same way out of the training part; the chosen setting
is refitted on the whole training part and measured once on the test part. A per-user stratified
split is reported as well, and a popularity baseline beside each. The test nDCG@10 and recall@10
carry 95% bootstrap intervals over test users and a paired interval against popularity.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix

from mining.models.recall import RecallModel, confidence, make_als
from training import data
from training.common import fingerprint, parse_config
from training.intervals import Headline, mean_of, uncertainty
from training.run import Report, RunConfig, Saved, finish_run, sample_cap_field, setup_run

K = 10
HEADLINES = ("ndcg_at_10", "recall_at_10")


@dataclass
class RecallConfig(RunConfig):
    """Train implicit ALS with a seeded hyper-parameter search."""

    data: str = field(
        default="",
        metadata={"help": "CSV/Parquet interactions table (user_id, item_id, weight, ts); default: MovieLens-100k"},
    )
    trials: int = field(default=24, metadata={"help": "random-search trials on the validation split"})
    # implicit does not scale the L2 term by a user's interaction count, so on ml-100k-sized data
    # the useful strengths are large (a probe at 0.05 scored nDCG@10 0.32 against 0.47 at 10).
    factors: str = field(default="32,48,64,96", metadata={"help": "factor counts to search"})
    regularization: str = field(default="20,30,40,60,80", metadata={"help": "L2 strengths to search"})
    alpha: str = field(default="1.5,3,4.5,6", metadata={"help": "confidence scales to search"})
    iterations: str = field(default="15,25", metadata={"help": "ALS sweeps to search"})
    weighting: str = field(
        default="log,weight",
        metadata={
            "help": "interaction weightings to search (mining.models.recall.confidence): binary (1 per pair), "
            "weight (the table's weight), log (log(1 + weight))"
        },
    )
    val_splits: int = field(
        default=2,
        metadata={
            "help": "validation splits each trial is averaged over (one split's nDCG@10 varies by ~0.005 "
            "between seeds, as much as neighbouring settings differ)"
        },
    )
    seed: int = field(default=42, metadata={"help": "seed for the splits and the search"})
    max_train_samples: int = sample_cap_field("interactions")


# --- Splits and metrics ------------------------------------------------------------------------
def stratified_split(df: pd.DataFrame, ratio: float, by: str, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Random split within each group of ``by`` (``item_id`` or ``user_id``): a group of n rows puts
    ``round(ratio * n)`` rows (half to even) in the first part, as the benchmark's splitter does."""
    rng = np.random.default_rng(seed)
    order = df.assign(_r=rng.random(len(df))).sort_values([by, "_r"], kind="stable")
    rank = order.groupby(by).cumcount() + 1
    count = order.groupby(by)[by].transform("count")
    first = rank <= np.round(ratio * count)
    return order[first].drop(columns="_r"), order[~first].drop(columns="_r")


def ranking_scores(
    truth: dict[str, set[str]], recommended: dict[str, list[str]], k: int = K
) -> tuple[list[str], dict[str, np.ndarray]]:
    """Top-k scores per user present in both ``truth`` and ``recommended``.

    Args:
        truth: user -> relevant (test) items.
        recommended: user -> ranked items (at least the top ``k`` are read).
    Returns:
        (the users, in ``truth``'s order; per metric a (n_users,) float64 array): ``precision_at_k``,
        ``recall_at_k``, ``ndcg_at_k`` (binary gains, log2 discount) and ``map`` (sum over hits of
        hits-so-far / rank, divided by the user's number of relevant items).
    """
    users = [u for u in truth if u in recommended]
    if not users:
        raise ValueError("no user has both test items and recommendations")
    p, r, nd, ap = (np.zeros(len(users)) for _ in range(4))
    for row, u in enumerate(users):
        rel, recs = truth[u], recommended[u][:k]
        hits = [rank for rank, item in enumerate(recs, 1) if item in rel]
        p[row] = len(hits) / k
        r[row] = len(hits) / len(rel)
        dcg = sum(1 / np.log2(rank + 1) for rank in hits)
        idcg = sum(1 / np.log2(i + 1) for i in range(1, min(len(rel), k) + 1))
        nd[row] = dcg / idcg
        ap[row] = sum((n + 1) / rank for n, rank in enumerate(hits)) / len(rel)
    return users, {f"precision_at_{k}": p, f"recall_at_{k}": r, f"ndcg_at_{k}": nd, "map": ap}


def ranking_metrics(truth: dict[str, set[str]], recommended: dict[str, list[str]], k: int = K) -> dict[str, float]:
    """The means over users of :func:`ranking_scores`: ``precision_at_k``, ``recall_at_k``,
    ``ndcg_at_k`` and ``map``, each averaged over the users in both ``truth`` and ``recommended``."""
    _, per_user = ranking_scores(truth, recommended, k)
    return {name: float(v.mean()) for name, v in per_user.items()}


def headline_uncertainty(
    truth: dict[str, set[str]], model_recs: dict[str, list[str]], baseline_recs: dict[str, list[str]]
) -> dict[str, Any]:
    """``ci95`` of the model's test nDCG@10 and recall@10 over its test users (their means are the
    headline) and ``vs_baseline``: model minus popularity, paired over those users (the baseline
    ranks every user; a user the model cannot rank is in neither)."""
    users, model = ranking_scores(truth, model_recs)
    base_users, base = ranking_scores(truth, baseline_recs)
    at = {u: k for k, u in enumerate(base_users)}
    missing = [u for u in users if u not in at]
    if missing:
        raise ValueError(f"the baseline has no recommendations for {len(missing)} test users, e.g. {missing[0]!r}")
    pos = np.array([at[u] for u in users], dtype=np.int64)
    headlines = [
        Headline(f"test_{name}", mean_of(model[name]), mean_of(base[name][pos]), "popularity") for name in HEADLINES
    ]
    return uncertainty(headlines, len(users))


# --- Fitting -------------------------------------------------------------------------------------
def interaction_matrix(df: pd.DataFrame, users: list[str], items: list[str]) -> csr_matrix:
    """(U, I) float32 CSR of raw weights summed per (user, item), in the given order of ids."""
    u_index = {u: k for k, u in enumerate(users)}
    i_index = {i: k for k, i in enumerate(items)}
    rows = df["user_id"].map(u_index).to_numpy()
    cols = df["item_id"].map(i_index).to_numpy()
    m = csr_matrix((df["weight"].to_numpy(np.float32), (rows, cols)), shape=(len(users), len(items)), dtype=np.float32)
    m.sum_duplicates()
    return m


def fit(train: pd.DataFrame, params: dict[str, Any], seed: int) -> RecallModel:
    """Fit ALS on ``train`` (all its users and items) with ``params`` (factors, regularization,
    alpha, iterations, weighting)."""
    from threadpoolctl import threadpool_limits

    users, items = sorted(train["user_id"].unique()), sorted(train["item_id"].unique())
    ui = interaction_matrix(train, users, items)
    weighted = ui.copy()
    weighted.data = confidence(ui.data, params["weighting"])
    als = make_als(params["factors"], params["regularization"], params["alpha"], params["iterations"], seed)
    with threadpool_limits(1, "blas"):  # implicit parallelises itself; BLAS threads on top oversubscribe
        als.fit(weighted, show_progress=False)
    return RecallModel(als, users, items, ui, params)


def recommend_all(model: RecallModel, users: list[str], k: int = K) -> dict[str, list[str]]:
    """Top-k per known user, training items excluded (one batched call)."""
    known = [u for u in users if u in model.user_index]
    if not known:
        return {}
    rows = np.array([model.user_index[u] for u in known], dtype=np.int64)
    ids, _ = model.als.recommend(rows, model.user_items[rows], N=k, filter_already_liked_items=True)
    return {u: [model.item_ids[j] for j in r if j >= 0] for u, r in zip(known, ids)}


def popularity_recs(train: pd.DataFrame, users: list[str], k: int = K) -> dict[str, list[str]]:
    """Baseline: most-interacted items, each user's training items excluded."""
    ranked = train.groupby("item_id")["user_id"].nunique().sort_values(ascending=False, kind="stable").index.tolist()
    seen = train.groupby("user_id")["item_id"].agg(set).to_dict()
    out = {}
    for u in users:
        s = seen.get(u, set())
        out[u] = [i for i in ranked[: k + len(s)] if i not in s][:k]
    return out


def evaluate(
    train: pd.DataFrame, test: pd.DataFrame, params: dict[str, Any], seed: int
) -> tuple[dict[str, float], RecallModel]:
    model = fit(train, params, seed)
    truth = test.groupby("user_id")["item_id"].agg(set).to_dict()
    return ranking_metrics(truth, recommend_all(model, list(truth))), model


def search(train: pd.DataFrame, cfg: RecallConfig) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Seeded random search on ``val_splits`` validation splits of ``train`` (each stratified per
    item, 75/25); picks the trial with the best mean nDCG@10. Returns (best params, all trials)."""
    splits = [stratified_split(train, 0.75, "item_id", cfg.seed + 1 + k) for k in range(cfg.val_splits)]
    rng = np.random.default_rng(cfg.seed)
    space: dict[str, list[Any]] = {
        "factors": [int(x) for x in cfg.factors.split(",")],
        "regularization": [float(x) for x in cfg.regularization.split(",")],
        "alpha": [float(x) for x in cfg.alpha.split(",")],
        "iterations": [int(x) for x in cfg.iterations.split(",")],
        "weighting": cfg.weighting.split(","),
    }
    trials: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    while len(trials) < min(cfg.trials, int(np.prod([len(v) for v in space.values()]))):
        params = {k: v[int(rng.integers(len(v)))] for k, v in space.items()}
        key = tuple(params.values())
        if key in seen:
            continue
        seen.add(key)
        t0 = time.time()
        runs = [evaluate(fit_part, val, params, cfg.seed)[0] for fit_part, val in splits]
        metrics = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
        trials.append({**params, **{f"val_{k}": v for k, v in metrics.items()}, "seconds": round(time.time() - t0, 1)})
        print(
            f"[recall] trial {len(trials)}: {params} val nDCG@10 {metrics['ndcg_at_10']:.4f} "
            f"recall@10 {metrics['recall_at_10']:.4f}",
            file=sys.stderr,
            flush=True,
        )
    best = max(trials, key=lambda t: t["val_ndcg_at_10"])
    return {k: best[k] for k in space}, trials


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Search, refit, evaluate on both split protocols beside popularity, save. Returns metrics."""
    cfg = parse_config(RecallConfig, argv)
    setup_run(cfg)
    path = Path(cfg.data) if cfg.data else data.interactions_table()
    df = data.read_table(path, data.INTERACTIONS)
    if (df["weight"] <= 0).any():
        raise ValueError(f"{path}: weight must be > 0; {int((df['weight'] <= 0).sum())} rows are not")
    if cfg.max_train_samples:
        df = df.sample(n=min(cfg.max_train_samples, len(df)), random_state=cfg.seed)
    train, test = stratified_split(df, 0.75, "item_id", cfg.seed)
    print(
        f"[recall] {len(df)} interactions, {df.user_id.nunique()} users, {df.item_id.nunique()} items; "
        f"train {len(train)}, test {len(test)}",
        file=sys.stderr,
        flush=True,
    )
    scored = set(test["user_id"]) & set(train["user_id"])
    if len(scored) < 2:
        raise ValueError(
            f"{path}: the test split (a quarter of each item's interactions) has {test['user_id'].nunique()} "
            f"users, {len(scored)} of them with training interactions; recall is scored on those, so the table "
            "needs items with several interactions and users with several items"
        )
    best, trials = search(train, cfg)
    model = fit(train, best, cfg.seed)
    truth = test.groupby("user_id")["item_id"].agg(set).to_dict()
    als_recs, popular_recs = recommend_all(model, list(truth)), popularity_recs(train, list(truth))
    metrics, baseline = ranking_metrics(truth, als_recs), ranking_metrics(truth, popular_recs)
    intervals = headline_uncertainty(truth, als_recs, popular_recs)
    u_train, u_test = stratified_split(df, 0.75, "user_id", cfg.seed)
    per_user, _ = evaluate(u_train, u_test, best, cfg.seed)
    u_truth = u_test.groupby("user_id")["item_id"].agg(set).to_dict()
    per_user_base = ranking_metrics(u_truth, popularity_recs(u_train, list(u_truth)))
    result: dict[str, Any] = {f"test_{k}": v for k, v in metrics.items()}
    result.update({"per_user_split": per_user, "best_params": best, "n_trials": len(trials), **intervals})
    baseline_metrics = {
        "name": "popularity (most users), training items excluded",
        **{f"test_{k}": v for k, v in baseline.items()},
        "per_user_split": per_user_base,
    }
    vs = intervals["vs_baseline"]["test_ndcg_at_10"]

    def saved() -> Saved:
        # The served model learns from every interaction: refit on all of them with the chosen setting.
        served = fit(df, best, cfg.seed)
        rows = [
            f"{u}\t{i}\t{w}\t{t}" for u, i, w, t in df[["user_id", "item_id", "weight", "ts"]].itertuples(index=False)
        ]
        data_meta = {
            "name": str(path) if cfg.data else "MovieLens-100k (GroupLens)",
            "sha256": fingerprint(rows),
            "n_train": len(train),
            "n_val": 0,
            "n_test": len(test),
            "n_users": len(served.user_ids),
            "n_items": len(served.item_ids),
        }
        return Saved("recall", None, "als", served.save, data_meta, metadata={"trials": trials, **intervals},
                     params={**asdict(cfg), "chosen": best}, note=f" (refitted on all {len(df)} interactions)")  # fmt: skip

    return finish_run(
        cfg,
        "recall",
        result,
        metrics=result,
        baseline_metrics=baseline_metrics,
        summary=f"[recall] test nDCG@10 {metrics['ndcg_at_10']:.4f} {intervals['ci95']['test_ndcg_at_10']} "
        f"recall@10 {metrics['recall_at_10']:.4f} {intervals['ci95']['test_recall_at_10']} "
        f"P@10 {metrics['precision_at_10']:.4f} MAP {metrics['map']:.4f} | popularity nDCG@10 "
        f"{baseline['ndcg_at_10']:.4f} recall@10 {baseline['recall_at_10']:.4f} | nDCG@10 difference "
        f"{vs['diff']:+.4f} {vs['ci95']} ({vs['verdict']})",
        report=Report({**result, "baseline": baseline_metrics, "trials": trials}),
        saved=saved,
    )


if __name__ == "__main__":
    main()
