"""/keywords on a real server."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.integration


def test_keywords_per_text(server: str, trained_models: dict[str, str]) -> None:
    texts = ["手机电池续航太差了，电池发热也严重", "The grinder broke after a week; the grinder motor smells burnt."]
    r = httpx.post(f"{server}/keywords", json={"texts": texts, "top_k": 3}, timeout=60)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["lang"] for x in results] == ["zh", "en"]
    assert all(x["model"] == trained_models["keywords"] for x in results)
    assert all(1 <= len(x["keywords"]) <= 3 for x in results)
    assert "电池" in results[0]["keywords"][0]["keyword"]
    assert "grinder" in results[1]["keywords"][0]["keyword"]
    default = httpx.post(f"{server}/keywords", json={"texts": texts[1]}, timeout=60).json()["results"][0]
    assert len(default["keywords"]) > 3  # top_k defaults to 10


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"texts": ["ok"], "top_k": 0}, "top_k: Input should be greater than or equal to 1"),
        ({"texts": ["ok"], "top_k": 51}, "top_k: Input should be less than or equal to 50"),
        ({"texts": ["ok"], "top_k": "many"}, "top_k: Input should be a valid integer"),
        ({"texts": []}, "texts: Value should have at least 1 item"),
    ],
)
def test_bad_input(server: str, body: object, message: str) -> None:
    r = httpx.post(f"{server}/keywords", json=body, timeout=60)
    assert r.status_code == 400 and message in r.json()["error"], r.text
