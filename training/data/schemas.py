"""The documented table schemas (columns, types, defaults, allowed values) and the reader that
checks a user's table against one."""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mining.files import read_text


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str
    meaning: str
    # An optional column may be left out of a user's file; it is then filled with ``default``.
    default: str | None = None


@dataclass(frozen=True)
class TableSchema:
    """A documented table: the contract between the data step, users' own files and training."""

    name: str
    columns: tuple[Column, ...]
    description: str

    def validate(self, df: pd.DataFrame, source: str) -> pd.DataFrame:
        """Return ``df`` with the schema's columns in order and types coerced; raise ``ValueError``
        naming the missing columns, or the rows with empty values."""
        df = df.copy()
        for c in self.columns:
            if c.default is not None and c.name not in df.columns:
                df[c.name] = c.default
        missing = [c.name for c in self.columns if c.name not in df.columns]
        if missing:
            raise ValueError(
                f"{source}: table '{self.name}' needs columns {[c.name for c in self.columns]}; "
                f"missing {missing}, found {list(df.columns)}"
            )
        df = df[[c.name for c in self.columns]].copy()
        for c in self.columns:
            if c.dtype in ("str", "lang", "label"):
                if c.default is not None:  # optional: empty values take the default
                    df[c.name] = df[c.name].fillna(c.default).astype(str)
                else:
                    df[c.name] = df[c.name].astype("string")
                    bad = df[c.name].isna() | (df[c.name].str.strip() == "")
                    if bad.any():
                        rows = [int(i) + 1 for i in df.index[bad][:5]]
                        raise ValueError(
                            f"{source}: column '{c.name}' is empty in {int(bad.sum())} rows, e.g. data rows {rows} "
                            "(1 = the first row under the header)"
                        )
                    df[c.name] = df[c.name].astype(str)
                if c.dtype == "lang":
                    df[c.name] = _language(df[c.name])
                if c.dtype == "label":
                    df[c.name] = _one_spelling(df[c.name], f"{source}: column '{c.name}'")
            else:
                values = pd.to_numeric(df[c.name], errors="coerce")
                if c.dtype == "time" and values.isna().all():
                    values = _unix_seconds(df[c.name])
                bad = values.isna() | ~np.isfinite(values)
                if bad.any():
                    rows = [int(i) + 1 for i in df.index[bad][:5]]
                    raise ValueError(
                        f"{source}: column '{c.name}' needs numbers; {int(bad.sum())} rows are empty or "
                        f"not numeric, e.g. data rows {rows} (1 = the first under the header): "
                        f"{df[c.name][bad].head(3).tolist()}"
                    )
                if c.dtype in ("int", "time") and (values != values.round()).any():
                    raise ValueError(f"{source}: column '{c.name}' needs whole numbers")
                df[c.name] = values.astype("float64" if c.dtype == "float" else "int64")
        return df.reset_index(drop=True)


REVIEWS = TableSchema(
    name="reviews",
    description="Labelled customer reviews for sentiment training.",
    columns=(
        Column("text", "str", "the review as the customer wrote it (any length; models truncate)"),
        Column(
            "label",
            "label",
            "sentiment class, e.g. 'positive' / 'negative'; any set of >= 2 classes (spaces around it dropped; "
            "spellings that differ only in case are one class)",
        ),
        Column(
            "lang", "lang", "'zh' or 'en' (zh-CN, en-US... read as their language): which language model the row trains"
        ),
        Column("source", "str", "optional: where the row comes from; test accuracy is reported per source", "own"),
    ),
)


LABELLED_TEXTS = TableSchema(
    name="labelled_texts",
    description="Texts with one class each: product titles with their category, customer messages "
    "with their intent, or any other (text, label) pairs for the general classifier.",
    columns=(
        Column("text", "str", "the text to classify (title, query, message)"),
        Column(
            "label",
            "label",
            "its class; any set of >= 2 classes (spaces around it dropped; spellings that differ only in case are one "
            "class)",
        ),
        Column("lang", "lang", "optional: 'zh' or 'en', the language model the row trains (empty: detected)", ""),
    ),
)


def _one_spelling(values: pd.Series, where: str) -> pd.Series:
    """Class labels without surrounding spaces, and labels that differ only in case written as the
    most frequent of their spellings (the first seen on a tie): spreadsheets leave `positive ` and
    `Positive` beside `positive`, which would otherwise train as classes of their own. Says on
    stderr which spellings were joined."""
    values = values.str.strip()
    counts = values.value_counts(sort=False)
    spelling: dict[str, str] = {}
    for label, n in counts.items():
        key = str(label).casefold()
        if key not in spelling or n > counts[spelling[key]]:
            spelling[key] = str(label)
    joined = {str(v): spelling[str(v).casefold()] for v in counts.index if spelling[str(v).casefold()] != v}
    if joined:
        print(
            f"{where}: labels that differ only in case read as one: "
            + ", ".join(f"{k!r} -> {v!r}" for k, v in sorted(joined.items())),
            file=sys.stderr,
        )
    return values.map(lambda v: spelling[v.casefold()])


