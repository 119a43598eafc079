"""A real ``bentoml serve`` on a free loopback port, over models trained for the session."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import pytest

from mining.registry import MODELS
from tests.conftest import FIXTURES
from training import data
from training.bootstrap import train
from training.forecasting import load_panel

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Models whose training data has a checked-in real excerpt train on it (seconds instead of a
# fetch and a subsample); every other flag is the registry's quick profile.
FIXTURE_DATA: dict[str, list[str]] = {
    "sentiment-zh": ["--data", str(FIXTURES / "reviews_tiny.csv")],
    "sentiment-en": ["--data", str(FIXTURES / "reviews_tiny.csv")],
    "ner-zh": ["--data", str(FIXTURES / "ner_zh_tiny.conll"), "--lang", "zh"],
    "ner-en": ["--data", str(FIXTURES / "ner_en_tiny.conll"), "--lang", "en"],
    "keywords": ["--data", str(FIXTURES / "reviews_tiny.csv")],
    "classification-zh": ["--data", str(FIXTURES / "categories_zh_tiny.csv"), "--lang", "zh"],
}


@pytest.fixture(scope="session")
def trained_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Store name -> tag of every registry model, trained small but real into the session's store
    with the registry's quick flags (the same models `python -m training.bootstrap --profile
    quick` trains), on the checked-in excerpts where :data:`FIXTURE_DATA` has one."""
    reports = tmp_path_factory.mktemp("reports")
    return {
        spec.name: train(spec, "quick", [*FIXTURE_DATA.get(spec.name, []), "--report-dir", str(reports)])["tag"]
        for spec in MODELS
    }


def _kill_all(processes: list[psutil.Process]) -> None:
    for p in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(processes, timeout=10)


class Server:
    """One ``bentoml serve`` process group on free loopback ports (HTTP and gRPC)."""

    def __init__(self, log: Path, env: dict[str, str] | None = None) -> None:
        self.port, self.grpc_port, self.log = free_port(), free_port(), log
        self.url, self.grpc_target = f"http://127.0.0.1:{self.port}", f"127.0.0.1:{self.grpc_port}"
        # Each server its own BENTOML_HOME over the session's model store: BentoML keeps Prometheus'
        # multiprocess files under the home and clears them when a server starts, so servers
        # sharing one home lose each other's /metrics.
        home = log.parent / f"bentoml-home-{self.port}"
        home.mkdir(parents=True, exist_ok=True)
        store = Path(os.environ["BENTOML_HOME"]) / "models"
        if not (home / "models").exists():
            (home / "models").symlink_to(store, target_is_directory=True)
        self.env = {
            **os.environ,
            "BENTOML_DO_NOT_TRACK": "true",
            "TORCH_THREADS": "1",
            "GRPC_HOST": "127.0.0.1",
            "GRPC_PORT": str(self.grpc_port),
            "BENTOML_HOME": str(home),
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 180) -> Server:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bentoml",
                    "serve",
                    "service:DemandMining",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                cwd=REPO,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"bentoml serve exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"bentoml serve not ready in {timeout} s:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.5)

    def _descendants(self) -> list[psutil.Process]:
        assert self.proc is not None
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def kill(self) -> None:
        """SIGKILL the server and every process it started: no shutdown hooks, no flushing. The
        workers run in sessions of their own, so killing the process group alone orphans them."""
        assert self.proc is not None
        workers = self._descendants()
        os.killpg(self.proc.pid, signal.SIGKILL)
        _kill_all(workers)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        workers = self._descendants()
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        _kill_all([w for w in workers if w.is_running()])  # none left behind after a clean stop


# The shop's own placeholder values the session's server fills its replies with.
SHOP_VALUES = {
    "Website Name": "shop.example.com",
    "Customer Support Phone Number": "400-800-1234",
    "Live Chat": "the chat button",
    "Customer Support Availability": "9:00-21:00",
}


