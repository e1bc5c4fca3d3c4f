"""Sphinx extension: author-year citations that read the same in the text and in the list.

sphinxcontrib-bibtex does the citing; this adds two things to it.

1. **An ``authoryear`` bibliography style.** With ``bibtex_reference_style: author_year`` a
   citation reads "Bengio et al. [2003]", but the stock bibliography styles still label
   the entry "[BDVJ03]". ``authoryear`` labels it "[Bengio et al., 2003]" instead and sorts
   by author, year and title. Use it as ``:style: authoryear`` on ``{bibliography}``.
2. **One chapter alone.** ``make chapter`` reads from ``book/`` with the chapter as the root
   document and no references page: ``bibtex_bibfiles``, named from the repository root, are
   found from ``book/`` too, and a root document that cites without a bibliography gets
   one appended, so its citations resolve (and a one-chapter build stays warning-free).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from _root import repo_root
from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from sphinx.application import Sphinx
from sphinx.config import Config

STYLE = "authoryear"
CITES = re.compile(r"\{cite(:[a-z]+)?\}")


def surname(person) -> str:
    """The surname as cited, particles included: "van den Oord"."""
    return Text.from_latex(" ".join(person.prelast_names + person.last_names)).render_as("text")


def author_year(entry) -> str:
    """'Ioffe and Szegedy, 2015' for two authors, 'He et al., 2015' for more."""
    names = [surname(p) for p in entry.persons.get("author", [])]
    if len(names) > 2:
        names = [f"{names[0]} et al."]
    return f"{' and '.join(names) or entry.key}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearLabels(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        return (author_year(entry) for entry in sorted_entries)


class AuthorYearStyle(UnsrtStyle):
    default_label_style = STYLE
    default_sorting_style = "author_year_title"


def config_inited(app: Sphinx, config: Config) -> None:
    """Name each bib file, named from the repository root, from the source dir."""
    srcdir = Path(app.srcdir).resolve()
    root = repo_root(srcdir)
    config.bibtex_bibfiles = [_from(srcdir, root, name) for name in config.bibtex_bibfiles]


def _from(srcdir: Path, root: Path, name: str) -> str:
    if (root / name).is_file():
        return os.path.relpath(root / name, srcdir)
    return name  # sphinxcontrib-bibtex reports it missing


def source_read(app: Sphinx, docname: str, source: list[str]) -> None:
    """A root document that cites but lists no bibliography gets its own at the end."""
    text = source[0]
    if docname == app.config.root_doc and CITES.search(text) and "{bibliography}" not in text:
        source[0] = text + f"\n\n## References\n\n```{{bibliography}}\n:style: {STYLE}\n```\n"


def setup(app: Sphinx) -> dict:
    register_plugin("pybtex.style.labels", STYLE, AuthorYearLabels)
    register_plugin("pybtex.style.formatting", STYLE, AuthorYearStyle)
    app.setup_extension("sphinxcontrib.bibtex")
    app.connect("config-inited", config_inited)
    app.connect("source-read", source_read)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
