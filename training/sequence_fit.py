"""The next-item model's library: full-ranking metrics, the baselines (popularity, Markov chain,
item-kNN, ALS), the network's training loop and scores, and the choices made on validation (what
serves, and the ALS / sequence blend)."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from mining.models.items import fuse
from mining.models.sequence import FALLBACKS, ItemKNN, MarkovChain, SequenceNet, pad_left
from training.common import EarlyStopping, History, set_seed

if TYPE_CHECKING:
    from training.train_sequence import SequenceConfig

K = 10  # the cut-off of the ranking metrics (HR@K, nDCG@K)


# --- Metrics ---------------------------------------------------------------------------------------
def rank_scores(
    scores: np.ndarray, histories: list[list[int]], targets: list[int], k: int = K
) -> dict[str, np.ndarray]:
    """Full-ranking scores of a target, per row.

    Args:
        scores: (U, I) scores of items 1..I (column j is item j + 1); higher is better.
        histories: per row the item indices (1..I) the user interacted with before the target:
            they are not ranked.
        targets: per row the target item index (1..I).
    Returns:
        (U,) float64 arrays ``hit_at_k`` (0/1), ``ndcg_at_k`` and ``mrr`` (reciprocal rank); ties
        are broken by item index (the lower ranks first), so a constant scorer is not rewarded.
    """
    n = len(targets)
    hit, ndcg, rr = np.zeros(n), np.zeros(n), np.zeros(n)
    for row, (seen, target) in enumerate(zip(histories, targets)):
        s = scores[row].astype(np.float64).copy()
        if seen:
            s[np.asarray(seen) - 1] = -np.inf
        t = target - 1
        rank = 1 + int((s > s[t]).sum()) + int((s[:t] == s[t]).sum())
        hit[row] = float(rank <= k)
        ndcg[row] = 1.0 / np.log2(rank + 1) if rank <= k else 0.0
        rr[row] = 1.0 / rank
    return {f"hit_at_{k}": hit, f"ndcg_at_{k}": ndcg, "mrr": rr}


def means(per_row: dict[str, np.ndarray]) -> dict[str, float]:
    """The metrics of :func:`rank_scores`' per-row arrays: their means over rows."""
    return {name: float(v.mean()) for name, v in per_row.items()}


def rank_metrics(scores: np.ndarray, histories: list[list[int]], targets: list[int], k: int = K) -> dict[str, float]:
    """``hit_at_k``, ``ndcg_at_k`` and ``mrr`` averaged over rows (see :func:`rank_scores`)."""
    return means(rank_scores(scores, histories, targets, k))


# --- Baselines -------------------------------------------------------------------------------------
def popularity_scores(prefixes: list[list[int]], n_items: int) -> np.ndarray:
    """(I,) interaction counts of each item in the prefixes."""
    counts = np.zeros(n_items, dtype=np.float64)
    for seq in prefixes:
        np.add.at(counts, np.asarray(seq, dtype=np.int64) - 1, 1.0)
    return counts


def markov_scores(prefixes: list[list[int]], n_items: int) -> np.ndarray:
    """(U, I): per prefix, the counts of what followed its last item anywhere in the prefixes
    (a first-order Markov chain, :class:`MarkovChain`, the one a model serves), popularity
    breaking ties."""
    return MarkovChain.fit(prefixes, n_items).scores(prefixes)


def item_knn_scores(prefixes: list[list[int]], n_items: int, last: int = 5) -> np.ndarray:
    """(U, I): per prefix, the summed cosine similarity (binary user-item co-occurrence over the
    prefixes) of every item to the prefix's last ``last`` items, popularity breaking ties
    (:class:`ItemKNN`, the one a model serves)."""
    return ItemKNN.fit(prefixes, n_items, last).scores(prefixes)


ALS_SETTINGS = (
    {"factors": 64, "regularization": 40.0, "alpha": 3.0, "iterations": 15, "weighting": "log"},
    {"factors": 32, "regularization": 20.0, "alpha": 1.5, "iterations": 25, "weighting": "weight"},
    {"factors": 96, "regularization": 80.0, "alpha": 6.0, "iterations": 15, "weighting": "log"},
)


