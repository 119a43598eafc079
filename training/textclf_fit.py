"""The text classifiers' network training: the character-network and encoder trainers and the
loop with early stopping on validation accuracy (:func:`train_neural`)."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from mining.artifacts import load_encoder
from mining.models.bert import cached_bottom
from mining.models.textclf import (
    EN_MAX_TOKENS,
    ZH_MAX_CHARS,
    CharNgramFeaturizer,
    CharNgramModel,
    CharNgramNet,
    EncoderClassifier,
    EncoderModel,
)
from mining.text import Lang, Vocab
from training.common import EarlyStopping, History, bottom_cache_bytes, bottom_cache_texts
from training.encoders import encoder_folder
from training.textclf_config import CHAR_ARCHS, Split, TextClfConfig


class _Trainer:
    """Architecture-specific pieces of the loop: batching, forward, optimisers, artifact."""

    net: nn.Module

    def batches(self, split: Split, shuffle: bool, rng: np.random.Generator) -> Iterator[tuple[dict, torch.Tensor]]:
        raise NotImplementedError

    def step(self) -> None:
        raise NotImplementedError

    def zero_grad(self) -> None:
        raise NotImplementedError

    def artifact(self) -> CharNgramModel | EncoderModel:
        raise NotImplementedError


def _length_buckets(lengths: list[int], batch_size: int, shuffle: bool, rng: np.random.Generator) -> list[np.ndarray]:
    """Batches of similar length (less padding, faster LSTM/attention), in random order when
    shuffling. Sorting happens inside windows of 50 batches so the order stays random."""
    idx = rng.permutation(len(lengths)) if shuffle else np.arange(len(lengths))
    window = batch_size * 50
    out: list[np.ndarray] = []
    for s in range(0, len(idx), window):
        chunk = sorted(idx[s : s + window], key=lambda i: lengths[i])
        out += [np.array(chunk[j : j + batch_size]) for j in range(0, len(chunk), batch_size)]
    if shuffle:
        rng.shuffle(out)  # type: ignore[arg-type]
    return out


class _CharTrainer(_Trainer):
    net: CharNgramNet

    def __init__(self, cfg: TextClfConfig, train: Split, labels: list[str], device: torch.device) -> None:
        max_chars = cfg.max_len or ZH_MAX_CHARS
        vocab = Vocab.build((t.lower()[:max_chars] for t in train.texts), min_count=2)
        # TextClfConfig.lang stays a plain str so parse_config can read it; its CLI choices are zh and en.
        self.featurizer = CharNgramFeaturizer(vocab, cfg.n_buckets, max_chars, cast(Lang, cfg.lang))
        self.args: dict[str, Any] = {
            "vocab_size": len(vocab),
            "n_buckets": cfg.n_buckets,
            "num_labels": len(labels),
            "encoder": cfg.arch,
            "hidden": cfg.hidden,
            "embed_dropout": cfg.embed_dropout,
        }
        self.net = CharNgramNet(**self.args).to(device)
        self.labels, self.device, self.batch_size = labels, device, cfg.batch_size
        self._feats: dict[int, list] = {}
        dense = [p for n, p in self.net.named_parameters() if not n.startswith("bag.")]
        self.opt = torch.optim.Adam(dense, lr=cfg.lr or 2e-3)
        self.opt_bag = torch.optim.SparseAdam(list(self.net.bag.parameters()), lr=cfg.bag_lr)
        self.dense = dense

    def batches(self, split: Split, shuffle: bool, rng: np.random.Generator) -> Iterator[tuple[dict, torch.Tensor]]:
        feats = self._feats.get(id(split))
        if feats is None:  # featurise each split once; jieba is the slow part
            feats = self._feats[id(split)] = [self.featurizer.features(t) for t in split.texts]
        for idx in _length_buckets([len(c) for c, _ in feats], self.batch_size, shuffle, rng):
            batch = self.featurizer.collate([feats[i] for i in idx])
            yield (
                {k: (v if k == "lengths" else v.to(self.device)) for k, v in batch.items()},
                torch.as_tensor(split.y[idx]),
            )

    def step(self) -> None:
        nn.utils.clip_grad_norm_(self.dense, 1.0)
        self.opt.step()
        self.opt_bag.step()

    def zero_grad(self) -> None:
        self.opt.zero_grad(set_to_none=True)
        self.opt_bag.zero_grad(set_to_none=True)

    def artifact(self) -> CharNgramModel:
        return CharNgramModel(self.net, self.featurizer, self.labels, self.args)


class _EncoderTrainer(_Trainer):
    def __init__(self, cfg: TextClfConfig, train: Split, labels: list[str], device: torch.device, total_steps: int):
        folder = Path(cfg.encoder) if cfg.encoder else encoder_folder(cfg.arch)
        encoder, tokenizer = load_encoder(folder)
        self.encoder = encoder.freeze_bottom(cfg.frozen_layers)
        self.net = EncoderClassifier(self.encoder, len(labels)).to(device)
        self.model = EncoderModel(self.net, tokenizer, labels, cfg.max_len or EN_MAX_TOKENS)
        self.device, self.batch_size = device, cfg.batch_size
        no_decay = ("bias", "LayerNorm.weight", "norm.weight")
        trainable = [(n, p) for n, p in self.net.named_parameters() if p.requires_grad]
        groups = [
            {"params": [p for n, p in trainable if not n.endswith(no_decay)], "weight_decay": 0.01},
            {"params": [p for n, p in trainable if n.endswith(no_decay)], "weight_decay": 0.0},
        ]
        self.opt = torch.optim.AdamW(groups, lr=cfg.lr or 5e-5)
        warmup = max(1, int(total_steps * cfg.warmup_ratio))
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: min((s + 1) / warmup, max(0.0, (total_steps - s) / max(1, total_steps - warmup)))
        )

    def batches(self, split: Split, shuffle: bool, rng: np.random.Generator) -> Iterator[tuple[dict, torch.Tensor]]:
        for idx in _length_buckets([len(t) for t in split.texts], self.batch_size, shuffle, rng):
            enc = self.model.encode([split.texts[i] for i in idx])
            yield {k: v.to(self.device) for k, v in enc.items()}, torch.as_tensor(split.y[idx])

    def step(self) -> None:
        nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
        self.opt.step()
        self.sched.step()

    def zero_grad(self) -> None:
        self.opt.zero_grad(set_to_none=True)

    def artifact(self) -> EncoderModel:
        return self.model


def _evaluate_loss(trainer: _Trainer, split: Split, rng: np.random.Generator) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of the current weights on a split."""
    trainer.net.eval()
    total, correct, n = 0.0, 0, 0
    with torch.inference_mode():
        for inputs, y in trainer.batches(split, shuffle=False, rng=rng):
            logits = trainer.net(**inputs)
            y = y.to(logits.device)
            total += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(-1) == y).sum())
            n += len(y)
    trainer.net.train()
    return total / n, correct / n


