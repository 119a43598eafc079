"""Reply suggestions for customer-service requests: the reply knowledge base, its placeholders and
the lexical rankers that find the entries closest to a request.

A knowledge-base entry is a reply with ``{{Placeholder}}`` slots (``{{Order Number}}``), the
intent it answers (one of :data:`LABELS`, or empty for any) and an example request. The built-in
base is ``data/customer_service/replies_kb.csv`` (``python -m training.build_replies``); a shop
replaces it with its own CSV of the same columns (data/customer_service/README.md).

Rankers: Okapi BM25 and TF-IDF cosine over bags of tokens (:func:`tokens`), with numpy and scipy
only, saved as ``.npz`` (no pickle) plus JSON. Nothing here imports BentoML or torch, and nothing
runs at import time.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from scipy import sparse

from mining.contracts import SERVICE_INTENTS as LABELS
from mining.files import read_text
from mining.text import normalize

LANGS: tuple[str, ...] = ("zh", "en")
KB_COLUMNS: tuple[str, ...] = ("intent", "lang", "text", "request")
RankerKind = Literal["bm25", "tfidf"]
IndexedField = Literal["request", "text"]


@dataclass(frozen=True)
class ReplyEntry:
    """One knowledge-base reply."""

    intent: str  # one of LABELS, or "" for a reply that fits any intent
    lang: str  # zh or en
    text: str  # the reply, with {{Placeholder}} slots
    request: str = ""  # an example customer request it answers; may be empty


def check_entry(entry: ReplyEntry) -> str | None:
    """The first problem of an entry as ``"column: message"``, or None when it is valid."""
    if entry.intent and entry.intent not in LABELS:
        return f"intent: {entry.intent!r} is not one of the 13 labels (or empty for any)"
    if entry.lang not in LANGS:
        return f"lang: {entry.lang!r} is not zh or en"
    if not entry.text.strip():
        return "text: empty reply"
    return None


def load_kb(path: str | Path) -> list[ReplyEntry]:
    """Read a knowledge-base CSV (UTF-8, UTF-16 or GB18030: :func:`mining.files.read_text`; header
    ``intent,lang,text[,request]``), in file order.

    Raises:
        ValueError: a missing or unknown column, or a row with a bad value; the message names the
            row (1 = the first row after the header) and the column.
    """
    path = Path(path)
    with io.StringIO(read_text(path), newline="") as f:
        reader = csv.DictReader(f)
        header = list(reader.fieldnames or [])
        for col in ("intent", "lang", "text"):
            if col not in header:
                raise ValueError(f"{path}: column {col!r} is missing (columns: intent, lang, text, request)")
        unknown = [c for c in header if c not in KB_COLUMNS]
        if unknown:
            raise ValueError(f"{path}: column {unknown[0]!r} is not one of intent, lang, text, request")
        out = []
        for i, row in enumerate(reader, start=1):
            if None in row:
                raise ValueError(f"{path}: row {i}, column {header[-1]!r}: more fields than columns")
            intent, lang = (row["intent"] or "").strip(), (row["lang"] or "").strip()
            entry = ReplyEntry(intent, lang, row["text"] or "", row.get("request") or "")
            problem = check_entry(entry)
            if problem:
                column, message = problem.split(": ", 1)
                raise ValueError(f"{path}: row {i}, column {column!r}: {message}")
            out.append(entry)
    return out


def write_kb(path: str | Path, entries: Sequence[ReplyEntry]) -> None:
    """Write entries as a knowledge-base CSV that :func:`load_kb` reads back unchanged."""
    with Path(path).open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(KB_COLUMNS)
        for e in entries:
            writer.writerow([e.intent, e.lang, e.text, e.request])


# --- Placeholders ---------------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")  # a {{Name}} slot of a reply; group 1 the name
_NOT_KEY = re.compile(r"[^0-9a-z]+")

# Placeholder key (see slot_key) -> the value keys tried after the key itself, in order: slot types
# of the request (order_id, invoice_id, person_name, account_type, ...) and fields of the customer's
# history (delivery_state, item). Other placeholders ({{Website Name}}, {{Customer Support Phone
# Number}}) are the shop's own values, passed under their own key (website_name, ...).
_SLOT_GROUPS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("order_number", "order_id", "purchase_id", "purchase_number"), ("order_id",)),
    (("invoice_number", "invoice_id", "bill_number"), ("invoice_id",)),
    (("refund_amount", "amount"), ("amount", "refund_amount")),
    (("delivery_city", "city"), ("city", "delivery_city")),
    (("delivery_country", "country"), ("country", "delivery_country")),
    (("person_name", "name", "customer_name", "client_name", "name_field"), ("person_name",)),
    (("user",), ("user_name", "person_name")),
    (("account_type",), ("account_type",)),
    (("product", "product_name", "item"), ("item", "product")),
    # Not "Order Status": in Bitext's replies it names the website's page ("the {{Order Status}} section").
    (("delivery_state", "delivery_status", "shipping_status"), ("delivery_state",)),
    (("tracking_number", "tracking_id", "waybill_number"), ("tracking_id",)),
)
PLACEHOLDER_SLOTS: dict[str, tuple[str, ...]] = {key: values for keys, values in _SLOT_GROUPS for key in keys}


def slot_key(name: str) -> str:
    """The key a placeholder or value name is matched by: lower case, a trailing "anonymized"
    dropped, runs of other characters than a-z and 0-9 to ``_`` (``Order Number`` -> ``order_number``)."""
    key = _NOT_KEY.sub("_", name.strip().lower()).strip("_")
    return key.removesuffix("_anonymized")


def placeholders(text: str) -> list[str]:
    """The placeholder names of ``text`` (``{{Order Number}}`` -> ``Order Number``), each once, in
    order of first appearance."""
    return list(dict.fromkeys(m.group(1) for m in PLACEHOLDER.finditer(text)))


SHOP_COLUMNS: tuple[str, ...] = ("placeholder", "value", "lang")
# A shop value is a name, a number, an address or a link, not a text of its own.
_MAX_SHOP_VALUE = 500


@dataclass(frozen=True)
class ShopValues:
    """The shop's own placeholder values (``{{Website Name}}``, ``{{Customer Support Phone
    Number}}``): the same in every reply, unlike the customer's slots. Keys as :func:`slot_key` makes them."""

    any_lang: Mapping[str, str]  # rows with an empty lang
    by_lang: Mapping[str, Mapping[str, str]]  # zh / en -> rows of that language

    def for_lang(self, lang: str) -> dict[str, str]:
        """The values a reply in ``lang`` takes: that language's rows over the rows for any."""
        return {**self.any_lang, **self.by_lang.get(lang, {})}


