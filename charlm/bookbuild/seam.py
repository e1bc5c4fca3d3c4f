"""How the book's build plugs into charlm's teaching modules, from outside them.

The teaching modules know nothing of the build. ``charlm.train`` has one seam, ``watch``, a
context manager entered around every training loop that does nothing by default; and
``charlm.runs.fit`` / ``fit_all`` are plain functions. When a chapter's kernel starts (and
in every process it starts, such as ``fit_all``'s workers), Python runs
``startup/sitecustomize.py`` beside this file, because the build puts that folder on the
kernel's ``PYTHONPATH``; it calls ``install()``, which

- sets ``charlm.train.watch`` to ``training_loop``: each loop first takes one core per torch
  thread from the core budget (``cores``), largest job first, and reports its steps for the
  build's terminal (``progress``);
- sets ``charlm.timing.quiet`` to ``quiet.machine_to_itself``: every timing a chapter
  prints is taken with the rest of the build paused;
- wraps ``charlm.runs.fit`` and ``fit_all`` with the run cache (``runcache``), so a run
  trained before, by this chapter or another, is loaded instead of trained again.

Each part is switched on by its environment variable (``charlm.bookbuild``); without them,
as everywhere outside the build, ``install()`` changes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from charlm.bookbuild import BUILD_PID_ENV, CORES_ENV, PROGRESS_ENV, RUN_CACHE_ENV
from charlm.bookbuild.cores import cores
from charlm.bookbuild.progress import reporter


def install() -> None:
    """Plug the core budget, the progress reports and the run cache into charlm (idempotent)."""
    import charlm.runs
    import charlm.timing
    import charlm.train

    if os.environ.get(CORES_ENV) or os.environ.get(PROGRESS_ENV):
        charlm.train.watch = training_loop
    if os.environ.get(BUILD_PID_ENV):
        from charlm.bookbuild.quiet import machine_to_itself

        charlm.timing.quiet = machine_to_itself
    if os.environ.get(RUN_CACHE_ENV) and not hasattr(charlm.runs.fit, "cached"):
        from charlm.bookbuild import runcache

        charlm.runs.fit = runcache.reuse(charlm.runs.fit)
        charlm.runs.fit_all = runcache.reuse_all(charlm.runs.fit_all, charlm.runs.fit)


@contextmanager
def training_loop(model: Any, X: Any, config: Any) -> Iterator[list]:
    """``charlm.train.watch`` while the book builds: the cores a loop needs, and its progress.

    The loop takes one core per torch thread; its turn is set by its work, steps x examples
    per step x the model's numbers (only an order, so the longest run starts first). Yields
    one hook, which reports each step done (``progress``), or none.
    """
    import torch

    size = sum(p.numel() for p in model.parameters())
    work = config.steps * (config.batch_size or X.shape[0]) * size
    with cores(torch.get_num_threads(), work=work):
        bar = reporter(type(model).__name__, config.steps)
        if bar is None:
            yield []
            return
        try:
            yield [lambda step, model, loss, lr: bar.update()]
        finally:
            bar.close()
