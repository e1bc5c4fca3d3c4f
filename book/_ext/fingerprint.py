"""Sphinx extension: re-execute chapters when the code they run changes, never republish failures.

jupyter-cache keys a notebook on its code cells only, so editing ``charlm`` alone would
republish outputs computed by the old code. This extension closes that gap and one more:

1. **Fingerprint cell.** Every notebook page (a MyST file with ``{code-cell}``) gets one
   hidden code cell appended at read time holding the page's fingerprint: a sha256 of the
   modules of ``fingerprint_package`` (``charlm``) that its cells import, directly or
   through each other, plus the files in ``fingerprint_paths`` (the lock file). Modules
   count by their syntax tree without docstrings (``charlm.digest``). A change to any of
   them changes the notebook's cache key, so myst-nb executes it again; a change to a
   module the page does not import, to a docstring or comment, or to prose does not.
   A page that runs after all others (``execute_after: ["*"]``: the results and
   reproducing pages) also counts the records they wrote (``$CHARLM_RESULTS``: results and
   execution times), and is re-read every build.
2. **Re-read on change.** Sphinx re-reads only changed sources; a notebook page whose
   fingerprint differs from the one it was last read with is marked outdated.
3. **No cached failures.** A notebook whose last execution failed is re-read (and so
   re-executed) on every build until it succeeds, so an incremental build cannot pass
   over a broken chapter.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging

from charlm.digest import code_digest, imported_submodules, module_closure

logger = logging.getLogger(__name__)

MARKER = "```{code-cell}"


CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```", re.S | re.M)


AFTER_ALL = re.compile(r"^execute_after:\s*\[\s*[\"']\*[\"']\s*\]", re.M)


def waits_for_all(source: str) -> bool:
    """Whether a page's front matter says ``execute_after: ["*"]``."""
    return bool(AFTER_ALL.search(source.split("\n---", 1)[0]))


def fingerprint(root: Path, package: str, paths: list[str], source: str) -> str:
    """The fingerprint of a page with MyST ``source``: see the module docstring (1)."""
    code = "\n".join(
        "\n".join(line for line in cell.splitlines() if not line.startswith(":"))
        for cell in CELL.findall(source)
    )
    try:
        roots = imported_submodules(ast.parse(code), package)
    except SyntaxError:  # a cell that is not plain Python (a magic): assume it uses everything
        roots = {p.stem for p in (root / package).glob("*.py")}
    files = module_closure(root / package, roots)
    for rel in paths:
        base = root / rel
        if not base.exists():
            raise FileNotFoundError(f"fingerprint_paths names {rel!r}, which does not exist")
        files += [base] if base.is_file() else sorted(base.rglob("*.py"))
    if waits_for_all(source) and os.environ.get("CHARLM_RESULTS"):
        files += sorted(Path(os.environ["CHARLM_RESULTS"]).rglob("*.json"))
        return code_digest(files)  # records live outside the root: named by file name
    return code_digest(files, root)


def find_root(srcdir: Path, paths: list[str]) -> Path:
    """The source dir, or its nearest ancestor, that holds every path in ``paths``.

    A whole-book build reads from the repository root; a one-page build
    (``jupyter-book build book/01_bigram.md``) reads from ``book/``: both find ``charlm/``.
    """
    for root in (srcdir, *srcdir.parents):
        if all((root / rel).exists() for rel in paths):
            return root
    raise FileNotFoundError(f"no folder at or above {srcdir} holds all of {paths}")


def _root(app: Sphinx) -> Path:
    package = app.config.fingerprint_package
    return find_root(Path(app.srcdir).resolve(), [package, *app.config.fingerprint_paths])


def page_fingerprint(app: Sphinx, source: str) -> str:
    """The fingerprint of a notebook page whose (original) MyST text is ``source``."""
    package, paths = app.config.fingerprint_package, list(app.config.fingerprint_paths)
    return fingerprint(_root(app), package, paths, source)


def _is_notebook(text: str) -> bool:
    return MARKER in text


def source_read(app: Sphinx, docname: str, source: list[str]) -> None:
    """Append the hidden fingerprint cell to every notebook page."""
    if _is_notebook(source[0]):
        value = page_fingerprint(app, source[0])
        app.env.fingerprints = getattr(app.env, "fingerprints", {})
        app.env.fingerprints[docname] = value
        source[0] += (
            "\n\n```{code-cell} ipython3\n:tags: [remove-cell]\n\n"
            f"# sources this page ran with: {value}\n```\n"
        )


def get_outdated(app: Sphinx, env: BuildEnvironment, added, changed, removed) -> list[str]:
    """Docs to re-read beyond Sphinx's own choice: see the module docstring (2 and 3)."""
    stale: set[str] = set()
    for docname, value in getattr(env, "fingerprints", {}).items():
        if docname not in env.found_docs:
            continue
        source = Path(env.doc2path(docname)).read_text(encoding="utf-8")
        if page_fingerprint(app, source) != value or waits_for_all(source):
            stale.add(docname)
    for docname, meta in getattr(env, "nb_metadata", {}).items():
        exec_data = meta.get("exec_data") or {}
        if exec_data.get("succeeded") is False and docname in env.found_docs:
            stale.add(docname)
    stale -= set(added) | set(changed)
    if stale:
        logger.info(f"[fingerprint] re-reading {len(stale)} notebook page(s): {sorted(stale)}")
    return sorted(stale)


def merge_info(app: Sphinx, env: BuildEnvironment, docnames, other: BuildEnvironment) -> None:
    """Parallel reads: collect the fingerprints a worker process read."""
    env.fingerprints = {**getattr(env, "fingerprints", {}), **getattr(other, "fingerprints", {})}


def setup(app: Sphinx) -> dict:
    app.add_config_value("fingerprint_package", "charlm", "env")
    app.add_config_value("fingerprint_paths", [], "env")
    app.connect("source-read", source_read)
    app.connect("env-get-outdated", get_outdated)
    app.connect("env-merge-info", merge_info)
    return {"version": "2", "parallel_read_safe": True, "parallel_write_safe": True}
