"""Sphinx extension: execute the chapters side by side, and again whenever what they run changes.

myst-nb executes a notebook page (a MyST file with ``{code-cell}``) when Sphinx reads it,
and keeps the outputs in the jupyter-cache under a key of the page's code cells and kernel.
Left at that, an edit to ``charlm`` alone would republish outputs of the old code, a failed
chapter could be passed over by the next build, and the chapters would run one after
another on a machine with cores to spare. This extension closes those gaps in one place.

**When a page runs.** A page's front matter may say ``execute_after: [docname, ...]`` (a
flow list, a block list or one name): the page starts once those pages have executed.
``"*"`` in the list means after every other page: the results and reproducing pages read
the records (results, execution times) the chapters wrote into ``$CHARLM_RESULTS``. One
reader, ``execute_after``, parses the front matter as YAML; the order of execution and the
fingerprint below both ask it (through ``Page``), so they cannot disagree about a page.
``execute_first: true`` gives a page a head start: the other pages start once one of its
training loops has begun (or it has executed, or ``HEAD_START`` seconds have passed). The
page that trains the book's longest run says it, so that run starts on an idle machine and
the rest of the build fits around it, instead of queueing behind whatever asked first.

1. **Fingerprint cell.** Every notebook page gets one hidden code cell appended at read
   time holding its fingerprint: a sha256 of the modules of ``fingerprint_package``
   (``charlm``) that its cells import, directly or through each other, plus the files in
   ``fingerprint_paths`` (the lock file). Modules count by their syntax tree without
   docstrings (``charlm.bookbuild.digest``). A change to any of them changes the page's
   cache key, so it executes again; a change to a module the page does not import, to a
   docstring or comment, or to prose does not. A page that runs after all others also
   counts the records under ``$CHARLM_RESULTS``, and is re-read every build.
2. **Re-read on change.** Sphinx re-reads only changed sources; a notebook page whose
   fingerprint differs from the one it was last read with is re-read as well.
3. **No cached failures.** A page whose last execution failed is re-read (and so executed
   again) on every build until it succeeds, so an incremental build cannot pass over it.
4. **Side by side.** Before Sphinx reads anything, the pages whose outputs the cache lacks
   are executed at once, each in a worker process with its own kernel, and stored in the
   cache under the key myst-nb will look up: the page's text with its fingerprint cell,
   made by the same function (``parsed_text``) the read-time handler uses. Reading then
   finds every page executed. Kernels talk to their worker over local socket files (ipc),
   not TCP ports, and their starts are staggered. Training loops take cores from the budget of
   ``charlm.bookbuild.cores`` (largest job first); finished runs go to the run cache.
   Pages that wait for all others form a second wave, looked up in the cache only after
   the first wave has executed and its times are recorded (they are part of their key).
   Each worker sends its result down a pipe of its own, and writes its own and its
   kernel's output to ``<build>/execution-logs/<page>.log``. A failing page (an error, a
   timeout, a kernel that died) ends every other worker with its kernel at once and stops
   the build with one block naming the page, the cell, its line and the cause, and no
   traceback of the build's own; nothing of the page is cached. Each page's start, end and
   CPU seconds (its kernel's and its workers') go to ``<build>/execution.json`` (this
   build's executions) and its seconds to
   ``<results>/timings/execution.json`` (every page's latest execution).
5. **Stopped with the build.** While pages execute, a build stopped from outside (SIGTERM
   or SIGHUP, or its parent process gone, as when ``make`` is terminated) ends every
   process it started, kernels and their children included, then exits with an error.
   Each worker does the same for its own kernel if the build process is killed outright.
   The process-tree handling lives in ``_stopping.py`` beside this file.
6. **A damaged cache heals.** Before anything is read, every cached notebook is checked: one
   that is missing or cannot be read is set aside (its record and folder removed) and its
   page executes again; a cache database that cannot be read sets the whole cache aside
   (``<cache>.damaged``) and every page executes again. Each says so in one line.

The folders of the core budget, the run cache and the records are set (unless already
set) from ``charlm.bookbuild.build_environment(<build>)``, where ``<build>`` holds the
output folder (``_build``), so every kernel inherits them.
"""

from __future__ import annotations

