"""Do recommendations follow what a user asks for? On the built-in data (MovieLens-100k and its
genres as the items table), every user states one genre, as a search would; the served ALS model's
top 10 is compared before and after the lift for stated needs (:func:`mining.models.items.boost`,
over 30 candidates as the gateway asks for). For users who state nothing, the lift must leave
the list as it was, so their nDCG@10 cannot change: checked list by list for every user.

    python -m bench.demand_boost                       # recall:latest from the model store
    python -m bench.demand_boost --genres Comedy,Horror

Prints a table and one JSON line; writes ``reports/bench/demand_boost.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from mining.models.items import ItemCatalog, lift


def lifted(ranked: list[str], catalog: ItemCatalog, terms: list[str], n: int) -> list[str]:
    """The gateway's rule (:func:`mining.models.items.lift`), cut to the top ``n``."""
    values = {i: catalog.get(i)["categories"] for i in ranked if catalog.get(i)}  # type: ignore[index]
    out = lift(ranked, values, terms)
    return ranked[:n] if out is None else [i for i, _, _ in out][:n]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--model", default="recall:latest", help="recall model tag in the store")
    parser.add_argument("--genres", default="Drama,Comedy,Action,Thriller,Romance,Sci-Fi,Horror,Children's")
    parser.add_argument("--out", default="reports/bench/demand_boost.json")
    args = parser.parse_args(argv)
    import bentoml

    from mining.models.recall import RecallModel
    from training import data

    model = RecallModel.load(Path(bentoml.models.get(args.model).path))
    catalog = ItemCatalog.from_table(data.items_table())
    users = model.user_ids
    candidates = {u: [x["item_id"] for x in model.recommend(u, 30)["items"]] for u in users}
    plain = {u: c[:10] for u, c in candidates.items()}
    unchanged = all(lifted(candidates[u], catalog, [], 10) == plain[u] for u in users)
    rows = []
    for genre in args.genres.split(","):
        before = np.mean([sum(genre in catalog.get(i)["categories"] for i in plain[u]) for u in users])  # type: ignore[index]
        after_lists = {u: lifted(candidates[u], catalog, [genre.lower()], 10) for u in users}
        after = np.mean([sum(genre in catalog.get(i)["categories"] for i in after_lists[u]) for u in users])  # type: ignore[index]
        share = sum(genre in v["categories"] for v in catalog.items.values()) / len(catalog)
        rows.append({"genre": genre, "catalog_share": round(share, 3), "top10_before": round(float(before), 2),
                     "top10_after": round(float(after), 2)})  # fmt: skip
        print(f"{genre:>12}: {share:5.1%} of items | matching in top 10: {before:4.2f} -> {after:4.2f}", flush=True)
    result = {
        "model": str(bentoml.models.get(args.model).tag),
        "users": len(users),
        "genres": rows,
        "mean_before": round(float(np.mean([r["top10_before"] for r in rows])), 2),
        "mean_after": round(float(np.mean([r["top10_after"] for r in rows])), 2),
        "unchanged_without_demand": unchanged,
    }
    print(
        f"mean matching items in top 10: {result['mean_before']} -> {result['mean_after']}; "
        f"lists of users without stated needs unchanged: {unchanged}",
        flush=True,
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
