"""Sphinx extension: execute the chapters side by side before Sphinx reads them one by one.

myst-nb executes each notebook page when Sphinx reads it, and Sphinx reads pages one after
another (Jupyter Book 1 cannot read in parallel). On a machine with two cores that leaves one
core idle while a chapter trains on the other. This extension runs first: it finds the pages
Sphinx is about to read whose outputs are not in the jupyter-cache, executes them all at
once in separate kernels, and stores each result in the cache under the key myst-nb will
look up, so that the reading that follows finds every chapter already executed.

- **Who trains when.** Kernels start together; their training loops take cores from the
  budget of ``charlm.cores`` (``$CHARLM_CORES``, set here to ``<build>/cores``), the largest
  job first. Finished runs go to the run cache (``$CHARLM_RUN_CACHE``: ``<build>/runs``).
- **Order.** A page whose front matter says ``execute_after: [docname, ...]`` starts once
  those pages have executed. ``execute_after: ["*"]`` (the results page) waits for every
  other page, and is looked up in the cache only then: it reads the results the others
  recorded (``$CHARLM_RESULTS``: ``<build>/results``), which are part of its fingerprint.
- **Failures.** A failing page stops the build with its traceback; nothing of it is cached.
- **Record.** Each page's start and end times go to ``<build>/execution.json`` (this
  build's executions only) and into ``<results>/timings/execution.json`` (every page's
  latest execution, which the reproducing page shows).

Pages that need no execution are not touched, so a warm or prose-only rebuild costs nothing.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)
STARTS = 3  # attempts at starting a page's kernel
STAGGER = 0.5  # seconds between two kernel starts


def set_environment(app: Sphinx) -> None:
    """Point the core budget and the run cache into the build folder, for every kernel."""
    build = Path(app.outdir).resolve().parent
    os.environ.setdefault("CHARLM_CORES", str(build / "cores"))
    os.environ.setdefault("CHARLM_RUN_CACHE", str(build / "runs"))
    os.environ.setdefault("CHARLM_RESULTS", str(build / "results"))


def _notebook(app: Sphinx, docname: str):
    """The notebook myst-nb will build from ``docname``, or None for a plain page."""
    from myst_nb.core.read import create_nb_reader

    env = app.env
    path = Path(env.doc2path(docname))
    text = [path.read_text(encoding="utf-8")]
    app.events.emit("source-read", docname, text)  # what Sphinx will hand the parser
    reader = create_nb_reader(str(path), env.myst_config, env.mystnb_config, text[0])
    if reader is None:
        return None
    return reader.read(text[0])


def _execute(nb_json: str, cwd: str, timeout: int, allow_errors: bool) -> tuple[str, float, str]:
    """Run one notebook in a fresh kernel (in a worker process): (notebook, seconds, error).

    Kernels started at the same moment by separate processes can race for the same free
    TCP port and die before they answer; such a start is tried again (nothing has run yet).
    """
    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution

    for attempt in range(STARTS):
        nb = nbformat.reads(nb_json, as_version=4)
        try:
            result = single_nb_execution(nb, cwd=cwd, timeout=timeout, allow_errors=allow_errors)
        except RuntimeError as error:
            if "before replying to kernel_info" not in str(error) or attempt == STARTS - 1:
                raise
            time.sleep(1 + attempt)
            continue
        return nbformat.writes(nb), result.time, result.exc_string or ""
    raise AssertionError("unreachable")


def waits_for_all(nb) -> bool:
    """Whether a notebook's front matter asks to run after every other page."""
    return "*" in nb.metadata.get("execute_after", [])


