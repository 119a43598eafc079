"""File formats read and written by the data step: CoNLL token/tag columns, ABSA ATEPC lines, and
the aspects table's JSON lines."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from mining.files import read_text
from training.data.schemas import POLARITY_VALUES
from training.data.sources import partial_path

# --- NER tables ----------------------------------------------------------------------------------
# NER data is a CoNLL-style file: one "token<TAB>tag" per line, a blank line between sentences,
# tags in BIO or BMES (detected from the tags). Chinese tokens are single characters. Users'
# own NER data uses the same format.
Sentence = tuple[list[str], list[str]]  # (tokens, tags), equal lengths


def read_conll(path: str | Path) -> list[Sentence]:
    """Sentences of a CoNLL file (``token<TAB or space>tag`` lines, blank lines between sentences).

    Raises ``ValueError`` naming the line that has no tag.
    """
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    for n, line in enumerate(read_text(path).split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip():
            if tokens:
                sentences.append((tokens, tags))
            tokens, tags = [], []
            continue
        token, sep, tag = line.rpartition("\t") if "\t" in line else line.rpartition(" ")
        if not sep or not token or not tag.strip():
            raise ValueError(f"{path}:{n}: expected 'token<TAB>tag', got {line!r}")
        tokens.append(token)
        tags.append(tag.strip())
    if tokens:
        sentences.append((tokens, tags))
    return sentences


def write_conll(sentences: list[Sentence], out: Path) -> Path:
    """Write sentences as ``token<TAB>tag`` lines (atomically: a partial file never has the name)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(out)
    with open(tmp, "w", encoding="utf-8") as f:
        for tokens, tags in sentences:
            for tok, tag in zip(tokens, tags):
                if "\t" in tok or "\n" in tok or not tok.strip():
                    raise ValueError(f"token {tok!r} is empty or holds a tab/newline; cannot be written as CoNLL")
                f.write(f"{tok}\t{tag}\n")
            f.write("\n")
    os.replace(tmp, out)
    return out


_NO_SPACE_BEFORE = re.compile(r"^(?:[,.!?;:%)\]}]+|'s|'re|'ve|'ll|'d|'m|n't|')$", re.IGNORECASE)


def detokenize(tokens: Sequence[str], lang: str) -> tuple[str, list[tuple[int, int]]]:
    """Text and per-token ``(start, end)`` offsets from tokens: Chinese characters join directly;
    English words join with spaces, except before closing punctuation and clitics ("n't", "'s")."""
    text, offsets = "", []
    for k, tok in enumerate(tokens):
        if lang == "en" and k and not _NO_SPACE_BEFORE.match(tok) and tokens[k - 1] not in ("(", "[", "$"):
            text += " "
        offsets.append((len(text), len(text) + len(tok)))
        text += tok
    return text, offsets


def parse_atepc(lines: Iterable[str], lang: str) -> list[tuple[str, list[dict[str, Any]]]]:
    """Sentences of the archive's ``token BIO-ASP polarity`` format, as (text, aspects).

    The format repeats a sentence once per aspect, each copy marking one aspect; consecutive
    copies of the same tokens merge into one sentence holding every aspect (an aspect marked twice
    is kept once). Aspects are character spans into the text, polarity lower-cased; a copy's other
    aspects tagged without a polarity (-100) are left to their own copies.
    """
    blocks: list[list[list[str]]] = [[]]
    for line in lines:
        parts = line.rstrip("\n").split(" ")
        if len(parts) < 3 or not parts[0]:
            if blocks[-1]:
                blocks.append([])
            continue
        blocks[-1].append(parts[:3])
    merged: list[tuple[list[str], list[tuple[int, int, str]]]] = []
    for block in (b for b in blocks if b):
        tokens = [t for t, _, _ in block]
        spans, start = [], None
        for k, (_, tag, _) in enumerate(block + [["", "O", "-100"]]):
            if start is not None and not tag.startswith("I-"):
                spans.append((start, k, block[start][2].lower()))
                start = None
            if tag.startswith("B-"):
                start = k
        # A copy marks its own aspect with a polarity; other aspects of the sentence may be tagged
        # in it too, with polarity -100: those come with their own copy.
        spans = [sp for sp in spans if sp[2] != "-100"]
        if merged and merged[-1][0] == tokens:
            merged[-1][1].extend(sp for sp in spans if sp not in merged[-1][1])
        else:
            merged.append((tokens, list(spans)))
    out = []
    for tokens, spans in merged:
        text, offsets = detokenize(tokens, lang)
        aspects = [
            {"start": offsets[s][0], "end": offsets[e - 1][1], "polarity": pol} for s, e, pol in sorted(set(spans))
        ]
        out.append((text, aspects))
    return out


