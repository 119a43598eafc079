"""Train a named-entity tagger with a CRF output layer and save it into the model store.

    python -m training.train_ner --dataset msra                       # ner-zh: BiLSTM-CRF, MSRA
    python -m training.train_ner --dataset wnut16                     # ner-en: MiniLM-CRF, WNUT-16
    python -m training.train_ner --dataset products                   # ner-products-en: catalogue titles
    python -m training.train_ner --data my.conll --lang en --arch minilm   # your own CoNLL file

Entity-level exact-span precision, recall and F1 (micro and per type) are measured on the test
split after a save/load round trip, beside a dictionary baseline built from the training entities.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from mining.artifacts import load_encoder, pick_device, quantize
from mining.models.ner import (
    BiLSTMCRF,
    CharCRFModel,
    EncoderCRF,
    EncoderCRFModel,
    Span,
    crf_loss,
    load_ner_artifact,
    span_scheme,
    tags_to_spans,
)
from mining.registry import model_name
from mining.text import Vocab
from training import data
from training.common import (
    EarlyStopping,
    History,
    choose_quantization,
    fingerprint,
    frozen_layers_field,
    parse_config,
    plot_history,
    quantize_field,
    set_seed,
)
from training.store import save_to_store, shared_encoder_record

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
        "Chinese review clauses, brands-table labels, test brand strings never in training",
    ),
}


@dataclass
class NerConfig:
    """Train an NER model (BiLSTM-CRF over characters, or MiniLM-CRF over words)."""

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
            "help": "bilstm (characters) or minilm (English words); default: the data set's",
            "choices": ["", "bilstm", "minilm"],
        },
    )
    epochs: int = field(default=12, metadata={"help": "maximum epochs"})
    patience: int = field(default=3, metadata={"help": "stop after this many epochs without a better validation F1"})
    batch_size: int = field(default=0, metadata={"help": "sentences per batch; 0: 64 for bilstm, 16 for minilm"})
    lr: float = field(default=0.0, metadata={"help": "learning rate of the network; 0: 2e-3 bilstm, 5e-5 minilm"})
    head_lr: float = field(
        default=5e-3,
        metadata={
            "help": "learning rate of the emission layer and CRF transitions for minilm (they start from scratch)"
        },
    )
    embed_dim: int = field(default=128, metadata={"help": "bilstm: character embedding width"})
    bigram_buckets: int = field(default=2**18, metadata={"help": "bilstm: hashed character-bigram ids (0: none)"})
    bigram_dim: int = field(default=64, metadata={"help": "bilstm: bigram embedding width"})
    hidden: int = field(default=200, metadata={"help": "bilstm: LSTM units per direction"})
    layers: int = field(default=1, metadata={"help": "bilstm: stacked BiLSTM layers"})
    dropout: float = field(default=0.3, metadata={"help": "dropout (bilstm); minilm uses 0.1"})
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
    max_train_samples: int = field(default=0, metadata={"help": "use only this many training sentences (0: all)"})
    replace_entities: float = field(
        default=0.0,
        metadata={
            "help": "share of training entity mentions replaced by a made-up name of the same shape, so the model "
            "learns the contexts entities stand in, not a list of names (bilstm)"
        },
    )
    frozen_layers: int = frozen_layers_field("minilm")
    quantize: str = quantize_field("entity F1")
    max_eval_samples: int = field(default=0, metadata={"help": "use only this many val/test sentences (0: all)"})
    seed: int = field(default=13, metadata={"help": "random seed"})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0: torch default)"})
    save: bool = field(default=True, metadata={"help": "save the model into the BentoML store"})
    report_dir: str = field(default="reports", metadata={"help": "where loss curves and metrics.json go"})

    def resolve(self) -> NerConfig:
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


# --- Data ----------------------------------------------------------------------------------------
Sentence = data.Sentence


def _pick(sentences: list[Sentence], ids: Sequence[int]) -> list[Sentence]:
    return [sentences[i] for i in sorted(ids)]


def _shuffle_split(
    sentences: list[Sentence], fractions: tuple[float, float], seed: int
) -> tuple[list[Sentence], list[Sentence], list[Sentence]]:
    idx = list(range(len(sentences)))
    random.Random(seed).shuffle(idx)
    n_val, n_test = round(len(idx) * fractions[0]), round(len(idx) * fractions[1])
    return (
        _pick(sentences, idx[n_val + n_test :]),
        _pick(sentences, idx[:n_val]),
        _pick(sentences, idx[n_val : n_val + n_test]),
    )


def group_split(
    sentences: list[Sentence], group_type: str, fractions: tuple[float, float], seed: int
) -> tuple[list[Sentence], list[Sentence], list[Sentence]]:
    """Split so that sentences sharing their first ``group_type`` entity (e.g. a title's brand)
    fall on one side only: validation and test brands are never seen in training.

    Groups are shuffled, then filled into test and validation until each holds its share of
    sentences; the rest is training.
    """
    groups: dict[str, list[int]] = defaultdict(list)
    for i, (tokens, tags) in enumerate(sentences):
        first = next((s for s in tags_to_spans(tags, span_scheme(tags)) if s[0] == group_type), None)
        key = " ".join(tokens[first[1] : first[2]]).lower() if first else f"<none {i}>"
        groups[key].append(i)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    target_test, target_val = fractions[1] * len(sentences), fractions[0] * len(sentences)
    test: list[int] = []
    val: list[int] = []
    train: list[int] = []
    for k in keys:
        # A group bigger than a split's share goes to training: one brand must not be the whole test.
        size = len(groups[k])
        if len(test) + size <= target_test * 1.1:
            test += groups[k]
        elif len(val) + size <= target_val * 1.1:
            val += groups[k]
        else:
            train += groups[k]
    return _pick(sentences, train), _pick(sentences, val), _pick(sentences, test)


def disjoint_split(
    sentences: list[Sentence], entity_type: str, fractions: tuple[float, float], seed: int
) -> tuple[list[Sentence], list[Sentence], list[Sentence]]:
    """Split so that no ``entity_type`` string of validation or test occurs anywhere in training:
    entity strings (lower-cased) are drawn at random into test and validation until each covers
    its share of the mentions; a sentence goes where its entities are, and one that mixes sides is
    dropped. Sentences without the entity type are split at random in the same proportions.

    Why not :func:`group_split`: it groups by a sentence's first entity only, so a brand that is a
    sentence's second mention can sit on both sides, and a dictionary of training entities then
    finds "unseen" test brands by their string.
    """
    mentions: dict[str, list[int]] = defaultdict(list)
    spans_of: list[set[str]] = []
    for i, (tokens, tags) in enumerate(sentences):
        keys = {
            "".join(tokens[s:e]).lower() if all(len(t) == 1 for t in tokens[s:e]) else " ".join(tokens[s:e]).lower()
            for t, s, e in tags_to_spans(tags, span_scheme(tags))
            if t == entity_type
        }
        spans_of.append(keys)
        for k in keys:
            mentions[k].append(i)
    rng = random.Random(seed)
    names = sorted(mentions)
    rng.shuffle(names)
    total = sum(len(v) for v in mentions.values())
    side: dict[str, str] = {}
    counts = {"test": 0, "val": 0}
    for k in names:
        for part, share in (("test", fractions[1]), ("val", fractions[0])):
            # An entity bigger than a side's share stays in training: one brand is not a test set.
            if counts[part] + len(mentions[k]) <= share * total * 1.1:
                side[k], counts[part] = part, counts[part] + len(mentions[k])
                break
        else:
            side[k] = "train"
    out: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    plain = [i for i, keys_i in enumerate(spans_of) if not keys_i]
    rng.shuffle(plain)
    n_test, n_val = int(len(plain) * fractions[1]), int(len(plain) * fractions[0])
    out["test"] += plain[:n_test]
    out["val"] += plain[n_test : n_test + n_val]
    out["train"] += plain[n_test + n_val :]
    for i, keys_i in enumerate(spans_of):
        sides = {side[k] for k in keys_i}
        if len(sides) == 1:
            out[sides.pop()].append(i)
    return _pick(sentences, out["train"]), _pick(sentences, out["val"]), _pick(sentences, out["test"])


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


def replace_mentions(sentences: list[Sentence], share: float, seed: int) -> list[Sentence]:
    """Copies of ``sentences`` where each entity mention, with probability ``share``, is replaced by
    a made-up name: as many characters as the original (2-4), drawn from the characters of all the
    data's entity names (Chinese), or a capitalised random string (Latin). The tags keep their
    place. Why: labels that come from a table teach a model the table's names; with made-up names
    in the same contexts ("买的__手机", "比__好") it has to learn where names stand."""
    rng = random.Random(seed)
    pool = sorted(
        {
            ch
            for tokens, tags in sentences
            for _, s, e in tags_to_spans(tags, span_scheme(tags))
            for tok in tokens[s:e]
            for ch in tok
            if "\u4e00" <= ch <= "\u9fff"
        }
    )
    out = []
    for tokens, tags in sentences:
        tokens = list(tokens)
        for _, s, e in tags_to_spans(tags, span_scheme(tags)):
            if rng.random() >= share:
                continue
            if pool and all("\u4e00" <= t <= "\u9fff" for t in tokens[s:e]):
                for k in range(s, e):
                    tokens[k] = rng.choice(pool)
            elif all(t.isascii() and t.isalpha() for t in tokens[s:e]) and all(len(t) == 1 for t in tokens[s:e]):
                letters = [chr(rng.randrange(65, 91))] + [chr(rng.randrange(97, 123)) for _ in range(e - s - 1)]
                tokens[s:e] = letters
        out.append((tokens, tags))
    return out


def load_splits(cfg: NerConfig) -> tuple[dict[str, list[Sentence]], str]:
    """(train/val/test sentences, data description)."""
    if cfg.data:
        train, val, test = _shuffle_split(data.read_conll(cfg.data), (0.1, 0.1), cfg.seed)
        name = cfg.data
    elif cfg.dataset == "msra":
        train_path, test_path = data.msra_tables()
        train, val, _ = _shuffle_split(data.read_conll(train_path), (cfg.val_fraction, 0.0), cfg.seed)
        test, name = data.read_conll(test_path), DATASETS["msra"][3]
    elif cfg.dataset in ("absa-zh", "absa-en"):
        train_path, test_path = data.absa_tables(cfg.dataset[-2:])
        train, val, _ = _shuffle_split(data.read_conll(train_path), (cfg.val_fraction, 0.0), cfg.seed)
        test, name = data.read_conll(test_path), DATASETS[cfg.dataset][3]
    elif cfg.dataset == "wnut16":
        train, val, test = _shuffle_split(data.read_conll(data.wnut16_table()), (0.1, 0.1), cfg.seed)
        name = DATASETS["wnut16"][3]
    else:
        if cfg.dataset == "products":
            train, val, test = group_split(data.read_conll(data.product_ner_table()), "BRAND", (0.15, 0.15), cfg.seed)
        else:
            train, val, test = disjoint_split(
                data.read_conll(data.product_ner_zh_table()), "BRAND", (0.15, 0.15), cfg.seed
            )
        name = DATASETS[cfg.dataset][3]
    if cfg.max_train_samples:
        train = train[: cfg.max_train_samples]
    if cfg.replace_entities:
        train = replace_mentions(train, cfg.replace_entities, cfg.seed)
    if cfg.max_eval_samples:
        val, test = val[: cfg.max_eval_samples], test[: cfg.max_eval_samples]
    return {"train": train, "val": val, "test": test}, name


# --- Metrics and the baseline -----------------------------------------------------------------
def entity_scores(gold: Sequence[Sequence[Span]], pred: Sequence[Sequence[Span]]) -> dict[str, Any]:
    """Exact-span entity precision, recall and F1, micro over all types and per type.

    Args:
        gold, pred: per sentence, spans (type, start, end); a predicted span counts only when type
            and both boundaries match a gold span.
    Returns:
        ``{"precision", "recall", "f1", "per_type": {type: {"precision", "recall", "f1", "support"}}}``.
    """
    tp: Counter[str] = Counter()
    n_gold: Counter[str] = Counter()
    n_pred: Counter[str] = Counter()
    for g, p in zip(gold, pred, strict=True):
        gs, ps = set(g), set(p)
        for s in gs & ps:
            tp[s[0]] += 1
        n_gold.update(s[0] for s in gs)
        n_pred.update(s[0] for s in ps)

    def prf(t: int, npred: int, ngold: int) -> dict[str, float]:
        precision, recall = (t / npred if npred else 0.0), (t / ngold if ngold else 0.0)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": precision, "recall": recall, "f1": f1}

    out: dict[str, Any] = prf(sum(tp.values()), sum(n_pred.values()), sum(n_gold.values()))
    out["per_type"] = {t: {**prf(tp[t], n_pred[t], n_gold[t]), "support": n_gold[t]} for t in sorted(n_gold | n_pred)}
    return out


class DictionaryTagger:
    """Baseline: the training entities as a gazetteer, matched longest-first, left to right.

    A string enters the gazetteer with its most frequent type, and only when it is tagged as an
    entity in at least half of the places it occurs in training (so "中" or "Apple pie" words that are
    usually not entities do not flood the output).
    """

    def __init__(self, sentences: Sequence[Sentence], max_len: int = 12, min_precision: float = 0.5) -> None:
        types: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)
        for tokens, tags in sentences:
            for etype, s, e in tags_to_spans(tags, span_scheme(tags)):
                if e - s <= max_len:
                    types[tuple(tokens[s:e])][etype] += 1
        self.max_len = max_len
        self.entries = {k: c.most_common(1)[0][0] for k, c in types.items()}
        occurrences: Counter[tuple[str, ...]] = Counter()
        for tokens, _ in sentences:
            for _etype, s, e in self.match(tokens):
                occurrences[tuple(tokens[s:e])] += 1
        self.entries = {
            k: t for k, t in self.entries.items() if sum(types[k].values()) >= min_precision * occurrences[k]
        }

    def match(self, tokens: Sequence[str]) -> list[Span]:
        """Spans (type, start, end) found in ``tokens``, non-overlapping, longest match first."""
        spans, i = [], 0
        while i < len(tokens):
            for n in range(min(self.max_len, len(tokens) - i), 0, -1):
                etype = self.entries.get(tuple(tokens[i : i + n]))
                if etype:
                    spans.append((etype, i, i + n))
                    i += n
                    break
            else:
                i += 1
        return spans


# --- Training ------------------------------------------------------------------------------------
def _batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Length-bucketed batches in random order: sentences of similar length share a batch (little
    padding, short CRF loops), while the order of batches and of ties varies every epoch."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], rng.random()))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def build_model(cfg: NerConfig, train: list[Sentence], tags: list[str]) -> CharCRFModel | EncoderCRFModel:
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
    encoder, tokenizer = load_encoder(data.encoder_dir())
    encoder.freeze_bottom(cfg.frozen_layers)
    return EncoderCRFModel(EncoderCRF(encoder, len(tags)), tokenizer, tags, lang=cfg.lang)


def _optimizers(cfg: NerConfig, model: CharCRFModel | EncoderCRFModel) -> list[torch.optim.Optimizer]:
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
    return [
        torch.optim.AdamW(
            [
                {"params": [p for p in net.encoder.parameters() if p.requires_grad], "lr": cfg.lr},
                {"params": head, "lr": cfg.head_lr},
            ],
            weight_decay=0.01,
        )
    ]


def evaluate(model: CharCRFModel | EncoderCRFModel, sentences: Sequence[Sentence]) -> dict[str, Any]:
    """Entity scores of ``model`` on gold-tagged sentences (the model's own tokens are not used:
    gold tokens go in, so scores are comparable with published token-level results)."""
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
    cfg: NerConfig, model: CharCRFModel | EncoderCRFModel, splits: dict[str, list[Sentence]], device: torch.device
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


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Train, evaluate against the dictionary baseline, save. Returns the metrics dict (and the
    store ``tag`` when saved)."""
    cfg = parse_config(NerConfig, argv).resolve()
    set_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = pick_device()
    splits, data_name = load_splits(cfg)
    every = {t for part in splits.values() for _, ts in part for t in ts}
    scheme = span_scheme(sorted(every))
    types = sorted({t[2:] for t in every if t != "O"})
    # Every prefix of every type, so the tag set does not depend on which tags a split happens to hold.
    tags = ["O", *(f"{p}-{t}" for t in types for p in ("BI" if scheme == "BIO" else "BMES"))]
    name = model_name("ner", cfg.lang, cfg.domain or None)
    untrained = set(types) - {t[2:] for _, ts in splits["train"] for t in ts if t != "O"}
    if untrained:
        print(
            f"[{name}] warning: types {sorted(untrained)} never occur in training; the model cannot predict them",
            file=sys.stderr,
        )
    print(
        f"[{name}] {scheme}, {len(tags)} tags; sentences train {len(splits['train'])}, val {len(splits['val'])}, "
        f"test {len(splits['test'])}",
        file=sys.stderr,
        flush=True,
    )

    t0 = time.time()
    baseline = DictionaryTagger(splits["train"])
    base_metrics = entity_scores(
        [tags_to_spans(t, scheme) for _, t in splits["test"]], [baseline.match(toks) for toks, _ in splits["test"]]
    )
    print(
        f"[{name}] dictionary baseline test F1 {base_metrics['f1']:.4f} ({time.time() - t0:.0f} s)",
        file=sys.stderr,
        flush=True,
    )

    model = build_model(cfg, splits["train"], tags)
    t0 = time.time()
    history, best_epoch = train(cfg, model, splits, device)
    train_seconds = time.time() - t0
    with tempfile.TemporaryDirectory() as tmp:
        # Measure what will be served: the artifact after a save/load round trip.
        model.save(Path(tmp))
        served = load_ner_artifact(Path(tmp), device)
        t0 = time.time()
        test = evaluate(served, splits["test"])
        test_seconds = time.time() - t0
        quantization = choose_quantization(
            cfg.quantize,
            "test_entity_f1",
            test["f1"],
            lambda mode: evaluate(quantize(load_ner_artifact(Path(tmp), device), mode), splits["test"])["f1"],
        )
    metrics = {
        "test_entity_f1": test["f1"],
        "test_entity_precision": test["precision"],
        "test_entity_recall": test["recall"],
        "test_per_type": test["per_type"],
        "val_entity_f1": max(history.val_score) if history.val_score else 0.0,
        "epochs_run": len(history.train_loss),
        "best_epoch": best_epoch,
        "train_seconds": round(train_seconds, 1),
        "test_seconds": round(test_seconds, 1),
    }
    baseline_metrics = {
        "name": "dictionary of training entities, longest match",
        "test_entity_f1": base_metrics["f1"],
        "test_entity_precision": base_metrics["precision"],
        "test_entity_recall": base_metrics["recall"],
        "test_per_type": base_metrics["per_type"],
    }
    print(
        f"[{name}] test entity F1 {test['f1']:.4f} (P {test['precision']:.4f}, R {test['recall']:.4f}) vs "
        f"baseline {base_metrics['f1']:.4f}; {len(history.train_loss)} epochs, {train_seconds / 60:.1f} min",
        file=sys.stderr,
        flush=True,
    )
    report = Path(cfg.report_dir) / name
    plot_history(report, history, "entity F1")
    result: dict[str, Any] = {**metrics, "baseline": baseline_metrics, "quantization": quantization}
    (report / "metrics.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    if cfg.save:
        rows = [" ".join(f"{a}/{b}" for a, b in zip(*s)) for s in splits["train"] + splits["val"] + splits["test"]]
        metadata = {
            "metrics": metrics,
            "baseline_metrics": baseline_metrics,
            "params": asdict(cfg),
            "data": {
                "name": data_name,
                "sha256": fingerprint(rows),
                "n_train": len(splits["train"]),
                "n_val": len(splits["val"]),
                "n_test": len(splits["test"]),
            },
            "label_map": {str(i): t for i, t in enumerate(tags)},
            "scheme": scheme,
            "entity_types": sorted({t[2:] for t in tags if t != "O"}),
            "history": asdict(history),
            "quantization": quantization,
        }
        if cfg.frozen_layers:
            metadata["shared_encoder"] = shared_encoder_record(
                name, cfg.frozen_layers, fingerprint(rows), "test_entity_f1", test["f1"]
            )
        result["tag"] = save_to_store("ner", cfg.lang, cfg.arch, metadata, model.save, cfg.domain or None)
        print(f"[{name}] saved {result['tag']}", file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
