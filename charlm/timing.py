"""How long a computation takes: timed several times, reported as a median and a spread (Chapter 1).

A single timing on a shared machine can be off by a lot: another process takes the core for
a moment, the CPU changes its clock. So every timing in the book is repeated; it reports
the median repeat (which one slow moment does not move) and the range of all of them, so a
reader sees how far to trust it. Two computations to compare are timed in turns, A then B
then A ..., so a slow spell slows both; their ratio comes with the range of the ratios of
each turn.

``time_steps`` times a training recipe's steps the same way: a run's wall time says how long
it took while whatever else ran beside it; the median step times the number of steps says
how long the recipe takes on this machine.

``quiet`` is the one seam: a context manager entered around the timed repeats, which does
nothing by default. The book's build sets it so that each timing has the machine to itself.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from charlm.train import TrainConfig, train


@contextmanager
def _nothing() -> Iterator[None]:
    yield


quiet: Callable[[], object] = _nothing  # entered around every timing; a tool may set it


@dataclass(frozen=True)
class Timing:
    """Seconds per call of one computation, one number per timed repeat (Chapter 1); or,
    from ``ratio``, how many times as long one computation took as another, per repeat."""

    runs: tuple[float, ...]  # one number per repeat

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def low(self) -> float:
        return min(self.runs)

    @property
    def high(self) -> float:
        return max(self.runs)

    def scaled(self, factor: float) -> Timing:
        """The same timing in other units (``1e3``: milliseconds) or per something else."""
        return Timing(tuple(run * factor for run in self.runs))

    def spread(self, digits: int = 2) -> str:
        """``"1.20-1.31 over 7 repeats"``: the range of the repeats, for the text."""
        return f"{self.low:.{digits}f}–{self.high:.{digits}f} over {len(self.runs)} repeats"


def time_per_call(fn: Callable[[], object], number: int = 100, repeat: int = 7) -> Timing:
    """Seconds per call of ``fn()``: ``repeat`` rounds of ``number`` calls, after one call
    to warm up (the first call of a torch operation allocates and dispatches for the first
    time)."""
    return time_in_turns(fn, number=number, repeat=repeat)[0]


def time_in_turns(
    *fns: Callable[[], object], number: int = 100, repeat: int = 7
) -> tuple[Timing, ...]:
    """Seconds per call of each of ``fns``, timed in turns: a round of each, ``repeat`` times.

    Python's garbage collector runs after every so many allocations, and a full collection
    can take longer than the call being timed (Chapter 4's scalar engine allocates thousands
    of objects per call). Collecting before each round, outside the timing, means each round
    starts from the same count and pays for the same collections.

    >>> short, long = time_in_turns(lambda: sum(range(10)), lambda: sum(range(1000)), repeat=5)
    >>> len(short.runs), len(long.runs)
    (5, 5)
    """
    if number < 1 or repeat < 1:
        raise ValueError(f"number and repeat must be >= 1, got {number!r} and {repeat!r}")
    runs: list[list[float]] = [[] for _ in fns]
    with quiet():
        for fn in fns:
            fn()
        for _ in range(repeat):
            for fn, times in zip(fns, runs):
                gc.collect()  # each round starts from the same heap (see the docstring)
                start = time.perf_counter()
                for _ in range(number):
                    fn()
                times.append((time.perf_counter() - start) / number)
    return tuple(Timing(tuple(times)) for times in runs)


def ratio(a: Timing, b: Timing) -> Timing:
    """How many times as long ``a`` takes as ``b``, round by round (both from ``time_in_turns``)."""
    if len(a.runs) != len(b.runs):
        raise ValueError("a ratio needs two timings taken in turns (the same repeats)")
    return Timing(tuple(x / y for x, y in zip(a.runs, b.runs)))


@dataclass(frozen=True)
class FirstSteps:
    """The first ``steps`` steps of a recipe, with its batch size, learning rates and update:
    what ``train`` needs of a config, for a short timed run (Chapter 2)."""

    recipe: TrainConfig  # or any config ``train`` takes (AdamWConfig, Chapter 6)
    steps: int  # how many of its steps to run

    @property
    def batch_size(self) -> int | None:
        return self.recipe.batch_size

    def lr_at(self, step: int) -> float:
        return self.recipe.lr_at(step)

    def make_step(self, model: torch.nn.Module) -> Callable:
        return self.recipe.make_step(model)


@dataclass(frozen=True)
class Steps:
    """Training steps to time: a recipe's first steps on a model and its data (Chapter 2)."""

    model: torch.nn.Module  # trained by the timing: time a copy
    X: torch.Tensor  # inputs, as train() takes them
    Y: torch.Tensor  # targets
    config: TrainConfig  # the recipe: its batch size, learning rates and update
    threads: int | None = None  # torch's thread count while they run (None: as it is)


def time_steps(
    model: torch.nn.Module,
    X: torch.Tensor,
    Y: torch.Tensor,
    config: TrainConfig,
    generator: torch.Generator,
    steps: int = 200,
    repeat: int = 5,
) -> Timing:
    """Seconds per training step of ``config``'s recipe (Chapter 2): ``repeat`` runs of
    ``steps`` steps on ``model``, which they train (time a copy), on torch's threads now."""
    return compare_steps([Steps(model, X, Y, config)], generator, steps, repeat)[0]


def compare_steps(
    jobs: Sequence[Steps], generator: torch.Generator, steps: int = 200, repeat: int = 5
) -> tuple[Timing, ...]:
    """Seconds per training step of each of ``jobs``, timed in turns (Chapters 2, 6 and 7): a
    run of ``steps`` steps of each, ``repeat`` times, so that a slow moment of the machine
    slows them all and their ratios (``ratio``) hold. Torch's thread count is as before
    afterwards."""

    def run(job: Steps) -> Callable[[], object]:
        def go() -> None:
            if job.threads is not None:
                torch.set_num_threads(job.threads)
            train(job.model, job.X, job.Y, FirstSteps(job.config, steps), generator)

        return go

    before = torch.get_num_threads()
    try:
        timings = time_in_turns(*(run(job) for job in jobs), number=1, repeat=repeat)
    finally:
        torch.set_num_threads(before)
    return tuple(timing.scaled(1 / steps) for timing in timings)


def compare_threads(
    model: torch.nn.Module,
    X: torch.Tensor,
    Y: torch.Tensor,
    config: TrainConfig,
    generator: torch.Generator,
    threads: Sequence[int],
    steps: int = 200,
    repeat: int = 5,
) -> tuple[Timing, ...]:
    """Seconds per training step on each of ``threads`` torch thread counts, timed in turns
    (Chapter 6); torch's thread count is as before afterwards."""
    jobs = [Steps(model, X, Y, config, threads=n) for n in threads]
    return compare_steps(jobs, generator, steps, repeat)
