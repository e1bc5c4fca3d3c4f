"""Sphinx extension: say on every page what the site was built from, and offer its notebooks.

1. **Pinned versions.** The ``{pinned-versions}`` directive renders a table of the versions
   ``requirements/lock.txt`` pins for the packages named in its body, one per line. A name
   the lock file does not pin fails the build, so the table can never go stale silently.
2. **Provenance footer.** Every page's footer names the ``charlm`` version, the git commit
   (``+dirty`` when the tree has uncommitted changes, ``unknown`` without git) and the UTC
   build date. They go into the theme's ``extra_footer`` option, which Sphinx counts as
   configuration, so a new commit or date re-writes every page (without re-reading any).
3. **Downloads.** A chapter is a MyST notebook; myst-nb writes the executed ``.ipynb`` beside
   the HTML output. Each notebook page gets it copied next to its source in ``_sources/``,
   offered in the theme's download menu and in a line at the end of the page.
4. **Style sheet.** ``book/_static/charlm.css`` is added to every build, the whole book (read
   from the repository root) and one chapter alone (read from ``book/``) alike.
5. **Page scripts.** Sphinx 7.4 writes an inline script twice when an extension adds it
   after the builder has started (sphinx-doc/sphinx#13402, fixed in Sphinx 8.2, which Jupyter
   Book 1 cannot use): sphinx-togglebutton's ``var`` and sphinx-thebe's ``const`` (a
   SyntaxError on every page). Each page keeps the first copy. sphinx-thebe, which Jupyter
   Book always loads, is switched off unless ``launch_buttons: thebe`` is on: no thebe
   script, style sheet or configuration on any page.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ExtensionError

LOCK = "requirements/lock.txt"
PACKAGE_INIT = "charlm/__init__.py"
STATIC = Path(__file__).resolve().parent.parent / "_static"
CSS = "charlm.css"


def repo_root(srcdir: Path) -> Path:
    """The nearest folder at or above ``srcdir`` holding the lock file, else ``srcdir``.

    The whole book is read from the repository root, one chapter (``make chapter``) from
    ``book/``: both find the root.
    """
    srcdir = srcdir.resolve()
    return next((d for d in (srcdir, *srcdir.parents) if (d / LOCK).is_file()), srcdir)


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
        lock = repo_root(Path(env.srcdir)) / LOCK
        if not lock.is_file():
            raise ExtensionError(f"pinned-versions: no {LOCK} at or above {env.srcdir}")
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


# --- config: footer and style sheet -------------------------------------------------------


def config_inited(app: Sphinx, config: Config) -> None:
    root = repo_root(Path(app.srcdir))
    info = footer(charlm_version(root), git_commit(root), build_date())
    options = config.html_theme_options
    options["extra_footer"] = (options.get("extra_footer") or "") + info

    # the style sheet: jupyter-book already adds a `_static` folder in the source dir itself
    confdir = Path(app.confdir).resolve()
    if not any((confdir / path).resolve() == STATIC for path in config.html_static_path):
        config.html_static_path.append(str(STATIC))
    if CSS not in config.html_css_files:
        config.html_css_files.append(CSS)


# --- 3. downloads ------------------------------------------------------------------------


def page_context(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Copy a notebook page's executed .ipynb into _sources/ and link it (and the source)."""
    if doctree is None or "kernelspec" not in app.env.metadata.get(pagename, {}):
        return
    nb_config = getattr(app.env, "mystnb_config", None)
    folder = Path(nb_config.output_folder) if nb_config else Path(app.outdir).parent
    executed = folder / f"{pagename}.ipynb"
    if not executed.is_file():
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"  # sphinx-book-theme's download menu

    pathto = context["pathto"]
    source = pathto(f"_sources/{context['sourcename']}", 1)
    notebook = pathto(f"_sources/{pagename}.ipynb", 1)
    context["body"] += (
        '<p class="charlm-downloads">Download this chapter: '
        f'<a href="{source}" download>MyST notebook (.md)</a> · '
        f'<a href="{notebook}" download>executed notebook (.ipynb)</a></p>'
    )


# --- 5. page scripts ---------------------------------------------------------------------

THEBE = "sphinx_thebe"


def drop_thebe(app: Sphinx, config: Config) -> None:
    """Disconnect sphinx-thebe's handlers and style sheet unless thebe launch buttons are on."""
    if THEBE not in app.extensions or config.html_theme_options.get("launch_buttons", {}).get(
        "thebe"
    ):
        return
    ids = [
        listener.id
        for listeners in app.events.listeners.values()
        for listener in listeners
        if getattr(listener.handler, "__module__", None) == THEBE
    ]
    for listener_id in ids:
        app.disconnect(listener_id)
    app.registry.css_files[:] = [
        (name, attrs) for name, attrs in app.registry.css_files if name != "sphinx-thebe.css"
    ]


def drop_duplicate_scripts(
    app: Sphinx, pagename: str, templatename: str, context: dict, doctree
) -> None:
    """Keep the first of scripts equal but for a file name of None or "" (sphinx#13402)."""
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen, unique = set(), []
    for script in scripts:
        attributes = getattr(script, "attributes", {})
        key = (
            getattr(script, "filename", script) or "",
            getattr(script, "priority", None),
            tuple(sorted(attributes.items())),
        )
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique  # in place: it is the builder's list, restored for every page


def setup(app: Sphinx) -> dict:
    app.add_directive("pinned-versions", PinnedVersions)
    app.connect("config-inited", config_inited)
    app.connect("config-inited", drop_thebe)
    # before sphinx-book-theme (priority 501) builds its download menu from the context
    app.connect("html-page-context", page_context, priority=400)
    # after every other handler has added its scripts for the page
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
