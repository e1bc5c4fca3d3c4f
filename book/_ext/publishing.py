"""Sphinx extension: what the site needs once it is published, and the link to the PDF.

1. **The site's address.** When ``$CHARLM_SITE_URL`` holds the published site's base URL
   (the Pages workflow passes it), the build adds OpenGraph tags to every page
   (sphinxext-opengraph), a ``sitemap.xml`` (sphinx-sitemap) and a ``404.html`` whose
   links work from any missing path (sphinx-notfound-page). Without it, as in a local
   build, none of the three is loaded: they need the address to be right.
2. **The whole book as a PDF.** ``make pdf`` builds ``_build/latex/charlm.pdf``. When it
   exists, the HTML build copies it to the site as ``charlm.pdf`` and the home page links
   to it, with the date it was built. Its date is part of the configuration, so a new PDF
   re-writes the pages that link to it.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ExtensionError

SITE_URL_ENV = "CHARLM_SITE_URL"
PDF = "charlm.pdf"


def site_url() -> str | None:
    """The published site's base URL (ending in ``/``), or None when it is not given."""
    url = os.environ.get(SITE_URL_ENV, "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ExtensionError(f"{SITE_URL_ENV} must be an http(s) URL, not {url!r}")
    return url if url.endswith("/") else url + "/"


def configure_site(app: Sphinx, config: Config) -> None:
    """Point the three extensions at the site's address."""
    url = site_url()
    if url is None:
        return
    config.html_baseurl = url
    config.ogp_site_url = url
    config.ogp_site_name = config.project
    config.sitemap_url_scheme = "{link}"
    config.notfound_urls_prefix = urlsplit(url).path
    config.notfound_context = {
        "title": "Page not found",
        "body": (
            "<h1>Page not found</h1><p>There is no page at this address. The chapters are "
            f'listed on the <a href="{url}">home page</a>.</p>'
        ),
    }


def built_pdf(app: Sphinx) -> Path:
    """Where ``make pdf`` leaves the PDF: ``<build>/latex/charlm.pdf``."""
    return Path(app.outdir).resolve().parent / "latex" / PDF


def note_pdf(app: Sphinx, config: Config) -> None:
    """The PDF's build date, or "" without one (a config value: a new PDF re-writes pages)."""
    pdf = built_pdf(app)
    if pdf.is_file():
        stamp = datetime.fromtimestamp(pdf.stat().st_mtime, timezone.utc)
        config.charlm_pdf_date = stamp.strftime("%Y-%m-%d %H:%M UTC")


def link_pdf(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """On the home page, a line linking to the whole book as a PDF."""
    if not app.config.charlm_pdf_date or pagename != app.config.root_doc:
        return
    href = context["pathto"](PDF, 1)
    context["body"] += (
        f'<p class="charlm-pdf">The whole book as one PDF: <a href="{href}">{PDF}</a> '
        f"(built {app.config.charlm_pdf_date}).</p>"
    )


def copy_pdf(app: Sphinx, exception: Exception | None) -> None:
    """Serve the PDF beside the pages (HTML builds only)."""
    if exception is None and app.builder.format == "html" and app.config.charlm_pdf_date:
        shutil.copy2(built_pdf(app), Path(app.outdir) / PDF)


def setup(app: Sphinx) -> dict:
    if site_url() is not None:
        for extension in ("sphinxext.opengraph", "sphinx_sitemap", "notfound.extension"):
            app.setup_extension(extension)
    app.add_config_value("charlm_pdf_date", "", "html")
    app.connect("config-inited", configure_site)
    app.connect("config-inited", note_pdf)
    app.connect("html-page-context", link_pdf)
    app.connect("build-finished", copy_pdf)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
