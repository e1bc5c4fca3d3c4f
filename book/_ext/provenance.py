"""Sphinx extension: say on every page what the site was built from.

1. **Pinned versions.** The ``{pinned-versions}`` directive renders a table of the versions
   ``requirements/lock.txt`` pins for the packages named in its body, one per line. A name
   the lock file does not pin fails the build, so the table can never go stale silently.
2. **Provenance footer.** Every page's footer names the ``charlm`` version, the git commit
   (``+dirty`` when the tree has uncommitted changes, ``unknown`` without git) and the UTC
   build date. They go into the theme's ``extra_footer`` option, which Sphinx counts as
   configuration, so a new commit or date re-writes every page (without re-reading any).

Both read from the repository root (``_root.repo_root``): the whole book is read from there,
one chapter alone (``make chapter``) from ``book/``.
"""

from __future__ import annotations

import os
import re
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from _root import repo_root
from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ExtensionError

LOCK = "requirements/lock.txt"
PACKAGE_INIT = "charlm/__init__.py"


# --- 1. pinned versions ------------------------------------------------------------------


def canonical(name: str) -> str:
    """A package name as pip compares them (PEP 503): ``Sphinx`` and ``sphinx`` are one."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(lock: Path) -> dict[str, tuple[str, str]]:
    """``{canonical name: (name as written, version)}`` for every ``name==version`` line."""
    pins = {}
    for line in lock.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = (part.strip() for part in line.split("==", 1))
            pins[canonical(name)] = (name, version)
    return pins


class PinnedVersions(Directive):
    """A table of the pinned versions of the packages listed in the directive's body."""

    has_content = True

    def run(self) -> list[nodes.Node]:
        env = self.state.document.settings.env
        root = repo_root(env.srcdir)
        lock = root / LOCK
        if not lock.is_file():
            raise ExtensionError(f"pinned-versions: no {LOCK} in {root}")
        env.note_dependency(str(lock))  # editing the pins re-reads this page
        pins = read_pins(lock)
        wanted = [line.strip() for line in self.content if line.strip()]
        if not wanted:
            raise ExtensionError("pinned-versions: list the packages to show, one per line")
        missing = [name for name in wanted if canonical(name) not in pins]
        if missing:
            raise ExtensionError(f"pinned-versions: {LOCK} pins no {', '.join(missing)}")
        rows = [(name, pins[canonical(name)][1]) for name in wanted]
        return [_table(("package", "pinned version"), rows)]


def _table(header: tuple[str, str], rows: list[tuple[str, str]]) -> nodes.table:
    group = nodes.tgroup(cols=2)
    group += [nodes.colspec(colwidth=1), nodes.colspec(colwidth=1)]

    def row(cells: tuple[str, str], literal: bool) -> nodes.row:
        out = nodes.row()
        for cell in cells:
            text = nodes.literal(text=cell) if literal else nodes.Text(cell)
            out += nodes.entry("", nodes.paragraph("", "", text))
        return out

    group += nodes.thead("", row(header, literal=False))
    group += nodes.tbody("", *(row(cells, literal=True) for cells in rows))
    return nodes.table("", group, classes=["pinned-versions"])


# --- 2. provenance footer ------------------------------------------------------------------


def charlm_version(root: Path) -> str:
    """``__version__`` as written in the package source, else as installed, else unknown."""
    init = root / PACKAGE_INIT
    if init.is_file():
        found = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", init.read_text(), re.M)
        if found:
            return found.group(1)
    try:
        return metadata.version("charlm")
    except metadata.PackageNotFoundError:
        return "unknown"


def git_commit(root: Path) -> str:
    """Short hash of HEAD, with ``+dirty`` for uncommitted changes; ``unknown`` without git."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
        if done.returncode != 0:
            raise OSError(done.stderr.strip())
        return done.stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        return commit + ("+dirty" if git("status", "--porcelain") else "")
    except OSError:  # no git, not a repository, or no commit yet
        return "unknown"


def build_date() -> str:
    """Today in UTC, or the date of ``SOURCE_DATE_EPOCH`` for a reproducible build."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    now = datetime.fromtimestamp(int(epoch), timezone.utc) if epoch else datetime.now(timezone.utc)
    return now.date().isoformat()


def footer(version: str, commit: str, date: str) -> str:
    """The footer's HTML line."""
    return (
        f'<p class="charlm-provenance">Built from charlm {version}, commit <code>{commit}</code>,'
        f" on {date} (UTC).</p>"
    )


def add_footer(app: Sphinx, config: Config) -> None:
    """Append the provenance line to the theme's footer."""
    root = repo_root(app.srcdir)
    info = footer(charlm_version(root), git_commit(root), build_date())
    options = config.html_theme_options
    options["extra_footer"] = (options.get("extra_footer") or "") + info


def setup(app: Sphinx) -> dict:
    app.add_directive("pinned-versions", PinnedVersions)
    app.connect("config-inited", add_footer)
    return {"version": "2", "parallel_read_safe": True, "parallel_write_safe": True}
