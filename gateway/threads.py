"""Intra-op threads per model call: every core for a call that is the only model work of the
whole service, one share of the cores otherwise.

Why: each colocated gateway worker runs its models on ``cores / workers`` threads, which is what
serves most under load (two single-threaded batches on 2 cores beat one batch on two threads).
But a lone request then leaves the other cores idle, and is slower than a plain single-process
server running the same model on every core (docs/benchmarks.md#inference-cost-per-text). A call
that finds no other model call running, in its own worker or any other, uses ``lone_threads``; as
soon as anything else runs, calls go back to their share. Torch's intra-op thread count belongs to
the thread that sets it (each batch runs on its own executor thread), so a call that started alone
keeps its threads until it ends; the calls that join it run on the share.

The workers of one service see each other's busy state through a small memory-mapped file (one
byte per worker: its running model calls), named after the process that started them.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from mining.upgrades import left_by_gone_processes

SLOTS = 256  # workers one service can have on the map; more share the last byte
BOARD_PREFIX = "demand-mining-"  # + the id of the process that started the workers + ".cores"


def sweep_boards(folder: Path) -> list[Path]:
    """Remove the busy maps in ``folder`` whose service process is gone; returns those removed.
    Why: a service stopped without its shutdown hook (SIGKILL) leaves its map behind."""
    removed = []
    for path in left_by_gone_processes(folder, BOARD_PREFIX, ".cores"):
        with contextlib.suppress(OSError):  # another worker swept it first
            path.unlink()
            removed.append(path)
    return removed


class CoreShare:
    """Chooses the intra-op threads of each model call (see the module docstring).

    Args:
        base: threads of a call with company (the worker's share of the cores).
        lone: threads of a call alone in the service (0 or <= base: never more than ``base``).
        worker: this worker's index among the service's workers (0-based).
        board: the shared busy map file; None: only this process is looked at.
    """

    def __init__(self, base: int, lone: int, worker: int = 0, board: Path | None = None) -> None:
        self.base, self.lone = max(1, base), max(base, lone)
        self.worker = min(max(worker, 0), SLOTS - 1)
        self.lock = threading.Lock()
        self.active = 0
        self.map: mmap.mmap | None = None
        self.board = board
        if board is not None and self.lone > self.base:
            fd = os.open(board, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                if os.fstat(fd).st_size < SLOTS:
                    os.ftruncate(fd, SLOTS)
                self.map = mmap.mmap(fd, SLOTS)
            finally:
                os.close(fd)
            self.map[self.worker] = 0

    @classmethod
    def for_service(cls, base: int, lone: int) -> CoreShare:
        """The share of this gateway worker: its BentoML worker index, and a board named after
        the parent process (the one that started every worker of the service)."""
        worker = 0
        try:
            from bentoml import server_context

            worker = max(0, int(server_context.worker_index or 1) - 1)
        except (ImportError, AttributeError, TypeError, ValueError):
            pass
        folder = Path(tempfile.gettempdir())
        sweep_boards(folder)
        return cls(base, lone, worker, folder / f"{BOARD_PREFIX}{os.getppid()}.cores")

    def others_busy(self) -> bool:
        """True when another worker of the service runs a model call now."""
        if self.map is None:
            return False
        return any(b for i, b in enumerate(self.map[:SLOTS]) if i != self.worker)

    def threads(self) -> int:
        """Threads for a call starting now (this call already counted in ``active``)."""
        if self.lone > self.base and self.active == 1 and not self.others_busy():
            return self.lone
        return self.base

    @contextlib.contextmanager
    def call(self) -> Iterator[int]:
        """Around one model call: counts it, sets torch's threads, yields the count chosen."""
        import torch

        with self.lock:
            self.active += 1
            if self.map is not None:
                self.map[self.worker] = min(self.active, 255)
            n = self.threads()
            if torch.get_num_threads() != n:
                torch.set_num_threads(n)
        try:
            yield n
        finally:
            with self.lock:
                self.active -= 1
                if self.map is not None:
                    self.map[self.worker] = min(self.active, 255)

    def close(self) -> None:
        """Unmap the board and remove it (best effort: another worker may have done so)."""
        if self.map is not None:
            self.map.close()
            self.map = None
            if self.board is not None:
                with contextlib.suppress(OSError):
                    self.board.unlink()
