"""The in-process batcher: results per caller, batch formation, isolation of failures."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from gateway.batcher import AdaptiveBatcher


def run(coro):  # noqa: ANN001, ANN201 - tiny test helper
    return asyncio.run(coro)


def test_each_caller_gets_its_own_results_in_order() -> None:
    calls: list[list[int]] = []

    def square(xs: list[int]) -> list[int]:
        calls.append(list(xs))
        time.sleep(0.01)  # long enough for the other callers to queue behind the first batch
        return [x * x for x in xs]

    async def main() -> list[list[int]]:
        b = AdaptiveBatcher(square, max_batch_size=64, name="square")
        try:
            return await asyncio.gather(*(b([i, i + 100]) for i in range(20)))
        finally:
            b.close()

    out = run(main())
    assert out == [[i * i, (i + 100) ** 2] for i in range(20)]
    # The first finds the model idle and runs at once; the 19 that queued behind it are merged.
    assert calls == [[0, 100], [x for i in range(1, 20) for x in (i, i + 100)]]


def test_a_lone_request_is_not_held_for_company() -> None:
    calls: list[list[int]] = []

    def ident(xs: list[int]) -> list[int]:
        calls.append(list(xs))
        return xs

    async def main() -> None:
        b = AdaptiveBatcher(ident, max_batch_size=64, name="ident")
        try:
            for i in range(5):  # one at a time, as after a burst: each runs as its own batch
                assert await asyncio.wait_for(b([i]), timeout=5) == [i]
        finally:
            b.close()

    run(main())
    assert calls == [[0], [1], [2], [3], [4]]


def test_batches_respect_max_batch_size_and_split_big_requests() -> None:
    sizes: list[int] = []

    def ident(xs: list[int]) -> list[int]:
        sizes.append(len(xs))
        time.sleep(0.005)
        return xs

    async def main() -> tuple[list[int], list[list[int]]]:
        b = AdaptiveBatcher(ident, max_batch_size=8, name="ident")
        try:
            big = await b(list(range(30)))
            small = await asyncio.gather(*(b([i] * 3) for i in range(10)))
            return big, small
        finally:
            b.close()

    big, small = run(main())
    assert big == list(range(30))
    assert small == [[i] * 3 for i in range(10)]
    assert max(sizes) <= 8
    # whole requests only: a batch of 3-item requests holds 3 or 6 items, never a split request
    assert all(s in (3, 6) for s in sizes[4:])


def test_one_bad_request_does_not_fail_its_batch_neighbours() -> None:
    def picky(xs: list[int]) -> list[int]:
        time.sleep(0.01)
        if any(x < 0 for x in xs):
            raise ValueError(f"negative item in {xs}")
        return [x + 1 for x in xs]

    async def main() -> list[object]:
        b = AdaptiveBatcher(picky, max_batch_size=64, name="picky")
        try:
            return await asyncio.gather(b([0]), b([1]), b([-1]), b([2]), return_exceptions=True)
        finally:
            b.close()

    out = run(main())
    assert out[0] == [1] and out[1] == [2] and out[3] == [3]
    assert isinstance(out[2], ValueError) and "negative" in str(out[2])


def test_wrong_result_count_is_an_error_not_a_silent_misalignment() -> None:
    async def main() -> None:
        b = AdaptiveBatcher(lambda xs: xs[:-1], max_batch_size=4, name="short")
        try:
            await b([1, 2])
        finally:
            b.close()

    with pytest.raises(RuntimeError, match="returned 1 results for a batch of 2"):
        run(main())


def test_model_runs_off_the_event_loop_one_batch_at_a_time() -> None:
    active, peak, loop_threads = [0], [0], set()
    lock = threading.Lock()

    def slow(xs: list[int]) -> list[int]:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        loop_threads.add(threading.current_thread().name)
        time.sleep(0.01)
        with lock:
            active[0] -= 1
        return xs

    async def main() -> None:
        b = AdaptiveBatcher(slow, max_batch_size=2, name="slow")
        try:
            await asyncio.gather(*(b([i]) for i in range(10)))
        finally:
            b.close()

    run(main())
    assert peak[0] == 1
    assert loop_threads == {"batch-slow_0"}


def test_rejects_bad_settings_and_passes_empty_calls_through() -> None:
    with pytest.raises(ValueError, match="max_batch_size and slots must be >= 1, got 0 and 1"):
        AdaptiveBatcher(lambda xs: xs, max_batch_size=0)
    b = AdaptiveBatcher(lambda xs: xs, max_batch_size=4)
    assert run(b([])) == []
    b.close()


def test_free_slots_run_batches_at_once() -> None:
    sizes: list[int] = []
    active, peak = [0], [0]
    lock = threading.Lock()

    def slow(xs: list[int]) -> list[int]:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
            sizes.append(len(xs))
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return xs

    async def main() -> list[list[int]]:
        b = AdaptiveBatcher(slow, max_batch_size=64, name="slow2", slots=2)
        try:
            return await asyncio.gather(*(b([i]) for i in range(10)))
        finally:
            b.close()

    assert run(main()) == [[i] for i in range(10)]
    # two idle slots take the first two callers at once, side by side; the 8 that queued behind
    # them go in at most two batches, whichever slot frees first
    assert peak[0] == 2 and sizes[:2] == [1, 1] and sum(sizes) == 10 and len(sizes) <= 4


def test_every_model_call_runs_inside_around() -> None:
    import contextlib

    inside: list[bool] = []
    depth = [0]

    @contextlib.contextmanager
    def around():  # noqa: ANN202 - test helper
        depth[0] += 1
        try:
            yield
        finally:
            depth[0] -= 1

    def double(xs: list[int]) -> list[int]:
        inside.append(depth[0] == 1)
        time.sleep(0.005)
        return [2 * x for x in xs]

    async def main() -> list[list[int]]:
        b = AdaptiveBatcher(double, max_batch_size=4, name="double", around=around)
        try:
            return await asyncio.gather(*(b([i]) for i in range(9)))
        finally:
            b.close()

    assert run(main()) == [[2 * i] for i in range(9)]
    assert len(inside) >= 3 and all(inside) and depth[0] == 0
