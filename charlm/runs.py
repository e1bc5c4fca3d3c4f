"""Seeded training runs as data, so independent runs can train in parallel (Chapter 2 on).

A ``Run`` names a model config, a training config and a seed; ``fit`` builds the model from
``torch.Generator().manual_seed(seed)`` (parameters first, then batches from the same
generator, as the lectures do), trains it and evaluates it on every split. ``fit_all``
sends several runs to worker processes, one thread each: on a 2-core machine where
per-step overhead dominates, two runs side by side take about as long as one.

**Run cache.** When ``$CHARLM_RUN_CACHE`` names a folder (the book build sets it), a
finished run is stored there under a key covering everything its result depends on: the
run's settings, the data it trains and evaluates on, the code of the charlm modules it
executes (``charlm.digest``: docstrings and comments excluded), torch's version and the
thread count. A later ``fit`` of the same run loads it instead of training: a chapter that
re-executes because a plotting function changed does not retrain, and Chapter 6 reuses
Chapter 5's run. Entries are loaded with ``weights_only=True``; an unreadable one is
trained again and replaced.
"""

from __future__ import annotations

import fcntl
import hashlib
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Protocol

import torch
import torch.nn as nn

from charlm.digest import code_digest, module_closure
from charlm.train import TrainConfig, TrainResult, evaluate_splits, train

CACHE_ENV = "CHARLM_RUN_CACHE"  # a folder for finished runs; unset: no cache
PACKAGE = Path(__file__).resolve().parent

Splits = dict[str, tuple[torch.Tensor, torch.Tensor]]


class ModelConfig(Protocol):
    """Anything that can build a model from a generator, e.g. ``MLPConfig``."""

    def build(self, generator: torch.Generator) -> nn.Module: ...


@dataclass(frozen=True)
class Run:
    """One seeded training run (Chapter 2)."""

    model: ModelConfig  # what to build
    train: TrainConfig  # how to train it
    seed: int = 2147483647  # the generator's seed: parameters first, then batches
    data: str = "train"  # which split to train on
    eval_on: tuple[str, ...] | None = None  # splits to evaluate on afterwards (None: all)


@dataclass
class RunResult:
    """A finished run: its trained weights, loss history and losses per split."""

    run: Run
    state: dict[str, torch.Tensor] = field(repr=False)  # the trained parameters
    history: TrainResult = field(repr=False)
    losses: dict[str, float]  # split name -> mean loss after training

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
    """Build, train and evaluate one run, or load it from the run cache (Chapter 2)."""
    folder = os.environ.get(CACHE_ENV)
    if not folder:
        return _train_and_evaluate(run, splits)
    path = Path(folder) / f"{run_key(run, splits)}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one process trains a run; others wait, then load
        cached = _load(run, path)
        if cached is not None:
            return cached
        result = _train_and_evaluate(run, splits)
        _store(result, path)
        return result


def _train_and_evaluate(run: Run, splits: Splits) -> RunResult:
    g = torch.Generator().manual_seed(run.seed)
    model = run.model.build(g)
    X, Y = splits[run.data]
    history = train(model, X, Y, run.train, generator=g)
    names = splits if run.eval_on is None else run.eval_on
    losses = evaluate_splits(model, {name: splits[name] for name in names})
    return RunResult(run, model.state_dict(), history, losses)


def run_key(run: Run, splits: Splits, threads: int | None = None) -> str:
    """The run cache's key: sha256 of all that the run's result depends on."""
    h = hashlib.sha256(repr(run).encode())
    names = sorted({run.data, *(splits if run.eval_on is None else run.eval_on)})
    for name in names:
        for t in splits[name]:
            h.update(f"{name} {t.dtype} {tuple(t.shape)}".encode())
            h.update(t.contiguous().numpy().tobytes())
    roots = {type(run.model).__module__.rpartition(".")[2], "train", "runs"}
    h.update(code_digest(module_closure(PACKAGE, roots), PACKAGE).encode())
    threads = torch.get_num_threads() if threads is None else threads
    h.update(f"torch {torch.__version__}, {threads} thread(s)".encode())
    return h.hexdigest()


def _store(result: RunResult, path: Path) -> None:
    record = {
        "state": result.state,
        "losses": result.losses,
        "train_losses": result.history.losses,
        "seconds": result.history.seconds,
        "times": result.history.times,
    }
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(record, tmp)
    os.replace(tmp, path)  # readers see the whole entry or none


def _load(run: Run, path: Path) -> RunResult | None:
    if not path.exists():
        return None
    try:
        record = torch.load(path, weights_only=True)
        history = TrainResult(record["train_losses"], record["seconds"], record["times"])
        return RunResult(run, record["state"], history, record["losses"])
    except Exception:  # an unreadable entry is no entry: train again and replace it
        return None


def _one_thread() -> None:
    torch.set_num_threads(1)


def fit_all(runs: Sequence[Run], splits: Splits, workers: int | None = None) -> list[RunResult]:
    """``fit`` every run, ``workers`` at a time in separate processes; results in order.

    Each worker uses one thread, so results are bit-identical to ``fit`` in a process with
    ``torch.set_num_threads(1)``. ``workers=1`` runs them here, one after another. Workers
    are started fresh ("spawn"): in a script, call this under ``if __name__ == "__main__":``.
    While the book builds, ``charlm.cores`` decides which workers' runs train when, across
    chapters; runs already in the run cache are loaded here without starting a worker.
    """
    results: dict[int, RunResult] = {}
    if os.environ.get(CACHE_ENV):
        for i, run in enumerate(runs):
            path = Path(os.environ[CACHE_ENV]) / f"{run_key(run, splits, threads=1)}.pt"
            cached = _load(run, path)
            if cached is not None:
                results[i] = cached
    todo = [i for i in range(len(runs)) if i not in results]
    workers = min(workers or os.cpu_count() or 1, len(todo))
    if workers <= 1:
        for i in todo:
            results[i] = fit(runs[i], splits)
        return [results[i] for i in range(len(runs))]
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: safe inside Jupyter
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_one_thread) as pool:
        done = pool.map(partial(fit, splits=splits), [runs[i] for i in todo])
        results.update(zip(todo, done))
    return [results[i] for i in range(len(runs))]
