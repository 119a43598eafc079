"""A benchmark that starts servers stops them, and every process they started, however it ends:
return, exception, SIGINT, SIGTERM, SIGHUP. Fake servers stand in for ``bentoml serve``: each
starts a child in a session of its own, as BentoML does with its workers, so signalling the
server's process group alone would leave that child running."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]

# A fake server: starts a sleeper in a new session, writes its pid, sleeps; "stubborn" ignores SIGTERM.
FAKE = """
import os, signal, subprocess, sys, time
if sys.argv[2] == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(child.pid))
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(60)
"""

# The benchmark: two fake servers in a ServerGroup, then it returns, raises or waits for a signal.
PROGRAM = """
import json, os, signal, sys, time
from pathlib import Path
from bench.servers import ServerGroup

signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, whatever the test runner ignores
out, mode, fake = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
with ServerGroup(grace_s=0.5 if mode == "stubborn" else 5.0) as servers:
    started = [
        servers.start([sys.executable, "-c", fake, str(out / f"child-{k}"), mode], log=out / f"server-{k}.log")
        for k in range(2)
    ]
    files = [out / f"child-{k}" for k in range(2)]
    while not all(f.exists() for f in files):
        time.sleep(0.01)
    pids = {"servers": [s.proc.pid for s in started], "children": [int(f.read_text()) for f in files]}
    (out / "pids.tmp").write_text(json.dumps(pids))
    os.replace(out / "pids.tmp", out / "pids.json")
    deadline = time.monotonic() + 60
    while not (out / "go").exists() and time.monotonic() < deadline:  # the test's cue, after it has seen them all
        time.sleep(0.01)
    if mode == "raise":
        raise RuntimeError("the benchmark failed")
"""


def _gone(p: psutil.Process) -> bool:
    try:
        return not p.is_running() or p.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def started() -> Iterator[list[psutil.Process]]:
    """What a case starts; killed afterwards, so a failing case leaves nothing running either."""
    procs: list[psutil.Process] = []
    yield procs
    for p in procs:
        if not _gone(p):
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()  # psutil refuses a pid that now belongs to another process


def _start(
    tmp_path: Path, mode: str, started: list[psutil.Process]
) -> tuple[subprocess.Popen[bytes], list[psutil.Process]]:
    """Start the program in ``mode``; returns it and its four processes (2 servers, then their 2
    children), all running."""
    with open(tmp_path / "program.err", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", PROGRAM, str(tmp_path), mode, FAKE],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    started.append(psutil.Process(proc.pid))
    deadline = time.monotonic() + 20
    while not (tmp_path / "pids.json").exists():
        assert proc.poll() is None, (tmp_path / "program.err").read_text()
        assert time.monotonic() < deadline, "the fake servers did not come up in 20 s"
        time.sleep(0.02)
    pids = json.loads((tmp_path / "pids.json").read_text())
    procs = [psutil.Process(pid) for pid in pids["servers"] + pids["children"]]
    started.extend(procs)
    assert len(procs) == 4 and not any(_gone(p) for p in procs)
    # every server leads a session of its own, and its child another: signalling the server's group misses the child
    sids = [os.getsid(p.pid) for p in procs]
    assert sids[:2] == pids["servers"] and sids[2:] == pids["children"]
    return proc, procs


def _wait(proc: subprocess.Popen[bytes], procs: list[psutil.Process], within_s: float) -> int:
    """The program's exit status once it has exited and all of ``procs`` are gone, within ``within_s``."""
    deadline = time.monotonic() + within_s
    code = proc.wait(timeout=within_s)
    while not all(_gone(p) for p in procs) and time.monotonic() < deadline:
        time.sleep(0.02)
    left = [p.pid for p in procs if not _gone(p)]
    assert not left, f"still running after the program exited: {left}"
    return code


@pytest.mark.parametrize(
    ("sig", "expected"),
    [(signal.SIGTERM, 128 + signal.SIGTERM), (signal.SIGHUP, 128 + signal.SIGHUP), (signal.SIGINT, -signal.SIGINT)],
)
def test_a_signal_stops_every_process_the_benchmark_started(
    tmp_path: Path, started: list[psutil.Process], sig: int, expected: int
) -> None:
    proc, procs = _start(tmp_path, "wait", started)
    proc.send_signal(sig)
    assert _wait(proc, procs, within_s=8) == expected, (tmp_path / "program.err").read_text()


def test_an_exception_stops_every_process(tmp_path: Path, started: list[psutil.Process]) -> None:
    proc, procs = _start(tmp_path, "raise", started)
    (tmp_path / "go").touch()
    assert _wait(proc, procs, within_s=8) == 1
    assert "RuntimeError: the benchmark failed" in (tmp_path / "program.err").read_text()


def test_a_return_stops_every_process(tmp_path: Path, started: list[psutil.Process]) -> None:
    proc, procs = _start(tmp_path, "return", started)
    (tmp_path / "go").touch()
    assert _wait(proc, procs, within_s=8) == 0


def test_a_server_that_ignores_sigterm_is_killed_after_the_grace(
    tmp_path: Path,
    started: list[psutil.Process],
) -> None:
    proc, procs = _start(tmp_path, "stubborn", started)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert _wait(proc, procs, within_s=8) == 128 + signal.SIGTERM
    assert time.monotonic() - t0 >= 0.5  # it waited the grace before SIGKILL
