"""A fix for BentoML 1.4's adaptive-batching dispatcher holding lone requests after a burst.

The dispatcher (``bentoml._internal.marshal.dispatcher``) corks a request while
``n * (wait_of_newest + a) <= 0.95 * optimizer.wait``, where ``optimizer.wait`` is the mean wait
of the last 50 batches before dispatch. In a burst that wait is long (requests queue behind the
running batch). Afterwards a lone request is corked for about that long, its batch logs that
same wait, and the mean never comes down, so single requests stay held long after the burst
(docs/benchmarks.md#serving-layouts-and-knobs).

The fix breaks the feedback loop: a batch's logged wait is capped at its own processing time
(waiting longer than a batch takes to run cannot pay for itself), and the optimizer refreshes
every second instead of every 5 s. In a burst the cap changes little (a batch of 64 runs for
about as long as the next one waits); after it, the learned wait falls to the single-request
processing time within a few requests.
"""

from __future__ import annotations

from typing import Any

PATCHED = "_demand_mining_patched"
REFRESH_INTERVAL_S = 1


def patch_dispatcher() -> bool:
    """Install the fix (idempotent; call in each runner worker before serving). Returns True
    when this call installed it."""
    from bentoml._internal.marshal import dispatcher

    optimizer = dispatcher.Optimizer
    if getattr(optimizer, PATCHED, False):
        return False
    original = optimizer.log_outbound

    def log_outbound(self: Any, n: int, wait: float, duration: float) -> None:
        original(self, n=n, wait=min(wait, duration), duration=duration)

    optimizer.log_outbound = log_outbound  # type: ignore[method-assign]
    optimizer.INTERVAL_REFRESH_PARAMS = REFRESH_INTERVAL_S
    setattr(optimizer, PATCHED, True)
    return True
