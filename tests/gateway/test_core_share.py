"""Intra-op threads per model call: all cores when alone in the service, the share otherwise."""

from __future__ import annotations

import threading
from pathlib import Path

import torch

from gateway.threads import CoreShare


def test_lone_call_gets_every_core_and_company_the_share(tmp_path: Path) -> None:
    board = tmp_path / "cores"
    first, second = CoreShare(1, 4, worker=0, board=board), CoreShare(1, 4, worker=1, board=board)
    before = torch.get_num_threads()
    try:
        with first.call() as n:
            assert n == 4 and torch.get_num_threads() == 4
        with second.call(), first.call() as n:  # another worker is busy: this one keeps to its share
            assert n == 1 and torch.get_num_threads() == 1
        with first.call(), first.call() as n:  # two calls in one worker
            assert n == 1
        with first.call() as n:  # everyone idle again
            assert n == 4
        assert not first.others_busy() and not second.others_busy()
    finally:
        torch.set_num_threads(before)
        first.close()
        second.close()
    assert not board.exists()


def test_a_call_joining_a_lone_one_gets_the_share(tmp_path: Path) -> None:
    # torch's thread count belongs to the calling thread: each call sets its own.
    share = CoreShare(1, 2, board=tmp_path / "cores")
    started, release = threading.Event(), threading.Event()
    seen: list[int] = []

    def lone() -> None:
        with share.call() as n:
            seen.append(n)
            seen.append(torch.get_num_threads())
            started.set()
            release.wait(5)

    t = threading.Thread(target=lone)
    t.start()
    before = torch.get_num_threads()
    try:
        started.wait(5)
        with share.call() as n:
            assert n == 1 and torch.get_num_threads() == 1
    finally:
        release.set()
        t.join()
        torch.set_num_threads(before)
        share.close()
    assert seen == [2, 2]


def test_without_lone_threads_nothing_changes(tmp_path: Path) -> None:
    share = CoreShare(2, 0, board=tmp_path / "cores")
    assert share.map is None and not (tmp_path / "cores").exists()  # no board needed
    before = torch.get_num_threads()
    try:
        with share.call() as n:
            assert n == 2
    finally:
        torch.set_num_threads(before)


def test_a_gone_services_board_is_swept_and_a_running_ones_kept(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from gateway.threads import BOARD_PREFIX, sweep_boards

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale, live = tmp_path / f"{BOARD_PREFIX}{gone.pid}.cores", tmp_path / f"{BOARD_PREFIX}{os.getpid()}.cores"
    other = tmp_path / f"{BOARD_PREFIX}notes.cores"  # not a process id: not ours to judge
    for path in (stale, live, other):
        path.write_bytes(b"\0" * 8)
    assert sweep_boards(tmp_path) == [stale]
    assert not stale.exists() and live.exists() and other.exists()
