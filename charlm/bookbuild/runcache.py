"""Finished training runs, stored while the book builds and loaded instead of retrained.

``runs.fit`` is wrapped by ``reuse`` and ``runs.fit_all`` by ``reuse_all``, from outside,
when a chapter's kernel starts (``charlm.bookbuild.seam``). When ``$CHARLM_RUN_CACHE`` names
a folder (the book build sets it), a finished run is stored there under a key covering
everything its result depends on: the run's settings (its ``repr``), the data it trains and
evaluates on, the code of the charlm modules it executes (``digest``: docstrings and
comments excluded), torch's version and the thread count. A later call with the same run
loads it instead of training: a chapter that re-executes because a plotting function changed
does not retrain, and Chapter 6 reuses Chapter 5's run. Entries are loaded with
``weights_only=True``; an unreadable one is trained again and replaced. One process trains a
given run; others asking for it at the same time wait for it, then load it.

What it assumes of the run and its result, by duck typing (it imports no teaching module):
the run has ``model`` (a config whose class's module builds the model), ``train`` (a
config whose class's module makes its update step), ``data`` and
``eval_on`` (the splits it uses: ``None`` for all); the result is a dataclass of tensors,
numbers, strings, lists, dicts and such dataclasses, with one field holding the run itself,
which is not stored (the run is the key) and is given back on loading.
"""

from __future__ import annotations

import dataclasses
import fcntl
import functools
import hashlib
import os
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch

from charlm.bookbuild import RUN_CACHE_ENV
from charlm.bookbuild.digest import code_digest, module_closure

PACKAGE = Path(__file__).resolve().parent.parent  # charlm/
R = TypeVar("R")


def reuse(fit: Callable[[Any, dict], R]) -> Callable[[Any, dict], R]:
    """``fit(run, splits)``, storing each result while the book builds and loading it again.

    The wrapper's ``cached(run, splits, threads)`` returns the stored result of a run
    trained on ``threads`` threads, or None (always None outside the build): ``fit_all``
    asks it first, so runs trained before are loaded without starting a worker process.
    """

    @functools.wraps(fit)
    def fit_or_load(run: Any, splits: dict) -> R:
        folder = os.environ.get(RUN_CACHE_ENV)
        if not folder:
            return fit(run, splits)
        path = Path(folder) / f"{run_key(run, splits, fit)}.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one process trains a run; others wait, then load
            cached = _load(path, run, fit)
            if cached is not None:
                return cached
            result = fit(run, splits)
            _store(result, run, path)
            return result

    def cached(run: Any, splits: dict, threads: int) -> R | None:
        folder = os.environ.get(RUN_CACHE_ENV)
        if not folder:
            return None
        return _load(Path(folder) / f"{run_key(run, splits, fit, threads)}.pt", run, fit)

    def keep(run: Any, splits: dict, result: R, threads: int) -> None:
        folder = os.environ.get(RUN_CACHE_ENV)
        path = Path(folder or ".") / f"{run_key(run, splits, fit, threads)}.pt"
        if folder and not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            _store(result, run, path)

    fit_or_load.cached = cached
    fit_or_load.keep = keep
    return fit_or_load


def reuse_all(fit_all: Callable[..., list], fit: Callable) -> Callable[..., list]:
    """``fit_all(runs, splits, workers)``, loading every run trained before first, here, so
    worker processes start only for runs still to train (``fit``: the ``reuse`` wrapper).
    A worker of the build stores its run itself; a run that came back unstored (a worker
    started without the build's seam) is stored here."""

    @functools.wraps(fit_all)
    def fit_all_or_load(runs: list, splits: dict, workers: int | None = None) -> list:
        results = {i: fit.cached(run, splits, threads=1) for i, run in enumerate(runs)}
        todo = [i for i, result in results.items() if result is None]
        if todo:
            trained = fit_all([runs[i] for i in todo], splits, workers)
            in_workers = min(workers or os.cpu_count() or 1, len(todo)) > 1  # as fit_all decides
            for i, result in zip(todo, trained):
                if in_workers:  # one thread each (run here, ``fit`` has stored it already)
                    fit.keep(runs[i], splits, result, threads=1)
                results[i] = result
        return [results[i] for i in range(len(runs))]

    return fit_all_or_load


def run_key(run: Any, splits: dict, fit: Callable, threads: int | None = None) -> str:
    """The run cache's key: sha256 of all that ``fit(run, splits)``'s result depends on."""
    h = hashlib.sha256(repr(run).encode())
    names = sorted({run.data, *(splits if run.eval_on is None else run.eval_on)})
    for name in names:
        for t in splits[name]:
            h.update(f"{name} {t.dtype} {tuple(t.shape)}".encode())
            h.update(t.contiguous().numpy().tobytes())
    modules = (type(run.model).__module__, type(run.train).__module__, fit.__module__)
    roots = {_inside(module) for module in modules}
    # the code the run executes; not this machinery's, which changes no number of a run
    files = [f for f in module_closure(PACKAGE, roots) if f.parent != Path(__file__).parent]
    h.update(code_digest(files, PACKAGE).encode())
    threads = torch.get_num_threads() if threads is None else threads
    h.update(f"torch {torch.__version__}, {threads} thread(s)".encode())
    return h.hexdigest()


def _inside(module: str) -> str:
    """``charlm.models`` -> ``models``: a module's name inside the package."""
    return module.partition(".")[2]


def _store(result: Any, run: Any, path: Path) -> None:
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(_plain(result, run), tmp)
    os.replace(tmp, path)  # readers see the whole entry or none


def _load(path: Path, run: Any, fit: Callable) -> Any | None:
    if not path.exists():
        return None
    try:
        record = torch.load(path, weights_only=True)
        result_type = typing.get_type_hints(fit)["return"]
        return _rebuild(record, result_type, run)
    except Exception:  # an unreadable entry is no entry: train again and replace it
        return None


def _plain(value: Any, run: Any) -> Any:
    """A dataclass as a dict of its fields, all the way down, without the run itself."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return {f.name: _plain(getattr(value, f.name), run) for f in fields
                if not _is_run(getattr(value, f.name), run)}  # fmt: skip
    if isinstance(value, dict):
        return {k: _plain(v, run) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v, run) for v in value)
    return value


def _is_run(value: Any, run: Any) -> bool:
    """``value`` is the run, or its copy (a result sent back by a worker process)."""
    return value is run or (type(value) is type(run) and value == run)


def _rebuild(record: Any, kind: Any, run: Any) -> Any:
    """The inverse of ``_plain``: dataclasses rebuilt from their declared field types."""
    if not (isinstance(kind, type) and dataclasses.is_dataclass(kind)):
        return record
    hints = typing.get_type_hints(kind)
    values = {}
    for f in dataclasses.fields(kind):
        if f.name in record:
            values[f.name] = _rebuild(record[f.name], hints[f.name], run)
        elif isinstance(run, hints[f.name]):
            values[f.name] = run
    return kind(**values)
