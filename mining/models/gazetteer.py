"""A gazetteer served as an NER model: the table a trained tagger must beat on validation."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from mining.models.tags import Offsets, Scheme, Span, char_tokens, spans_to_tags, word_tokens


class DictionaryNerModel:
    """A gazetteer as an NER artifact: token sequences mapped to an entity type, matched
    longest-first, left to right, every match scored 1. Served in place of a trained tagger that
    did not beat it on validation, through the same ``tokenize`` / ``tag_tokens`` calls."""

    kind = "dictionary"

    def __init__(self, entries: dict[tuple[str, ...], str], lang: str, max_len: int = 12) -> None:
        self.entries, self.lang, self.max_len = entries, lang, max_len
        types = sorted(set(entries.values()))
        self.tags = ["O", *(f"{p}-{t}" for t in types for p in "BI")]
        self.scheme: Scheme = "BIO"

    def tokenize(self, text: str) -> tuple[list[str], Offsets]:
        return char_tokens(text) if self.lang == "zh" else word_tokens(text)

    def match(self, tokens: Sequence[str]) -> list[Span]:
        """Spans (type, start, end) found in ``tokens``, non-overlapping, longest match first."""
        spans: list[Span] = []
        i = 0
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

    def tag_tokens(
        self, sequences: Sequence[Sequence[str]], batch_size: int = 0
    ) -> list[tuple[list[str], list[float]]]:
        """Per sequence of n tokens: n BIO tags and n probabilities (1.0: a table match is certain
        to the table); ``batch_size`` is unused, kept for the taggers' call signature."""
        return [(spans_to_tags(self.match(seq), len(seq), "BIO"), [1.0] * len(seq)) for seq in sequences]

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        spec = {"kind": self.kind, "lang": self.lang, "max_len": self.max_len}
        (path / "model.json").write_text(json.dumps(spec, ensure_ascii=False, indent=1))
        rows = [[list(tokens), etype] for tokens, etype in sorted(self.entries.items())]
        (path / "entries.json").write_text(json.dumps(rows, ensure_ascii=False))

    @classmethod
    def load(cls, path: Path, spec: dict[str, Any], device: torch.device | None = None) -> DictionaryNerModel:
        rows = json.loads((path / "entries.json").read_text())
        return cls({tuple(tokens): str(etype) for tokens, etype in rows}, spec["lang"], int(spec["max_len"]))
