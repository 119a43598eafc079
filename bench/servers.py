"""Servers a benchmark starts, stopped with every process they started, however the benchmark ends.

    with ServerGroup() as servers:
        server = servers.start(cmd, log=log_dir / "serve.log", ready_url=f"{url}/readyz")
        ...  # measure
    # here the server and all its descendants are gone: after a return, an exception, Ctrl-C
    # (KeyboardInterrupt), SIGTERM or SIGHUP

Inside the ``with`` block SIGTERM and SIGHUP raise :class:`SystemExit` (exit status 128 + the
signal's number), so ``finally`` blocks and the group's exit run; the previous handlers are back
afterwards. ``bentoml serve`` starts its workers in sessions of their own, so signalling the
server's process group alone would leave them running: the group also kills every descendant of a
server it has seen, once the server itself has stopped or its grace has run out.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import psutil

CAUGHT = (signal.SIGTERM, signal.SIGHUP)
STOP_GRACE_S = 30.0  # a server's time to stop on SIGTERM before it and its descendants get SIGKILL
POLL_S = 0.05


class Server:
    """One started process, leader of its own session and process group.

    ``proc`` is the process, ``log`` the file its stdout and stderr go to, ``ready_s`` the seconds
    from start to its first ready answer (NaN until :meth:`wait_ready` returns)."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.proc, self.log = proc, log
        self.t0 = time.perf_counter()
        self.ready_s = math.nan
        self._seen: set[psutil.Process] = set()

    def descendants(self) -> list[psutil.Process]:
        """Every process below this one seen so far, looked up again now if it still runs: a
        descendant seen once is remembered, so it can be stopped after the server has exited and
        it has been reparented."""
        if self.proc.poll() is None:  # not reaped yet, so the pid is still this process's
            with contextlib.suppress(psutil.NoSuchProcess):
                self._seen.update(psutil.Process(self.proc.pid).children(recursive=True))
        return list(self._seen)

    def wait_ready(self, url: str, timeout_s: float = 300.0) -> Server:
        """Poll ``url`` until it answers 200 (every 0.1 s, 2 s per request); raises RuntimeError
        with the log's tail if the process exits first or ``timeout_s`` passes."""
        import httpx

        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.proc.args!r} exited with {self.proc.returncode}:\n{self._tail()}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.perf_counter() - self.t0 > timeout_s:
                raise RuntimeError(f"not ready in {timeout_s:.0f} s:\n{self._tail()}")
            time.sleep(0.1)
        self.ready_s = time.perf_counter() - self.t0
        self.descendants()  # the workers are up now
        return self

    def _tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:]


class ServerGroup:
    """Starts processes and stops them, with all their descendants, when its ``with`` block ends.

    ``grace_s`` is how long stopping waits for the servers to exit on SIGTERM before SIGKILL; a
    second SIGINT, SIGTERM or SIGHUP during that wait cuts it short."""

    def __init__(self, grace_s: float = STOP_GRACE_S) -> None:
        self.grace_s = grace_s
        self.servers: list[Server] = []
        self._previous: dict[int, Any] = {}
        self._entered = False
        self._holding: str | None = None  # "start" or "stop" while a signal must not cut in
        self._pending: int | None = None
        self._hurry = False

    def __enter__(self) -> ServerGroup:
        if threading.current_thread() is threading.main_thread():
            for sig in CAUGHT:
                self._previous[sig] = signal.signal(sig, self._on_signal)
        self._entered = True
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            self.stop(*self.servers)
        finally:
            self._entered = False
            for sig, previous in self._previous.items():
                if previous is not None:  # None: set outside Python, cannot be put back
                    signal.signal(sig, previous)
            self._previous.clear()

    def start(
        self,
        cmd: Sequence[str],
        *,
        log: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        ready_url: str | None = None,
        ready_timeout_s: float = 300.0,
    ) -> Server:
        """Start ``cmd`` in a session of its own (environment: this one's plus ``env``; output to
        ``log``), record it, and wait until ``ready_url`` answers 200 when given."""
        if not self._entered:
            raise RuntimeError("ServerGroup.start outside its `with` block: nothing would stop the server")
        with self._held("start"), open(log, "wb") as out:
            proc = subprocess.Popen(
                list(cmd),
                cwd=cwd,
                env={**os.environ, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            server = Server(proc, log)
            self.servers.append(server)
        return server.wait_ready(ready_url, ready_timeout_s) if ready_url else server

    def stop(self, *servers: Server) -> None:
        """SIGTERM each server's process group, wait up to ``grace_s`` for the servers to exit, then
        SIGKILL the groups of those still running and every descendant of any of them still left."""
        if not servers:
            return
        self._hurry = False
        with self._held("stop"):
            for server in servers:
                server.descendants()  # before the servers exit and orphan them
            for server in servers:
                _signal_group(server.proc, signal.SIGTERM)
            deadline = time.monotonic() + self.grace_s
            while not self._hurry and time.monotonic() < deadline and any(s.proc.poll() is None for s in servers):
                time.sleep(POLL_S)
            for server in servers:
                if server.proc.poll() is None:
                    _signal_group(server.proc, signal.SIGKILL)
            left = [p for server in servers for p in server.descendants() if p.is_running()]
            for p in left:
                with contextlib.suppress(psutil.NoSuchProcess):
                    p.kill()
            _wait_gone(left, timeout_s=5.0)
            for server in servers:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    server.proc.wait(timeout=5)
            self.servers = [s for s in self.servers if s not in servers]

    @contextlib.contextmanager
    def _held(self, what: str) -> Iterator[None]:
        """Inside, SIGINT, SIGTERM and SIGHUP are recorded rather than raised (during a stop they cut
        the grace short), so no process is started unrecorded and no stop is cut off half way; the
        last one recorded is raised on the way out."""
        sigint = (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        )
        if sigint:
            signal.signal(signal.SIGINT, self._on_signal)
        self._holding, self._pending = what, None
        try:
            yield
        finally:
            self._holding = None
            if sigint:
                signal.signal(signal.SIGINT, signal.default_int_handler)
        pending, self._pending = self._pending, None
        if pending is not None:
            _raise_for(pending)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._holding is None:
            _raise_for(signum)
        self._pending = signum
        if self._holding == "stop":
            self._hurry = True


def _raise_for(signum: int) -> None:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


def _gone(p: psutil.Process) -> bool:
    """Exited; a zombie counts, as it holds no memory and its reaping is up to its parent."""
    try:
        return not p.is_running() or p.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_gone(procs: Sequence[psutil.Process], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not all(_gone(p) for p in procs) and time.monotonic() < deadline:
        time.sleep(POLL_S / 5)


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Signal ``proc``'s process group, unless ``proc`` has been reaped (its pid may be anyone's now)."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
