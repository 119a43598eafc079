"""In-process adaptive batching for runners colocated with the gateway.

On a small CPU host the hop between the gateway process and a runner process costs more than most
of the models here take to run (docs/benchmarks.md#serving-layouts-and-knobs), and BentoML's
dispatcher batches only after that hop, so it cannot amortise it. Colocated runners are called in
the gateway worker instead, and this batcher merges the items of concurrent requests into one call
of the model.

Policy, and why:
- A batch starts as soon as the model is idle: nothing is held back to fill it. On a CPU a batch
  costs close to the sum of its items, so waiting for company only adds latency; under load the
  queue fills while the previous batch runs, and the next batch takes all of it. Because nothing is
  learned from past waits, a lone request after a burst runs at once (BentoML's dispatcher, by
  contrast, corks lone requests on the wait it learned in the burst: :mod:`runners.dispatch`).
- ``slots`` batches of one model run at once, each on its own thread (default 1). Two
  single-threaded batches of a transformer serve more texts than one batch on two intra-op
  threads, and a gateway worker that holds every connection can still use every core
  (docs/benchmarks.md#serving-layouts-and-knobs). Free slots share the queue equally.
- A batch takes whole requests up to ``max_batch_size`` items; a request larger than that is cut
  into chunks of ``max_batch_size``, so one huge request cannot stall a model for long.
- Nothing is refused here: a closed loop of clients bounds the queue by itself, and a request
  that waits too long gets the gateway's timeout (504). Shedding by predicted wait (BentoML's
  ``max_latency_ms``) refuses most requests at concurrency 64 on a small CPU, a load that is served
  in full with batching off (docs/benchmarks.md#serving-layouts-and-knobs).
- A failed batch of several requests is re-run one request at a time, so only the request that
  breaks the model gets the error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Entry(Generic[T, R]):
    items: list[T]
    future: asyncio.Future[list[R]]


class AdaptiveBatcher(Generic[T, R]):
    """Merges concurrent calls of ``fn`` into batches; ``await batcher(items)`` returns ``fn``'s
    results for exactly those items, in order.

    Args:
        fn: maps a list of B items to a list of B results, same order; runs on a worker thread.
        max_batch_size: most items in one call of ``fn``.
        name: the model's name in messages and thread names.
        slots: calls of ``fn`` that may run at once (``fn`` must then be thread-safe).
        observe: called with each batch's size (a metrics histogram).
        around: a context manager entered around each call of ``fn`` on its thread (the intra-op
            threads of :class:`gateway.threads.CoreShare`).
    """

    def __init__(
        self,
        fn: Callable[[list[T]], Sequence[R]],
        max_batch_size: int,
        name: str = "model",
        slots: int = 1,
        observe: Callable[[int], None] | None = None,
        around: Callable[[], AbstractContextManager[object]] | None = None,
    ) -> None:
        if max_batch_size < 1 or slots < 1:
            raise ValueError(f"max_batch_size and slots must be >= 1, got {max_batch_size} and {slots}")
        self.fn, self.max_batch_size, self.name, self.slots, self.observe = fn, max_batch_size, name, slots, observe
        self.around = around or contextlib.nullcontext
        self._queue: deque[_Entry[T, R]] = deque()
        self._queued_items = 0
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._direct = 0  # calls running on their caller's task (the idle fast path)
        self._executor = ThreadPoolExecutor(max_workers=slots, thread_name_prefix=f"batch-{name}")

    async def __call__(self, items: Sequence[T]) -> list[R]:
        items = list(items)
        if not items:
            return []
        self._ensure_loop()
        loop = asyncio.get_running_loop()
        if not self._queue and self._busy() < self.slots and len(items) <= self.max_batch_size:
            return await self._run_directly(items)
        chunks = [items[i : i + self.max_batch_size] for i in range(0, len(items), self.max_batch_size)]
        futures = []
        for chunk in chunks:
            entry: _Entry[T, R] = _Entry(chunk, loop.create_future())
            self._queue.append(entry)
            self._queued_items += len(chunk)
            futures.append(entry.future)
        assert self._wakeup is not None
        self._wakeup.set()
        parts = await asyncio.gather(*futures)
        return [r for part in parts for r in part]

    def _ensure_loop(self) -> None:
        # Created lazily, on the serving event loop: nothing runs at import or construction.
        if self._task is None or self._task.done():
            self._wakeup = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"batcher-{self.name}")

    def _busy(self) -> int:
        return len(self._running) + self._direct

    async def _run_directly(self, items: list[T]) -> list[R]:
        # Idle model: the request is its own batch, run from the caller's task, without the batching task's two
        # extra event-loop turns, which slow the lightest endpoints (docs/benchmarks.md#serving-layouts-and-knobs).
        self._direct += 1
        try:
            results = await asyncio.get_running_loop().run_in_executor(self._executor, self._call, items)
        finally:
            self._direct -= 1
            if self._queue and self._wakeup is not None:
                self._wakeup.set()  # a slot is free for what queued meanwhile
        self._record(len(items))
        return list(results)

    def _take(self, limit: int) -> list[_Entry[T, R]]:
        batch: list[_Entry[T, R]] = []
        size = 0
        while self._queue:
            entry = self._queue[0]
            if entry.future.done():  # the caller went away (cancelled): skip its work
                self._queue.popleft()
                self._queued_items -= len(entry.items)
                continue
            if batch and size + len(entry.items) > limit:
                break
            self._queue.popleft()
            self._queued_items -= len(entry.items)
            batch.append(entry)
            size += len(entry.items)
        return batch

    async def _run(self) -> None:
        assert self._wakeup is not None
        wakeup = self._wakeup
        while True:
            await wakeup.wait()
            wakeup.clear()
            while (free := self.slots - self._busy()) > 0 and self._queued_items:
                share = min(self.max_batch_size, -(-self._queued_items // free))  # ceil: equal shares
                batch = self._take(share)
                if not batch:
                    break
                task = asyncio.get_running_loop().create_task(self._execute(batch))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
                task.add_done_callback(lambda _: wakeup.set())

    async def _execute(self, batch: list[_Entry[T, R]]) -> None:
        items = [item for entry in batch for item in entry.items]
        try:
            results = await asyncio.get_running_loop().run_in_executor(self._executor, self._call, items)
        except Exception as error:  # noqa: BLE001 - handed to the callers below
            await self._isolate(batch, error)
            return
        self._record(len(items))
        start = 0
        for entry in batch:
            n = len(entry.items)
            if not entry.future.done():
                entry.future.set_result(list(results[start : start + n]))
            start += n

    def _record(self, size: int) -> None:
        if self.observe is not None:
            self.observe(size)

    def _call(self, items: list[T]) -> Sequence[R]:
        with self.around():
            results = self.fn(items)
        if len(results) != len(items):
            raise RuntimeError(f"{self.name} returned {len(results)} results for a batch of {len(items)} items")
        return results

    async def _isolate(self, batch: list[_Entry[T, R]], error: Exception) -> None:
        if len(batch) == 1:
            if not batch[0].future.done():
                batch[0].future.set_exception(error)
            return
        loop = asyncio.get_running_loop()
        for entry in batch:
            try:
                result = await loop.run_in_executor(self._executor, self._call, entry.items)
            except Exception as e:  # noqa: BLE001 - this request's own error
                if not entry.future.done():
                    entry.future.set_exception(e)
            else:
                if not entry.future.done():
                    entry.future.set_result(list(result))

    def close(self) -> None:
        """Stop the batching task and the model's thread (queued callers get CancelledError)."""
        if self._task is not None:
            self._task.cancel()
        for task in self._running:
            task.cancel()
        for entry in self._queue:
            entry.future.cancel()
        self._queue.clear()
        self._queued_items = 0
        self._executor.shutdown(wait=False, cancel_futures=True)
