"""/sentiment on a real server: results, consistency with the stored models, batching, bad input."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bentoml
import httpx
import numpy as np
import pytest

from gateway.schemas import MAX_TEXT_CHARS, MAX_TEXTS
from mining.artifacts import quantize
from mining.models.linear import model_reads
from mining.models.textclf import Abstention, load_artifact
from tests.integration.conftest import answered_by, assert_label_or_unsure, threshold_of

pytestmark = pytest.mark.integration

TEXTS = [
    "质量很好，物流也快，下次还来买",
    "The coffee arrived stale and the bag was torn.",
    "太差了，用了两天就坏了",
    "Best snack I have had in years, my kids love it",
]


def post(url: str, body: object = None, content: bytes | None = None) -> httpx.Response:
    if content is not None:
        return httpx.post(f"{url}/sentiment", content=content, headers={"content-type": "application/json"}, timeout=60)
    return httpx.post(f"{url}/sentiment", json=body, timeout=60)


def test_results_per_text_in_order(server: str, trained_models: dict[str, str]) -> None:
    r = post(server, {"texts": TEXTS})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["lang"] for x in results] == ["zh", "en", "zh", "en"]
    for x in results:
        assert set(x["probabilities"]) == {"negative", "positive"}
        assert sum(x["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        top = max(x["probabilities"], key=x["probabilities"].get)
        assert x["score"] == pytest.approx(x["probabilities"][top])
        assert x["model"] == answered_by(trained_models[f"sentiment-{x['lang']}"])
        # The top label exactly where the calibrated probability reaches the threshold stored with
        # the model; null under it, with a reason naming the probability, the label and the threshold.
        assert_label_or_unsure(x, threshold_of(trained_models[f"sentiment-{x['lang']}"]))


# Reviews no reader would misjudge, a positive and a negative one per language. The session's small
# models must answer them (not abstain) with their label.
CLEAR = [
    ("质量很好，物流也快，下次还来买", "zh", "positive"),
    ("太差劲了，质量很差，不会再买了", "zh", "negative"),
    ("Love it! The best coffee I have ever had.", "en", "positive"),
    ("The tea tasted stale and bitter. Very disappointed, I would not buy it again.", "en", "negative"),
]


def test_clear_reviews_get_their_label(server: str) -> None:
    results = post(server, {"texts": [text for text, _, _ in CLEAR]}).json()["results"]
    got = [(x["lang"], x["label"], x["reason"]) for x in results]
    assert got == [(lang, label, None) for _, lang, label in CLEAR], [x["probabilities"] for x in results]


def test_served_probabilities_match_the_stored_model(server: str, trained_models: dict[str, str]) -> None:
    results = post(server, {"texts": TEXTS}).json()["results"]
    for lang, idx in (("zh", [0, 2]), ("en", [1, 3])):
        stored = bentoml.models.get(trained_models[f"sentiment-{lang}"])
        # Served as the training chose and recorded: int8 where it held the test accuracy.
        mode = dict(stored.info.metadata).get("quantization", {}).get("mode", "none")
        model = quantize(load_artifact(Path(stored.path)), mode)
        # Served probabilities are the model's, at the temperature fitted on validation (metadata).
        expected = Abstention.from_metadata(stored.info.metadata).apply(model.predict_proba([TEXTS[i] for i in idx]))
        served = np.array([[results[i]["probabilities"][name] for name in model.labels] for i in idx])
        # int8 quantises activations with one scale per batch, and the served batch is padded
        # otherwise (the shared bottom runs per text from its cache): close, not equal, there.
        np.testing.assert_allclose(served, expected, atol=0.02 if mode == "int8" else 1e-4)


def test_a_text_the_model_cannot_read_gets_no_label(server: str, trained_models: dict[str, str]) -> None:
    # Emoji alone go to the English model (no CJK); whether it reads them is its vocabulary's
    # business (MiniLM's holds none, the multilingual encoder's most): the answer follows the model.
    stored = bentoml.models.get(trained_models["sentiment-en"])
    model = load_artifact(Path(stored.path))
    texts = ["😡😡😡", "👎"]
    for body in ({"texts": texts}, {"texts": [*texts, TEXTS[1]]}):  # alone and beside a text it reads
        r = post(server, body)
        assert r.status_code == 200, r.text
        for x, reads in zip(r.json()["results"], model_reads(model, texts)):
            assert x["lang"] == "en"
            if not reads:
                assert x["label"] is None and x["probabilities"] == {}, x
                assert (
                    x["reason"]
                    == "the sentiment model knows none of the text's words or symbols: they are not in its vocabulary"
                )
            else:
                assert set(x["probabilities"]) == {"negative", "positive"}


def test_single_string_is_a_list_of_one(server: str) -> None:
    r = post(server, {"texts": TEXTS[1]})
    assert r.status_code == 200 and len(r.json()["results"]) == 1


def test_concurrent_requests_are_batched_without_mixing(server: str) -> None:
    singles = {t: post(server, {"texts": [t]}).json()["results"][0] for t in TEXTS}
    jobs = [TEXTS[i % len(TEXTS)] for i in range(48)]
    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(lambda t: post(server, {"texts": [t]}), jobs))
    assert all(r.status_code == 200 for r in responses)
    # int8 models scale activations per batch, so a score moves a little with its companions (and a
    # label at the boundary or the abstention threshold may flip); another text's answer differs more.
    for text, r in zip(jobs, responses):
        got = r.json()["results"][0]
        assert got["score"] == pytest.approx(singles[text]["score"], abs=0.02)
        if got["score"] == pytest.approx(singles[text]["score"], abs=1e-4):  # same scores, same label
            assert got["label"] == singles[text]["label"]


def test_full_list_at_the_limit_is_served(server: str) -> None:
    r = post(server, {"texts": ["good"] * MAX_TEXTS})
    assert r.status_code == 200 and len(r.json()["results"]) == MAX_TEXTS


BAD_INPUTS = [
    ("malformed JSON", None, b'{"texts": ["a",', "Invalid JSON"),
    ("not JSON at all", None, b"hello", "Invalid JSON"),
    ("missing field", {}, None, "texts: Field required"),
    ("empty list", {"texts": []}, None, "texts: Value should have at least 1 item"),
    (
        "empty text",
        {"texts": ["   "]},
        None,
        "texts[0]: Value error, text is blank; expected at least 1 non-space character",
    ),
    ("wrong type", {"texts": [1]}, None, "texts[0]: Input should be a valid string (got 1)"),
    ("null", {"texts": None}, None, "texts: Input should be a valid array (got null)"),
    (
        "text over the limit",
        {"texts": ["x" * (MAX_TEXT_CHARS + 1)]},
        None,
        f"texts[0]: String should have at most {MAX_TEXT_CHARS} characters (got a string of {MAX_TEXT_CHARS + 1} characters)",
    ),
    (
        "list over the limit",
        {"texts": ["ok"] * (MAX_TEXTS + 1)},
        None,
        f"texts: Value should have at most {MAX_TEXTS} items",
    ),
]


@pytest.mark.parametrize(("case", "body", "raw", "message"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_a_400_naming_the_field_and_what_arrived(
    server: str, case: str, body: object, raw: bytes | None, message: str
) -> None:
    r = post(server, body, raw)
    assert r.status_code == 400, r.text
    payload = r.json()
    assert message in payload["error"], payload
    assert isinstance(payload["detail"], list)


def test_a_lone_surrogate_is_invalid_json_and_nothing_is_said_to_have_arrived(server: str) -> None:
    """The server's JSON parser refuses a lone UTF-16 surrogate escape that Python's json module
    reads: the refusal names the body and the rule, and claims no value arrived."""
    r = post(server, None, b'{"texts": ["\\ud800abc"]}')
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "body: Invalid JSON: unexpected end of hex escape at line 1 column 19", r.text
