"""The dispatcher fix: after a burst, the learned cork wait falls back to the processing time."""

from __future__ import annotations

from bentoml._internal.marshal.dispatcher import Optimizer

from runners.dispatch import patch_dispatcher


def test_learned_wait_recovers_after_a_burst() -> None:
    patch_dispatcher()
    assert patch_dispatcher() is False  # idempotent
    opt = Optimizer(max_latency=3.0)
    for _ in range(10):  # a burst: batches of 64 taking 1.4 s, the first request queued 1.2 s
        opt.log_outbound(n=64, wait=1.2, duration=1.4)
    opt.trigger_refresh()
    assert 1.0 < opt.wait <= 1.2  # the burst's queueing is still learned
    for _ in range(50):  # then lone requests, each held ~the learned wait, each processed in 30 ms
        opt.log_outbound(n=1, wait=opt.wait, duration=0.03)
    opt.trigger_refresh()
    assert opt.wait <= 0.03 + 1e-9  # capped at the processing time: no self-sustaining cork