import ast
import json
import multiprocessing
import multiprocessing.connection
import os
import re
import resource
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from _root import repo_root
from _stopping import end_pid_tree, guard_worker, stopped_with_build
from jupyter_client.manager import AsyncKernelManager
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.errors import ExtensionError
from sphinx.util import logging
from traitlets import CaselessStrEnum, default

from charlm.bookbuild import (
    BUILD_PID_ENV,
    PAGE_ENV,
    PROGRESS_ENV,
    RESULTS_ENV,
    build_environment,
    kernel_environment,
)
from charlm.bookbuild.digest import code_digest, imported_submodules, module_closure
from charlm.bookbuild.progress import FINISHED, read_finished, read_loops

logger = logging.getLogger(__name__)

ALL = "*"  # in execute_after: every other page
MARKER = "```{code-cell}"  # a MyST page with this is a notebook page
CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```", re.S | re.M)
FRONT_MATTER = re.compile(r"\A---[ \t\r]*\n(.*?)^---[ \t\r]*$", re.S | re.M)
STAGGER = 0.5  # seconds between two kernel starts
TICK = 0.5  # seconds between two redraws of the progress lines (in a terminal)
STATUS_EVERY = 60.0  # seconds between two status lines of the whole build (elsewhere)
HEAD_START = 120.0  # at most this many seconds before the others start after execute_first
JOIN = 10.0  # seconds a worker that sent its result gets to exit before it is ended
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # colour codes in a kernel's traceback


# --- the one reader of execute_after -------------------------------------------------------


def front_matter(docname: str, source: str) -> dict:
    """The YAML between a page's leading ``---`` lines, or ``{}`` without one."""
    found = FRONT_MATTER.match(source)
    if not found:
        return {}
    try:
        data = yaml.safe_load(found.group(1))
    except yaml.YAMLError as error:
        raise ExtensionError(f"{docname}: the front matter is not valid YAML: {error}") from error
    return data if isinstance(data, dict) else {}


def execute_after(docname: str, source: str) -> tuple[str, ...]:
    """The pages ``docname`` executes after, from ``execute_after`` in its front matter.

    A missing key is none; one name is a list of one; ``"*"`` stands for every other page.
    """
    value = front_matter(docname, source).get("execute_after", [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ExtensionError(
            f"{docname}: execute_after must be a page name or a list of page names "
            f'("*" for every other page), not {value!r}'
        )
    return tuple(value)


def execute_first(docname: str, source: str) -> bool:
    """Whether ``docname`` starts before the others (``execute_first: true``); default no."""
    value = front_matter(docname, source).get("execute_first", False)
    if not isinstance(value, bool):
        raise ExtensionError(f"{docname}: execute_first must be true or false, not {value!r}")
    return value


def is_notebook(source: str) -> bool:
    """Whether a MyST text has code cells (and so is executed and fingerprinted)."""
    return MARKER in source


@dataclass(frozen=True)
class Page:
    """A page as written: its name, its text, and the pages it executes after."""

    docname: str
    source: str
    after: tuple[str, ...]
    first: bool = False  # execute_first: the other pages start once it trains

    @classmethod
    def parse(cls, docname: str, source: str) -> Page:
        return cls(docname, source, execute_after(docname, source),
                   execute_first(docname, source))  # fmt: skip

    @property
    def runs_last(self) -> bool:
        """Executes after every other page, and so also fingerprints their records."""
        return ALL in self.after

    def waits_on(self, pending: Iterable[str]) -> list[str]:
        """The pages of ``pending`` this page names: it starts when they have executed."""
        pending = set(pending)
        return [doc for doc in self.after if doc in pending]


# --- 1. fingerprints -------------------------------------------------------------------------


def cell_code(source: str) -> str:
    """The Python of a MyST text's code cells, without their ``:option:`` lines."""
    return "\n".join(
        "\n".join(line for line in cell.splitlines() if not line.startswith(":"))
        for cell in CELL.findall(source)
    )


def imported_files(source: str, package_dir: Path) -> list[Path]:
    """The package's files a page's cells import, directly or through each other."""
    try:
        roots = imported_submodules(ast.parse(cell_code(source)), package_dir.name)
    except SyntaxError:  # a cell that is not plain python (a magic): assume it uses everything
        return sorted(package_dir.rglob("*.py"))
    return module_closure(package_dir, roots)


def listed_files(root: Path, paths: Iterable[str]) -> list[Path]:
    """The files ``fingerprint_paths`` names (a folder: its Python files)."""
    files: list[Path] = []
    for rel in paths:
        base = root / rel
        if not base.exists():
            raise ExtensionError(f"fingerprint_paths names {rel!r}, which is not in {root}")
        files += [base] if base.is_file() else sorted(base.rglob("*.py"))
    return files


def result_records() -> list[Path] | None:
    """The records under ``$CHARLM_RESULTS``, or None when it is not set."""
    folder = os.environ.get(RESULTS_ENV)
    return sorted(Path(folder).rglob("*.json")) if folder else None


def fingerprint(page: Page, root: Path, package: str, paths: Iterable[str]) -> str:
    """What ``page``'s outputs depend on besides its cells: see the module docstring (1)."""
    files = imported_files(page.source, root / package) + listed_files(root, paths)
    records = result_records() if page.runs_last else None
    if records is not None:
        return code_digest(files + records)  # records live outside the root: named by file name
    return code_digest(files, root)


def page_fingerprint(app: Sphinx, page: Page) -> str:
    """``fingerprint`` with the settings of ``app``."""
    root = repo_root(app.srcdir)
    package = app.config.fingerprint_package
    if not (root / package).is_dir():
        raise ExtensionError(f"fingerprint_package {package!r} is not a folder of {root}")
    return fingerprint(page, root, package, app.config.fingerprint_paths)


def fingerprint_cell(value: str) -> str:
    """The hidden code cell that puts ``value`` into the page's cache key."""
    return (
        "\n\n```{code-cell} ipython3\n:tags: [remove-cell]\n\n"
        f"# sources this page ran with: {value}\n```\n"
    )


