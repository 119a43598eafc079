"""Test-wide setup: an isolated BentoML store and data cache, no telemetry, opt-in slow tests."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres import Cluster, start_cluster
from tests.support.stores import make_store, sweep_stale_stores

# Before anything imports bentoml: every test run gets its own model store. The data cache stays
# shared (DEMAND_MINING_DATA_DIR or the default) so real data is fetched once per machine. The
# store holds encoder weights (over a GB after a full run), so it goes when the run ends; its name
# carries the run's process id so that a run killed before its end is swept by the next one.
OWN_STORE: Path | None = None
if "BENTOML_HOME" not in os.environ:
    OWN_STORE = make_store()
    os.environ["BENTOML_HOME"] = str(OWN_STORE)
os.environ["BENTOML_DO_NOT_TRACK"] = "true"

FIXTURES = Path(__file__).parent / "fixtures"


def pytest_configure(config: pytest.Config) -> None:
    sweep_stale_stores(Path(tempfile.gettempdir()), keep=OWN_STORE)


def pytest_unconfigure(config: pytest.Config) -> None:
    # After every fixture's teardown, so no server started by a test still reads the store.
    if OWN_STORE is not None:
        shutil.rmtree(OWN_STORE, ignore_errors=True)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="run tests marked slow (full training)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: full training; run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """A PostgreSQL server of the test session's own (see :mod:`tests.support.postgres`). Where no
    server binary is installed the tests that need one fail, saying how to install it."""
    try:
        cluster = start_cluster()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    yield cluster
    cluster.destroy()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty event store on each backend: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "events.sqlite3")
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    return cluster.database()
