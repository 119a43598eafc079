"""TF-IDF + linear classifier in plain numpy, and probability-averaging ensembles.

The TF-IDF model reproduces scikit-learn's ``TfidfVectorizer`` (lower-casing, ``char`` or ``word``
n-grams with the default token pattern, sublinear tf, smoothed idf, l2 norm) followed by a
logistic-regression layer, so a model fitted with scikit-learn at training time serves without
scikit-learn or pickle: vocabulary as JSON, idf and weights as ``.npz`` (``allow_pickle=False``).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mining.text import clean, has_words

_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token_pattern
_WHITE = re.compile(r"\s\s+")


class TfidfLinearModel:
    """Args:
    vocabulary: n-gram -> feature index, F features.
    idf: (F,) float idf weights.
    coef: (K, F) weights; K = 1 for two classes (logistic), else one row per class (softmax).
    intercept: (K,) biases.
    labels: class names in the order of the classifier's classes.
    analyzer: ``"char"`` or ``"word"``.
    ngram_range: (min_n, max_n).
    """

    kind = "tfidf_linear"

    def __init__(
        self,
        vocabulary: dict[str, int],
        idf: np.ndarray,
        coef: np.ndarray,
        intercept: np.ndarray,
        labels: list[str],
        analyzer: str,
        ngram_range: tuple[int, int],
    ) -> None:
        if analyzer not in ("char", "word"):
            raise ValueError(f"analyzer must be 'char' or 'word', got {analyzer!r}")
        if coef.shape[1] != len(vocabulary) or idf.shape != (len(vocabulary),):
            raise ValueError(f"coef {coef.shape} / idf {idf.shape} do not match a vocabulary of {len(vocabulary)}")
        self.vocabulary, self.idf, self.coef, self.intercept = vocabulary, idf, coef, intercept
        self.labels, self.analyzer, self.ngram_range = labels, analyzer, tuple(ngram_range)

    @classmethod
    def from_sklearn(cls, vectorizer: Any, classifier: Any, labels: list[str]) -> TfidfLinearModel:
        """From a fitted ``TfidfVectorizer`` (sublinear_tf, l2 norm) and ``LogisticRegression``;
        ``labels[i]`` names class id ``i``."""
        if not vectorizer.sublinear_tf or vectorizer.norm != "l2" or not vectorizer.lowercase:
            raise ValueError("only lower-casing, sublinear-tf, l2-normed vectorizers are supported")
        classes = [int(c) for c in classifier.classes_]
        coef, intercept = classifier.coef_, classifier.intercept_
        if 2 < len(classes) < len(labels):
            # A label without training rows gets probability 0, so the columns are every label's,
            # as the network's are (e.g. a model of English rows only, with a label only Chinese has).
            coef_all, intercept_all = np.zeros((len(labels), coef.shape[1])), np.full(len(labels), -1e4)
            coef_all[classes], intercept_all[classes] = coef, intercept
            coef, intercept, classes = coef_all, intercept_all, list(range(len(labels)))
        return cls(
            {k: int(v) for k, v in vectorizer.vocabulary_.items()},
            vectorizer.idf_.astype(np.float32),
            coef.astype(np.float32),
            intercept.astype(np.float32),
            [labels[c] for c in classes],
            vectorizer.analyzer,
            vectorizer.ngram_range,
        )

    def _grams(self, text: str) -> list[str]:
        text = text.lower()
        lo, hi = self.ngram_range
        if self.analyzer == "char":
            text = _WHITE.sub(" ", text)
            return [text[i : i + n] for n in range(lo, hi + 1) for i in range(len(text) - n + 1)]
        tokens = _TOKEN.findall(text)
        return [" ".join(tokens[i : i + n]) for n in range(lo, hi + 1) for i in range(len(tokens) - n + 1)]

    def transform(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per text, (feature indices, l2-normed tf-idf values): a sparse row of the (n, F) matrix."""
        rows = []
        for t in texts:
            counts = Counter(self.vocabulary[g] for g in self._grams(clean(t)) if g in self.vocabulary)
            idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
            val = (1.0 + np.log(tf)) * self.idf[idx]
            norm = float(np.linalg.norm(val))
            rows.append((idx, val / norm if norm > 0 else val))
        return rows

    def reads(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts),) bool: whether a text holds a word or symbol of the vocabulary
        (:func:`mining.text.has_words` of a known n-gram; a known space or digit is no reading)."""
        return np.array(
            [any(g in self.vocabulary and has_words(g) for g in self._grams(clean(t))) for t in texts], dtype=bool
        )

    def predict_proba(self, texts: Sequence[str], batch_size: int = 0) -> np.ndarray:
        """Class probabilities, shape (len(texts), len(labels)), float32."""
        logits = (
            np.stack([self.coef[:, idx] @ val + self.intercept for idx, val in self.transform(texts)])
            if texts
            else np.zeros((0, self.coef.shape[0]), dtype=np.float32)
        )
        if self.coef.shape[0] == 1:
            p1 = 1.0 / (1.0 + np.exp(-logits[:, 0]))
            return np.stack([1.0 - p1, p1], axis=1).astype(np.float32)
        z = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (z / z.sum(axis=1, keepdims=True)).astype(np.float32)

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        spec = {
            "kind": self.kind,
            "labels": self.labels,
            "analyzer": self.analyzer,
            "ngram_range": list(self.ngram_range),
        }
        (path / "model.json").write_text(json.dumps(spec, ensure_ascii=False, indent=1))
        terms = [""] * len(self.vocabulary)
        for term, i in self.vocabulary.items():
            terms[i] = term
        (path / "vocab.json").write_text(json.dumps(terms, ensure_ascii=False))
        np.savez(path / "weights.npz", idf=self.idf, coef=self.coef, intercept=self.intercept)

    @classmethod
    def load(cls, path: Path, spec: dict[str, Any], device: Any = None) -> TfidfLinearModel:
        terms = json.loads((path / "vocab.json").read_text())
        with np.load(path / "weights.npz", allow_pickle=False) as w:
            idf, coef, intercept = w["idf"], w["coef"], w["intercept"]
        return cls(
            {t: i for i, t in enumerate(terms)},
            idf,
            coef,
            intercept,
            spec["labels"],
            spec["analyzer"],
            tuple(spec["ngram_range"]),
        )


class EnsembleModel:
    """Weighted average of member models' probabilities. Members must share the label list.

    Args:
        members: models with ``labels`` and ``predict_proba(texts) -> (n, K)``.
        weights: one non-negative weight per member, summing to 1.
    """

    kind = "ensemble"

    def __init__(self, members: Sequence[Any], weights: Sequence[float]) -> None:
        if len(members) != len(weights) or not members:
            raise ValueError(f"need one weight per member: {len(members)} members, {len(weights)} weights")
        if any(m.labels != members[0].labels for m in members):
            raise ValueError(f"members disagree on labels: {[m.labels for m in members]}")
        if min(weights) < 0 or abs(sum(weights) - 1) > 1e-6:
            raise ValueError(f"weights must be >= 0 and sum to 1, got {list(weights)}")
        self.members, self.weights, self.labels = list(members), [float(w) for w in weights], members[0].labels

    def reads(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts),) bool: whether a member with weight reads the text (:func:`model_reads`);
        a later member is asked only about the texts the earlier ones did not read."""
        out = np.zeros(len(texts), dtype=bool)
        for m, w in zip(self.members, self.weights):
            rest = np.flatnonzero(~out)
            if w > 0 and rest.size:
                out[rest] = model_reads(m, [texts[int(i)] for i in rest])
        return out

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Weighted mean of the members' (len(texts), K) probabilities."""
        return sum(w * m.predict_proba(texts) for m, w in zip(self.members, self.weights) if w > 0)  # type: ignore[return-value]

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        names = [f"member{i}" for i in range(len(self.members))]
        for name, m in zip(names, self.members):
            m.save(path / name)
        spec = {"kind": self.kind, "labels": self.labels, "members": names, "weights": self.weights}
        (path / "model.json").write_text(json.dumps(spec, ensure_ascii=False, indent=1))


def model_reads(model: Any, texts: Sequence[str]) -> np.ndarray:
    """(len(texts),) bool: ``model.reads(texts)``, or all True for a classifier without ``reads``
    (one of a user's own, which is taken to read whatever it is given)."""
    reads = getattr(model, "reads", None)
    return np.ones(len(texts), dtype=bool) if reads is None else np.asarray(reads(texts), dtype=bool)
