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
   A failing page stops the build with its traceback; nothing of it is cached. Each
   page's start and end go to ``<build>/execution.json`` (this build's executions) and its
   seconds to ``<results>/timings/execution.json`` (every page's latest execution).
5. **Stopped with the build.** While pages execute, a build stopped from outside (SIGTERM
   or SIGHUP, or its parent process gone, as when ``make`` is terminated) ends every
   process it started, kernels and their children included, then exits with an error.
   Each worker does the same for its own kernel if the build process is killed outright.
   The process-tree handling lives in ``_stopping.py`` beside this file.

The folders of the core budget, the run cache and the records are set (unless already
set) from ``charlm.bookbuild.build_environment(<build>)``, where ``<build>`` holds the
output folder (``_build``), so every kernel inherits them.
"""

from __future__ import annotations

import ast
import json
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from _root import repo_root
from _stopping import guard_worker, stopped_with_build
from jupyter_client.manager import AsyncKernelManager
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.errors import ExtensionError
from sphinx.util import logging
from traitlets import CaselessStrEnum, default

from charlm.bookbuild import PAGE_ENV, PROGRESS_ENV, RESULTS_ENV, build_environment
from charlm.bookbuild.digest import code_digest, imported_submodules, module_closure
from charlm.bookbuild.progress import read_loops

logger = logging.getLogger(__name__)

ALL = "*"  # in execute_after: every other page
MARKER = "```{code-cell}"  # a MyST page with this is a notebook page
CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```", re.S | re.M)
FRONT_MATTER = re.compile(r"\A---[ \t\r]*\n(.*?)^---[ \t\r]*$", re.S | re.M)
STAGGER = 0.5  # seconds between two kernel starts
TICK = 0.5  # seconds between two redraws of the progress lines (in a terminal)


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


def is_notebook(source: str) -> bool:
    """Whether a MyST text has code cells (and so is executed and fingerprinted)."""
    return MARKER in source


@dataclass(frozen=True)
class Page:
    """A page as written: its name, its text, and the pages it executes after."""

    docname: str
    source: str
    after: tuple[str, ...]

    @classmethod
    def parse(cls, docname: str, source: str) -> Page:
        return cls(docname, source, execute_after(docname, source))

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
    """Docs to re-read beyond Sphinx's own choice: see the module docstring (2 and 3)."""
    stale: set[str] = set()
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


# --- 4. side by side ------------------------------------------------------------------------


def set_environment(app: Sphinx) -> None:
    """Point the core budget, run cache and records into the build folder, for every kernel."""
    build = Path(app.outdir).resolve().parent
    for name, value in build_environment(build).items():
        os.environ.setdefault(name, value)


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
    start = time.perf_counter()
    with stopped_with_build():
        for last in (False, True):  # pages that run last read what the others recorded
            todo = pending(app, docnames, last)
            if todo:
                execute_side_by_side(app, todo, timeline, start)
            if timeline and not last:
                remember(timeline)
    if timeline:
        total = time.perf_counter() - start
        logger.info(f"[execution] all pages executed in {total:.1f} s")
        record = Path(app.outdir).resolve().parent / "execution.json"
        record.write_text(json.dumps({"seconds": total, "pages": timeline}, indent=2) + "\n")


def execute_side_by_side(app: Sphinx, todo: dict, timeline: dict, start: float) -> None:
    """Execute the pages of ``todo`` in worker processes, each once those it waits on end."""
    after = {doc: page.waits_on(todo) for doc, (page, _) in todo.items()}
    logger.info(f"[execution] executing {len(todo)} page(s) side by side: {sorted(todo)}")
    running: dict[Future, str] = {}
    lines = ProgressLines(sys.stdout, os.environ[PROGRESS_ENV])
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(len(todo), mp_context=context, initializer=guard_worker) as pool:
        while todo or running:
            ready = [doc for doc in todo if ready_to_start(doc, after, todo, running)]
            if not ready and not running:
                raise ExtensionError(f"execute_after: these pages wait for each other: {after}")
            for doc in ready:
                running[submit(pool, app, doc, todo.pop(doc)[1])] = doc
                timeline[doc] = {"start": time.perf_counter() - start}
                time.sleep(STAGGER)  # kernel starts, each a burst of work, apart
            done, _ = wait(running, timeout=lines.tick, return_when=FIRST_COMPLETED)
            lines.draw({doc: timeline[doc]["start"] for doc in running.values()}, start)
            if done:
                lines.clear()
            for future in done:
                doc = running.pop(future)
                nb_json, seconds, error = future.result()
                timeline[doc].update(end=time.perf_counter() - start, seconds=seconds)
                if error:
                    lines.clear()
                    for other in running:
                        other.cancel()
                    terminate_workers(pool)
                    raise ExtensionError(f"executing {doc} failed:\n{error}")
                store(app, doc, nb_json, seconds)
                logger.info(f"[execution] {doc} executed in {seconds:.1f} s")


def submit(pool: ProcessPoolExecutor, app: Sphinx, doc: str, nb: Any) -> Future:
    """Start executing the notebook of ``doc`` in the page's own folder."""
    import nbformat

    config = app.env.mystnb_config
    cwd = str(Path(app.env.doc2path(doc)).parent)
    return pool.submit(
        execute,
        doc,
        nbformat.writes(nb),
        cwd,
        config.execution_timeout,
        config.execution_allow_errors,
    )


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


def execute(
    doc: str, nb_json: str, cwd: str, timeout: int, allow_errors: bool
) -> tuple[str, float, str]:
    """Run one notebook in a fresh kernel (in a worker process): (notebook, seconds, error).

    The kernel learns its page from ``$CHARLM_PAGE``, for its progress reports.
    """
    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution

    os.environ[PAGE_ENV] = doc
    nb = nbformat.reads(nb_json, as_version=4)
    result = single_nb_execution(
        nb,
        cwd=cwd,
        timeout=timeout,
        allow_errors=allow_errors,
        kernel_manager_class=LocalKernelManager,
    )
    return nbformat.writes(nb), result.time, result.exc_string or ""


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


class ProgressLines:
    """In a terminal, one line per executing page, redrawn in place; elsewhere nothing.

    The lines are erased before anything else is printed (``clear``), so the build's own
    messages (a page executed, a failure) stay on screen in order.
    """

    def __init__(self, stream: Any, folder: str) -> None:
        self.stream = stream
        self.folder = folder
        self.on = stream.isatty()
        self.tick = TICK if self.on else None  # how long to wait between redraws
        self.shown = 0  # lines on screen now

    def draw(self, running: dict[str, float], start: float) -> None:
        """Redraw the lines of the pages in ``running`` (docname -> its start, as offset)."""
        if not self.on:
            return
        loops: dict[str, list] = {}
        for loop in read_loops(self.folder):
            loops.setdefault(loop.page, []).append(loop)
        now = time.perf_counter() - start
        width = shutil.get_terminal_size().columns - 1
        text = [
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


def ready_to_start(doc: str, after: dict, todo: dict, running: dict) -> bool:
    """Whether none of the pages ``doc`` waits on is still to run or running."""
    waiting = set(todo) | set(running.values())
    return not any(dep in waiting for dep in after[doc])


def terminate_workers(pool: ProcessPoolExecutor) -> None:
    """Stop the other pages' workers at once (each ends its kernel): fail fast."""
    for process in list(getattr(pool, "_processes", {}).values()):
        process.terminate()


def setup(app: Sphinx) -> dict:
    app.add_config_value("fingerprint_package", "charlm", "env")
    app.add_config_value("fingerprint_paths", [], "env")
    app.connect("builder-inited", set_environment)
    app.connect("source-read", source_read)
    app.connect("env-get-outdated", get_outdated)
    app.connect("env-merge-info", merge_info)
    app.connect("env-before-read-docs", preexecute)
    return {"version": "3", "parallel_read_safe": True, "parallel_write_safe": True}