def parsed_text(app: Sphinx, page: Page) -> tuple[str, str]:
    """The text myst-nb parses for a notebook ``page`` (fingerprint cell appended), and
    the fingerprint: one function for the read and for the execution ahead of it."""
    value = page_fingerprint(app, page)
    return page.source + fingerprint_cell(value), value


def read_page(app: Sphinx, docname: str) -> Page:
    """The page ``docname`` as its file holds it now."""
    path = Path(app.env.doc2path(docname))
    return Page.parse(docname, path.read_text(encoding="utf-8"))


def source_read(app: Sphinx, docname: str, source: list[str]) -> None:
    """Append the hidden fingerprint cell to every notebook page."""
    if not is_notebook(source[0]):
        return
    source[0], value = parsed_text(app, Page.parse(docname, source[0]))
    app.env.fingerprints = getattr(app.env, "fingerprints", {})
    app.env.fingerprints[docname] = value


# --- 2 and 3. what to re-read ----------------------------------------------------------------


def get_outdated(app: Sphinx, env: BuildEnvironment, added, changed, removed) -> list[str]:
    """Docs to re-read beyond Sphinx's own choice: see the module docstring (2, 3 and 6)."""
    stale: set[str] = set()
    if env.mystnb_config.execution_mode == "cache":
        healed = heal_cache(Path(env.mystnb_config.execution_cache_path))
        for docname in getattr(env, "fingerprints", {}):
            if docname in env.found_docs and (
                healed is None or str(Path(env.doc2path(docname))) in healed
            ):
                stale.add(docname)
    for docname, value in getattr(env, "fingerprints", {}).items():
        if docname not in env.found_docs:
            continue
        page = read_page(app, docname)
        if page.runs_last or page_fingerprint(app, page) != value:
            stale.add(docname)
    for docname, meta in getattr(env, "nb_metadata", {}).items():
        exec_data = meta.get("exec_data") or {}
        if exec_data.get("succeeded") is False and docname in env.found_docs:
            stale.add(docname)
    stale -= set(added) | set(changed)
    if stale:
        logger.info(f"[execution] re-reading {len(stale)} notebook page(s): {sorted(stale)}")
    return sorted(stale)


def merge_info(app: Sphinx, env: BuildEnvironment, docnames, other: BuildEnvironment) -> None:
    """Parallel reads: collect the fingerprints a worker process read."""
    env.fingerprints = {**getattr(env, "fingerprints", {}), **getattr(other, "fingerprints", {})}


# --- 6. a damaged cache heals ----------------------------------------------------------------