@pytest.fixture(scope="session")
def served(trained_models: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The service over the session's models, with its own event store."""
    tmp = tmp_path_factory.mktemp("server")
    shop = tmp / "shop_values.csv"
    shop.write_text(
        "placeholder,value,lang\n" + "".join(f"{name},{value},\n" for name, value in SHOP_VALUES.items()),
        encoding="utf-8",
    )
    srv = Server(
        tmp / "serve.log",
        {"DEMAND_MINING_EVENTS_DB": str(tmp / "events.sqlite3"), "DEMAND_MINING_SHOP_VALUES": str(shop)},
    )
    try:
        yield srv.start()
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def server(served: Server) -> str:
    return served.url


@pytest.fixture(scope="session")
def series() -> dict:
    """The last 30 weeks of a real series as history (its gaps as null), the next 6 weeks' plans."""
    import pandas as pd

    df = pd.read_csv(data.sales_table())
    covs = ["price", "deal", "feature", "rel_price"]
    panel = load_panel(df[df.series_id == df.series_id.iloc[0]], covs)
    units, c = panel.units[0], panel.covs[0]
    hist = slice(len(units) - 36, len(units) - 6)
    fut = slice(len(units) - 6, len(units))
    return {
        "series_id": panel.series[0],
        "units": [None if np.isnan(u) else float(u) for u in units[hist]],
        "covariates": {n: c[hist, k].tolist() for k, n in enumerate(covs)},
        "horizon": 6,
        "future_covariates": {n: c[fut, k].tolist() for k, n in enumerate(covs)},
    }


def answered_by(tag: str) -> str:
    """The ``model`` field of a label result from store tag ``tag``: the tag, with the note its
    metadata adds where the TF-IDF baseline serves in place of the network."""
    import bentoml

    from mining.models.textclf import served_note

    note = served_note(dict(bentoml.models.get(tag).info.metadata))
    return f"{tag} (served: {note})" if note else tag


def named_with_fallback(model: str | None, tag: str) -> bool:
    """An answer's ``model`` is the stored ``tag``, alone where the network answers or with the
    baseline that replaced it in brackets (``sequence:abc (item_knn)``)."""
    return model == tag or ((model or "").startswith(f"{tag} (") and (model or "").endswith(")"))


def threshold_of(tag: str) -> float:
    """The abstention threshold stored with a model."""
    import bentoml

    from mining.models.textclf import Abstention

    return Abstention.from_metadata(bentoml.models.get(tag).info.metadata).threshold


def names_only_unseen_goods(text: str, tag: str) -> bool:
    """Whether ``text`` names goods and only kinds the category model ``tag`` never read of in
    training (its ``goods_seen`` metadata): the runner withholds its category then."""
    import bentoml

    from mining.models.textclf import unread_goods
    from mining.products import ProductTypes

    stored = bentoml.models.get(tag)
    seen = (stored.info.metadata.get("goods_seen") or {}).get("types")
    if seen is None:
        return False
    lang = str(stored.tag.name).rsplit("-", 1)[-1]
    return bool(unread_goods(text, ProductTypes.load(lang), frozenset(seen), lang))  # the runner's own rule


def assert_label_or_unsure(x: dict[str, Any], threshold: float, unseen_goods: bool = False) -> None:
    """A served result names its top category exactly where its score reaches ``threshold``
    (unless the text names only goods the model never read of, ``unseen_goods``: then null, and the
    reason names them); under it the label is null and the reason says why."""
    top = max(x["probabilities"], key=x["probabilities"].get)
    assert x["score"] == pytest.approx(x["probabilities"][top])
    if x["score"] >= threshold and unseen_goods:
        assert x["label"] is None and x["reason"].startswith("names "), x
    elif x["score"] >= threshold:
        assert (x["label"], x["reason"]) == (top, None)
    else:
        assert x["label"] is None
        assert x["reason"] == (
            f"not sure: top probability {x['score']:.2f} ({top}) is under the threshold {threshold:.2f} "
            "chosen on validation"
        )