def train_neural(
    cfg: TextClfConfig, splits: dict[str, Split], labels: list[str], device: torch.device, name: str
) -> tuple[CharNgramModel | EncoderModel, History, dict[str, Any]]:
    """Train the language's network with early stopping on validation accuracy.

    Returns:
        (the best epoch's model as an artifact, per-epoch curves, ``val_accuracy`` / ``best_epoch``
        / ``epochs_run`` / ``train_seconds``).
    """
    steps_per_epoch = math.ceil(len(splits["train"].texts) / cfg.batch_size)
    trainer: _Trainer
    if cfg.arch in CHAR_ARCHS:
        trainer = _CharTrainer(cfg, splits["train"], labels, device)
    else:
        trainer = _EncoderTrainer(cfg, splits["train"], labels, device, steps_per_epoch * cfg.epochs)
    rng = np.random.default_rng(cfg.seed)
    history, stopper = History(), EarlyStopping(cfg.patience)
    trainer.net.train()
    encoder = trainer.encoder if isinstance(trainer, _EncoderTrainer) else None
    capacity = 0
    if encoder is not None:
        capacity = bottom_cache_texts(cfg.frozen_layers, cfg.epochs, splits["train"].texts, splits["val"].texts)
    budget = bottom_cache_bytes(cfg.bottom_cache_mb)
    with cached_bottom(encoder, capacity, budget) if encoder is not None and capacity else nullcontext() as cache:
        _epochs(cfg, trainer, splits, name, history, stopper, rng, steps_per_epoch)
    if stopper.best_state is None:
        raise RuntimeError(f"{name}: no epoch set a best validation score (epochs={cfg.epochs}), nothing to restore")
    trainer.net.load_state_dict(stopper.best_state)
    info: dict[str, Any] = {
        "val_accuracy": stopper.best,
        "best_epoch": stopper.best_epoch + 1,
        "epochs_run": len(history.train_loss),
        "train_seconds": float(sum(history.seconds)),
    }
    if cache is not None:
        info["bottom_cache"] = {"texts": capacity, "hits": cache.hits, "misses": cache.misses}
    return trainer.artifact(), history, info


def _epochs(
    cfg: TextClfConfig,
    trainer: _Trainer,
    splits: dict[str, Split],
    name: str,
    history: History,
    stopper: EarlyStopping,
    rng: np.random.Generator,
    steps_per_epoch: int,
) -> None:
    """Train up to ``cfg.epochs`` epochs into ``history``, ``stopper`` keeping the best state."""
    for epoch in range(cfg.epochs):
        t0, losses = time.perf_counter(), []
        bar = tqdm(
            trainer.batches(splits["train"], True, rng),
            total=steps_per_epoch,
            desc=f"{name} epoch {epoch + 1}/{cfg.epochs}",
            file=sys.stderr,
            leave=False,
        )
        for inputs, y in bar:
            trainer.zero_grad()
            logits = trainer.net(**inputs)
            loss = nn.functional.cross_entropy(logits, y.to(logits.device))
            loss.backward()
            trainer.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
        val_loss, val_acc = _evaluate_loss(trainer, splits["val"], rng)
        history.train_loss.append(float(np.mean(losses)))
        history.val_loss.append(val_loss)
        history.val_score.append(val_acc)
        history.seconds.append(time.perf_counter() - t0)
        print(
            f"[{name}] epoch {epoch + 1}: train loss {history.train_loss[-1]:.4f} "
            f"val loss {val_loss:.4f} val acc {val_acc:.4f} ({history.seconds[-1]:.0f}s)",
            file=sys.stderr,
        )
        if stopper.step(val_acc, trainer.net, epoch):
            break