def heal_cache(path: Path) -> set[str] | None:
    """Set aside what of the jupyter-cache at ``path`` cannot be read: module docstring (6).

    Returns the files of the pages whose cached outputs were set aside, or None when the
    whole cache was (its database is damaged): those pages must execute again. Each thing
    set aside is said in one line; the build goes on.
    """
    import sqlite3

    import sqlalchemy.exc
    from jupyter_cache import get_cache
    from jupyter_cache.cache.db import NbCacheRecord

    if not path.is_dir():
        return set()
    cache = get_cache(path)
    try:
        records = cache.list_cache_records()
    except (sqlite3.DatabaseError, sqlalchemy.exc.DatabaseError) as error:
        cache.db.dispose()
        aside = path.with_name(path.name + ".damaged")
        shutil.rmtree(aside, ignore_errors=True)
        path.rename(aside)
        reason = str(getattr(error, "orig", None) or error).splitlines()[0]
        say_healed(
            f"the execution cache's database {path / 'global.db'} cannot be read ({reason}): "
            f"the cache is set aside as {aside}, and every page executes again"
        )
        return None
    healed = set()
    for record in records:
        notebook = path / "executed" / record.hashkey / "base.ipynb"
        problem = unreadable(notebook)
        if problem is None:
            continue
        shutil.rmtree(notebook.parent, ignore_errors=True)
        NbCacheRecord.remove_records([record.pk], cache.db)
        healed.add(record.uri)
        say_healed(
            f"the cached outputs of {record.uri} ({notebook}) {problem}: "
            "they are set aside, and the page executes again"
        )
    cache.db.dispose()
    return healed


