"""Seeded training runs as data, so independent runs can train in parallel (Chapter 2 on).

A ``Run`` names a model config, a training config and a seed; ``fit`` builds the model from
``torch.Generator().manual_seed(seed)`` (parameters first, then batches from the same
generator, as the lectures do), trains it and evaluates it on every split. ``fit_all``
sends several runs to worker processes, one thread each: on a 2-core machine where
per-step overhead dominates, two runs side by side take about as long as one.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Protocol

import torch
import torch.nn as nn

from charlm import lectures
from charlm.train import TrainConfig, TrainResult, evaluate, evaluate_splits, train

if TYPE_CHECKING:
    from charlm.optim import AdamWConfig

Splits = dict[str, tuple[torch.Tensor, torch.Tensor]]


class ModelConfig(Protocol):
    """Anything that can build a model from a generator, e.g. ``MLPConfig``."""

    def build(self, generator: torch.Generator) -> nn.Module: ...


@dataclass(frozen=True)
class Run:
    """One seeded training run (Chapter 2)."""

    model: ModelConfig  # what to build
    train: TrainConfig | AdamWConfig  # how to train it: the lectures' SGD or Chapter 6's AdamW
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


def fit(run: Run, splits: Splits) -> RunResult:
    """Build, train and evaluate one run (Chapter 2)."""
    g = torch.Generator().manual_seed(run.seed)
    model = run.model.build(g)
    X, Y = splits[run.data]
    checks = DevChecks(*splits["dev"], run.dev_every) if run.dev_every else None  # Chapter 7
    history = train(model, X, Y, run.train, g, hooks=[checks] if checks else [])
    names = splits if run.eval_on is None else run.eval_on
    losses = evaluate_splits(model, {name: splits[name] for name in names})
    curve = checks.settle(history) if checks else []
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

    def settle(self, history: TrainResult) -> list[tuple[int, float, float]]:
        """The curve (step, seconds of training so far, dev loss), and the time the checks
        took taken out of ``history.seconds``: it is not training time."""
        history.seconds -= self.seconds
        return [(step, history.times[step - 1] - before, dev) for step, before, dev in self.done]


def _one_thread() -> None:
    torch.set_num_threads(1)


def fit_all(runs: Sequence[Run], splits: Splits, workers: int | None = None) -> list[RunResult]:
    """``fit`` every run, ``workers`` at a time in separate processes; results in order.

    Each worker uses one thread, so results are bit-identical to ``fit`` in a process with
    ``torch.set_num_threads(1)``. ``workers=1`` runs them here, one after another. Workers
    are started fresh ("spawn"): in a script, call this under ``if __name__ == "__main__":``.
    """
    workers = min(workers or os.cpu_count() or 1, len(runs))
    if workers <= 1:
        return [fit(run, splits) for run in runs]
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: safe inside Jupyter
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_one_thread) as pool:
        return list(pool.map(partial(fit, splits=splits), runs))