NO_SHOP_VALUES = ShopValues({}, {})


def load_shop_values(path: str | Path) -> ShopValues:
    """Read the shop's placeholder values: a CSV (UTF-8) with header ``placeholder,value[,lang]``,
    one placeholder per row (``Website Name`` or ``{{Website Name}}``), ``lang`` ``zh``, ``en`` or
    empty for both.

    Raises:
        ValueError: a missing or unknown column, or a bad row, named by row (1 = the first after
            the header) and column: an empty placeholder or value, a value over 500 characters or
            holding ``{{``, an unknown language, a placeholder filled from the customer's message
            or events (``Order Number``: :data:`PLACEHOLDER_SLOTS`), or one given twice for a language.
    """
    path = Path(path)
    any_lang: dict[str, str] = {}
    by_lang: dict[str, dict[str, str]] = {lang: {} for lang in LANGS}
    first_row: dict[tuple[str, str], int] = {}
    with io.StringIO(read_text(path), newline="") as f:
        reader = csv.DictReader(f)
        header = list(reader.fieldnames or [])
        for col in ("placeholder", "value"):
            if col not in header:
                raise ValueError(f"{path}: column {col!r} is missing (columns: placeholder, value, lang)")
        unknown = [c for c in header if c not in SHOP_COLUMNS]
        if unknown:
            raise ValueError(f"{path}: column {unknown[0]!r} is not one of placeholder, value, lang")
        for i, row in enumerate(reader, start=1):

            def bad(column: str, message: str, row_no: int = i) -> ValueError:
                return ValueError(f"{path}: row {row_no}, column {column!r}: {message}")

            if None in row:
                raise bad(header[-1], "more fields than columns")
            name = (row["placeholder"] or "").strip().removeprefix("{{").removesuffix("}}").strip()
            value, lang = (row["value"] or "").strip(), (row.get("lang") or "").strip()
            key = slot_key(name)
            if not key:
                raise bad("placeholder", f"{row['placeholder']!r} names no placeholder")
            if key in PLACEHOLDER_SLOTS:
                raise bad(
                    "placeholder",
                    f"{name!r} is filled from each customer's message or events, not a shop value "
                    f"(slots: {', '.join(PLACEHOLDER_SLOTS[key])})",
                )
            if not value:
                raise bad("value", "empty (leave the row out to keep the placeholder for the agent)")
            if len(value) > _MAX_SHOP_VALUE or "{{" in value:
                raise bad("value", f"at most {_MAX_SHOP_VALUE} characters and no '{{{{': got {value[:40]!r}")
            if lang and lang not in LANGS:
                raise bad("lang", f"{lang!r} is not zh, en or empty (both)")
            if (key, lang) in first_row:
                raise bad(
                    "placeholder", f"{name!r} is given twice for lang {lang or 'any'!r} (row {first_row[key, lang]})"
                )
            first_row[key, lang] = i
            (by_lang[lang] if lang else any_lang)[key] = value
    return ShopValues(any_lang, by_lang)


