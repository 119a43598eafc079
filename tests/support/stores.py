"""The test run's own BentoML store: a temp folder named after the run's process, removed when the
run ends, and swept by a later run when the run that made it was killed first."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from mining.upgrades import left_by_gone_processes

PREFIX = "bentoml-test-"


def make_store(tmp: Path | None = None) -> Path:
    """A new empty store folder ``<tmp>/bentoml-test-<pid>-<random>``."""
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=tmp))


def sweep_stale_stores(tmp: Path, keep: Path | None = None) -> list[Path]:
    """Remove the stores under ``tmp`` whose run's process is gone; returns those removed. ``keep``,
    a name without a process id and a live id's store are left alone."""
    removed = [path for path in left_by_gone_processes(tmp, PREFIX) if path != keep]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed
