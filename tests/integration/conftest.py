"""A real ``bentoml serve`` on a free loopback port, over models trained for the session."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import FIXTURES
from training import train_classifier, train_demand, train_keywords, train_ner, train_recall, train_sentiment

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def trained_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Small but real models in the session's store: sentiment zh from scratch and en fine-tuned
    from the packaged MiniLM on the checked-in real-review fixture; the classifier on the real
    catalogue; NER on checked-in MSRA / WNUT-16 excerpts and on catalogue titles; keywords on the
    review fixture; ALS recall on MovieLens-100k with a two-trial search; the demand network on 20
    orange-juice series."""
    reports = tmp_path_factory.mktemp("reports")
    common = ["--data", str(FIXTURES / "reviews_tiny.csv"), "--report-dir", str(reports), "--threads", "1"]
    zh = train_sentiment.main(["--lang", "zh", "--epochs", "3", "--n-buckets", "8192", "--hidden", "32", *common])
    en = train_sentiment.main(["--lang", "en", "--epochs", "1", "--max-len", "64", *common])
    clf = train_classifier.main(["--n-splits", "1", "--epochs", "4", "--n-buckets", "8192", "--hidden", "32",
                                 "--report-dir", str(reports), "--threads", "1"])
    ner = ["--report-dir", str(reports), "--threads", "1", "--max-eval-samples", "40"]
    ner_zh = train_ner.main(["--data", str(FIXTURES / "ner_zh_tiny.conll"), "--lang", "zh", "--epochs", "3",
                             "--hidden", "32", "--bigram-buckets", "4096", *ner])
    ner_en = train_ner.main(["--data", str(FIXTURES / "ner_en_tiny.conll"), "--lang", "en", "--epochs", "1", *ner])
    products = train_ner.main(["--dataset", "products", "--max-train-samples", "120", "--epochs", "2", *ner])
    keywords = train_keywords.main(["--data", str(FIXTURES / "reviews_tiny.csv"), "--min-df", "1",
                                    "--report-dir", str(reports)])
    recall = train_recall.main(["--trials", "2", "--factors", "16", "--regularization", "10,40", "--alpha", "2",
                                "--iterations", "10", "--report-dir", str(reports)])
    demand = train_demand.main(["--max-train-samples", "20", "--origins", "12", "--epochs", "2", "--hidden", "16",
                                "--threads", "1", "--report-dir", str(reports)])
    return {"demand": demand["tag"], "recall": recall["tag"], "zh": zh["tag"], "en": en["tag"], "classification": clf["tag"], "ner-zh": ner_zh["tag"],
            "ner-en": ner_en["tag"], "ner-products-en": products["tag"], "keywords": keywords["tag"]}


@pytest.fixture(scope="session")
def server(trained_models: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "serve.log"
    env = {**os.environ, "BENTOML_DO_NOT_TRACK": "true", "TORCH_THREADS": "1"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bentoml", "serve", "service:DemandMining", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"bentoml serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"bentoml serve not ready in 180 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