_LOWER_WORDS = re.compile(r"[a-z][a-z' -]*")


def fill(text: str, values: Mapping[str, str]) -> tuple[str, list[str]]:
    """Fill the ``{{Name}}`` placeholders of ``text`` from ``values``.

    A placeholder takes the value whose :func:`slot_key` equals its own key, else the first of
    :data:`PLACEHOLDER_SLOTS` [its key] present (``{{Order Number}}`` <- ``order_number`` or
    ``order_id``). Empty values count as absent. Values are inserted as given, except that a
    value of lower-case words (an item the customer named: ``jacket``) opening the text or a
    sentence gets a capital (``Jacket is in stock``); a value with a digit or a capital (an order
    number) is never changed.

    Returns:
        (the text with the filled placeholders replaced and the others left as they were, the
        names of the unfilled placeholders, each once, in order of appearance).
    """
    by_key = {slot_key(k): v for k, v in values.items() if v}
    missing: list[str] = []

    def one(m: re.Match[str]) -> str:
        key = slot_key(m.group(1))
        for k in (key, *PLACEHOLDER_SLOTS.get(key, ())):
            if k in by_key:
                value = by_key[k]
                before = text[: m.start()].rstrip(" \t")
                opens = not before.strip() or before[-1] in ".!?\n"
                return value[0].upper() + value[1:] if opens and _LOWER_WORDS.fullmatch(value) else value
        if m.group(1) not in missing:
            missing.append(m.group(1))
        return m.group(0)

    return PLACEHOLDER.sub(one, text), missing


def intent_group(entry_intent: str, intent: str | None) -> int:
    """Where a reply written for ``entry_intent`` ("" for any) stands for a message of ``intent``:
    0 its intent (every reply where ``intent`` is None), 1 any intent, 2 another intent."""
    return 0 if intent is None or entry_intent == intent else 1 if not entry_intent else 2


def facts_first(
    ranked: Sequence[tuple[ReplyEntry, float]], intent: str | None, values: Mapping[str, str]
) -> list[tuple[ReplyEntry, float]]:
    """``ranked`` (best first, grouped as :meth:`ReplyIndex.best` groups them for ``intent``) with,
    inside each group, the replies that put more of the customer's own ``values`` (the message's
    slots and the user's events, not the shop's) into their placeholders first; equal counts keep
    the ranker's order. A reply that states the order's state from the events
    (``目前{{Delivery State}}``) is worth more to that customer than one for another situation that
    merely shares more words with the message."""

    def used(entry: ReplyEntry) -> int:
        return len(placeholders(entry.text)) - len(fill(entry.text, values)[1])

    order = sorted(
        range(len(ranked)), key=lambda i: (intent_group(ranked[i][0].intent, intent), -used(ranked[i][0]), i)
    )
    return [ranked[i] for i in order]


# --- Tokens and rankers ---------------------------------------------------------------------------

_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def tokens(text: str) -> list[str]:
    """Index terms of a text after :func:`mining.text.normalize` and lower-casing: every Chinese
    character and every pair of adjacent ones (unigrams and bigrams, no word segmenter needed),
    and the words of the rest (letter and digit runs, ``don't`` whole)."""
    text = normalize(text).lower()
    out: list[str] = []
    for run in _CJK_RUN.findall(text):
        out.extend(run)
        out.extend(run[i : i + 2] for i in range(len(run) - 1))
    out.extend(_WORD.findall(_CJK_RUN.sub(" ", text)))
    return out