def unreadable(notebook: Path) -> str | None:
    """Why a cached notebook file cannot be used, or None when it can."""
    if not notebook.is_file():
        return "are missing"
    try:
        nb = json.loads(notebook.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:  # truncated, not JSON, ...
        return f"cannot be read ({type(error).__name__})"
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return "are not a notebook"
    return None


def say_healed(message: str) -> None:
    """One line on what was set aside. Not a Sphinx warning: the build then succeeds, and
    warnings fail it."""
    logger.info(f"[execution] warning: {message}")


# --- 4. side by side ------------------------------------------------------------------------


def set_environment(app: Sphinx) -> None:
    """Point the core budget, run cache and records into the build folder, for every kernel."""
    build = Path(app.outdir).resolve().parent
    for name, value in build_environment(build).items():
        os.environ.setdefault(name, value)
    os.environ[BUILD_PID_ENV] = str(os.getpid())  # a timing pauses this process's descendants


def notebook(app: Sphinx, page: Page) -> Any | None:
    """The notebook myst-nb will build from ``page``, or None for a plain page."""
    from myst_nb.core.read import create_nb_reader

    env = app.env
    path = Path(env.doc2path(page.docname))
    text = parsed_text(app, page)[0] if is_notebook(page.source) else page.source
    reader = create_nb_reader(str(path), env.myst_config, env.mystnb_config, text)
    return None if reader is None else reader.read(text)


def pending(app: Sphinx, docnames: Iterable[str], last: bool) -> dict[str, tuple[Page, Any]]:
    """Pages about to be read whose outputs the jupyter-cache lacks, in one wave.

    ``last``: the pages that run after all others; otherwise all the other pages.
    """
    from jupyter_cache import get_cache

    cache = get_cache(app.env.mystnb_config.execution_cache_path)
    todo = {}
    for docname in sorted(docnames):
        page = read_page(app, docname)
        nb = notebook(app, page) if page.runs_last == last else None
        if nb is None:
            continue
        try:
            cache.match_cache_notebook(nb)
        except KeyError:
            todo[docname] = (page, nb)
    return todo


def preexecute(app: Sphinx, env: BuildEnvironment, docnames: list[str]) -> None:
    """Execute every pending page, side by side, into the jupyter-cache."""
    if env.mystnb_config.execution_mode != "cache":
        return
    timeline: dict[str, dict] = {}
    began = time.time()  # the pages' start and end are seconds after this (the epoch's)
    start = time.perf_counter()
    try:
        with stopped_with_build():
            for last in (False, True):  # pages that run last read what the others recorded
                todo = pending(app, docnames, last)
                if todo:
                    execute_side_by_side(app, todo, timeline, start)
                if timeline and not last:
                    remember(timeline)
    except PageFailed as failed:
        # the block says all there is to say: no traceback of Sphinx's or jupyter-book's
        sys.stdout.flush()
        sys.stderr.write(f"\n[execution] the build stopped: {failed}\n")
        sys.stderr.flush()
        raise SystemExit(1) from None
    if timeline:
        total = time.perf_counter() - start
        logger.info(f"[execution] all pages executed in {total:.1f} s")
        record = Path(app.outdir).resolve().parent / "execution.json"
        done = {"began": began, "seconds": total, "pages": timeline}
        record.write_text(json.dumps(done, indent=2) + "\n")


def execute_side_by_side(app: Sphinx, todo: dict, timeline: dict, start: float) -> None:
    """Execute the pages of ``todo`` in worker processes, each once those it waits on end.

    Each worker has a pipe of its own for its result, so no worker can block another (a
    pool's shared result queue can be left locked by a worker stopped mid-write). When a
    page fails, every other worker is ended with its kernel before the error is raised; on
    any way out, no worker of this build is left running.
    """
    after = {doc: page.waits_on(todo) for doc, (page, _) in todo.items()}
    pages = {doc: page for doc, (page, _) in todo.items()}
    if not timeline:  # the first pages this build executes: the loops of the last one go
        (Path(os.environ[PROGRESS_ENV]) / FINISHED).unlink(missing_ok=True)
    logger.info(f"[execution] executing {len(todo)} page(s) side by side: {sorted(todo)}")
    lines = ProgressLines(sys.stdout, os.environ[PROGRESS_ENV])
    context = multiprocessing.get_context("spawn")
    workers: dict[str, Worker] = {}
    # a head start for execute_first pages that wait for no other page of this wave
    first = {doc for doc, page in pages.items() if page.first and not after[doc]}
    folder = os.environ[PROGRESS_ENV]
    try:
        while todo or workers:
            ahead = head_start(first, todo, timeline, folder, time.perf_counter() - start)
            ready = [doc for doc in todo if ready_to_start(doc, after, todo, workers)
                     and (doc in first or not ahead)]  # fmt: skip
            if not ready and not workers:
                raise ExtensionError(f"execute_after: these pages wait for each other: {after}")
            for doc in ready:
                workers[doc] = Worker.start(context, app, doc, todo.pop(doc)[1])
                timeline[doc] = {"start": time.perf_counter() - start}
                time.sleep(STAGGER)  # kernel starts, each a burst of work, apart
            done = Worker.wait(workers.values(), TICK if ahead else lines.tick)
            lines.draw({doc: timeline[doc]["start"] for doc in workers}, start)
            if done:
                lines.clear()
            for worker in done:
                outcome = worker.outcome()
                del workers[worker.doc]
                timeline[worker.doc].update(
                    end=time.perf_counter() - start,
                    seconds=outcome.seconds,
                    cpu_seconds=outcome.cpu_seconds,
                )
                if outcome.failed:
                    end_workers(workers.values())  # fail fast: the others stop now
                    raise PageFailed(failure_message(app, pages[worker.doc], outcome))
                store(app, worker.doc, outcome.nb_json, outcome.seconds)
                logger.info(f"[execution] {worker.doc} executed in {outcome.seconds:.1f} s")
    finally:
        lines.clear()
        end_workers(workers.values())


class PageFailed(Exception):
    """A page failed to execute: the message names the page, the cell and the cause."""


@dataclass
class Outcome:
    """What a worker sends back: the executed notebook, or why it failed and where."""

    nb_json: str  # the notebook with its outputs ("" when it failed)
    seconds: float  # how long it executed
    cause: str = ""  # why it failed, as the reader should see it; "" when it did not
    cell: int | None = None  # the notebook index of the cell that was running when it failed
    log: str = ""  # the file holding the worker's and its kernel's own output
    cpu_seconds: float = 0.0  # CPU time of its kernel and every process the kernel started

    @property
    def failed(self) -> bool:
        return bool(self.cause)


@dataclass
class Worker:
    """One page executing in a process of its own, with a pipe of its own for its result."""

    doc: str
    process: Any  # a multiprocessing Process
    results: Any  # the reading end of the worker's pipe (a multiprocessing Connection)
    log: str  # the file the worker and its kernel write their own output to

    @classmethod
    def start(cls, context: Any, app: Sphinx, doc: str, nb: Any) -> Worker:
        """Start executing the notebook of ``doc`` in the page's own folder."""
        import nbformat

        cwd = str(Path(app.env.doc2path(doc)).parent)
        log = log_path(app, doc)
        log.parent.mkdir(parents=True, exist_ok=True)
        results, sending = context.Pipe(duplex=False)
        timeout = app.env.mystnb_config.execution_timeout
        args = (sending, doc, nbformat.writes(nb), cwd, timeout, str(log))
        process = context.Process(target=run_worker, args=args, name=f"execute {doc}")
        process.start()
        sending.close()  # the worker holds the only writing end now: its end ends the pipe
        return cls(doc, process, results, str(log))

    @staticmethod
    def wait(workers: Iterable[Worker], timeout: float | None) -> list[Worker]:
        """The workers that have sent their result or ended, after at most ``timeout`` s."""
        handles: dict[Any, Worker] = {}
        for worker in workers:
            handles[worker.results] = worker
            handles[worker.process.sentinel] = worker
        ready = multiprocessing.connection.wait(list(handles), timeout)
        return list({handles[handle].doc: handles[handle] for handle in ready}.values())

    def outcome(self) -> Outcome:
        """The worker's result, once it is ready; a worker that ended without one (killed)
        is a failure. Either way the worker has ended when this returns."""
        try:
            if self.results.poll():
                outcome = self.results.recv()
                self.end(wait=JOIN)
                return outcome
        except (EOFError, OSError):  # ended without sending: its end closed the pipe
            pass
        self.end(wait=JOIN)
        code = self.process.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"status {code}"
        cause = (
            f"its worker process ended without a result ({how}): stopped from outside, "
            "or killed by the system when memory ran out (see dmesg)"
        )
        return Outcome("", 0.0, cause, log=self.log)

    def end(self, wait: float = 0.0) -> None:
        """End this worker (after ``wait`` seconds to exit by itself), its kernel and
        whatever the kernel started; close the pipe."""
        self.process.join(wait)
        if self.process.is_alive():
            end_pid_tree(self.process.pid)
        self.process.join(JOIN)
        self.results.close()


def end_workers(workers: Iterable[Worker]) -> None:
    """End every worker of ``workers``, each with its kernel and the kernel's children."""
    for worker in list(workers):
        worker.end()


def log_path(app: Sphinx, doc: str) -> Path:
    """Where the worker of ``doc`` and its kernel write their own output."""
    build = Path(app.outdir).resolve().parent
    return build / "execution-logs" / (doc.replace("/", "-") + ".log")


def failure_message(app: Sphinx, page: Page, outcome: Outcome) -> str:
    """One block naming the page, the cell (with its line in the page's file) and the cause."""
    path = Path(app.env.doc2path(page.docname))
    try:
        shown = path.relative_to(repo_root(app.srcdir))
    except ValueError:
        shown = path
    head = f"executing {page.docname} failed"
    if outcome.cell is not None:
        head += f", in {cell_place(page.source, outcome.cell, shown)}"
    body = ["  " + line for line in outcome.cause.rstrip().splitlines()]
    tail = (
        "The other pages were stopped; nothing of this page was cached. "
        f"Its kernel's own output is in {outcome.log}."
    )
    return "\n".join([head + ":", *body, tail])


def cell_place(source: str, index: int, path: Path) -> str:
    """``"code cell 3 of 7 (line 120 of book/02_mlp.md)"``: the notebook cell ``index`` of a
    page, found among the page's code cells (the notebook also holds the text between them).
    """
    from myst_nb.core.read import read_myst_markdown_notebook

    cells = list(CELL.finditer(source))
    try:
        kinds = [cell.cell_type for cell in read_myst_markdown_notebook(source).cells]
    except Exception:  # noqa: BLE001 -- a page that executed can be read; if not, say less
        kinds = []
    number = kinds[: index + 1].count("code")
    if index >= len(kinds) or kinds[index] != "code" or number > len(cells):
        return f"cell {index + 1}"
    line = source[: cells[number - 1].start()].count("\n") + 1
    return f"code cell {number} of {len(cells)} (line {line} of {path})"


class LocalKernelManager(AsyncKernelManager):
    """A kernel whose sockets are files beside its connection file (ZeroMQ's ipc transport).

    Over TCP every kernel warns that it runs "without encryption", once per page, into the
    build's terminal; over ipc nothing leaves the machine to be encrypted, no port is
    chosen. Each kernel's files get a name of their own (jupyter_client's default,
    ``kernel-ipc`` in the working folder, would be shared by the pages of one folder).
    """

    transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

    @default("ip")
    def _unique_ip(self) -> str:
        return str(Path(tempfile.gettempdir()) / f"charlm-kernel-{uuid.uuid4().hex[:12]}")


# --- in a worker process ---------------------------------------------------------------------


def run_worker(results: Any, doc: str, nb_json: str, cwd: str, timeout: int, log: str) -> None:
    """A worker process: execute one page and send its ``Outcome`` down ``results``.

    The worker's own output and its kernel's (such as a kernel's noise as it is shut down
    after a timeout) go to ``log``, not to the build's terminal, where a failure is one block.
    """
    guard_worker()
    with open(log, "w") as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
    try:
        outcome = execute(doc, nb_json, cwd, timeout)
    except Exception as error:  # noqa: BLE001 -- any failure goes back to the build
        outcome = Outcome("", 0.0, f"{type(error).__name__}: {error}")
    outcome.log = log
    results.send(outcome)
    results.close()


def execute(doc: str, nb_json: str, cwd: str, timeout: int) -> Outcome:
    """Run one notebook in a fresh kernel: its ``Outcome``.

    The kernel learns its page from ``$CHARLM_PAGE``, for its progress reports. The first
    failing cell ends the page: a failing cell fails the build.
    """
    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    os.environ[PAGE_ENV] = doc
    os.environ.update(kernel_environment(dict(os.environ)))  # the kernel plugs the build in
    nb = nbformat.reads(nb_json, as_version=4)
    timeout = nb.metadata.get("execution", {}).get("timeout", timeout)  # a page's own
    running: dict[str, int] = {}  # the notebook index of the cell running now

    def on_cell_start(cell: Any, cell_index: int) -> None:
        running["cell"] = cell_index

    began = time.perf_counter()
    try:
        result = single_nb_execution(
            nb,
            cwd=cwd,
            timeout=timeout,
            allow_errors=False,
            kernel_manager_class=LocalKernelManager,
            on_cell_start=on_cell_start,
        )
    except DeadKernelError:
        cause = (
            "the kernel died while this cell ran: it was killed, most often by the system "
            "when memory ran out (see dmesg). Free some memory, or build this page alone: "
            f"make chapter CH={Path(doc).name}"
        )
        return Outcome("", time.perf_counter() - began, cause, running.get("cell"))
    error = result.err
    if error is None:
        # the kernel has ended and been waited for, and it waited for its own workers, so
        # their CPU time is this process's children's: the page's whole cost in CPU
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        return Outcome(nbformat.writes(nb), result.time, cpu_seconds=used.ru_utime + used.ru_stime)
    if isinstance(error, CellTimeoutError):
        cause = (
            f"the cell ran longer than the timeout of {timeout} s (execute: timeout in "
            "_config.yml, or execution: timeout in the page's front matter)"
        )
    elif isinstance(error, CellExecutionError):
        cause = ANSI.sub("", error.traceback).strip() or f"{error.ename}: {error.evalue}"
    else:
        cause = f"{type(error).__name__}: {error}"
    return Outcome("", result.time, cause, running.get("cell"))


# --- progress in a terminal ------------------------------------------------------------------


def duration(seconds: float) -> str:
    """``75.2`` -> ``"1m15s"``; under a minute, ``"42s"``."""
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


def progress_line(doc: str, seconds: float, loops: list) -> str:
    """One executing page: how long it has run, and each of its training loops.

    ``05_wavenet  2m10s  WaveNet 45,000/200,000 steps, 3m05s left``; a page that is not
    training at the moment shows only its time (it is running cells).
    """
    line = f"  {doc}  {duration(seconds)}"
    trained = [
        f"{loop.what} {loop.done:,}/{loop.total:,} steps"
        + (f", {duration(loop.seconds_left)} left" if loop.seconds_left is not None else "")
        for loop in loops
    ]
    return line + ("  " + "; ".join(trained) if trained else "  running cells")


def build_line(seconds: float, loops: list) -> str:
    """The whole build: how long so far, and at least how long left: the time left of its
    longest training run still going (a clean build is about as long as its longest run;
    after it come the last cells of its page and the site's pages)."""
    line = f"build {duration(seconds)}"
    timed = [loop for loop in loops if loop.seconds_left is not None]
    if not timed:
        return line
    longest = max(timed, key=lambda loop: loop.seconds_left)
    page = longest.page.rsplit("/", 1)[-1]
    return f"{line}, at least {duration(longest.seconds_left)} left ({longest.what}, {page})"


class ProgressLines:
    """In a terminal, a line for the whole build and one per executing page, redrawn in
    place; elsewhere (a log, CI) the build's line alone, once a minute.

    The lines are erased before anything else is printed (``clear``), so the build's own
    messages (a page executed, a failure) stay on screen in order.
    """

    def __init__(self, stream: Any, folder: str) -> None:
        self.stream = stream
        self.folder = folder
        self.on = stream.isatty()
        self.tick = TICK if self.on else STATUS_EVERY  # how long to wait between redraws
        self.shown = 0  # lines on screen now
        self.said = 0.0  # when the last status line was written (outside a terminal)

    def draw(self, running: dict[str, float], start: float) -> None:
        """Redraw the lines of the pages in ``running`` (docname -> its start, as offset)."""
        now = time.perf_counter() - start
        every = read_loops(self.folder)
        if not self.on:
            if now - self.said >= STATUS_EVERY:
                self.stream.write(f"[execution] {build_line(now, every)}\n")
                self.stream.flush()
                self.said = now
            return
        loops: dict[str, list] = {}
        for loop in every:
            loops.setdefault(loop.page, []).append(loop)
        width = shutil.get_terminal_size().columns - 1
        text = [f"  {build_line(now, every)}"[:width]] + [
            progress_line(doc, now - began, loops.get(doc, []))[:width]
            for doc, began in sorted(running.items())
        ]
        self.clear()
        self.stream.write("".join(line + "\n" for line in text))
        self.stream.flush()
        self.shown = len(text)

    def clear(self) -> None:
        """Erase the lines drawn last (cursor up to the first, then to the screen's end)."""
        if self.on and self.shown:
            self.stream.write(f"\x1b[{self.shown}F\x1b[J")
            self.stream.flush()
            self.shown = 0


def store(app: Sphinx, doc: str, nb_json: str, seconds: float) -> None:
    """Put an executed notebook into the jupyter-cache, where myst-nb will look it up."""
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(app.env.mystnb_config.execution_cache_path)
    nb = nbformat.reads(nb_json, as_version=4)
    uri = str(Path(app.env.doc2path(doc)))
    bundle = CacheBundleIn(nb, uri, data={"execution_seconds": seconds})
    cache.cache_notebook_bundle(bundle, check_validity=False, overwrite=True)


def remember(timeline: dict) -> None:
    """Merge this build's execution times into the record the last pages read."""
    path = Path(os.environ[RESULTS_ENV]) / "timings" / "execution.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    pages = json.loads(path.read_text()) if path.exists() else {}
    pages.update({doc: round(t["seconds"], 1) for doc, t in timeline.items()})
    path.write_text(json.dumps(dict(sorted(pages.items())), indent=2) + "\n")


def head_start(first: set[str], todo: dict, timeline: dict, folder: str, now: float) -> bool:
    """Whether the pages of ``first`` (``execute_first``) still hold the others back: one of
    them is yet to start, or has run less than ``HEAD_START`` seconds, not yet executed,
    and no training loop of its has begun (running now, or finished)."""
    if not first:
        return False
    if first & set(todo):
        return True
    trained = {loop.page for loop in read_loops(folder) + read_finished(folder)}
    return any(
        "end" not in timeline[doc]
        and now - timeline[doc]["start"] < HEAD_START
        and doc not in trained
        for doc in first
        if doc in timeline
    )


def ready_to_start(doc: str, after: dict, todo: dict, running: dict) -> bool:
    """Whether none of the pages ``doc`` waits on is still to run or running."""
    waiting = set(todo) | set(running)
    return not any(dep in waiting for dep in after[doc])


def setup(app: Sphinx) -> dict:
    app.add_config_value("fingerprint_package", "charlm", "env")
    app.add_config_value("fingerprint_paths", [], "env")
    app.connect("builder-inited", set_environment)
    app.connect("source-read", source_read)
    app.connect("env-get-outdated", get_outdated)
    app.connect("env-merge-info", merge_info)
    app.connect("env-before-read-docs", preexecute)
    return {"version": "3", "parallel_read_safe": True, "parallel_write_safe": True}