def als_scores(
    prefixes: list[list[int]], weights: list[list[float]], n_items: int, params: dict, seed: int
) -> np.ndarray:
    """(U, I) ALS scores of every item for each prefix's user, fitted on the prefixes."""
    from threadpoolctl import threadpool_limits

    from training.train_recall import fit

    frame = pd.DataFrame(
        [(str(u), str(i), w) for u, (s, ws) in enumerate(zip(prefixes, weights)) for i, w in zip(s, ws)],
        columns=["user_id", "item_id", "weight"],
    )
    model = fit(frame, params, seed)
    with threadpool_limits(1, "blas"):
        scores = model.als.user_factors @ model.als.item_factors.T
    out = np.full((len(prefixes), n_items), -1e9)
    cols = np.array([int(i) - 1 for i in model.item_ids])
    for u in range(len(prefixes)):
        out[u, cols] = scores[model.user_index[str(u)]]
    return out


# --- Training --------------------------------------------------------------------------------------
def windows(items: list[list[int]], types: list[list[int]], max_len: int) -> list[tuple[list[int], list[int]]]:
    """Training windows: each sequence cut, from its end, into pieces of ``max_len + 1`` events
    overlapping by one (inputs are a piece's first ``max_len``, targets its last)."""
    out = []
    for seq, kinds in zip(items, types):
        end = len(seq)
        while end >= 2:
            start = max(0, end - max_len - 1)
            out.append((seq[start:end], kinds[start:end]))
            end = start + 1 if start > 0 else 0
    return out