class Ranker:
    """A bag-of-tokens ranker fitted on documents: ``fit(docs)``, then ``scores(query)``, one score
    per fitted document. ``doc_matrix`` weighs other documents with the fitted statistics, so new
    texts can be scored as ``doc_matrix(texts) @ query_vector(query)``."""

    kind: ClassVar[str] = ""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self.idf = np.zeros(0)
        self.matrix = sparse.csr_matrix((0, 0))

    def _counts(self, docs: Sequence[str]) -> tuple[sparse.csr_matrix, np.ndarray]:
        """(term counts of the known terms, (n_docs, n_terms); lengths in tokens, all terms counted)."""
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        lengths = np.zeros(len(docs))
        for i, doc in enumerate(docs):
            toks = tokens(doc)
            lengths[i] = len(toks)
            for t, c in Counter(toks).items():
                j = self.vocab.get(t)
                if j is not None:
                    rows.append(i)
                    cols.append(j)
                    vals.append(float(c))
        shape = (len(docs), len(self.vocab))
        counts = sparse.csr_matrix((vals, (rows, cols)), shape=shape, dtype=np.float64)
        counts.sort_indices()
        return counts, lengths

    def fit(self, docs: Sequence[str]) -> Ranker:
        """Learn the vocabulary and term statistics of ``docs`` and weigh them; returns self."""
        self.vocab = {t: i for i, t in enumerate(sorted({t for d in docs for t in tokens(d)}))}
        counts, lengths = self._counts(docs)
        df = np.bincount(counts.indices, minlength=len(self.vocab)).astype(np.float64)
        self._fit_stats(len(docs), df, lengths)
        self.matrix = self._weigh(counts, lengths)
        return self

    def doc_matrix(self, docs: Sequence[str]) -> sparse.csr_matrix:
        """Term weights of ``docs`` under the fitted statistics, (len(docs), n_terms)."""
        return self._weigh(*self._counts(docs))

    def scores(self, query: str) -> np.ndarray:
        """Scores of the fitted documents for ``query``, (n_docs,) float64."""
        return np.asarray(self.matrix @ self.query_vector(query), dtype=np.float64).ravel()

    def unit_scores(self, query: str) -> np.ndarray:
        """:meth:`scores` mapped into [0, 1], same order, (n_docs,)."""
        raise NotImplementedError

    def query_vector(self, query: str) -> np.ndarray:
        """The query's weights over the vocabulary, (n_terms,) float64."""
        raise NotImplementedError

    def _fit_stats(self, n_docs: int, df: np.ndarray, lengths: np.ndarray) -> None:
        raise NotImplementedError

    def _weigh(self, counts: sparse.csr_matrix, lengths: np.ndarray) -> sparse.csr_matrix:
        raise NotImplementedError

    def _params(self) -> dict[str, Any]:
        return {}

    def _set_params(self, params: Mapping[str, Any]) -> None:
        return None

    def _known(self, query: str) -> Counter[int]:
        return Counter(self.vocab[t] for t in tokens(query) if t in self.vocab)

    def save(self, stem: str | Path) -> None:
        """Write ``<stem>.npz`` (the weighted documents and idf, no pickle) and ``<stem>.json``
        (kind, parameters, vocabulary in id order)."""
        m = self.matrix.tocsr()
        np.savez(f"{stem}.npz", data=m.data, indices=m.indices, indptr=m.indptr, shape=np.array(m.shape), idf=self.idf)
        vocab = sorted(self.vocab, key=self.vocab.__getitem__)
        meta = {"kind": self.kind, "params": self._params(), "vocab": vocab}
        Path(f"{stem}.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")


