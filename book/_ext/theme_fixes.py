"""Sphinx extension: three fixes to what Jupyter Book's theme stack puts on every page.

1. **Duplicate inline scripts.** Sphinx 7.4 writes an inline script twice when an extension
   adds it after the builder has started (sphinx-doc/sphinx#13402, fixed in Sphinx 8.2, which
   Jupyter Book 1 cannot use): sphinx-togglebutton's ``var`` and sphinx-thebe's ``const`` (a
   SyntaxError on every page). Each page keeps the first copy.
2. **No unused thebe.** sphinx-thebe, which Jupyter Book always loads, is switched off unless
   ``launch_buttons: thebe`` is on: no thebe script, style sheet or configuration on any page.
3. **Accessible names and roles** (what ``make check-site``'s audit found, WCAG 2.5.3 and
   ARIA): myst-nb names its "Show code cell content" toggles "Toggle hidden content", a name
   that differs from the visible label, so the label alone names them; the bibliography's
   entries, inside ``role="list"``, get ``role="listitem"`` instead of ``doc-biblioentry``.
"""

from __future__ import annotations

import re

from sphinx.application import Sphinx
from sphinx.config import Config

THEBE = "sphinx_thebe"
RENAMES = (  # (pattern, replacement) on every page's body
    (re.compile(r'<summary aria-label="Toggle hidden content">'), "<summary>"),
    (re.compile(r'role="doc-biblioentry"'), 'role="listitem"'),
)


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


def accessible_body(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Apply ``RENAMES`` to the page's body (see the module docstring, 3)."""
    body = context.get("body")
    if isinstance(body, str):
        for pattern, replacement in RENAMES:
            body = pattern.sub(replacement, body)
        context["body"] = body


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", drop_thebe)
    # after every other handler has added its scripts for the page
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    app.connect("html-page-context", accessible_body)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
