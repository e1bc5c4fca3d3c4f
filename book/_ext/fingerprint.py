"""Sphinx extension: re-execute chapters when the code they run changes, never republish failures.

jupyter-cache keys a notebook on its code cells only, so editing ``charlm`` alone would
republish outputs computed by the old code. This extension closes that gap and one more:

1. **Fingerprint cell.** Every notebook page (a MyST file with ``{code-cell}``) gets one
   hidden code cell appended at read time holding a sha256 of the files named in
   ``fingerprint_paths`` (the ``charlm`` sources and the lock file). Their change changes
   the notebook's cache key, so myst-nb executes it again; prose edits leave it alone.
2. **Re-read on change.** Sphinx re-reads only changed sources; when the fingerprint differs
   from the one stored with the last build, every notebook page is marked outdated.
3. **No cached failures.** A notebook whose last execution failed is re-read (and so
   re-executed) on every build until it succeeds, so an incremental build cannot pass
   over a broken chapter.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging

logger = logging.getLogger(__name__)

MARKER = "```{code-cell}"


def fingerprint(root: Path, paths: list[str]) -> str:
    """sha256 over the relative names and bytes of every file under ``paths`` (sorted)."""
    h = hashlib.sha256()
    for rel in paths:
        base = root / rel
        if not base.exists():
            raise FileNotFoundError(f"fingerprint_paths names {rel!r}, which does not exist")
        files = [base] if base.is_file() else sorted(base.rglob("*"))
        for f in files:
            if f.is_file() and "__pycache__" not in f.parts:
                h.update(f.relative_to(root).as_posix().encode() + b"\0")
                h.update(f.read_bytes() + b"\0")
    return h.hexdigest()


def find_root(srcdir: Path, paths: list[str]) -> Path:
    """The source dir, or its nearest ancestor, that holds every path in ``paths``.

    A whole-book build reads from the repository root; a one-page build
    (``jupyter-book build book/01_bigram.md``) reads from ``book/``: both find ``charlm/``.
    """
    for root in (srcdir, *srcdir.parents):
        if all((root / rel).exists() for rel in paths):
            return root
    raise FileNotFoundError(f"no folder at or above {srcdir} holds all of {paths}")


def _current(app: Sphinx) -> str:
    if not hasattr(app, "_fingerprint"):
        paths = list(app.config.fingerprint_paths)
        app._fingerprint = fingerprint(find_root(Path(app.srcdir).resolve(), paths), paths)
    return app._fingerprint


def _is_notebook(text: str) -> bool:
    return MARKER in text


def source_read(app: Sphinx, docname: str, source: list[str]) -> None:
    """Append the hidden fingerprint cell to every notebook page."""
    if _is_notebook(source[0]):
        app.env.fingerprint_notebooks = getattr(app.env, "fingerprint_notebooks", set())
        app.env.fingerprint_notebooks.add(docname)
        source[0] += (
            "\n\n```{code-cell} ipython3\n:tags: [remove-cell]\n\n"
            f"# sources this page ran with: {_current(app)}\n```\n"
        )


def get_outdated(app: Sphinx, env: BuildEnvironment, added, changed, removed) -> list[str]:
    """Docs to re-read beyond Sphinx's own choice: see the module docstring (2 and 3)."""
    notebooks = set(getattr(env, "fingerprint_notebooks", set())) & env.found_docs
    stale: set[str] = set()
    if getattr(env, "fingerprint_value", None) != _current(app):
        stale |= notebooks
    for docname, meta in getattr(env, "nb_metadata", {}).items():
        exec_data = meta.get("exec_data") or {}
        if exec_data.get("succeeded") is False and docname in env.found_docs:
            stale.add(docname)
    stale -= set(added) | set(changed)
    if stale:
        logger.info(f"[fingerprint] re-reading {len(stale)} notebook page(s): {sorted(stale)}")
    return sorted(stale)


def env_updated(app: Sphinx, env: BuildEnvironment) -> None:
    """Remember the fingerprint this build's pages were read with."""
    env.fingerprint_value = _current(app)


def merge_info(app: Sphinx, env: BuildEnvironment, docnames, other: BuildEnvironment) -> None:
    """Parallel reads: collect the notebook pages a worker process saw."""
    env.fingerprint_notebooks = getattr(env, "fingerprint_notebooks", set()) | getattr(
        other, "fingerprint_notebooks", set()
    )


def setup(app: Sphinx) -> dict:
    app.add_config_value("fingerprint_paths", [], "env")
    app.connect("source-read", source_read)
    app.connect("env-get-outdated", get_outdated)
    app.connect("env-updated", env_updated)
    app.connect("env-merge-info", merge_info)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