class Bm25Ranker(Ranker):
    """Okapi BM25: score(q, d) = sum over the distinct known terms t of q of
    idf(t) * tf(t, d) * (k1 + 1) / (tf(t, d) + k1 * (1 - b + b * |d| / avgdl)), with
    idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5)), the variant that is never negative;
    |d| counts all of the document's tokens, avgdl is the mean over the fitted documents."""

    kind = "bm25"

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        super().__init__()
        self.k1, self.b, self.avgdl = k1, b, 1.0

    def _fit_stats(self, n_docs: int, df: np.ndarray, lengths: np.ndarray) -> None:
        self.idf = np.log1p((n_docs - df + 0.5) / (df + 0.5))
        self.avgdl = float(lengths.mean()) if len(lengths) and lengths.mean() > 0 else 1.0

    def _weigh(self, counts: sparse.csr_matrix, lengths: np.ndarray) -> sparse.csr_matrix:
        norm = self.k1 * (1 - self.b + self.b * lengths / self.avgdl)
        out = counts.copy()
        row_norm = np.repeat(norm, np.diff(out.indptr))
        out.data = out.data * (self.k1 + 1) / (out.data + row_norm)
        return out

    def query_vector(self, query: str) -> np.ndarray:
        q = np.zeros(len(self.vocab))
        ids = list(self._known(query))
        q[ids] = self.idf[ids]
        return q

    def unit_scores(self, query: str) -> np.ndarray:
        """BM25 divided by its bound for this query, sum of idf(t) * (k1 + 1) over the query's
        distinct known terms (a term's weight stays below idf * (k1 + 1)): 1 is out of reach, 0 means
        no shared term; the order of :meth:`scores` is kept."""
        bound = float(self.query_vector(query).sum()) * (self.k1 + 1)
        s = self.scores(query)
        return s / bound if bound > 0 else s

    def _params(self) -> dict[str, Any]:
        return {"k1": self.k1, "b": self.b, "avgdl": self.avgdl}

    def _set_params(self, params: Mapping[str, Any]) -> None:
        self.k1, self.b, self.avgdl = float(params["k1"]), float(params["b"]), float(params["avgdl"])


class TfidfRanker(Ranker):
    """TF-IDF cosine: weight (1 + ln tf) * idf, idf(t) = ln((1 + N) / (1 + df(t))) + 1, documents
    and query scaled to unit length, so a score is a cosine in [0, 1]."""

    kind = "tfidf"

    def _fit_stats(self, n_docs: int, df: np.ndarray, lengths: np.ndarray) -> None:
        self.idf = np.log((1 + n_docs) / (1 + df)) + 1

    def _weigh(self, counts: sparse.csr_matrix, lengths: np.ndarray) -> sparse.csr_matrix:
        out = counts.copy()
        out.data = (1 + np.log(out.data)) * self.idf[out.indices]
        norms = np.sqrt(np.asarray(out.multiply(out).sum(axis=1)).ravel())
        out.data = out.data / np.repeat(np.where(norms > 0, norms, 1.0), np.diff(out.indptr))
        return out

    def query_vector(self, query: str) -> np.ndarray:
        q = np.zeros(len(self.vocab))
        for j, c in self._known(query).items():
            q[j] = (1 + math.log(c)) * self.idf[j]
        norm = float(np.linalg.norm(q))
        return q / norm if norm > 0 else q

    def unit_scores(self, query: str) -> np.ndarray:
        """The cosines themselves, clipped to [0, 1] against rounding."""
        return np.clip(self.scores(query), 0.0, 1.0)


RANKERS: dict[str, type[Ranker]] = {"bm25": Bm25Ranker, "tfidf": TfidfRanker}


def make_ranker(kind: RankerKind) -> Ranker:
    """An unfitted ranker of ``kind`` with its default parameters (BM25: k1 1.2, b 0.75)."""
    if kind not in RANKERS:
        raise ValueError(f"unknown ranker {kind!r}; choose one of {sorted(RANKERS)}")
    return RANKERS[kind]()


def load_ranker(stem: str | Path) -> Ranker:
    """Read a ranker written by :meth:`Ranker.save` (``<stem>.npz`` and ``<stem>.json``)."""
    meta = json.loads(Path(f"{stem}.json").read_text(encoding="utf-8"))
    ranker = RANKERS[meta["kind"]]()
    ranker._set_params(meta["params"])
    ranker.vocab = {t: i for i, t in enumerate(meta["vocab"])}
    with np.load(f"{stem}.npz", allow_pickle=False) as z:
        ranker.idf = z["idf"]
        ranker.matrix = sparse.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
    return ranker


def _check_intent(intent: str | None) -> None:
    if intent is not None and intent not in LABELS:
        raise ValueError(f"unknown intent {intent!r}; choose one of {list(LABELS)}")