def train_net(
    cfg: SequenceConfig,
    arch: str,
    n_items: int,
    train: tuple[list[list[int]], list[list[int]]],
    validate: Any | None,
    epochs: int,
    label: str,
) -> tuple[SequenceNet, History, int]:
    """Train one network with full-softmax cross-entropy at every position.

    Args:
        train: (item sequences, type sequences) to learn from.
        validate: ``net -> (val loss, val nDCG@10)`` or None (no early stopping: ``epochs`` run).
    Returns:
        (the best network by validation, or the last; history; best epoch, 1-based).
    """
    set_seed(cfg.seed)
    net = SequenceNet(n_items, arch, cfg.hidden, cfg.layers, cfg.heads, cfg.max_len, cfg.dropout)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    pieces = windows(*train, cfg.max_len)
    rng = np.random.default_rng(cfg.seed)
    history, stop = History(), EarlyStopping(cfg.patience)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(epochs):
        t0 = time.time()
        net.train()
        total, count = 0.0, 0
        order = rng.permutation(len(pieces))
        for b in range(0, len(order), cfg.batch_size):
            chunk = [pieces[j] for j in order[b : b + cfg.batch_size]]
            items = pad_left([c[0] for c in chunk], cfg.max_len + 1)
            types = pad_left([c[1] for c in chunk], cfg.max_len + 1)
            inputs, in_types, targets = items[:, :-1], types[:, :-1], items[:, 1:]
            states = net(inputs, in_types)
            keep = (targets > 0) & (inputs > 0)
            logits = net.scores(states[keep])
            loss = loss_fn(logits, targets[keep] - 1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * int(keep.sum())
            count += int(keep.sum())
        history.train_loss.append(total / max(count, 1))
        history.seconds.append(time.time() - t0)
        if validate is None:
            history.val_loss.append(float("nan"))
            history.val_score.append(float("nan"))
            continue
        val_loss, val_ndcg = validate(net)
        history.val_loss.append(val_loss)
        history.val_score.append(val_ndcg)
        print(
            f"[sequence] {label} epoch {epoch + 1}: train loss {history.train_loss[-1]:.4f} val loss {val_loss:.4f} "
            f"val nDCG@10 {val_ndcg:.4f} ({history.seconds[-1]:.1f} s)",
            file=sys.stderr,
            flush=True,
        )
        if stop.step(val_ndcg, net, epoch + 1):
            break
    if validate is not None and stop.best_state is not None:
        net.load_state_dict(stop.best_state)
        return net.eval(), history, stop.best_epoch
    return net.eval(), history, epochs


def net_scores(net: SequenceNet, prefixes: list[list[int]], types: list[list[int]], max_len: int) -> np.ndarray:
    """(U, I) next-item logits of each prefix."""
    net.eval()
    out = []
    with torch.no_grad():
        for b in range(0, len(prefixes), 256):
            items = pad_left(prefixes[b : b + 256], max_len)
            kinds = pad_left(types[b : b + 256], max_len)
            out.append(net.scores(net(items, kinds)[:, -1]).numpy())
    return np.concatenate(out)


BLEND_WEIGHTS = (0.25, 0.5, 0.75)


def ranks(scores: np.ndarray, histories: list[list[int]]) -> np.ndarray:
    """(U, I) 1-based ranks of every item per row, items in the history last."""
    s = scores.astype(np.float64).copy()
    for row, seen in enumerate(histories):
        if seen:
            s[row, np.asarray(seen) - 1] = -np.inf
    order = np.argsort(-s, axis=1, kind="stable")
    out = np.empty_like(order)
    np.put_along_axis(out, order, np.arange(1, s.shape[1] + 1)[None, :].repeat(s.shape[0], 0), axis=1)
    return out


def choose_strategy(
    sequence: np.ndarray, als: np.ndarray, histories: list[list[int]], targets: list[int]
) -> dict[str, Any]:
    """Validation nDCG@10 of ALS alone, the sequence model alone and their rank fusion
    (:func:`mining.models.sequence.fuse`) at each of :data:`BLEND_WEIGHTS`; the best is served by
    default. Returns ``{"als", "sequence", "blend", "blend_weight", "default"}``."""
    rs, ra = ranks(sequence, histories), ranks(als, histories)
    out: dict[str, Any] = {
        "als": rank_metrics(-ra.astype(np.float64), histories, targets)["ndcg_at_10"],
        "sequence": rank_metrics(-rs.astype(np.float64), histories, targets)["ndcg_at_10"],
    }
    blends = {w: rank_metrics(fuse(rs, ra, w), histories, targets)["ndcg_at_10"] for w in BLEND_WEIGHTS}
    out["blend_weight"] = max(blends, key=lambda w: blends[w])
    out["blend"] = blends[out["blend_weight"]]
    out["default"] = max(("sequence", "blend", "als"), key=lambda name: out[name])
    return {k: (float(v) if isinstance(v, np.floating) else v) for k, v in out.items()}


def choose_served(arch: str, network_val: float, baselines_val: dict[str, float]) -> dict[str, Any]:
    """What the saved model answers from, decided on validation nDCG@10.

    Args:
        arch: the network's architecture.
        network_val: the network's validation nDCG@10.
        baselines_val: each baseline's validation nDCG@10.
    Returns:
        ``{"model", "reason", "val_ndcg_at_10": {name: value}}``: ``model`` is ``arch`` unless the
        network scores below the strongest baseline and that baseline is one the artifact can
        answer from (:data:`FALLBACKS`); a stronger baseline it cannot hold is named in ``behind``.
    """
    best = max(baselines_val, key=lambda name: baselines_val[name])
    gap = f"the network's validation nDCG@10 {network_val:.4f} against {best}'s {baselines_val[best]:.4f}"
    out: dict[str, Any] = {"val_ndcg_at_10": {"network": network_val, best: baselines_val[best]}}
    if network_val >= baselines_val[best]:
        return {"model": arch, "reason": f"{gap}: the network is not behind the strongest baseline", **out}
    if best in FALLBACKS:
        return {"model": best, "reason": f"{gap}: the network is behind, so {best} answers", **out}
    return {
        "model": arch,
        "reason": f"{gap}: the network is behind, but {best} is not in this artifact, so the network answers",
        "behind": best,
        **out,
    }
