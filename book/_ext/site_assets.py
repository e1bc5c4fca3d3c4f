"""Sphinx extension: what the site serves besides its pages: a style sheet, published files
and the notebooks.

1. **Style sheet.** ``book/_static/charlm.css`` is added to every build, the whole book (read
   from the repository root) and one chapter alone (read from ``book/``) alike.
2. **What the pages publish.** A page may put files into the site while it executes
   (``charlm.bookbuild.records.publish``: the sampler page's model files); they wait in
   ``$CHARLM_SITE`` (``_build/published``) and are copied to ``_static/sampler/data/`` when
   an HTML build ends, so the site always holds the latest execution's files.
3. **Downloads.** A chapter is a MyST notebook; myst-nb writes the executed ``.ipynb`` beside
   the HTML output. Each notebook page gets it copied next to its source in ``_sources/``,
   offered in the theme's download menu and in a line at the end of the page.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config

from charlm.bookbuild import SITE_ENV  # the published files' folder (execution.py sets it)

STATIC = Path(__file__).resolve().parent.parent / "_static"
CSS = "charlm.css"


def add_style_sheet(app: Sphinx, config: Config) -> None:
    """Serve ``book/_static`` and link ``charlm.css`` from every page."""
    # jupyter-book already adds a `_static` folder in the source dir itself
    confdir = Path(app.confdir).resolve()
    if not any((confdir / path).resolve() == STATIC for path in config.html_static_path):
        config.html_static_path.append(str(STATIC))
    if CSS not in config.html_css_files:
        config.html_css_files.append(CSS)


def offer_notebook(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
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


def copy_published(app: Sphinx, exception: Exception | None) -> None:
    """Copy the files pages published (``$CHARLM_SITE``) into the HTML site."""
    folder = os.environ.get(SITE_ENV)
    if exception is not None or app.builder.format != "html" or not folder:
        return
    published = Path(folder)
    if published.is_dir():
        target = Path(app.outdir) / "_static" / "sampler" / "data"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(published, target)


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", add_style_sheet)
    # before sphinx-book-theme (priority 501) builds its download menu from the context
    app.connect("html-page-context", offer_notebook, priority=400)
    app.connect("build-finished", copy_published)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