# --- The index ------------------------------------------------------------------------------------


class ReplyIndex:
    """Knowledge-base entries and, per language, a ranker over each entry's ``request`` (its
    ``text`` where the request is empty)."""

    def __init__(self, entries: Sequence[ReplyEntry], rankers: Mapping[str, Ranker]) -> None:
        self.entries = list(entries)
        self.ids = {lang: [i for i, e in enumerate(self.entries) if e.lang == lang] for lang in LANGS}
        self.rankers = dict(rankers)
        for lang, ids in self.ids.items():
            ranker = self.rankers.get(lang)
            if ids and (ranker is None or ranker.matrix.shape[0] != len(ids)):
                raise ValueError(f"the {lang} ranker does not hold the {len(ids)} {lang} entries")

    @classmethod
    def build(
        cls, entries: Sequence[ReplyEntry], kind: RankerKind = "bm25", on: IndexedField = "request"
    ) -> ReplyIndex:
        """Fit one ranker of ``kind`` per language present, on its entries' example requests (a
        reply text where the request is empty) or, with ``on="text"``, on the reply texts."""
        for i, e in enumerate(entries):
            problem = check_entry(e)
            if problem:
                raise ValueError(f"entry {i}: {problem}")
        rankers = {}
        for lang in LANGS:
            docs = [(e.request if on == "request" else "") or e.text for e in entries if e.lang == lang]
            if docs:
                rankers[lang] = make_ranker(kind).fit(docs)
        return cls(entries, rankers)

    def top_k(self, query: str, lang: str, intent: str | None = None, k: int = 5) -> list[tuple[ReplyEntry, float]]:
        """The ``k`` best entries of language ``lang`` for ``query``, best first.

        With ``intent``, entries of that intent come first, then entries for any intent (empty),
        then the others, each group by score (a reply written for the request's intent before a
        generic one that merely shares its words); without it, all by score; equal scores keep file
        order. Entries of another language never come back.

        Returns:
            up to ``k`` (entry, score) pairs; the score is the ranker's unit score in [0, 1] (TF-IDF:
            cosine; BM25: BM25 over its bound for the query), 0 where the entry shares no term.
        """
        ids = self.ids.get(lang, [])
        if k <= 0 or not ids:
            _check_intent(intent)
            return []
        best = self.best(self.rankers[lang].unit_scores(query), lang, intent, k)
        return [(self.entries[i], score) for i, score in best]

    def best(self, s: np.ndarray, lang: str, intent: str | None, k: int) -> list[tuple[int, float]]:
        """The ``k`` best entries of language ``lang`` by the scores ``s`` ((n entries of ``lang``,),
        in file order), ordered as :meth:`top_k` orders them; each as (index in ``entries``, score)."""
        _check_intent(intent)
        ids = self.ids.get(lang, [])
        if len(s) != len(ids):
            raise ValueError(f"{len(s)} scores for the {len(ids)} {lang} entries")
        if k <= 0 or not ids:
            return []
        group = np.array([intent_group(self.entries[i].intent, intent) for i in ids], dtype=np.int64)
        order = np.lexsort((np.arange(len(ids)), -s, group))[:k]
        return [(ids[j], float(s[j])) for j in order]

    def save(self, folder: str | Path) -> None:
        """Write ``entries.json`` and ``ranker-<lang>.npz`` / ``.json`` per language into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        rows = [asdict(e) for e in self.entries]
        (folder / "entries.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
        for lang, ranker in self.rankers.items():
            ranker.save(folder / f"ranker-{lang}")

    @classmethod
    def load(cls, folder: str | Path) -> ReplyIndex:
        """Read an index written by :meth:`save`; entries are checked as :func:`load_kb` checks them."""
        folder = Path(folder)
        entries = [ReplyEntry(**row) for row in json.loads((folder / "entries.json").read_text(encoding="utf-8"))]
        for i, e in enumerate(entries):
            problem = check_entry(e)
            if problem:
                raise ValueError(f"{folder / 'entries.json'}: entry {i}: {problem}")
        rankers = {
            lang: load_ranker(folder / f"ranker-{lang}") for lang in LANGS if (folder / f"ranker-{lang}.json").exists()
        }
        return cls(entries, rankers)
