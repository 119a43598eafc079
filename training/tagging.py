"""Sequence tagging with a CRF output layer: the tagger config, model construction and the
training loop early-stopped on validation entity F1, shared by :mod:`training.train_ner` and
:mod:`training.train_aspects` (aspect term extraction)."""

from __future__ import annotations

import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Self

import torch

from mining.artifacts import load_encoder
from mining.models.bert import BertModel, cached_bottom
from mining.models.ner import (
    BiLSTMCRF,
    CharCRFModel,
    EncoderCRF,
    EncoderCRFModel,
    NerModel,
    Span,
    crf_loss,
    span_scheme,
    tags_to_spans,
)
from mining.text import Vocab
from training import data
from training.common import (
    EarlyStopping,
    History,
    bottom_cache_bytes,
    bottom_cache_field,
    bottom_cache_texts,
    frozen_layers_field,
    quantize_field,
    search_field,
)
from training.encoders import encoder_folder
from training.run import TrainConfig, sample_cap_field

DATASETS = {
    # name: (lang, default arch, store domain, description)
    "msra": ("zh", "bilstm", None, "MSRA NER (news; PER, LOC, ORG), its own test split"),
    "wnut16": ("en", "minilm", None, "WNUT-16 tweets (10 types incl. product, company), train split 80/10/10"),
    "products": ("en", "minilm", "products", "Costco catalogue titles, rule labels, test brands unseen in training"),
    "absa-zh": ("zh", "bilstm", "aspects", "Chinese product reviews (phone, notebook, camera, car): aspect terms"),
    "absa-en": (
        "en",
        "minilm",
        "aspects",
        "SemEval-2014 laptops and restaurants, Flipkart T-shirts and TVs: aspect terms",
    ),
    "products-zh": (
        "zh",
        "bilstm",
        "products",
        "Chinese review clauses, BRAND and CATEGORY labels from the brands table and the product-type list, "
        "validation and test names never in training",
    ),
}
# Where a data set's labels come from: annotators (gold) or rules and tables (products, see
# training/product_labels.py and mining/brands.py). A --data file's labels are "file": as given.
PIECE_POSITION_DIM = 16  # a Chinese encoder tagger's embedding of a character's place in its piece