def read_aspects(path: Path | str) -> list[dict[str, Any]]:
    """Rows of an ``aspects`` table (:data:`ASPECTS`), checked: raises ``ValueError`` naming the
    line and the rule it breaks (spans inside the text, start < end, a known polarity, lang zh/en,
    split train/test; a missing split or domain defaults to train / ``own``)."""
    import json

    rows = []
    for n, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{n}: not a JSON object ({e.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not row["text"]:
            raise ValueError(f"{path}:{n}: needs a non-empty string 'text'")
        # Tags as other tables take them: zh-CN, ZH and " Positive" read as zh and positive.
        for key in ("lang", "split"):
            if isinstance(row.get(key), str):
                row[key] = re.split(r"[-_]", row[key].strip().lower())[0] if key == "lang" else row[key].strip().lower()
        listed = row.get("aspects")
        for a in listed if isinstance(listed, list) else []:
            if isinstance(a, dict) and isinstance(a.get("polarity"), str):
                a["polarity"] = a["polarity"].strip().lower()
        if row.get("lang") not in ("zh", "en"):
            raise ValueError(f"{path}:{n}: 'lang' must be 'zh' or 'en', got {row.get('lang')!r}")
        row.setdefault("split", "train")
        row.setdefault("domain", "own")
        if row["split"] not in ("train", "test"):
            raise ValueError(f"{path}:{n}: 'split' must be 'train' or 'test', got {row['split']!r}")
        aspects = row.get("aspects")
        if not isinstance(aspects, list):
            raise ValueError(f"{path}:{n}: 'aspects' must be a list of {{start, end, polarity}}")
        for a in aspects:
            ok = isinstance(a, dict) and isinstance(a.get("start"), int) and isinstance(a.get("end"), int)
            if not ok or not 0 <= a["start"] < a["end"] <= len(row["text"]):
                raise ValueError(f"{path}:{n}: aspect {a!r} is not a span 0 <= start < end <= {len(row['text'])}")
            if a.get("polarity") not in POLARITY_VALUES:
                raise ValueError(f"{path}:{n}: polarity must be one of {POLARITY_VALUES}, got {a.get('polarity')!r}")
        rows.append(row)
    if not rows:
        raise ValueError(f"{path}: no rows")
    return rows


def aspect_sentences(rows: Iterable[dict[str, Any]]) -> list[Sentence]:
    """Aspect rows as tagged sentences for the sequence labellers: the tokens the served models
    read (characters for zh, words for en; :mod:`mining.models.ner`) with BIO tags of type ASP.
    An aspect span that does not fall on token boundaries is dropped; of overlapping aspects the
    longer is kept."""
    from mining.models.ner import char_tokens, spans_to_tags, word_tokens

    out: list[Sentence] = []
    for row in rows:
        tokens, offsets = (char_tokens if row["lang"] == "zh" else word_tokens)(row["text"])
        starts = {s: i for i, (s, _) in enumerate(offsets)}
        ends = {e: i for i, (_, e) in enumerate(offsets)}
        spans = [
            ("ASP", starts[a["start"]], ends[a["end"]] + 1)
            for a in row["aspects"]
            if a["start"] in starts and a["end"] in ends
        ]
        keep = [k for k, t in enumerate(tokens) if t.strip()]  # CoNLL has no space token
        index = {k: n for n, k in enumerate(keep)}
        spans = [(t, index[s], index[e - 1] + 1) for t, s, e in spans if s in index and e - 1 in index]
        # A few sentences mark overlapping aspects (彩屏视角 and 视角): the longer one is kept.
        kept: list[tuple[str, int, int]] = []
        for span in sorted(set(spans), key=lambda sp: (sp[1] - sp[2], sp[1])):
            if all(span[2] <= k[1] or span[1] >= k[2] for k in kept):
                kept.append(span)
        spans = sorted(kept, key=lambda sp: sp[1])
        out.append(([tokens[k] for k in keep], spans_to_tags(spans, len(keep), "BIO")))
    return out
