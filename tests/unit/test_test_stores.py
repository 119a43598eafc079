"""The test run's store is named after its process and a killed run's store is swept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.stores import PREFIX, make_store, sweep_stale_stores


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_store_named_after_this_process(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    assert store.is_dir() and store.name.startswith(f"{PREFIX}{os.getpid()}-")


def test_sweep_removes_only_a_gone_runs_store(tmp_path: Path) -> None:
    dead = tmp_path / f"{PREFIX}{_dead_pid()}-abc"
    (dead / "models").mkdir(parents=True)
    (dead / "models" / "weights.safetensors").write_bytes(b"x" * 10)
    live = make_store(tmp_path)
    own_dead = tmp_path / f"{PREFIX}{_dead_pid()}-own"
    own_dead.mkdir()
    older = tmp_path / f"{PREFIX}q1w2e3"  # no process id: not ours to judge
    older.mkdir()
    other = tmp_path / "pytest-of-root"
    other.mkdir()

    removed = sweep_stale_stores(tmp_path, keep=own_dead)

    assert removed == [dead]
    assert not dead.exists()
    assert live.is_dir() and own_dead.is_dir() and older.is_dir() and other.is_dir()