@dataclass
class TaggerConfig(TrainConfig):
    """A CRF tagger's settings: data set, network (BiLSTM over characters, MiniLM or e5 below a CRF),
    optimisation and early stopping; the NER script's flags and the aspect extractor's config."""

    dataset: str = field(default="msra", metadata={"help": "built-in data set", "choices": sorted(DATASETS)})
    data: str = field(
        default="",
        metadata={"help": "your own CoNLL file (token<TAB>tag, BIO or BMES); replaces --dataset and is split 80/10/10"},
    )
    lang: str = field(default="", metadata={"help": "zh or en; default: the data set's language"})
    domain: str = field(
        default="", metadata={"help": "store name part, e.g. products -> ner-products-en; default: the data set's"}
    )
    arch: str = field(
        default="",
        metadata={
            "help": "bilstm (characters), minilm (the English encoder) or e5 (the multilingual encoder; Chinese "
            "tags characters, each reading the piece that covers it); default: the data set's",
            "choices": ["", "bilstm", "minilm", "e5"],
        },
    )
    epochs: int = field(default=12, metadata={"help": "maximum epochs"})
    patience: int = field(default=3, metadata={"help": "stop after this many epochs without a better validation F1"})
    batch_size: int = field(
        default=0, metadata={"help": "sentences per batch; 0: 64 for bilstm, 16 for the encoders (minilm, e5)"}
    )
    lr: float = field(default=0.0, metadata={"help": "learning rate of the network; 0: 2e-3 bilstm, 5e-5 the encoders"})
    head_lr: float = field(
        default=5e-3,
        metadata={
            "help": "learning rate of the emission layer, CRF transitions and token embeddings for the encoders "
            "(they start from scratch)"
        },
    )
    embed_dim: int = field(default=128, metadata={"help": "bilstm: character embedding width"})
    bigram_buckets: int = field(default=2**18, metadata={"help": "bilstm: hashed character-bigram ids (0: none)"})
    bigram_dim: int = field(default=64, metadata={"help": "bilstm: bigram embedding width"})
    hidden: int = field(default=200, metadata={"help": "bilstm: LSTM units per direction"})
    layers: int = field(default=1, metadata={"help": "bilstm: stacked BiLSTM layers"})
    dropout: float = field(default=0.3, metadata={"help": "dropout (bilstm); the encoders use 0.1"})
    min_char_count: int = field(default=2, metadata={"help": "bilstm: characters seen fewer times map to <unk>"})
    max_len: int = field(
        default=160,
        metadata={
            "help": "training sentences longer than this many tokens are "
            "cut at an entity-free point (evaluation uses whole sentences)"
        },
    )
    val_fraction: float = field(
        default=0.05,
        metadata={
            "help": "share of training sentences held out for early stopping when the data set has no validation split"
        },
    )
    max_train_samples: int = sample_cap_field("training sentences")
    replace_entities: float = field(
        default=0.0,
        metadata={
            "help": "share of training entity mentions replaced by a made-up name of the same shape, so the model "
            "learns the contexts entities stand in, not a list of names (bilstm)"
        },
    )
    frozen_layers: int = frozen_layers_field("minilm / e5")
    char_lstm: int = field(
        default=0,
        metadata={
            "help": "e5, Chinese: BiLSTM units per direction over the characters, each reading its piece's state "
            "and an embedding of the character itself, below the CRF (0: none; the piece state, the place in the "
            "piece and the shape go straight to the emission layer)"
        },
    )
    bottom_cache_mb: int = bottom_cache_field()
    search: str = search_field()
    quantize: str = quantize_field("entity F1")
    baseline_fallback: bool = field(
        default=True,
        metadata={
            "help": "serve the dictionary baseline when the trained tagger's validation entity F1 is below it; "
            "--no-baseline-fallback keeps the tagger (for checks that need a tagger artifact) and records in "
            "the metadata's below_baseline that it lost"
        },
    )
    max_eval_samples: int = field(default=0, metadata={"help": "use only this many val/test sentences (0: all)"})
    seed: int = field(default=13, metadata={"help": "random seed"})
    report_dir: str = field(default="reports", metadata={"help": "where loss curves and metrics.json go"})

    def resolve(self) -> Self:
        lang, arch, domain, _ = DATASETS[self.dataset]
        if self.data:
            lang, arch, domain = self.lang or "", self.arch or "", self.domain or None
            if lang not in ("zh", "en"):
                raise ValueError(f"--lang must be zh or en with --data, got {self.lang!r}")
        self.lang = self.lang or lang
        self.arch = self.arch or arch or ("bilstm" if self.lang == "zh" else "minilm")
        self.domain = self.domain or domain or ""
        self.batch_size = self.batch_size or (64 if self.arch == "bilstm" else 16)
        self.lr = self.lr or (2e-3 if self.arch == "bilstm" else 5e-5)
        return self


Sentence = data.Sentence


