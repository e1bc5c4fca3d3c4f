"""Seeded training runs as data, so independent runs can train in parallel (Chapter 2 on).

A ``Run`` names a model config, a training config and a seed; ``fit`` builds the model from
``torch.Generator().manual_seed(seed)`` (parameters first, then batches from the same
generator, as the lectures do), trains it and evaluates it on every split. ``fit_all``
sends several runs to worker processes, one thread each: on a 2-core machine where
per-step overhead dominates, two runs side by side take about as long as one.

While the book builds, ``fit`` keeps each finished run and loads it when the same run is
asked for again (``charlm.bookbuild.runcache``); elsewhere it always trains.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

import torch
import torch.nn as nn

from charlm import lectures
from charlm.bookbuild import runcache
from charlm.train import TrainConfig, TrainResult, evaluate, evaluate_splits, train

Splits = dict[str, tuple[torch.Tensor, torch.Tensor]]


class ModelConfig(Protocol):
    """Anything that can build a model from a generator, e.g. ``MLPConfig``."""

    def build(self, generator: torch.Generator) -> nn.Module: ...


@dataclass(frozen=True)
class Run:
    """One seeded training run (Chapter 2)."""

    model: ModelConfig  # what to build
    train: TrainConfig  # how to train it
    seed: int = lectures.SEED  # the generator's seed: parameters first, then batches
    data: str = "train"  # which split to train on
    eval_on: tuple[str, ...] | None = None  # splits to evaluate on afterwards (None: all)
    dev_every: int | None = None  # also the dev loss every this many steps (Chapter 7)


@dataclass
class RunResult:
    """A finished run: its trained weights, loss history and losses per split."""

    run: Run
    state: dict[str, torch.Tensor] = field(repr=False)  # the trained parameters
    history: TrainResult = field(repr=False)
    losses: dict[str, float]  # split name -> mean loss after training
    # (step, seconds of training so far, dev loss) every ``run.dev_every`` steps
    dev_curve: list[tuple[int, float, float]] = field(default_factory=list)

    def model(self) -> nn.Module:
        """The trained model, rebuilt from the config and the weights, in eval mode."""
        model = self.run.model.build(torch.Generator().manual_seed(self.run.seed))
        buffers = dict(model.named_buffers())
        for name, value in self.state.items():
            if name in buffers and buffers[name].shape != value.shape:
                # a buffer whose shape training changed (the lecture's 3-D BatchNorm bug)
                owner, _, attr = name.rpartition(".")
                setattr(model.get_submodule(owner), attr, value.clone())
        model.load_state_dict(self.state)
        return model.eval()


@runcache.reuse  # while the book builds, a run trained before is loaded, not retrained
def fit(run: Run, splits: Splits) -> RunResult:
    """Build, train and evaluate one run (Chapter 2)."""
    g = torch.Generator().manual_seed(run.seed)
    model = run.model.build(g)
    X, Y = splits[run.data]
    checks = DevChecks(*splits["dev"], run.dev_every) if run.dev_every else None
    history = train(model, X, Y, run.train, generator=g, hooks=[checks] if checks else [])
    curve = []
    if checks:  # the time spent on the checks is not training time
        curve = [(step, history.times[step - 1] - before, dev) for step, before, dev in checks.done]
        history.seconds -= checks.seconds
    names = splits if run.eval_on is None else run.eval_on
    losses = evaluate_splits(model, {name: splits[name] for name in names})
    return RunResult(run, model.state_dict(), history, losses, curve)


class DevChecks:
    """A training hook: the dev loss every ``every`` steps (Chapter 7's train-against-dev
    curves), and the seconds these checks took, so they can be left out of training time."""

    def __init__(self, X: torch.Tensor, Y: torch.Tensor, every: int) -> None:
        self.X, self.Y, self.every = X, Y, every
        self.done: list[tuple[int, float, float]] = []  # (step, seconds checking before, dev)
        self.seconds = 0.0  # spent checking

    def __call__(self, step: int, model: nn.Module, loss: torch.Tensor, lr: float) -> None:
        if (step + 1) % self.every == 0:
            start = time.perf_counter()
            self.done.append((step + 1, self.seconds, evaluate(model, self.X, self.Y)))
            self.seconds += time.perf_counter() - start


def _one_thread() -> None:
    torch.set_num_threads(1)


def fit_all(runs: Sequence[Run], splits: Splits, workers: int | None = None) -> list[RunResult]:
    """``fit`` every run, ``workers`` at a time in separate processes; results in order.

    Each worker uses one thread, so results are bit-identical to ``fit`` in a process with
    ``torch.set_num_threads(1)``. ``workers=1`` runs them here, one after another. Workers
    are started fresh ("spawn"): in a script, call this under ``if __name__ == "__main__":``.
    """
    # while the book builds, runs trained before are loaded here, without a worker
    results = {i: fit.cached(run, splits, threads=1) for i, run in enumerate(runs)}
    todo = [i for i, result in results.items() if result is None]
    workers = min(workers or os.cpu_count() or 1, len(todo))
    if workers <= 1:
        results.update({i: fit(runs[i], splits) for i in todo})
    else:
        ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: safe inside Jupyter
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_one_thread) as pool:
            results.update(
                zip(todo, pool.map(partial(fit, splits=splits), [runs[i] for i in todo]))
            )
    return [results[i] for i in range(len(runs))]
