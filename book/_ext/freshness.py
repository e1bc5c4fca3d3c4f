"""Sphinx extension: say when each executed page last ran, and list them all on one page.

The chapters execute into the jupyter-cache (``execution.py``), and myst-nb records, for
every notebook page it reads, when the cached execution was made, how long it took and
whether it succeeded (``exec_data``).

1. **A line on each executed page**, under its title: the date and time (UTC) it last
   executed, how long that took, and a link to the status page.
2. **The ``{execution-status}`` directive** renders a table of every executed page: its
   title, when it last executed, its seconds, and whether it ran in this build or came from
   the cache. The page holding it is re-read on every build, so the table is never stale.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util.docutils import SphinxDirective

STATUS_KEY = "has_execution_status"


def executions(env: BuildEnvironment) -> dict[str, dict]:
    """``{docname: exec_data}`` for every page myst-nb read with an execution."""
    found = {}
    for docname, meta in getattr(env, "nb_metadata", {}).items():
        data = meta.get("exec_data")
        if data and docname in env.found_docs:
            found[docname] = data
    return found


def when(mtime: float) -> str:
    """A cache record's time as ``2026-11-28 23:41 UTC``."""
    return datetime.fromtimestamp(mtime, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def status(data: dict, build_start: float) -> str:
    """How the page's outputs came to this build."""
    if data.get("succeeded") is False:
        return "failed"
    return "executed in this build" if data["mtime"] >= build_start else "from the cache"


def toc_order(env: BuildEnvironment, root: str) -> list[str]:
    """Every page reachable from ``root`` through the table of contents, in reading order."""
    order: list[str] = []

    def visit(doc: str) -> None:
        if doc not in order:
            order.append(doc)
            for child in env.toctree_includes.get(doc, []):
                visit(child)

    visit(root)
    return order


class StatusPlaceholder(nodes.General, nodes.Element):
    """Where the table goes, once every page has been read."""


class ExecutionStatus(SphinxDirective):
    """``{execution-status}``: the table of every executed page."""

    def run(self) -> list[nodes.Node]:
        self.env.metadata[self.env.docname][STATUS_KEY] = True
        return [StatusPlaceholder()]


def status_table(app: Sphinx, docname: str) -> nodes.table:
    """The table, with links from ``docname`` to each page."""
    env = app.env
    header = ("page", "last executed", "seconds", "status")
    group = nodes.tgroup(cols=len(header))
    group += [nodes.colspec(colwidth=w) for w in (4, 3, 1, 2)]

    def row(cells: list[nodes.Node]) -> nodes.row:
        out = nodes.row()
        for cell in cells:
            out += nodes.entry("", nodes.paragraph("", "", cell))
        return out

    group += nodes.thead("", row([nodes.Text(h) for h in header]))
    body = nodes.tbody()
    found = executions(env)
    order = toc_order(env, app.config.root_doc)
    place = {doc: i for i, doc in enumerate(order)}
    for page in sorted(found, key=lambda doc: (place.get(doc, len(order)), doc)):
        data = found[page]
        title = env.titles[page].astext() if page in env.titles else page
        link = nodes.reference("", title, internal=True)
        link["refuri"] = app.builder.get_relative_uri(docname, page)
        seconds = data.get("runtime")
        body += row(
            [
                link,
                nodes.Text(when(data["mtime"])),
                nodes.Text("-" if seconds is None else f"{seconds:.1f}"),
                nodes.Text(status(data, app.charlm_build_start)),
            ]
        )
    group += body
    return nodes.table("", group, classes=["execution-status"])


def resolve(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """Fill in the status table, and put the executed-on line under an executed page's title."""
    for node in list(doctree.findall(StatusPlaceholder)):
        node.replace_self(status_table(app, docname))
    data = executions(app.env).get(docname)
    if not data:
        return
    seconds = data.get("runtime")
    line = nodes.paragraph(classes=["charlm-executed"])
    line += nodes.Text(f"Executed on {when(data['mtime'])}")
    line += nodes.Text(f", in {seconds:.0f} s" if seconds is not None else "")
    status_page = app.config.execution_status_page
    if status_page and status_page in app.env.found_docs and app.builder.format == "html":
        link = nodes.reference("", "every page's execution", internal=True)
        link["refuri"] = app.builder.get_relative_uri(docname, status_page)
        line += [nodes.Text(" ("), link, nodes.Text(").")]
    else:
        line += nodes.Text(".")
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is not None and section.children and isinstance(section[0], nodes.title):
        section.insert(1, line)


def reread_status_pages(app: Sphinx, env: BuildEnvironment, added, changed, removed) -> list:
    """The pages with the table are read again on every build: their rows change."""
    return [doc for doc, meta in env.metadata.items() if meta.get(STATUS_KEY)]


def remember_start(app: Sphinx) -> None:
    app.charlm_build_start = time.time()


def setup(app: Sphinx) -> dict:
    app.add_config_value("execution_status_page", "", "env")
    app.add_node(StatusPlaceholder)
    app.add_directive("execution-status", ExecutionStatus)
    app.connect("builder-inited", remember_start)
    app.connect("env-get-outdated", reread_status_pages)
    app.connect("doctree-resolved", resolve)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
