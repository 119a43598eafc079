"""The served reply ranking (store model ``replies``): a knowledge base with what ranks its replies
for a customer message, as measured by ``training.train_replies``.

Two kinds, both scoring a message against each reply's text (what the measurement ranks):

- lexical (``bm25`` or ``tfidf``, :mod:`mining.replies`): one ranker per language over the reply
  texts;
- ``e5``: a pretrained multilingual encoder (:class:`mining.models.sentence.SentenceEncoder`) and
  the unit vectors of every reply, computed when the model is built; a message is scored by the
  cosine of its vector with each reply's (negative cosines count as 0).

The artifact: ``ranker.json`` (kind, the knowledge base's sha256, entries per language), ``index/``
(the entries and lexical rankers, :meth:`mining.replies.ReplyIndex.save`), and for ``e5``
``vectors-<lang>.npy`` ((n entries of the language, dim) float32, no pickle) and ``encoder/``.
The rows returned index the knowledge base the model was built on: whoever fills the replies
must hold the same file (``kb_sha256``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mining.contracts import RankedReplies, RankedReply, ReplyQuery
from mining.replies import LANGS, ReplyIndex

SPEC = "ranker.json"
ENCODER_KIND = "e5"


class ReplyRanker:
    """Ranks one knowledge base's replies for customer messages.

    Args:
        index: the entries, and for a lexical kind their rankers fitted on the reply texts.
        kb_sha256: sha256 of the knowledge-base file the entries were read from.
        kind: ``bm25``, ``tfidf`` or ``e5``.
        encoder: for ``e5``, the sentence encoder (any object with ``queries(texts) -> (n, dim)``).
        vectors: for ``e5``, per language the (n entries of the language, dim) unit vectors of the
            reply texts, in file order.
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
    ) -> None:
        self.index, self.kb_sha256, self.kind = index, kb_sha256, kind
        self.encoder = encoder
        self.vectors = dict(vectors or {})
        if kind == ENCODER_KIND:
            if encoder is None:
                raise ValueError("an e5 reply ranker needs its encoder")
            for lang, ids in index.ids.items():
                n = 0 if lang not in self.vectors else len(self.vectors[lang])
                if n != len(ids):
                    raise ValueError(f"{n} {lang} reply vectors for {len(ids)} {lang} entries")
        elif kind not in ("bm25", "tfidf"):
            raise ValueError(f"reply ranker kind must be bm25, tfidf or e5, got {kind!r}")

    def scores(self, queries: Sequence[ReplyQuery]) -> list[np.ndarray]:
        """Per query, the scores in [0, 1] of its language's entries ((n entries of the language,),
        file order); an empty array where the knowledge base has none of that language."""
        out: list[np.ndarray] = [np.zeros(0) for _ in queries]
        if self.kind != ENCODER_KIND:
            for i, q in enumerate(queries):
                if self.index.ids.get(q.lang):
                    out[i] = self.index.rankers[q.lang].unit_scores(q.text)
            return out
        rows = [i for i, q in enumerate(queries) if self.index.ids.get(q.lang)]
        if rows:
            vecs = self.encoder.queries([queries[i].text for i in rows])
            for i, v in zip(rows, vecs, strict=True):
                out[i] = np.clip(self.vectors[queries[i].lang] @ v, 0.0, 1.0).astype(np.float64)
        return out

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
            for lang, vecs in self.vectors.items():
                np.save(path / f"vectors-{lang}.npy", np.ascontiguousarray(vecs, dtype=np.float32))
            self.encoder.save(path / "encoder")
        counts = {lang: len(ids) for lang, ids in self.index.ids.items()}
        spec = {"kind": self.kind, "kb_sha256": self.kb_sha256, "entries": counts}
        (path / SPEC).write_text(json.dumps(spec, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: Path, device: Any = None) -> ReplyRanker:
        """Read an artifact written by :meth:`save`; the encoder (``e5``) onto ``device``."""
        path = Path(path)
        spec = json.loads((path / SPEC).read_text(encoding="utf-8"))
        index = ReplyIndex.load(path / "index")
        encoder, vectors = None, {}
        if spec["kind"] == ENCODER_KIND:
            from mining.models.sentence import SentenceEncoder

            encoder = SentenceEncoder.load(path / "encoder", device)
            for lang in LANGS:
                file = path / f"vectors-{lang}.npy"
                if file.exists():
                    vectors[lang] = np.load(file, allow_pickle=False)
        return cls(index, spec["kb_sha256"], spec["kind"], encoder, vectors)
