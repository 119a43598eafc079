"""The staged start on a real server: a head trained after the service started replaces the served
model only where it is better on validation, without a restart, and /readyz says what happened."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mining.upgrades import read_record, record_path
from tests.conftest import FIXTURES
from tests.integration.conftest import REPO, Server

pytestmark = pytest.mark.integration

# sentiment-zh on the checked-in reviews: a weak version (40 reviews, one epoch, no fallback to
# TF-IDF) and a strong one (the quick profile's 400 reviews, 3 epochs), both validated on the same rows.
DATA = ("--lang", "zh", "--data", str(FIXTURES / "reviews_tiny.csv"), "--n-buckets", "8192", "--hidden", "32",
        "--threads", "1")  # fmt: skip
WEAK = (*DATA, "--max-train-samples", "40", "--epochs", "1", "--no-baseline-fallback")
STRONG = (*DATA, "--max-train-samples", "400", "--epochs", "3")


def own_store(session_home: Path, home: Path) -> None:
    """A store of its own holding the session's models: files hard-linked (never written in
    place), each ``latest`` pointer a copy, since promoting a model rewrites it."""
    shutil.copytree(session_home / "models", home / "models", copy_function=os.link)
    for latest in (home / "models").glob("*/latest"):
        text = latest.read_text()
        latest.unlink()
        latest.write_text(text)


def run(home: Path, *cmd: str) -> None:
    env = {**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true"}
    subprocess.run([sys.executable, "-m", *cmd], cwd=REPO, env=env, check=True, timeout=600)


def upgrade(home: Path, reports: Path, flags: tuple[str, ...], *extra: str) -> None:
    """Stage 2 for sentiment-zh with ``flags`` as its candidate."""
    cmd = ("training.upgrade", "--only", "sentiment-zh", "--flags", " ".join(flags), "--report-dir", str(reports))
    run(home, *cmd, *extra)


def served_tag(url: str) -> str:
    r = httpx.post(f"{url}/sentiment", json={"texts": ["质量很好，物流也快"]}, timeout=60)
    assert r.status_code == 200, r.text
    return str(r.json()["results"][0]["model"]).split(" ")[0]


def wait_served(server: Server, tag: str) -> None:
    deadline = time.monotonic() + 60
    while served_tag(server.url) != tag:
        assert time.monotonic() < deadline, f"{tag} was not swapped in:\n{server.log.read_text()[-2000:]}"
        time.sleep(0.5)


def test_a_better_head_swaps_in_while_serving_and_a_worse_one_does_not(
    trained_models: dict[str, str], tmp_path: Path
) -> None:
    home, reports = tmp_path / "home", tmp_path / "reports"
    own_store(Path(os.environ["BENTOML_HOME"]), home)
    env = {
        "BENTOML_HOME": str(home),
        "DEMAND_MINING_MODEL_WATCH_SECONDS": "1",
        "DEMAND_MINING_EVENTS_DB": str(tmp_path / "events.sqlite3"),
        "DEMAND_MINING_WORKERS": "1",
    }
    server = Server(tmp_path / "serve.log", env)
    try:
        server.start()
        assert served_tag(server.url) == trained_models["sentiment-zh"]
        # A model retrained into the store while serving is picked up without a restart.
        run(home, "training.train_sentiment", *WEAK, "--report-dir", str(reports))
        weak = "sentiment-zh:" + (home / "models" / "sentiment-zh" / "latest").read_text().strip()
        wait_served(server, weak)

        upgrade(home, reports, STRONG)
        entry = read_record(record_path(home)).models["sentiment-zh"]
        assert entry.state == "swapped", entry
        assert entry.served == weak and entry.candidate not in ("", weak)
        assert entry.candidate_val is not None and entry.served_val is not None
        assert entry.candidate_val > entry.served_val
        wait_served(server, entry.candidate)
        staged = home / "staging" / "models" / "sentiment-zh"
        assert not (staged / entry.candidate.split(":")[1]).exists()  # promoted: moved, not copied
        ready = httpx.get(f"{server.url}/readyz", timeout=10)
        assert ready.status_code == 200
        assert ready.json()["upgrades"]["models"]["sentiment-zh"]["state"] == "swapped"
        assert ready.json()["upgrades"]["running"] is False

        upgrade(home, reports, WEAK, "--again")
        kept = read_record(record_path(home)).models["sentiment-zh"]
        assert kept.state == "kept", kept
        assert kept.served == entry.candidate and kept.candidate_val is not None and kept.served_val is not None
        assert kept.candidate_val <= kept.served_val
        time.sleep(3)  # three watch periods
        assert served_tag(server.url) == entry.candidate
        assert (staged / kept.candidate.split(":")[1]).is_dir()  # the loser stays out of the real store
        assert not (home / "models" / "sentiment-zh" / kept.candidate.split(":")[1]).exists()
    finally:
        server.stop()
