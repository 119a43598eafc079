"""Write ``loadtests/payloads.json``: request payloads sampled from the real data sets, so load
tests and benchmarks send what the models were built for (reviews, catalogue titles, MovieLens
users and items, orange-juice series) without reading any data themselves.

    python -m bench.payloads            # needs the data step (python -m training.data)
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
import pandas as pd

from training import data
from training.forecasting import load_panel

OUT = Path(__file__).resolve().parents[1] / "loadtests" / "payloads.json"


def build(seed: int = 7, n_texts: int = 200, n_users: int = 200, n_series: int = 20) -> dict:
    """Payload pools: ``reviews_zh``/``reviews_en`` (review texts), ``titles`` (catalogue titles),
    ``users`` (MovieLens user ids) with ``items`` (their item ids, for events), ``series``
    (forecast inputs: 30 weeks of history with gaps as null, 6 planned weeks)."""
    rng = random.Random(seed)
    reviews = pd.read_csv(data.reviews_table())
    # Short and long reviews alike, as they arrive; capped to the API's 2000 characters.
    pick = {
        lang: rng.sample(sorted(t[:2000] for t in reviews[reviews.lang == lang].text), n_texts) for lang in ("zh", "en")
    }
    titles = rng.sample(sorted(pd.read_csv(data.catalogue_table()).text.unique()), min(n_texts, 300))
    inter = pd.read_csv(data.interactions_table(), dtype={"user_id": str, "item_id": str})
    users = rng.sample(sorted(inter.user_id.unique()), n_users)
    items = rng.sample(sorted(inter.item_id.unique()), 300)
    sales = pd.read_csv(data.sales_table())
    covs = ["price", "deal", "feature", "rel_price"]
    series = []
    for sid in rng.sample(sorted(sales.series_id.unique()), n_series):
        panel = load_panel(sales[sales.series_id == sid], covs)
        units, c = panel.units[0], panel.covs[0]
        hist, fut = slice(len(units) - 36, len(units) - 6), slice(len(units) - 6, len(units))
        series.append(
            {
                "series_id": str(sid),
                "units": [None if np.isnan(u) else float(u) for u in units[hist]],
                "covariates": {n: [round(float(x), 4) for x in c[hist, k]] for k, n in enumerate(covs)},
                "horizon": 6,
                "future_covariates": {n: [round(float(x), 4) for x in c[fut, k]] for k, n in enumerate(covs)},
            }
        )
    return {
        "reviews_zh": pick["zh"],
        "reviews_en": pick["en"],
        "titles": titles,
        "users": users,
        "items": items,
        "series": series,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    args.out.write_text(json.dumps(build(), ensure_ascii=False, indent=0) + "\n")
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
