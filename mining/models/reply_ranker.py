"""The served reply ranking (store model ``replies``): a knowledge base with what ranks its replies
for a customer message, as measured by ``training.train_replies``.

A message is scored against each row twice, against its reply ``text`` (what the 1 + 99 retrieval
measurement ranks) and against its example ``request`` (a row without one: its text again), and
the row's score is ``(1 - w) * text score + w * request score`` with the ``request_weight`` ``w``
chosen on held-out messages written for the shop's own replies (``training.train_replies``): a
greeting is nearer to the example request ``在吗`` than to any reply's wording. Two kinds:

- lexical (``bm25`` or ``tfidf``, :mod:`mining.replies`): per language one ranker over the reply
  texts and one over the requests;
- ``e5``: a pretrained multilingual encoder (:class:`mining.models.sentence.SentenceEncoder`) and
  the unit vectors of every reply (document prefix) and every request (query prefix, as a
  message), computed when the model is built; a score is a cosine, negative cosines count as 0.

The artifact: ``ranker.json`` (kind, the knowledge base's sha256, entries per language, the
request weight), ``index/`` (the entries and the text rankers, :meth:`mining.replies.ReplyIndex.save`),
for lexical kinds ``requests/ranker-<lang>`` (the request rankers), and for ``e5``
``vectors-<lang>.npy`` and ``requests-<lang>.npy`` ((n entries of the language, dim) float32, no
pickle) and ``encoder/``. An artifact without the request side (saved before it existed) loads with
weight 0. The rows returned index the knowledge base the model was built on: whoever fills the
replies must hold the same file (``kb_sha256``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mining.contracts import RankedReplies, RankedReply, ReplyQuery
from mining.replies import LANGS, Ranker, ReplyEntry, ReplyIndex, load_ranker

SPEC = "ranker.json"
ENCODER_KIND = "e5"


class ReplyRanker:
    """Ranks one knowledge base's replies for customer messages.

    Args:
        index: the entries, and for a lexical kind their rankers fitted on the reply texts.
        kb_sha256: sha256 of the knowledge-base file the entries were read from.
        kind: ``bm25``, ``tfidf`` or ``e5``.
        encoder: for ``e5``, the sentence encoder (``queries(texts)`` / ``documents(texts)`` ->
            (n, dim) unit vectors).
        vectors: for ``e5``, per language the (n entries of the language, dim) unit vectors of the
            reply texts, in file order.
        request_weight: ``w`` in [0, 1] of the module docstring; 0 scores the texts alone.
        request_rankers: for a lexical kind, per language a ranker fitted on each entry's request
            (its text where empty), in file order.
        request_vectors: for ``e5``, per language the (n entries, dim) unit vectors of the requests
            (texts where empty), embedded as messages are.
    """

    # Its reply vectors were computed with the encoder's float bottom at build time, so a message
    # must be read by the same weights: serving never quantises this model's bottom (it keeps a
    # float copy of its own where the heads' shared bottom is quantised).
    float_bottom = True

    def __init__(
        self,
        index: ReplyIndex,
        kb_sha256: str,
        kind: str,
        encoder: Any = None,
        vectors: Mapping[str, np.ndarray] | None = None,
        request_weight: float = 0.0,
        request_rankers: Mapping[str, Ranker] | None = None,
        request_vectors: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        self.index, self.kb_sha256, self.kind = index, kb_sha256, kind
        self.encoder = encoder
        self.vectors = dict(vectors or {})
        self.request_rankers = dict(request_rankers or {})
        self.request_vectors = dict(request_vectors or {})
        if not 0.0 <= request_weight <= 1.0:
            raise ValueError(f"request_weight must be in [0, 1], got {request_weight}")
        self.request_weight = float(request_weight)
        if kind == ENCODER_KIND:
            if encoder is None:
                raise ValueError("an e5 reply ranker needs its encoder")
            self._check_rows("reply vectors", self.vectors, required=True)
            self._check_rows("request vectors", self.request_vectors, required=request_weight > 0)
        elif kind in ("bm25", "tfidf"):
            self._check_rows("request rankers' rows", self.request_rankers, required=request_weight > 0)
        else:
            raise ValueError(f"reply ranker kind must be bm25, tfidf or e5, got {kind!r}")

    @classmethod
    def build(
        cls,
        entries: Sequence[ReplyEntry],
        kb_sha256: str,
        kind: str,
        encoder: Any = None,
        lexical_kind: str = "bm25",
        request_weight: float = 0.0,
    ) -> ReplyRanker:
        """A ranker of ``kind`` over ``entries`` with both sides: for a lexical kind, rankers of that
        kind on the reply texts and on the requests; for ``e5``, the reply and request vectors by
        ``encoder`` (its prefixes as set) and lexical text rankers of ``lexical_kind`` in the index."""
        lexical = kind if kind != ENCODER_KIND else lexical_kind
        index = ReplyIndex.build(entries, kind=lexical, on="text")  # type: ignore[arg-type]
        if kind != ENCODER_KIND:
            rankers = ReplyIndex.build(entries, kind=lexical, on="request").rankers  # type: ignore[arg-type]
            return cls(index, kb_sha256, kind, request_weight=request_weight, request_rankers=rankers)
        if encoder is None:
            raise ValueError("an e5 reply ranker needs its encoder")
        rows = {lang: [entries[i] for i in ids] for lang, ids in index.ids.items() if ids}
        vectors = {lang: encoder.documents([e.text for e in es]) for lang, es in rows.items()}
        request_vectors = {lang: encoder.queries([e.request or e.text for e in es]) for lang, es in rows.items()}
        return cls(index, kb_sha256, kind, encoder, vectors, request_weight, request_vectors=request_vectors)

    def _check_rows(self, what: str, per_lang: Mapping[str, Any], required: bool) -> None:
        """Each language with entries has one row of ``per_lang`` per entry (where ``required``, or
        where any language has them: half a request side would score languages differently)."""
        if not (required or per_lang):
            return
        for lang, ids in self.index.ids.items():
            if not ids:
                continue
            rows = per_lang.get(lang)
            n = 0 if rows is None else (rows.matrix.shape[0] if isinstance(rows, Ranker) else len(rows))
            if n != len(ids):
                raise ValueError(f"{n} {lang} {what} for {len(ids)} {lang} entries")

    def score_parts(self, queries: Sequence[ReplyQuery]) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """Per query, (scores against the reply texts, scores against the requests or None where
        the model has no request side), each (n entries of its language,) in [0, 1], file order;
        empty arrays where the knowledge base has none of that language."""
        empty = np.zeros(0)
        out: list[tuple[np.ndarray, np.ndarray | None]] = [(empty, None) for _ in queries]
        if self.kind != ENCODER_KIND:
            for i, q in enumerate(queries):
                if self.index.ids.get(q.lang):
                    req = self.request_rankers.get(q.lang)
                    out[i] = (
                        self.index.rankers[q.lang].unit_scores(q.text),
                        None if req is None else req.unit_scores(q.text),
                    )
            return out
        rows = [i for i, q in enumerate(queries) if self.index.ids.get(q.lang)]
        if rows:
            vecs = self.encoder.queries([queries[i].text for i in rows])
            for i, v in zip(rows, vecs, strict=True):
                lang = queries[i].lang
                text = np.clip(self.vectors[lang] @ v, 0.0, 1.0).astype(np.float64)
                req_vecs = self.request_vectors.get(lang)
                req_scores = None if req_vecs is None else np.clip(req_vecs @ v, 0.0, 1.0).astype(np.float64)
                out[i] = (text, req_scores)
        return out

    def scores(self, queries: Sequence[ReplyQuery]) -> list[np.ndarray]:
        """Per query, the scores in [0, 1] of its language's entries ((n entries of the language,),
        file order): the texts' and the requests' blended by :attr:`request_weight`; an empty array
        where the knowledge base has none of that language."""
        return [blend(text, req, self.request_weight) for text, req in self.score_parts(queries)]

    def rank(self, queries: Sequence[ReplyQuery], tag: str = "") -> list[RankedReplies]:
        """The best ``k`` rows of each query (entries of its intent first, then those of none, then by
        score: :meth:`mining.replies.ReplyIndex.best`), same order as ``queries``."""
        name = f"{tag} ({self.kind})" if tag else self.kind
        out = []
        for q, s in zip(queries, self.scores(queries), strict=True):
            best = self.index.best(s, q.lang, q.intent, q.k) if len(s) else []
            out.append(
                RankedReplies(
                    kb_sha256=self.kb_sha256,
                    ranker=name,
                    replies=[RankedReply(index=i, score=round(score, 6)) for i, score in best],
                )
            )
        return out

    def save(self, path: Path) -> None:
        """Write the artifact (module docstring) into ``path``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.index.save(path / "index")
        if self.kind == ENCODER_KIND:
            for prefix, per_lang in (("vectors", self.vectors), ("requests", self.request_vectors)):
                for lang, vecs in per_lang.items():
                    np.save(path / f"{prefix}-{lang}.npy", np.ascontiguousarray(vecs, dtype=np.float32))
            self.encoder.save(path / "encoder")
        for lang, ranker in self.request_rankers.items():
            (path / "requests").mkdir(exist_ok=True)
            ranker.save(path / "requests" / f"ranker-{lang}")
        counts = {lang: len(ids) for lang, ids in self.index.ids.items()}
        spec = {
            "kind": self.kind,
            "kb_sha256": self.kb_sha256,
            "entries": counts,
            "request_weight": self.request_weight,
        }
        (path / SPEC).write_text(json.dumps(spec, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: Path, device: Any = None) -> ReplyRanker:
        """Read an artifact written by :meth:`save`; the encoder (``e5``) onto ``device``."""
        path = Path(path)
        spec = json.loads((path / SPEC).read_text(encoding="utf-8"))
        index = ReplyIndex.load(path / "index")
        encoder = None
        vectors: dict[str, np.ndarray] = {}
        request_vectors: dict[str, np.ndarray] = {}
        if spec["kind"] == ENCODER_KIND:
            from mining.models.sentence import SentenceEncoder

            encoder = SentenceEncoder.load(path / "encoder", device)
            for prefix, per_lang in (("vectors", vectors), ("requests", request_vectors)):
                for lang in LANGS:
                    file = path / f"{prefix}-{lang}.npy"
                    if file.exists():
                        per_lang[lang] = np.load(file, allow_pickle=False)
        request_rankers = {
            lang: load_ranker(path / "requests" / f"ranker-{lang}")
            for lang in LANGS
            if (path / "requests" / f"ranker-{lang}.json").exists()
        }
        return cls(
            index,
            spec["kb_sha256"],
            spec["kind"],
            encoder,
            vectors,
            float(spec.get("request_weight", 0.0)),
            request_rankers,
            request_vectors,
        )


def blend(text: np.ndarray, request: np.ndarray | None, weight: float) -> np.ndarray:
    """``(1 - weight) * text + weight * request`` (same shapes, scores in [0, 1]); ``text`` alone
    where there is no request side or the weight is 0."""
    if request is None or weight == 0.0:
        return text
    return (1.0 - weight) * text + weight * request