def _language(values: pd.Series) -> pd.Series:
    """Language tags as their language: zh-CN, ZH, zh_TW -> zh; en-US -> en."""
    return values.str.strip().str.lower().str.split(r"[-_]", regex=True).str[0]


def _unix_seconds(values: pd.Series) -> pd.Series:
    """Date-times (``2024-05-01T10:00:00``, ``2024-05-01 10:00:00+08:00``, ``2024-05-01``) as Unix
    seconds, a time without a zone read as UTC; NaN where a value is none."""
    times = pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
    seconds = (times - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    return seconds.astype("float64")


def read_frame(path: str | Path, as_text: bool = True) -> pd.DataFrame:
    """A CSV (header row; UTF-8, UTF-16 or GB18030: :func:`read_text`), TSV or Parquet file as a frame;
    with ``as_text`` every CSV cell is a string and an empty cell is ``""``."""
    path = Path(path)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix not in (".csv", ".tsv"):
        raise ValueError(f"{path}: expected a .csv, .tsv or .parquet file, got '{path.suffix}'")
    options: dict[str, Any] = {"dtype": str, "keep_default_na": False} if as_text else {}
    return pd.read_csv(io.StringIO(read_text(path)), sep="\t" if path.suffix == ".tsv" else ",", **options)


def read_table(path: str | Path, schema: TableSchema) -> pd.DataFrame:
    """Read a CSV / TSV (header row) or Parquet file (:func:`read_frame`) and validate it against
    ``schema``."""
    return schema.validate(read_frame(path), str(path))


INTERACTIONS = TableSchema(
    name="interactions",
    description="Implicit feedback: who interacted with what, how strongly, when. Fill it with clicks, "
    "add-to-carts and purchases (e.g. weight 1 / 3 / 5), or ratings.",
    columns=(
        Column("user_id", "str", "the user's id in your system (any string)"),
        Column("item_id", "str", "the item's id in your system (any string)"),
        Column("weight", "float", "optional: interaction strength, > 0 (default 1); repeated pairs are summed", "1"),
        Column("ts", "time", "Unix time in seconds, or an ISO date-time (a time without a zone is UTC)"),
    ),
)


ITEMS = TableSchema(
    name="items",
    description="What each item is: read with the recall and sequence models, so answers can name an "
    "item's categories and recommendations can follow what a user asked for (a category, a brand, a keyword).",
    columns=(
        Column("item_id", "str", "the item's id, as in the interactions table"),
        Column("title", "str", "its name as shown to customers"),
        Column("category", "str", "one or more categories, separated by '|' (e.g. 'Phones|Android')"),
        Column("brand", "str", "optional: the brand", ""),
        Column(
            "attributes", "str", "optional: 'key=value' pairs separated by ';' (e.g. 'color=black;storage=256GB')", ""
        ),
    ),
)


SALES = TableSchema(
    name="sales",
    description="Units sold per series (e.g. store x product) and period, with covariates known in "
    "advance (price, promotion). Periods are consecutive integers (weeks); a period with no row is "
    "missing, never zero sales.",
    columns=(
        Column("series_id", "str", "one sales series, e.g. '<store>-<product>'"),
        Column("period", "int", "period index (e.g. week number); consecutive integers, gaps allowed"),
        Column("units", "float", "units sold in the period, >= 0"),
    ),
)
# Any further numeric columns of a sales table are covariates (known for future periods too).


ASPECTS = TableSchema(
    name="aspects",
    description="Texts with their aspect terms as character spans and the polarity expressed about each "
    '(JSON lines, one text per line: {"text", "lang", "domain", "split", "aspects": '
    '[{"start", "end", "polarity"}]}; start/end are Python string offsets, end exclusive).',
    columns=(
        Column("text", "str", "the sentence as written"),
        Column("lang", "str", "'zh' or 'en'"),
        Column("domain", "str", "where it comes from, e.g. laptop, phone; metrics are reported per domain"),
        Column("split", "str", "'train' or 'test' (validation is carved out of train)"),
        Column("aspects", "str", "list of {start, end, polarity}; polarity positive, negative or neutral"),
    ),
)
# archive member -> (lang, domain, split)


POLARITY_VALUES = ("positive", "negative", "neutral")
