"""Text classifiers shared by every text task (sentiment, category, intent) and their artifacts.

* :class:`CharNgramNet`, trained from scratch: a character encoder (BiLSTM or Kim-style CNN with
  several kernel widths) beside a bag of hashed character n-grams and words. The bag is what a
  TF-IDF model sees; the encoder adds order and negation scope. Works for zh and en.
* :class:`EncoderClassifier`: a pretrained Transformer encoder (the packaged all-MiniLM-L6-v2)
  fine-tuned with a mean-pooled linear head.

Artifacts are directories with ``model.json`` (kind, constructor args, label list, featurizer
settings) and ``weights.safetensors`` (or ``.npz``); no pickle anywhere.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from mining.artifacts import encoder_skeleton, load_weights, pick_device, write_artifact
from mining.contracts import LabelResult, TextItem, require_items
from mining.models.linear import EnsembleModel, TfidfLinearModel, model_reads
from mining.products import ProductTypes, plural
from mining.routing import route_by_language
from mining.text import (
    Lang,
    Vocab,
    cells_per_forward,
    clean,
    has_words,
    hashed_ngrams,
    length_batches,
    normalize,
    segment_words,
)

ZH_MAX_CHARS = 256
EN_MAX_TOKENS = 256


# --- Chinese: character encoder + n-gram bag ---------------------------------------------------
class CharNgramNet(nn.Module):
    """Text classifier over characters and a bag of hashed n-grams.

    Args:
        vocab_size: number of character ids (incl. pad=0, unk=1).
        n_buckets: number of hash buckets of the n-gram bag.
        num_labels: output classes.
        encoder: ``"bilstm"`` or ``"cnn"``.
        embed_dim: character embedding width.
        hidden: BiLSTM hidden size per direction, or CNN filters per kernel width.
        bag_dim: n-gram bag embedding width.
        kernel_sizes: CNN kernel widths (ignored for the BiLSTM).
        dropout: dropout before the output layer.
        embed_dropout: dropout on character embeddings (whole embedding vectors), against the
            memorising of rare characters that sets in after a few epochs.
    """

    def __init__(
        self,
        vocab_size: int,
        n_buckets: int,
        num_labels: int,
        encoder: str = "bilstm",
        embed_dim: int = 128,
        hidden: int = 128,
        bag_dim: int = 64,
        kernel_sizes: Sequence[int] = (2, 3, 4, 5),
        dropout: float = 0.5,
        embed_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if encoder not in ("bilstm", "cnn"):
            raise ValueError(f"encoder must be 'bilstm' or 'cnn', got {encoder!r}")
        self.encoder_kind = encoder
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=Vocab.PAD)
        if encoder == "bilstm":
            self.lstm = nn.LSTM(embed_dim, hidden, batch_first=True, bidirectional=True)
            enc_dim = 4 * hidden  # max- and mean-pooled, two directions
        else:
            self.convs = nn.ModuleList(nn.Conv1d(embed_dim, hidden, k, padding=k // 2) for k in kernel_sizes)
            enc_dim = hidden * len(kernel_sizes)
        # sparse gradients: a dense Adam step over 2**20 x 64 parameters per batch would dominate
        # training time, while a batch touches only a few thousand rows.
        self.bag = nn.EmbeddingBag(n_buckets, bag_dim, mode="mean", sparse=True)
        self.dropout = nn.Dropout(dropout)
        self.embed_dropout = nn.Dropout1d(embed_dropout)
        self.out = nn.Linear(enc_dim + bag_dim, num_labels)

    def forward(
        self, char_ids: torch.Tensor, lengths: torch.Tensor, bag_ids: torch.Tensor, bag_offsets: torch.Tensor
    ) -> torch.Tensor:
        """
        Args:
            char_ids: (B, T) int64, right-padded with 0.
            lengths: (B,) int64, true lengths (>= 1), on CPU.
            bag_ids: (N,) int64, all texts' n-gram bucket ids concatenated.
            bag_offsets: (B,) int64, start of each text in ``bag_ids``.
        Returns:
            (B, num_labels) float logits.
        """
        # Dropout1d zeroes whole channels of (B, C, T); applied on (B, T, C) it drops whole
        # character positions, i.e. entire embedding vectors.
        emb = self.embed_dropout(self.embed(char_ids))
        mask = (char_ids != Vocab.PAD).unsqueeze(-1)
        if self.encoder_kind == "bilstm":
            packed = nn.utils.rnn.pack_padded_sequence(emb, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, _ = self.lstm(packed)
            out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=char_ids.shape[1])
            max_pool = out.masked_fill(~mask, -1e4).max(dim=1).values
            mean_pool = (out * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
            enc = torch.cat([max_pool, mean_pool], dim=-1)
        else:
            x = emb.transpose(1, 2)
            feats = []
            for conv in self.convs:
                h = torch.relu(conv(x))[:, :, : char_ids.shape[1]]
                feats.append(h.masked_fill(~mask.transpose(1, 2), -1e4).max(dim=2).values)
            enc = torch.cat(feats, dim=-1)
        return self.out(self.dropout(torch.cat([enc, self.bag(bag_ids, bag_offsets)], dim=-1)))


class CharNgramFeaturizer:
    """Turns raw texts into :class:`CharNgramNet` inputs. Lower-cases and normalises itself."""

    def __init__(self, vocab: Vocab, n_buckets: int, max_chars: int = ZH_MAX_CHARS, lang: Lang = "zh") -> None:
        self.vocab, self.n_buckets, self.max_chars, self.lang = vocab, n_buckets, max_chars, lang

    def features(self, text: str) -> tuple[list[int], list[int]]:
        """(character ids, n-gram bucket ids) of one text, truncated to ``max_chars`` characters."""
        t = clean(text).lower()[: self.max_chars] or " "
        return self.vocab.encode(t), hashed_ngrams(t, segment_words(t, self.lang), self.n_buckets)

    @staticmethod
    def collate(feats: Sequence[tuple[list[int], list[int]]]) -> dict[str, torch.Tensor]:
        """Batch tensors for :meth:`CharNgramNet.forward` from :meth:`features` outputs (B items)."""
        lengths = torch.tensor([len(c) for c, _ in feats], dtype=torch.long)
        char_ids = torch.zeros(len(feats), int(lengths.max()), dtype=torch.long)
        for i, (c, _) in enumerate(feats):
            char_ids[i, : len(c)] = torch.tensor(c, dtype=torch.long)
        bag_lens = torch.tensor([len(b) for _, b in feats], dtype=torch.long)
        offsets = torch.cat([torch.zeros(1, dtype=torch.long), bag_lens.cumsum(0)[:-1]])
        bag_ids = torch.tensor([i for _, b in feats for i in b], dtype=torch.long)
        return {"char_ids": char_ids, "lengths": lengths, "bag_ids": bag_ids, "bag_offsets": offsets}


# --- English: fine-tuned encoder ---------------------------------------------------------------
class EncoderClassifier(nn.Module):
    """A Transformer encoder with a mean-pooled linear head.

    Args:
        encoder: a :class:`mining.models.bert.BertModel` (anything returning ``last_hidden_state``).
        num_labels: output classes.
        dropout: dropout before the head.
    """

    def __init__(self, encoder: nn.Module, num_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(int(encoder.config.hidden_size), num_labels)  # type: ignore[union-attr,arg-type]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """
        Args:
            input_ids: (B, T) int64 word-piece ids.
            attention_mask: (B, T) int64, 1 on real tokens.
        Returns:
            (B, num_labels) float logits.
        """
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.head(self.dropout(pooled))


class TextClassifier(Protocol):
    labels: list[str]

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray: ...

    # Optional: ``reads(texts) -> (n,) bool``, whether the model knows any word of a text
    # (:func:`mining.models.linear.model_reads`); a classifier without it reads every text.


class CharNgramModel:
    """A trained :class:`CharNgramNet` with its featurizer and labels: the ``zh`` artifact."""

    kind = "char_ngram"

    def __init__(self, net: CharNgramNet, featurizer: CharNgramFeaturizer, labels: list[str], args: dict[str, Any]):
        self.net, self.featurizer, self.labels, self.args = net, featurizer, labels, args

    def reads(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts),) bool: whether a text holds a letter, character or symbol of the vocabulary
        (the hashed n-grams have no vocabulary: an unknown character's are noise)."""
        index = self.featurizer.vocab.index
        return np.array(
            [any(c in index and has_words(c) for c in clean(t).lower()[: self.featurizer.max_chars]) for t in texts],
            dtype=bool,
        )

    @torch.inference_mode()
    def predict_proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Class probabilities, shape (len(texts), len(labels)), float32; rows sum to 1."""
        self.net.eval()
        device = next(self.net.parameters()).device
        feats = [self.featurizer.features(t) for t in texts]
        order = np.argsort([len(c) for c, _ in feats])  # similar lengths together: less padding
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            batch = self.featurizer.collate([feats[i] for i in idx])
            batch = {k: (v if k == "lengths" else v.to(device)) for k, v in batch.items()}
            out[idx] = self.net(**batch).softmax(-1).float().cpu().numpy()
        return out

    def save(self, path: Path) -> None:
        spec = {
            "kind": self.kind,
            "args": self.args,
            "labels": self.labels,
            "featurizer": {
                "n_buckets": self.featurizer.n_buckets,
                "max_chars": self.featurizer.max_chars,
                "lang": self.featurizer.lang,
            },
        }
        write_artifact(path, spec, self.net)
        (path / "vocab.json").write_text(json.dumps(self.featurizer.vocab.tokens, ensure_ascii=False))

    @classmethod
    def load(cls, path: Path, spec: dict[str, Any], device: torch.device) -> CharNgramModel:
        vocab = Vocab(json.loads((path / "vocab.json").read_text()))
        f = spec["featurizer"]
        featurizer = CharNgramFeaturizer(vocab, f["n_buckets"], f["max_chars"], f["lang"])
        net = CharNgramNet(**spec["args"])
        load_weights(net, path / "weights.safetensors")
        return cls(net.to(device).eval(), featurizer, spec["labels"], spec["args"])


class EncoderModel:
    """A fine-tuned :class:`EncoderClassifier` with its tokenizer and labels: the ``en`` artifact."""

    kind = "encoder"

    def __init__(self, net: EncoderClassifier, tokenizer: Any, labels: list[str], max_tokens: int = EN_MAX_TOKENS):
        self.net, self.tokenizer, self.labels, self.max_tokens = net, tokenizer, labels, max_tokens
        # A fast tokenizer is one Rust object whose settings each call may reset; concurrent calls
        # from serving threads can fail with "Already borrowed". Tokenising is a small share of a batch.
        self.tokenizer_lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Tokenised batch: ``input_ids`` and ``attention_mask``, each (B, T<=max_tokens) int64."""
        with self.tokenizer_lock:
            enc = self.tokenizer(
                [clean(t) for t in texts],
                truncation=True,
                max_length=self.max_tokens,
                padding=True,
                return_tensors="pt",
            )
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def reads(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts),) bool: whether a text holds a piece of the vocabulary with a letter,
        character or symbol in it; the unknown piece (an emoji MiniLM never saw) and punctuation do
        not count. Every encoder vocabulary here holds the Latin letters, so only texts without one
        are tokenized (predict_proba tokenizes the batch again: this keeps the second pass off most
        texts)."""
        out = np.array([bool(_LATIN_LETTER.search(t)) for t in texts], dtype=bool)
        rest = [i for i, ok in enumerate(out) if not ok]
        if not rest:
            return out
        with self.tokenizer_lock:
            ids = self.tokenizer([clean(texts[i]) for i in rest], truncation=True, max_length=self.max_tokens)[
                "input_ids"
            ]
        special = set(self.tokenizer.all_special_ids)
        for i, row in zip(rest, ids, strict=True):
            pieces = self.tokenizer.convert_ids_to_tokens([j for j in row if j not in special])
            out[i] = any(has_words(_piece_text(p)) for p in pieces)
        return out

    @torch.inference_mode()
    def predict_proba(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Class probabilities, shape (len(texts), len(labels)), float32; rows sum to 1.

        Texts are tokenised once, then run in batches of similar length of at most
        ``batch_size`` texts and, on a CPU, :data:`~mining.text.CPU_CELLS_PER_FORWARD` padded tokens.
        """
        self.net.eval()
        device = next(self.net.parameters()).device
        with self.tokenizer_lock:
            ids = self.tokenizer([clean(t) for t in texts], truncation=True, max_length=self.max_tokens)["input_ids"]
        pad = self.tokenizer.pad_token_id or 0
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        for idx in length_batches([len(x) for x in ids], batch_size, cells_per_forward(device)):
            width = max(len(ids[i]) for i in idx)
            input_ids = torch.full((len(idx), width), pad, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for row, i in enumerate(idx):
                input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
                mask[row, : len(ids[i])] = 1
            out[idx] = self.net(input_ids.to(device), mask.to(device)).softmax(-1).float().cpu().numpy()
        return out

    def save(self, path: Path) -> None:
        spec = {
            "kind": self.kind,
            "labels": self.labels,
            "max_tokens": self.max_tokens,
            "dropout": self.net.dropout.p,
            "frozen_layers": self.net.encoder.frozen_layers,  # type: ignore[union-attr]
        }
        write_artifact(path, spec, self.net, self.tokenizer)

    @classmethod
    def load(cls, path: Path, spec: dict[str, Any], device: torch.device) -> EncoderModel:
        encoder, tokenizer = encoder_skeleton(path, spec.get("frozen_layers", 0))
        net = EncoderClassifier(encoder, len(spec["labels"]), spec["dropout"])
        load_weights(net, path / "weights.safetensors")
        return cls(net.to(device).eval(), tokenizer, spec["labels"], spec["max_tokens"])


_LATIN_LETTER = re.compile(r"[A-Za-z]")


def _piece_text(piece: str) -> str:
    """A tokenizer piece without its markers: SentencePiece's word start ``▁`` (itself a symbol
    character) and WordPiece's ``##``."""
    return piece.replace("\u2581", "").removeprefix("##")


def load_artifact(path: Path, device: torch.device | None = None) -> TextClassifier:
    """Load a text-classifier artifact directory written by a model's ``save()``, onto ``device``
    (default: CUDA when present). Ensembles load their members recursively."""
    path, device = Path(path), device or pick_device()
    spec = json.loads((path / "model.json").read_text())
    kind = spec.get("kind")
    if kind == EnsembleModel.kind:
        return EnsembleModel([load_artifact(path / name, device) for name in spec["members"]], spec["weights"])
    kinds = {c.kind: c for c in (CharNgramModel, EncoderModel, TfidfLinearModel)}
    if kind not in kinds:
        raise ValueError(
            f"unknown artifact kind {kind!r} in {path}; expected one of {sorted([*kinds, EnsembleModel.kind])}"
        )
    return kinds[kind].load(path, spec, device)


def temper(p: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities (n, K) at ``temperature``: softmax(log p / T), the same as dividing logits.
    Training fits the temperature (:mod:`training.calibration`); serving applies it here."""
    logits = np.log(np.clip(p, 1e-12, 1.0)) / temperature
    logits -= logits.max(1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(1, keepdims=True)


@dataclass(frozen=True)
class Abstention:
    """When a served classifier answers ``null``: its probabilities are tempered by
    ``temperature`` (fitted on validation) and a top probability under ``threshold`` (chosen on
    validation for a precision target) gets no label. ``Abstention()`` never abstains."""

    temperature: float = 1.0
    threshold: float = 0.0

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any], lang: str | None = None) -> Abstention:
        """From a model's store metadata (``abstention``: temperature, threshold; a model of both
        languages may hold ``by_lang``: {lang: threshold}, chosen on that language's validation
        texts); a model whose metadata has no ``abstention`` never abstains."""
        a = metadata.get("abstention") or {}
        threshold = (a.get("by_lang") or {}).get(lang, a.get("threshold", 0.0))
        return cls(float(a.get("temperature", 1.0)), float(threshold))

    def apply(self, p: np.ndarray) -> np.ndarray:
        """(n, K) probabilities at this temperature."""
        return p if self.temperature == 1.0 else temper(p, self.temperature)


BASELINE_SERVED = "tfidf-lr"  # ``served.model`` of a model whose TF-IDF baseline serves in place of its network


def served_note(metadata: dict[str, Any]) -> str | None:
    """What a model's answers should add to its tag: ``tfidf-lr`` where its store metadata says the
    TF-IDF + logistic-regression baseline serves instead of the network (``served.model``, chosen
    on validation by the trainer), else None (the network, alone or in an ensemble, serves)."""
    served = metadata.get("served") or {}
    return BASELINE_SERVED if served.get("model") == BASELINE_SERVED else None


def goods_seen(texts: Sequence[str], products: ProductTypes) -> list[str]:
    """The product types of ``products`` that at least one of ``texts`` names (normalised,
    lower-cased, sorted): the goods a category model learnt from (``goods_seen`` in its metadata)."""
    return sorted({normalize(m.text).lower() for t in texts for m in products.find(t)})


def _read_of(kind: str, seen: frozenset[str], lang: str) -> bool:
    """Whether a model whose training texts name the kinds ``seen`` read of ``kind``: the kind
    itself (in English, either number), or a kind that is one of the other by its head (耳机 and
    蓝牙耳机, laptop and gaming laptop, charger and phone chargers; two characters or a whole word
    at least)."""

    def forms(word: str) -> set[str]:
        return {word, plural(word)} if lang == "en" else {word}

    for s in seen:
        for a, b in ((s, kind), (kind, s)):
            for fa in forms(a):
                for fb in forms(b):
                    if fa == fb or (fa.endswith(" " + fb) if lang == "en" else len(fb) >= 2 and fa.endswith(fb)):
                        return True
    return False


def unread_goods(text: str, products: ProductTypes, seen: frozenset[str], lang: str) -> list[str]:
    """The kinds of goods ``text`` names (normalised, lower-cased, in text order) where every one
    of them is unread by a model whose training texts name the kinds ``seen`` (:func:`_read_of`);
    ``[]`` where it names none or names one the model read of."""
    named = list(dict.fromkeys(normalize(m.text).lower() for m in products.find(text)))
    return [] if any(_read_of(n, seen, lang) for n in named) else named


def withhold_unseen_goods(
    results: Sequence[LabelResult], texts: Sequence[str], goods: dict[str, tuple[ProductTypes, frozenset[str]]]
) -> list[LabelResult]:
    """``results`` with the label withheld (``null`` and the reason) where the text names goods
    and every kind it names is one none of the model's training texts names (``goods``: language ->
    (the product-type matcher, the model's :func:`goods_seen`)); the rest as given.

    Why: a category model answers from the words it learnt, whatever the text is about: the
    Chinese model, trained on ten shopping categories, filed `空气炸锅的涂层掉了` under 衣服 at 0.93
    (no training review names an air fryer; `质量太差` is a common complaint of clothes), and
    `/trends` then showed complaints about clothes rising. A text that also names a kind the model
    saw keeps its label (`空气炸锅和手机`), and so does one that names no goods.
    """
    out = []
    for result, text in zip(results, texts, strict=True):
        kinds = goods.get(result.lang)
        if result.label is not None and kinds is not None and (named := unread_goods(text, *kinds, result.lang)):
            categories = sorted(result.probabilities)
            listed = ", ".join(categories[:10]) + (", ..." if len(categories) > 10 else "")
            reason = (
                f"names {', '.join(named[:3])}: goods none of the texts the model learnt from names, "
                f"so its categories ({listed}) may not hold them"
            )
            result = result.model_copy(update={"label": None, "reason": reason})
        out.append(result)
    return out


def predict_routed(
    models: dict[str, TextClassifier],
    tags: dict[str, str],
    items: Sequence[TextItem],
    task: str = "classification",
    abstention: dict[str, Abstention] | None = None,
    served: dict[str, str | None] | None = None,
) -> list[LabelResult]:
    """Classify texts with the model of each text's language, or say why not.

    A text whose language has no model gets ``label: null`` with that reason (another
    language's model would only guess); so does a text without words (:func:`mining.text.has_words`:
    digits, punctuation, symbols only), which no model is asked about, a text none of whose words
    or symbols its model's vocabulary holds (the model's ``reads``: emoji to an English encoder
    that never saw them), and a text whose calibrated top probability is under the model's threshold.

    Args:
        models: language -> model.
        tags: language -> store tag, reported per result.
        items: n texts with their detected language.
        task: what the models predict, for the reasons (``sentiment``, ``classification``).
        abstention: language -> calibration and threshold (default: never abstain).
        served: language -> :func:`served_note` of its model; a note is added to the tag in
            ``model`` as ``"<tag> (served: tfidf-lr)"`` (default: the tag alone).
    Returns:
        n results: ``lang`` (as detected), ``label`` (or None), ``score`` (the top calibrated
        probability), ``probabilities`` (label -> probability), ``model`` and ``reason``.
    """
    rules, notes = abstention or {}, served or {}

    def classify(lang: str, texts: list[str]) -> list[LabelResult]:
        model, rule, note = models[lang], rules.get(lang, Abstention()), notes.get(lang)
        model_field = f"{tags[lang]} (served: {note})" if note else tags[lang]
        read = model_reads(model, texts)
        kept = [t for t, ok in zip(texts, read) if ok]
        rows = iter(rule.apply(model.predict_proba(kept)) if kept else ())  # a model may refuse an empty batch
        out = []
        for ok in read:
            if not ok:
                out.append(
                    LabelResult(
                        lang=lang,
                        label=None,
                        score=0.0,
                        probabilities={},
                        model=model_field,
                        reason=_UNREAD.format(task),
                    )
                )
                continue
            row = next(rows)
            best = int(row.argmax())
            sure = float(row[best]) >= rule.threshold
            out.append(
                LabelResult(
                    lang=lang,
                    label=model.labels[best] if sure else None,
                    score=float(row[best]),
                    probabilities={name: float(p) for name, p in zip(model.labels, row)},
                    model=model_field,
                    reason=None
                    if sure
                    else (
                        f"not sure: top probability {row[best]:.2f} ({model.labels[best]}) is under the threshold "
                        f"{rule.threshold:.2f} chosen on validation"
                    ),
                )
            )
        return out

    def unanswered(item: TextItem, reason: str) -> LabelResult:
        return LabelResult(lang=item.lang, label=None, score=0.0, probabilities={}, model=None, reason=reason)

    def no_model(item: TextItem) -> LabelResult:
        return unanswered(item, f"no {task} model for '{item.lang}' text (models exist for {sorted(models)})")

    def unreadable(item: TextItem, language: str) -> LabelResult:
        return unanswered(item, f"the text looks {language}; the {task} models read Chinese and English only")

    items = require_items(items)
    readable = [has_words(item.text) for item in items]
    answers = iter(
        route_by_language([it for it, ok in zip(items, readable) if ok], models, classify, no_model, unreadable)
    )
    return [next(answers) if ok else unanswered(item, _NO_WORDS) for item, ok in zip(items, readable)]


# What a classifier says of a text without a letter, character or pictograph (mining.text.has_words).
_NO_WORDS = "the text holds no words to read: only digits, punctuation or symbols"
# What it says of a text none of whose words or symbols its vocabulary holds: MiniLM read every emoji
# as one unknown piece, so "😡😡😡", "👎" and "👍" were all positive at 0.83.
_UNREAD = "the {} model knows none of the text's words or symbols: they are not in its vocabulary"