def _pending(app: Sphinx, docnames: list[str], last: bool) -> dict:
    """Pages about to be read whose outputs the jupyter-cache does not hold.

    ``last``: only the pages that wait for all others; otherwise only the other pages.
    """
    from jupyter_cache import get_cache

    config = app.env.mystnb_config
    if config.execution_mode != "cache":
        return {}
    cache = get_cache(config.execution_cache_path)
    todo = {}
    for docname in sorted(docnames):
        nb = _notebook(app, docname)
        if nb is None or waits_for_all(nb) != last:
            continue
        try:
            cache.match_cache_notebook(nb)
        except KeyError:
            todo[docname] = nb
    return todo


def preexecute(app: Sphinx, env: BuildEnvironment, docnames: list[str]) -> None:
    """Execute every pending page, side by side, into the jupyter-cache."""
    timeline: dict[str, dict] = {}
    start = time.perf_counter()
    for last in (False, True):  # the results page after all others: it reads their records
        todo = _pending(app, docnames, last)
        if todo:
            _execute_all(app, env, todo, timeline, start)
        if timeline and not last:
            _remember(timeline)
    if timeline:
        total = time.perf_counter() - start
        logger.info(f"[preexecute] all pages executed in {total:.1f} s")
        record = Path(app.outdir).resolve().parent / "execution.json"
        record.write_text(json.dumps({"seconds": total, "pages": timeline}, indent=2) + "\n")


def _execute_all(app: Sphinx, env, todo: dict, timeline: dict, start: float) -> None:
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    config = env.mystnb_config
    cache = get_cache(config.execution_cache_path)
    after = {
        doc: [d for d in nb.metadata.get("execute_after", []) if d in todo]
        for doc, nb in todo.items()
    }
    logger.info(f"[preexecute] executing {len(todo)} page(s) side by side: {sorted(todo)}")
    running: dict[Future, str] = {}
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(len(todo), mp_context=ctx) as pool:
        while todo or running:
            ready = [d for d in todo if _ready(d, after, todo, running)]
            if not ready and not running:
                raise ExtensionError(f"execute_after: these pages wait for each other: {todo}")
            for doc in ready:
                nb = todo.pop(doc)
                cwd = str(Path(env.doc2path(doc)).parent)
                future = pool.submit(
                    _execute, nbformat.writes(nb), cwd, config.execution_timeout,
                    config.execution_allow_errors,
                )  # fmt: skip
                running[future] = doc
                timeline[doc] = {"start": time.perf_counter() - start}
                time.sleep(STAGGER)  # kernels pick free ports: fewer races when apart
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                doc = running.pop(future)
                nb_json, seconds, error = future.result()
                timeline[doc].update(end=time.perf_counter() - start, seconds=seconds)
                if error:
                    for other in running:
                        other.cancel()
                    _kill(pool)
                    raise ExtensionError(f"executing {doc} failed:\n{error}")
                uri = str(Path(env.doc2path(doc)))
                bundle = CacheBundleIn(
                    nbformat.reads(nb_json, as_version=4), uri, data={"execution_seconds": seconds}
                )
                cache.cache_notebook_bundle(bundle, check_validity=False, overwrite=True)
                logger.info(f"[preexecute] {doc} executed in {seconds:.1f} s")


def _remember(timeline: dict) -> None:
    """Merge this build's execution times into the record the last pages read."""
    path = Path(os.environ["CHARLM_RESULTS"]) / "timings" / "execution.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    pages = json.loads(path.read_text()) if path.exists() else {}
    pages.update({doc: round(t["seconds"], 1) for doc, t in timeline.items()})
    path.write_text(json.dumps(dict(sorted(pages.items())), indent=2) + "\n")


def _ready(doc: str, after: dict, todo: dict, running: dict) -> bool:
    waiting = set(todo) | set(running.values())
    return not any(dep in waiting for dep in after[doc])


def _kill(pool: ProcessPoolExecutor) -> None:
    """Stop the other pages' kernels' parents at once: a failed build should fail fast."""
    for process in list(getattr(pool, "_processes", {}).values()):
        process.terminate()


def setup(app: Sphinx) -> dict:
    app.connect("builder-inited", set_environment)
    app.connect("env-before-read-docs", preexecute)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
