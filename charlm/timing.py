"""How long a small computation takes: the best of several repeats (Chapters 1-2).

The chapters time two ways of computing the same thing in one cell and compare them as a
ratio; absolute times depend on the machine and on what else it is doing at the moment.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def seconds_per_call(fn: Callable[[], object], number: int = 100, repeat: int = 5) -> float:
    """Seconds per call of ``fn()``: ``repeat`` rounds of ``number`` calls, the fastest
    round kept (the others were slowed by something else), after one call to warm up."""
    if number < 1 or repeat < 1:
        raise ValueError(f"number and repeat must be >= 1, got {number!r} and {repeat!r}")
    fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best