def cut_long(sentences: list[Sentence], max_len: int) -> list[Sentence]:
    """Cut sentences longer than ``max_len`` tokens into pieces at the last entity-free point
    (an ``O`` tag, preferably after punctuation) within each window, so no entity is split."""
    out = []
    for tokens, tags in sentences:
        start = 0
        while len(tokens) - start > max_len:
            back_half = range(start + max_len, start + max_len // 2, -1)
            cut = next((i for i in back_half if tags[i - 1] == "O" and tokens[i - 1] in "，。；！？、,.;!?"), None)
            # Else the latest point where a new tag run begins; a hard cut only inside an entity
            # longer than max_len.
            window = range(start + max_len, start, -1)
            cut = cut or next((i for i in window if tags[i] == "O" or tags[i][0] in "BS"), start + max_len)
            out.append((tokens[start:cut], tags[start:cut]))
            start = cut
        out.append((tokens[start:], tags[start:]))
    return out


# --- Metrics and the baseline -----------------------------------------------------------------
def entity_scores(gold: Sequence[Sequence[Span]], pred: Sequence[Sequence[Span]]) -> dict[str, Any]:
    """Exact-span entity precision, recall and F1, micro over all types and per type.

    Args:
        gold, pred: per sentence, spans (type, start, end); a predicted span counts only when type
            and both boundaries match a gold span.
    Returns:
        ``{"precision", "recall", "f1", "per_type": {type: {"precision", "recall", "f1", "support"}},
        "counts"}``; ``counts`` is per sentence ``[tp, fp, fn]`` (n lists of 3 ints), from which
        :func:`training.intervals.f1_of_counts` over all sentences gives ``f1`` exactly.
    """
    tp: Counter[str] = Counter()
    n_gold: Counter[str] = Counter()
    n_pred: Counter[str] = Counter()
    counts: list[list[int]] = []
    for g, p in zip(gold, pred, strict=True):
        gs, ps = set(g), set(p)
        hits = gs & ps
        for s in hits:
            tp[s[0]] += 1
        n_gold.update(s[0] for s in gs)
        n_pred.update(s[0] for s in ps)
        counts.append([len(hits), len(ps) - len(hits), len(gs) - len(hits)])

    def prf(t: int, npred: int, ngold: int) -> dict[str, float]:
        precision, recall = (t / npred if npred else 0.0), (t / ngold if ngold else 0.0)
        # 2tp / (2tp + fp + fn), the expression f1_of_counts uses, so the interval's centre is this F1.
        f1 = 2 * t / (2 * t + (npred - t) + (ngold - t)) if t else 0.0
        return {"precision": precision, "recall": recall, "f1": f1}

    out: dict[str, Any] = prf(sum(tp.values()), sum(n_pred.values()), sum(n_gold.values()))
    out["per_type"] = {t: {**prf(tp[t], n_pred[t], n_gold[t]), "support": n_gold[t]} for t in sorted(n_gold | n_pred)}
    out["counts"] = counts
    return out


# --- Training ------------------------------------------------------------------------------------
def _batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Length-bucketed batches in random order: sentences of similar length share a batch (little
    padding, short CRF loops), while the order of batches and of ties varies every epoch."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], rng.random()))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def build_model(cfg: TaggerConfig, train: list[Sentence], tags: list[str]) -> CharCRFModel | EncoderCRFModel:
    if cfg.arch == "bilstm":
        vocab = Vocab.build((toks for toks, _ in train), min_count=cfg.min_char_count)
        args: dict[str, Any] = {
            "vocab_size": len(vocab),
            "num_tags": len(tags),
            "embed_dim": cfg.embed_dim,
            "n_bigram_buckets": cfg.bigram_buckets,
            "bigram_dim": cfg.bigram_dim,
            "hidden": cfg.hidden,
            "layers": cfg.layers,
            "dropout": cfg.dropout,
        }
        return CharCRFModel(BiLSTMCRF(**args), vocab, tags, args, lang=cfg.lang)
    if cfg.char_lstm and cfg.lang != "zh":
        raise ValueError(f"--char-lstm is for the Chinese character tagger; got --lang {cfg.lang} (a word tagger)")
    encoder, tokenizer = load_encoder(encoder_folder(cfg.arch))
    encoder.freeze_bottom(cfg.frozen_layers)
    if cfg.lang == "zh":
        # Characters share pieces, so windows of 256 characters stay within the encoder's 512 positions.
        net = EncoderCRF(encoder, len(tags), position_dim=PIECE_POSITION_DIM, char_lstm=cfg.char_lstm)
        return EncoderCRFModel(net, tokenizer, tags, lang=cfg.lang, max_tokens=256)
    return EncoderCRFModel(EncoderCRF(encoder, len(tags)), tokenizer, tags, lang=cfg.lang)


def _optimizers(cfg: TaggerConfig, model: CharCRFModel | EncoderCRFModel) -> list[torch.optim.Optimizer]:
    net = model.net
    if isinstance(net, BiLSTMCRF):
        # Sparse gradients for the embedding tables: a dense Adam step over 2**18 bigram rows cost
        # more than the whole LSTM backward pass; a batch touches only a few thousand rows.
        tables = [e for e in (net.embed, net.bigram) if e is not None]
        for e in tables:
            e.sparse = True
        table_ids = {id(e.weight) for e in tables}
        dense = [p for p in net.parameters() if id(p) not in table_ids]
        return [torch.optim.Adam(dense, lr=cfg.lr), torch.optim.SparseAdam([e.weight for e in tables], lr=cfg.lr)]
    head = [*net.emit.parameters(), *net.crf.parameters(), *net.shape.parameters()]
    for extra in (net.piece_position, net.char, net.char_lstm):
        if extra is not None:
            head += list(extra.parameters())
    return [
        torch.optim.AdamW(
            [
                {"params": [p for p in net.encoder.parameters() if p.requires_grad], "lr": cfg.lr},
                {"params": head, "lr": cfg.head_lr},
            ],
            weight_decay=0.01,
        )
    ]


def evaluate(model: NerModel, sentences: Sequence[Sentence]) -> dict[str, Any]:
    """Entity scores of ``model`` on gold-tagged sentences (the model's own tokens are not used:
    gold tokens go in, so scores are comparable with published token-level results): the one
    scoring path of tagger, quantised tagger and dictionary, headline and per-sentence counts alike
    (see :func:`entity_scores`)."""
    decoded = model.tag_tokens([toks for toks, _ in sentences])
    gold = [tags_to_spans(tags, span_scheme(tags)) for _, tags in sentences]
    pred = [tags_to_spans(tags, model.scheme) for tags, _ in decoded]
    return entity_scores(gold, pred)


@torch.no_grad()
def _val_loss(
    model: CharCRFModel | EncoderCRFModel,
    sentences: list[Sentence],
    tag_ids: dict[str, int],
    device: torch.device,
    batch_size: int,
) -> float:
    model.net.eval()
    total, n = 0.0, 0
    for idx in _batches([len(s[0]) for s in sentences], batch_size, random.Random(0)):
        batch = {k: v.to(device) for k, v in model.collate([sentences[i][0] for i in idx]).items()}
        loss = crf_loss(model.net, batch, _tag_tensor([sentences[i][1] for i in idx], tag_ids, batch["mask"]))
        total, n = total + float(loss) * len(idx), n + len(idx)
    return total / max(n, 1)


def _tag_tensor(tag_lists: list[list[str]], tag_ids: dict[str, int], mask: torch.Tensor) -> torch.Tensor:
    out = torch.zeros(mask.shape, dtype=torch.long)
    for b, tags in enumerate(tag_lists):
        out[b, : len(tags)] = torch.tensor([tag_ids[t] for t in tags], dtype=torch.long)
    return out.to(mask.device)


def train(
    cfg: TaggerConfig, model: CharCRFModel | EncoderCRFModel, splits: dict[str, list[Sentence]], device: torch.device
) -> tuple[History, int]:
    """Fit ``model`` on the training split with early stopping on validation entity F1; leaves the
    best epoch's weights in ``model``. Returns (history, best epoch, 1-based)."""
    tag_ids = {t: i for i, t in enumerate(model.tags)}
    train_set = cut_long(splits["train"], cfg.max_len)
    model.net.to(device)
    opts = _optimizers(cfg, model)
    dense = list(model.net.parameters())
    steps = cfg.epochs * ((len(train_set) + cfg.batch_size - 1) // cfg.batch_size)
    # Linear decay after a short warm-up: the standard fine-tuning schedule; harmless for the LSTM.
    scheds = [
        torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min(1.0, (s + 1) / max(1, steps // 20)) * max(0.05, 1 - s / max(1, steps))
        )
        for opt in opts
    ]
    history, stopper, rng = History(), EarlyStopping(cfg.patience), random.Random(cfg.seed)
    name = f"ner-{cfg.domain + '-' if cfg.domain else ''}{cfg.lang}"
    encoder = getattr(model.net, "encoder", None)
    capacity = 0
    if isinstance(encoder, BertModel):
        seen = [tuple(s[0]) for s in train_set], [tuple(s[0]) for s in splits["val"]]
        capacity = bottom_cache_texts(cfg.frozen_layers, cfg.epochs, *seen)
    budget = bottom_cache_bytes(cfg.bottom_cache_mb)
    with cached_bottom(encoder, capacity, budget) if isinstance(encoder, BertModel) and capacity else nullcontext():
        for epoch in range(cfg.epochs):
            t0, total, n = time.time(), 0.0, 0
            model.net.train()
            for idx in _batches([len(s[0]) for s in train_set], cfg.batch_size, rng):
                batch = {k: v.to(device) for k, v in model.collate([train_set[i][0] for i in idx]).items()}
                loss = crf_loss(model.net, batch, _tag_tensor([train_set[i][1] for i in idx], tag_ids, batch["mask"]))
                for opt in opts:
                    opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_([p for p in dense if p.grad is not None and not p.grad.is_sparse], 5.0)
                for opt, sched in zip(opts, scheds):
                    opt.step()
                    sched.step()
                total, n = total + float(loss.detach()) * len(idx), n + len(idx)
            val = evaluate(model, splits["val"])
            history.train_loss.append(total / n)
            history.val_loss.append(_val_loss(model, splits["val"], tag_ids, device, cfg.batch_size))
            history.val_score.append(val["f1"])
            history.seconds.append(time.time() - t0)
            print(
                f"[{name}] epoch {epoch + 1}: train loss {total / n:.3f}, val loss {history.val_loss[-1]:.3f}, "
                f"val F1 {val['f1']:.4f} ({history.seconds[-1]:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
            if stopper.step(val["f1"], model.net, epoch):
                break
    if stopper.best_state is not None:
        model.net.load_state_dict(stopper.best_state)
    return history, stopper.best_epoch + 1
